"""Our own JSON format for registers, devices and sequences.

A sequence document holds the register, the device, the declared variables and every
recorded call (``Sequence.calls``) with its arguments encoded as tagged JSON values:
``{"$var": name}``, ``{"$expr": op, "lhs": ..., "rhs": ...}``, ``{"$waveform": {...}}``,
``{"$deferred_waveform": ...}``, ``{"$pulse": {...}}``, ``{"$deferred_pulse": ...}``,
``{"$dtype": "int"|"float"}``. Loading replays the calls, so every device limit is checked
again and ``Sequence.from_json(seq.to_json())`` has equal ``calls`` and identical samples.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from sequencer import waveforms as _wf
from sequencer.devices import Device
from sequencer.errors import SequenceError, SerializationError
from sequencer.parametrize import Expression, Variable
from sequencer.pulse import DeferredPulse, Pulse
from sequencer.register import Register
from sequencer.waveforms import _KINDS, DeferredWaveform, Waveform, waveform_from_dict

__all__ = [
    "FORMAT",
    "device_from_json",
    "device_to_json",
    "register_from_json",
    "register_to_json",
    "sequence_from_json",
    "sequence_to_json",
]

FORMAT = "atomstack-sequence"
VERSION = 1


def register_to_json(register: Register) -> str:
    """The register as JSON."""
    return register.to_json()


def register_from_json(text: str) -> Register:
    """Inverse of :func:`register_to_json`."""
    return Register.from_json(text)


def device_to_json(device: Device) -> str:
    """The device as JSON (pydantic)."""
    return device.model_dump_json()


def device_from_json(text: str) -> Device:
    """Inverse of :func:`device_to_json`."""
    try:
        return Device.model_validate_json(text)
    except ValueError as exc:
        raise SerializationError(f"invalid device JSON: {exc}") from exc


def _enc(value: Any, variables: Mapping[str, Variable]) -> Any:
    if isinstance(value, Variable):
        return {"$var": value.name}
    if isinstance(value, Expression):
        out = {"$expr": value.op, "lhs": _enc(value.lhs, variables)}
        if not value.is_unary:
            out["rhs"] = _enc(value.rhs, variables)
        return out
    if isinstance(value, DeferredWaveform):
        return {
            "$deferred_waveform": value.cls.kind,
            "method": value.method,
            "args": [_enc(a, variables) for a in value.args],
            "kwargs": {k: _enc(v, variables) for k, v in value.kwargs.items()},
        }
    if isinstance(value, Waveform):
        return {"$waveform": value.to_dict()}
    if isinstance(value, DeferredPulse):
        return {
            "$deferred_pulse": value.method,
            "args": [_enc(a, variables) for a in value.args],
            "kwargs": {k: _enc(v, variables) for k, v in value.kwargs.items()},
        }
    if isinstance(value, Pulse):
        return {
            "$pulse": {
                "amplitude": value.amplitude.to_dict(),
                "detuning": value.detuning.to_dict(),
                "phase": value.phase,
                "post_phase_shift": value.post_phase_shift,
                "form": list(value._form) if value._form else None,
            }
        }
    if value is int or value is float:
        return {"$dtype": value.__name__}
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        if not math.isfinite(float(value)):
            raise SerializationError(f"JSON cannot hold the non-finite number {value}")
        return float(value)
    if isinstance(value, list | tuple | np.ndarray | frozenset | set):
        items = sorted(value) if isinstance(value, frozenset | set) else list(value)
        return [_enc(v, variables) for v in items]
    raise SerializationError(f"cannot serialise {type(value).__name__} {value!r}")


def _dec(value: Any, variables: Mapping[str, Variable]) -> Any:
    if isinstance(value, list):
        return [_dec(v, variables) for v in value]
    if not isinstance(value, dict):
        return value
    if "$var" in value:
        try:
            return variables[value["$var"]]
        except KeyError:
            raise SerializationError(f"variable {value['$var']!r} is not declared") from None
    if "$expr" in value:
        rhs = _dec(value["rhs"], variables) if "rhs" in value else None
        return Expression(value["$expr"], _dec(value["lhs"], variables), rhs)
    if "$waveform" in value:
        return waveform_from_dict(value["$waveform"])
    if "$deferred_waveform" in value:
        kind = value["$deferred_waveform"]
        if kind not in _KINDS:
            raise SerializationError(f"unknown waveform kind {kind!r}")
        cls = _KINDS[kind]
        args = _dec(value["args"], variables)
        kwargs = {k: _dec(v, variables) for k, v in value["kwargs"].items()}
        if value["method"] == "from_max_val":
            return _wf.BlackmanWaveform.from_max_val(*args, **kwargs)
        return cls(*args, **kwargs)
    if "$deferred_pulse" in value:
        args = _dec(value["args"], variables)
        kwargs = {k: _dec(v, variables) for k, v in value["kwargs"].items()}
        method = value["$deferred_pulse"]
        if method == "__init__":
            return Pulse(*args, **kwargs)
        return getattr(Pulse, method)(*args, **kwargs)
    if "$pulse" in value:
        p = value["$pulse"]
        pulse = Pulse(
            waveform_from_dict(p["amplitude"]),
            waveform_from_dict(p["detuning"]),
            p["phase"],
            p["post_phase_shift"],
        )
        if p.get("form"):
            pulse._form = (str(p["form"][0]), float(p["form"][1]))
        return pulse
    if "$dtype" in value:
        return {"int": int, "float": float}[value["$dtype"]]
    return {k: _dec(v, variables) for k, v in value.items()}


def sequence_to_json(seq: Any) -> str:
    """A sequence (parametrised or not) as our JSON document."""
    variables = seq.declared_variables
    obj = {
        "format": FORMAT,
        "version": VERSION,
        "register": seq.register.to_dict(),
        "device": json.loads(seq.device.model_dump_json()),
        "calls": [
            {
                "name": c.name,
                "args": [_enc(a, variables) for a in c.args],
                "kwargs": {k: _enc(v, variables) for k, v in c.kwargs.items()},
            }
            for c in seq.calls
        ],
    }
    return json.dumps(obj)


def sequence_from_json(text: str) -> Any:
    """Read a document written by :func:`sequence_to_json`; replays every call."""
    from sequencer.sequence import Sequence

    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SerializationError(f"not JSON: {exc}") from exc
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise SerializationError(f"not an {FORMAT!r} document")
    if obj.get("version") != VERSION:
        raise SerializationError(f"unsupported version {obj.get('version')!r}; expected {VERSION}")
    try:
        register = Register.from_dict(obj["register"])
        device = Device.model_validate(obj["device"])
    except (KeyError, ValueError) as exc:
        if isinstance(exc, SequenceError):
            raise
        raise SerializationError(f"invalid register or device: {exc}") from exc
    seq = Sequence(register, device)
    for call in obj["calls"]:
        name = call["name"]
        if name not in _ALLOWED:
            raise SerializationError(f"unknown call {name!r}")
        args = _dec(call["args"], seq.declared_variables)
        kwargs = {k: _dec(v, seq.declared_variables) for k, v in call["kwargs"].items()}
        getattr(seq, name)(*args, **kwargs)
    return seq


_ALLOWED = frozenset(
    {
        "declare_channel",
        "declare_variable",
        "add",
        "delay",
        "target",
        "target_index",
        "phase_shift",
        "align",
        "measure",
    }
)
