"""Interop with Pulser's JSON abstract representation, and format-agnostic load/dump.

Pulser (pulser-core) describes a sequence as a JSON document: the device, the register, the
declared channels and variables, an ordered list of ``operations`` (pulses, delays, targets,
phase shifts, aligns) and the measurement basis. This module maps that document onto our
:class:`~sequencer.sequence.Sequence` call by call and back, so a sequence written with
Pulser runs here and one built here runs in Pulser.

Everything written is validated against the schema pulser-core ships (a copy lives in
``sequencer/pulser_schemas``), so we never emit a document Pulser would reject. Pulser
features we do not model (EOM mode, DMM detuning maps, SLM masks, the XY basis, Kaiser
waveforms, parametrised arbitrary-phase pulses, truncation, 3D and mappable registers) raise
:class:`~sequencer.errors.SerializationError` naming the feature rather than importing
something silently different.

Units are Pulser's throughout: ns, rad/µs, µm, rad.
"""

from __future__ import annotations

import inspect
import json
import math
import operator
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sequencer.errors import SequenceError, SerializationError
from sequencer.register import Register, RegisterLayout

if TYPE_CHECKING:
    from sequencer.devices import Device
    from sequencer.sequence import Sequence

__all__ = [
    "PULSER_SCHEMA_VERSION",
    "detect_format",
    "device_from_pulser_json",
    "device_to_pulser_json",
    "dump_sequence",
    "load_sequence",
    "register_from_pulser_json",
    "register_to_pulser_json",
    "sequence_from_pulser_json",
    "sequence_to_pulser_json",
    "validate_pulser_json",
]

#: The pulser-core release whose schemas are vendored in ``sequencer/pulser_schemas``.
PULSER_SCHEMA_VERSION = "1.9.1"

SchemaName = Literal["sequence", "device", "register", "layout"]
Format = Literal["atomstack", "pulser"]

# -- schema validation ---------------------------------------------------------------------


@cache
def _validators() -> dict[str, Any]:
    import jsonschema
    from referencing import Registry, Resource

    schemas: dict[str, Any] = {}
    root = resources.files("sequencer.pulser_schemas")
    for name in ("sequence", "device", "register", "layout", "noise"):
        schemas[name] = json.loads(root.joinpath(f"{name}-schema.json").read_text("utf-8"))
    registry: Registry[Any] = Registry().with_resources(
        (f"{name}-schema.json", Resource.from_contents(schema)) for name, schema in schemas.items()
    )
    return {
        name: jsonschema.Draft7Validator(schema, registry=registry)
        for name, schema in schemas.items()
    }


def validate_pulser_json(obj: Mapping[str, Any] | str, schema: SchemaName = "sequence") -> None:
    """Check ``obj`` against Pulser's ``schema``; raise :class:`SerializationError` if invalid.

    The message names the first offending field (as a JSON path) and what the schema expects.
    """
    data = _parse(obj) if isinstance(obj, str) else obj
    validator = _validators()[schema]
    err = _most_specific(list(validator.iter_errors(data)))
    if err is not None:
        path = "/".join(str(p) for p in err.absolute_path) or "(document)"
        raise SerializationError(
            f"not a valid Pulser {schema} (abstract representation {PULSER_SCHEMA_VERSION}): "
            f"at {path}: {_short(err.message)}"
        )


def _most_specific(errors: list[Any]) -> Any:
    """The error that best explains a failure, descending into ``anyOf`` branches.

    Within an ``anyOf`` the branch with the fewest errors is the one the document meant
    (2D rather than 3D register, a literal rather than an expression); among equals the
    error deepest in the document is the most specific.
    """
    if not errors:
        return None
    err = min(errors, key=lambda e: -len(e.absolute_path))
    while err.context:
        branches: dict[Any, list[Any]] = {}
        for sub in err.context:
            branches.setdefault(sub.schema_path[0] if sub.schema_path else None, []).append(sub)
        fewest = min(branches.values(), key=len)
        err = min(fewest, key=lambda e: -len(e.absolute_path))
    return err


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SerializationError(f"not valid JSON: {exc}") from exc


# -- registers and layouts -----------------------------------------------------------------


def _register_from_obj(atoms: list[Mapping[str, Any]], layout_obj: Any) -> Register:
    if any("z" in a for a in atoms):
        raise SerializationError("3D registers (atoms with a 'z' coordinate) are not supported")
    if any("qid" in a for a in atoms):
        raise SerializationError("mappable registers (atoms given by 'qid') are not supported")
    ids = [str(a["name"]) for a in atoms]
    coords = np.array([(float(a["x"]), float(a["y"])) for a in atoms], dtype=np.float64)
    if layout_obj is None:
        return Register(dict(zip(ids, coords, strict=True)))
    layout = _layout_from_obj(layout_obj)
    trap_ids = layout.nearest_traps(coords)
    off = np.linalg.norm(layout.coords[trap_ids] - coords, axis=1)
    if np.any(off > 1e-6):
        bad = ids[int(np.argmax(off))]
        raise SerializationError(f"atom {bad!r} does not sit on a trap of the given layout")
    return layout.define_register(*(int(t) for t in trap_ids), atom_ids=ids)


def _layout_from_obj(obj: Mapping[str, Any]) -> RegisterLayout:
    coords = obj["coordinates"]
    if coords and len(coords[0]) != 2:
        raise SerializationError("3D register layouts are not supported")
    return RegisterLayout(coords, name=obj.get("slug"))


def _register_to_obj(register: Register) -> dict[str, Any]:
    out: dict[str, Any] = {
        "register": [
            {"name": atom_id, "x": float(x), "y": float(y)}
            for atom_id, (x, y) in zip(register.ids, register.coords, strict=True)
        ]
    }
    if register.layout is not None:
        out["layout"] = _layout_to_obj(register.layout)
    return out


def _layout_to_obj(layout: RegisterLayout) -> dict[str, Any]:
    out: dict[str, Any] = {"coordinates": layout.coords.tolist()}
    if layout.name:
        out["slug"] = layout.name
    return out


def register_from_pulser_json(text: str) -> Register:
    """Read a register written by Pulser's ``Register.to_abstract_repr()``."""
    obj = _parse(text)
    validate_pulser_json(obj, "register")
    return _register_from_obj(obj["register"], obj.get("layout"))


def register_to_pulser_json(register: Register) -> str:
    """Write ``register`` as Pulser's abstract representation (schema-validated)."""
    obj = _register_to_obj(register)
    validate_pulser_json(obj, "register")
    return json.dumps(obj)


# -- devices -------------------------------------------------------------------------------


def device_from_pulser_json(text: str | Mapping[str, Any]) -> Device:
    """Read a device written by Pulser's ``Device.to_abstract_repr()``."""
    obj = _parse(text) if isinstance(text, str) else text
    validate_pulser_json(obj, "device")
    return _device_from_obj(obj)


def device_to_pulser_json(device: Device) -> str:
    """Write ``device`` as Pulser's abstract representation (schema-validated)."""
    obj = _device_to_obj(device)
    validate_pulser_json(obj, "device")
    return json.dumps(obj)


_CHANNEL_FIELDS = (
    "basis",
    "addressing",
    "max_abs_detuning",
    "max_amp",
    "min_retarget_interval",
    "fixed_retarget_t",
    "max_targets",
    "clock_period",
    "min_duration",
    "max_duration",
    "mod_bandwidth",
)


def _channel_from_obj(obj: Mapping[str, Any]) -> Any:
    from sequencer.devices import Channel

    ch_id = obj.get("id", "?")
    for key in ("min_avg_amp", "min_avg_abs_detuning"):
        if obj.get(key):
            raise SerializationError(
                f"unsupported Pulser feature: {key}={obj[key]} on channel {ch_id!r}"
            )
    fields = {key: obj[key] for key in _CHANNEL_FIELDS}
    if fields["addressing"] == "Local":
        # Pulser reads None as "no constraint", i.e. 0 ns.
        for key in ("min_retarget_interval", "fixed_retarget_t"):
            if fields[key] is None:
                fields[key] = 0
    if obj.get("custom_phase_jump_time") is not None:
        fields["custom_phase_jump_time"] = obj["custom_phase_jump_time"]
    # eom_config (AnalogDevice) describes a mode we do not model; sequences that do not use
    # it are unaffected, and sequences that do are refused operation by operation.
    try:
        return Channel(**fields)
    except (ValueError, TypeError) as exc:
        raise SerializationError(f"channel {ch_id!r}: {_one_line(exc)}") from exc


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _xy_channel_ids(obj: Mapping[str, Any]) -> set[str]:
    return {str(ch["id"]) for ch in obj.get("channels", ()) if ch.get("basis") == "XY"}


def _device_from_obj(obj: Mapping[str, Any]) -> Device:
    """Our Device with the same geometry limits and channels.

    Microwave (XY) channels and DMM objects are left out: a sequence that declares one is
    refused by name when it is read.
    """
    from sequencer.devices import Device

    channels = {
        str(ch["id"]): _channel_from_obj(ch) for ch in obj["channels"] if ch["basis"] != "XY"
    }
    fields: dict[str, Any] = {
        "name": obj["name"],
        "dimensions": obj["dimensions"],
        "rydberg_level": obj["rydberg_level"],
        "max_atom_num": obj["max_atom_num"],
        "max_radial_distance": obj["max_radial_distance"],
        "min_atom_distance": obj["min_atom_distance"],
        "max_sequence_duration": obj.get("max_sequence_duration"),
        "channels": channels,
    }
    try:
        return Device(**fields)
    except (ValueError, TypeError) as exc:
        raise SerializationError(f"device {obj.get('name')!r}: {_one_line(exc)}") from exc


@cache
def _c3_table() -> dict[int, float]:
    root = resources.files("sequencer.pulser_schemas")
    raw = json.loads(root.joinpath("C3_coeffs.json").read_text("utf-8"))
    return {int(k): float(v) for k, v in raw.items()}


def _channel_to_obj(ch_id: str, channel: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": ch_id}
    for key in _CHANNEL_FIELDS:
        value = getattr(channel, key)
        out[key] = float(value) if isinstance(value, float | np.floating) else value
    custom = getattr(channel, "custom_phase_jump_time", None)
    if custom is not None:
        out["custom_phase_jump_time"] = custom
    out["eom_config"] = None
    return out


def _whole_um(value: float | None, device_name: str) -> int | None:
    """Pulser holds ``max_radial_distance`` as a whole number of µm."""
    if value is None:
        return None
    if float(value) != int(value):
        raise SerializationError(
            f"Pulser needs a whole number of µm for max_radial_distance; device "
            f"{device_name!r} has {value}"
        )
    return int(value)


def _device_to_obj(device: Device) -> dict[str, Any]:
    channels = [_channel_to_obj(ch_id, ch) for ch_id, ch in device.channels.items()]
    level = int(device.rydberg_level)
    c3 = _c3_table().get(level)
    if c3 is None:
        raise SerializationError(
            f"Pulser knows Rydberg levels {min(_c3_table())}..{max(_c3_table())}; "
            f"device {device.name!r} has {level}"
        )
    # Pulser's physical devices need every limit; anything open-ended is a virtual device.
    virtual = (
        device.max_atom_num is None
        or device.max_radial_distance is None
        or any(ch["max_amp"] is None or ch["max_abs_detuning"] is None for ch in channels)
        or getattr(device, "is_virtual", False)
    )
    out: dict[str, Any] = {
        "version": "1",
        "name": device.name,
        "dimensions": int(device.dimensions),
        "rydberg_level": level,
        "min_atom_distance": float(device.min_atom_distance),
        "max_atom_num": device.max_atom_num,
        "max_radial_distance": _whole_um(device.max_radial_distance, device.name),
        "supports_slm_mask": False,
        "max_layout_filling": 0.5,
        "reusable_channels": bool(virtual),
        "interaction_coeff_xy": c3,
        "is_virtual": bool(virtual),
        "channels": channels,
    }
    max_duration = getattr(device, "max_sequence_duration", None)
    if max_duration is not None:
        out["max_sequence_duration"] = int(max_duration)
    if not virtual:
        out["pre_calibrated_layouts"] = []
    return out


# -- parameters: literals, variables and expressions ---------------------------------------

_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
    "pow": operator.pow,
    "mod": operator.mod,
    "index": lambda lhs, rhs: lhs[rhs],
}
_UNARY_NAMES = (
    "neg",
    "abs",
    "floor",
    "ceil",
    "round",
    "sqrt",
    "exp",
    "log2",
    "log",
    "sin",
    "cos",
    "tan",
    "tanh",
)


def _decode_param(value: Any, variables: Mapping[str, Any]) -> Any:
    """A literal stays a literal; a variable reference or expression becomes ours."""
    if isinstance(value, list):
        if any(isinstance(v, dict) for v in value):
            return [_decode_param(v, variables) for v in value]
        return value
    if not isinstance(value, dict):
        return value
    if "variable" in value:
        name = value["variable"]
        if name not in variables:
            raise SerializationError(f"variable {name!r} is used but not declared")
        return variables[name]
    expression = value.get("expression")
    if expression in _BINARY:
        lhs = _decode_param(value["lhs"], variables)
        rhs = _decode_param(value["rhs"], variables)
        if expression == "index" and isinstance(rhs, list):
            raise SerializationError("indexing a variable with a list of indices is not supported")
        return _BINARY[expression](lhs, rhs)
    if expression in _UNARY_NAMES:
        return _apply_unary(expression, _decode_param(value["lhs"], variables))
    raise SerializationError(f"unknown expression {value!r}")


def _apply_unary(name: str, operand: Any) -> Any:
    if name == "neg":
        return -operand
    if name == "abs":
        return abs(operand)
    if name == "round":
        return round(operand)
    if name in ("floor", "ceil") and not isinstance(operand, np.ndarray | list):
        try:
            return getattr(math, name)(operand)
        except TypeError:
            pass
    method = getattr(operand, name, None)
    if callable(method):
        return method()
    func = getattr(np, name)
    result = func(np.asarray(operand, dtype=np.float64))
    return result.tolist() if np.ndim(result) else float(result)


# -- sequences: Pulser JSON → ours -----------------------------------------------------------

_UNSUPPORTED_OPS = {
    "enable_eom_mode": "EOM mode (enable_eom_mode)",
    "modify_eom_setpoint": "EOM mode (modify_eom_setpoint)",
    "add_eom_pulse": "EOM mode (add_eom_pulse)",
    "disable_eom_mode": "EOM mode (disable_eom_mode)",
    "add_dmm_detuning": "DMM detuning (add_dmm_detuning)",
    "config_detuning_map": "DMM detuning maps (config_detuning_map)",
    "config_slm_mask": "SLM masks (config_slm_mask)",
    "truncate": "sequence truncation (truncate)",
    "pulse_arbitrary_phase": "arbitrary-phase pulses (Pulse.ArbitraryPhase)",
}
_UNSUPPORTED_WAVEFORMS = {
    "kaiser": "Kaiser waveforms",
    "kaiser_max": "Kaiser waveforms (from_max_val)",
}


def sequence_from_pulser_json(text: str | Mapping[str, Any]) -> Sequence:
    """Build our :class:`Sequence` from Pulser's abstract representation of a sequence.

    ``text`` is the JSON text (or the already parsed object).

    The document is validated against Pulser's schema first; each operation is then replayed
    through the same calls a user would make, so every device limit is checked exactly as
    for a sequence written here. Variables stay variables: a parametrised Pulser sequence
    becomes a parametrised sequence (call ``build(**values)`` on it).

    Raises :class:`SerializationError` for invalid documents and for Pulser features we do
    not support, and the usual :class:`~sequencer.errors.SequenceError` subclasses when a
    pulse breaks a device limit.
    """
    from sequencer.sequence import Sequence

    obj = _parse(text) if isinstance(text, str) else text
    if not isinstance(obj, dict):
        raise SerializationError(f"a Pulser sequence is a JSON object; got {type(obj).__name__}")
    validate_pulser_json(obj, "sequence")
    for key, feature in (
        ("slm_mask_targets", "SLM masks (slm_mask_targets)"),
        ("magnetic_field", "magnetic fields (XY basis)"),
    ):
        if key in obj:
            raise SerializationError(f"unsupported Pulser feature: {feature}")
    if obj["measurement"] == "XY":
        raise SerializationError("unsupported Pulser feature: the XY basis (measure in 'XY')")

    device_obj = obj["device"]
    if isinstance(device_obj, str):
        from sequencer.devices import get_device

        try:
            device = get_device(device_obj)
        except (KeyError, ValueError, SequenceError) as exc:
            raise SerializationError(f"unknown device {device_obj!r}: {exc}") from exc
    else:
        device = _device_from_obj(device_obj)
    register = _register_from_obj(obj["register"], obj.get("layout"))
    seq = Sequence(register, device)

    xy_ids = _xy_channel_ids(device_obj) if isinstance(device_obj, dict) else set()
    for name, channel_id in obj["channels"].items():
        if channel_id in xy_ids or channel_id.startswith("mw_"):
            raise SerializationError(
                f"unsupported Pulser feature: the XY basis (channel {name!r} is {channel_id!r})"
            )
        if channel_id.startswith("dmm_"):
            raise SerializationError(
                f"unsupported Pulser feature: DMM channel {channel_id!r} (detuning maps)"
            )
        seq.declare_channel(name, channel_id)

    variables: dict[str, Any] = {}
    for name, spec in obj["variables"].items():
        dtype = {"int": int, "float": float}[spec["type"]]
        size = len(spec.get("value", [0]))
        variables[name] = seq.declare_variable(name, size=size, dtype=dtype)

    for index, op in enumerate(obj["operations"]):
        try:
            _apply_operation(seq, op, variables)
        except SerializationError as exc:
            raise SerializationError(f"operation {index} ({op['op']}): {exc}") from exc

    if obj["measurement"] is not None:
        seq.measure(obj["measurement"])
    return seq


def _apply_operation(seq: Sequence, op: Mapping[str, Any], variables: Mapping[str, Any]) -> None:
    kind = op["op"]
    if kind in _UNSUPPORTED_OPS:
        raise SerializationError(f"unsupported Pulser feature: {_UNSUPPORTED_OPS[kind]}")
    if kind == "target":
        seq.target_index(_decode_param(op["target"], variables), op["channel"])
    elif kind == "align":
        _check_at_rest(seq, op["channels"], op.get("at_rest", True), "align")
        seq.align(*op["channels"])
    elif kind == "delay":
        _check_at_rest(seq, [op["channel"]], op.get("at_rest", False), "delay")
        seq.delay(_decode_param(op["time"], variables), op["channel"])
    elif kind == "phase_shift":
        targets = [_decode_param(t, variables) for t in op["targets"]]
        ids = seq.register.ids
        qubits = []
        for t in targets:
            if not isinstance(t, int) or not 0 <= t < len(ids):
                raise SerializationError(
                    f"phase_shift target {t!r} must be an atom index in 0..{len(ids) - 1}"
                )
            qubits.append(ids[t])
        seq.phase_shift(_decode_param(op["phi"], variables), *qubits, basis=op["basis"])
    elif kind == "pulse":
        seq.add(_decode_pulse(op, variables), op["channel"], protocol=op["protocol"])
    else:  # pragma: no cover - the schema admits no other operation
        raise SerializationError(f"unknown operation {kind!r}")


def _check_at_rest(seq: Sequence, channels: list[str], at_rest: bool, what: str) -> None:
    """Refuse ``at_rest`` semantics we cannot reproduce.

    Pulser's ``at_rest`` makes a delay or align wait for the channel's output to settle
    (its modulation fall time). That only changes the schedule on channels with a finite
    modulation bandwidth.
    """
    declared = seq.declared_channels
    for name in channels:
        if name not in declared:
            continue  # the call itself refuses an undeclared channel
        bandwidth = declared[name].mod_bandwidth
        default = what == "align"
        if at_rest != default and bandwidth:
            raise SerializationError(
                f"unsupported Pulser feature: {what}(at_rest={at_rest}) on channel {name!r} "
                f"with a modulation bandwidth of {bandwidth} MHz"
            )


def _decode_pulse(op: Mapping[str, Any], variables: Mapping[str, Any]) -> Any:
    from sequencer.pulse import Pulse

    phase = _decode_param(op["phase"], variables)
    post = _decode_param(op["post_phase_shift"], variables)
    amp, det = op["amplitude"], op["detuning"]
    # Pulser writes a parametrised ConstantAmplitude/ConstantDetuning pulse as a constant
    # waveform of duration 0 holding the value.
    if amp.get("kind") == "constant" and amp.get("duration") == 0:
        return Pulse.ConstantAmplitude(
            _decode_param(amp["value"], variables),
            _decode_waveform(det, variables),
            phase,
            post_phase_shift=post,
        )
    if det.get("kind") == "constant" and det.get("duration") == 0:
        return Pulse.ConstantDetuning(
            _decode_waveform(amp, variables),
            _decode_param(det["value"], variables),
            phase,
            post_phase_shift=post,
        )
    return Pulse(
        _decode_waveform(amp, variables),
        _decode_waveform(det, variables),
        phase,
        post_phase_shift=post,
    )


def _decode_waveform(obj: Mapping[str, Any], variables: Mapping[str, Any]) -> Any:
    from sequencer import waveforms as wf

    kind = obj["kind"]
    if kind in _UNSUPPORTED_WAVEFORMS:
        raise SerializationError(f"unsupported Pulser feature: {_UNSUPPORTED_WAVEFORMS[kind]}")

    def p(key: str) -> Any:
        return _decode_param(obj[key], variables)

    if kind == "constant":
        return wf.ConstantWaveform(p("duration"), p("value"))
    if kind == "ramp":
        return wf.RampWaveform(p("duration"), p("start"), p("stop"))
    if kind == "blackman":
        return wf.BlackmanWaveform(p("duration"), p("area"))
    if kind == "blackman_max":
        return wf.BlackmanWaveform.from_max_val(p("max_val"), p("area"))
    if kind == "interpolated":
        return wf.InterpolatedWaveform(p("duration"), p("values"), times=p("times"))
    if kind == "composite":
        return wf.CompositeWaveform(*(_decode_waveform(w, variables) for w in obj["waveforms"]))
    if kind == "custom":
        return wf.CustomWaveform(p("samples"))
    raise SerializationError(f"unknown waveform kind {kind!r}")  # pragma: no cover


# -- sequences: ours → Pulser JSON -----------------------------------------------------------


def sequence_to_pulser_json(seq: Sequence, *, name: str = "atomstack-exported") -> str:
    """Write ``seq`` as Pulser's abstract representation; validated before it is returned.

    Every recorded call (``seq.calls``) becomes one Pulser operation; variables and
    expressions are written unevaluated, so a parametrised sequence stays parametrised.
    Raises :class:`SerializationError` for calls Pulser's format cannot express.
    """
    obj: dict[str, Any] = {
        "version": "1",
        "name": name,
        "device": _device_to_obj(seq.device),
        **_register_to_obj(seq.register),
        "channels": {},
        "variables": {},
        "operations": [],
        "measurement": None,
    }
    encoder = _Encoder(seq)
    ops: list[dict[str, Any]] = obj["operations"]
    for call in seq.calls:
        args = encoder.bind(call)
        kind = call.name
        if kind == "declare_channel":
            obj["channels"][args["name"]] = args["channel_id"]
            if args.get("initial_target") is not None:
                ops.append(
                    {
                        "op": "target",
                        "channel": args["name"],
                        "target": encoder.targets(args["initial_target"]),
                    }
                )
        elif kind == "declare_variable":
            dtype = args.get("dtype", float)
            type_name = "int" if dtype is int or dtype == "int" else "float"
            size = int(args.get("size", 1))
            zero = 0 if type_name == "int" else 0.0
            obj["variables"][args["name"]] = {"type": type_name, "value": [zero] * size}
        elif kind == "add":
            ops.append(
                {
                    "op": "pulse",
                    "channel": args["channel"],
                    "protocol": args.get("protocol", "min-delay"),
                    **encoder.pulse(args["pulse"]),
                }
            )
        elif kind == "delay":
            ops.append(
                {
                    "op": "delay",
                    "channel": args["channel"],
                    "time": encoder.scalar(args["duration"]),
                }
            )
        elif kind == "target":
            ops.append(
                {
                    "op": "target",
                    "channel": args["channel"],
                    "target": encoder.targets(args["qubits"]),
                }
            )
        elif kind == "target_index":
            ops.append(
                {
                    "op": "target",
                    "channel": args["channel"],
                    "target": encoder.index_targets(args["qubits"]),
                }
            )
        elif kind == "phase_shift":
            # Ours shifts every atom when none is named; Pulser needs them listed.
            named = list(args["targets"]) or list(seq.register.ids)
            targets = encoder.targets(named)
            ops.append(
                {
                    "op": "phase_shift",
                    "phi": encoder.scalar(args["phi"]),
                    "targets": targets if isinstance(targets, list) else [targets],
                    "basis": args.get("basis", "digital"),
                }
            )
        elif kind == "align":
            ops.append({"op": "align", "channels": list(args["channels"])})
        elif kind == "measure":
            obj["measurement"] = args.get("basis", "ground-rydberg")
        else:
            raise SerializationError(
                f"cannot express the call {kind!r} in Pulser's abstract representation"
            )
    validate_pulser_json(obj, "sequence")
    return json.dumps(obj)


class _Encoder:
    """Turns our call arguments (numbers, variables, expressions, waveforms) into Pulser's."""

    def __init__(self, seq: Sequence) -> None:
        self._seq = seq

    def bind(self, call: Any) -> dict[str, Any]:
        """Name every argument of a recorded call, defaults included."""
        method = getattr(type(self._seq), call.name, None)
        if method is None:
            raise SerializationError(f"the sequence has no method {call.name!r}")
        sig = inspect.signature(method)
        try:
            bound = sig.bind(self._seq, *call.args, **dict(call.kwargs))
        except TypeError as exc:
            raise SerializationError(f"cannot read the recorded call {call.name!r}: {exc}") from exc
        bound.apply_defaults()
        out = dict(bound.arguments)
        out.pop("self", None)
        for param in sig.parameters.values():
            if param.kind is inspect.Parameter.VAR_KEYWORD and param.name in out:
                out.update(out.pop(param.name))
        return out

    # numbers ------------------------------------------------------------------------------
    def scalar(self, value: Any) -> Any:
        """A number, or an expression tree for a variable/expression."""
        return _encode_param(value, scalar=True)

    def array(self, value: Any) -> Any:
        """A list of numbers, or a variable reference / expression for a parametrised one."""
        return _encode_param(value, scalar=False)

    # targets ------------------------------------------------------------------------------
    def targets(self, qubits: Any) -> int | list[int]:
        """Atom ids (one or several) → register indices, as Pulser writes them."""
        ids = self._seq.register.ids
        if isinstance(qubits, str | int | np.integer):
            items: list[Any] = [qubits]
            single = True
        else:
            items = list(qubits)
            single = len(items) == 1
        indices = []
        for q in items:
            if _is_parametrized(q):
                raise SerializationError("targeting atoms by a variable id is not supported")
            key = str(q)
            if key not in ids:
                raise SerializationError(f"no atom {key!r} in the register")
            indices.append(ids.index(key))
        return indices[0] if single else indices

    def index_targets(self, qubits: Any) -> Any:
        """Register indices (one, several, or parametrised) as Pulser writes them."""
        if _is_parametrized(qubits):
            return _encode_param(qubits, scalar=False)
        if isinstance(qubits, int | np.integer):
            return int(qubits)
        items = [int(q) for q in qubits]
        return items[0] if len(items) == 1 else items

    # pulses and waveforms -----------------------------------------------------------------
    def pulse(self, pulse: Any) -> dict[str, Any]:
        """The ``amplitude``/``detuning``/``phase``/``post_phase_shift`` of a pulse op."""
        from sequencer.pulse import DeferredPulse, Pulse

        if isinstance(pulse, Pulse):
            return {
                "amplitude": self.waveform(pulse.amplitude),
                "detuning": self.waveform(pulse.detuning),
                "phase": self.scalar(pulse.phase),
                "post_phase_shift": self.scalar(pulse.post_phase_shift),
            }
        if not isinstance(pulse, DeferredPulse):
            raise SerializationError(f"expected a Pulse; got {pulse!r}")
        if pulse.method == "__init__":
            args = _bind(Pulse.__init__, (None, *pulse.args), pulse.kwargs)
        else:
            args = _bind(getattr(Pulse, pulse.method), pulse.args, pulse.kwargs)
        post = self.scalar(args.get("post_phase_shift", 0.0))
        phase = self.scalar(args["phase"])
        if pulse.method == "ConstantPulse":
            duration = self.scalar(args["duration"])
            amplitude: Any = {
                "kind": "constant",
                "duration": duration,
                "value": self.scalar(args["amplitude"]),
            }
            detuning: Any = {
                "kind": "constant",
                "duration": duration,
                "value": self.scalar(args["detuning"]),
            }
        elif pulse.method == "ConstantAmplitude":
            # Pulser's convention: a constant of duration 0 holds the parametrised value.
            amplitude = {"kind": "constant", "duration": 0, "value": self.scalar(args["amplitude"])}
            detuning = self.waveform(args["detuning"])
        elif pulse.method == "ConstantDetuning":
            amplitude = self.waveform(args["amplitude"])
            detuning = {"kind": "constant", "duration": 0, "value": self.scalar(args["detuning"])}
        else:
            amplitude = self.waveform(args["amplitude"])
            detuning = self.waveform(args["detuning"])
        return {
            "amplitude": amplitude,
            "detuning": detuning,
            "phase": phase,
            "post_phase_shift": post,
        }

    def waveform(self, waveform: Any) -> dict[str, Any]:
        """A waveform as Pulser's ``{"kind": ..., ...}`` object."""
        from sequencer.waveforms import (
            CompositeWaveform,
            CustomWaveform,
            DeferredWaveform,
            InterpolatedWaveform,
            Waveform,
        )

        if isinstance(waveform, DeferredWaveform):
            kind = waveform.kind
            params = waveform.bound_arguments()
        elif isinstance(waveform, Waveform):
            kind = waveform.kind
            params = waveform.parameters()
        else:
            raise SerializationError(f"expected a Waveform; got {waveform!r}")
        if kind == "composite":
            parts = (
                waveform.waveforms
                if isinstance(waveform, CompositeWaveform)
                else params.get("waveforms", [])
            )
            return {"kind": "composite", "waveforms": [self.waveform(w) for w in parts]}
        if kind == "custom":
            samples = (
                waveform.samples if isinstance(waveform, CustomWaveform) else params["samples"]
            )
            return {"kind": "custom", "samples": self.array(samples)}
        if kind == "interpolated":
            interpolator = params.pop("interpolator", "PchipInterpolator")
            extra = set(params) - {"duration", "values", "times"}
            if interpolator != "PchipInterpolator" or extra:
                raise SerializationError(
                    "Pulser's abstract representation only holds PchipInterpolator "
                    f"interpolation without options; got {interpolator!r} "
                    f"{sorted(extra) if extra else ''}".rstrip()
                )
            values = params["values"]
            times = params.get("times")
            if times is None:
                times = _default_times(values)
            elif isinstance(waveform, InterpolatedWaveform):
                times = waveform.times
            return {
                "kind": "interpolated",
                "duration": self.scalar(params["duration"]),
                "values": self.array(values),
                "times": self.array(times),
            }
        if kind in ("constant", "ramp", "blackman", "blackman_max"):
            return {"kind": kind, **{k: self.scalar(v) for k, v in params.items()}}
        raise SerializationError(f"Pulser has no waveform of kind {kind!r}")


def _default_times(values: Any) -> Any:
    """Pulser writes ``times`` explicitly: evenly spaced over [0, 1] when not given."""
    from sequencer.parametrize import Variable

    if isinstance(values, Variable):
        size = values.size
    elif _is_parametrized(values):
        raise SerializationError(
            "an interpolated waveform with parametrised values needs explicit times for Pulser"
        )
    else:
        size = len(values)
    return np.linspace(0.0, 1.0, size).tolist()


def _bind(func: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    sig = inspect.signature(func)
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as exc:
        raise SerializationError(f"cannot read the arguments of {func.__name__}: {exc}") from exc
    return dict(bound.arguments)


def _is_waveform(obj: Any) -> bool:
    from sequencer.waveforms import Waveform

    return isinstance(obj, Waveform)


def _is_parametrized(obj: Any) -> bool:
    from sequencer.parametrize import is_parametrized

    return is_parametrized(obj)


def _encode_param(value: Any, *, scalar: bool) -> Any:
    """A number, a list of numbers, or Pulser's ``{"variable"}``/``{"expression"}`` tree.

    ``scalar``: the field holds one number. Pulser's schema then admits no bare variable
    reference, so a size-1 variable is written as Pulser writes it, ``index(var, 0)``.
    """
    from sequencer.parametrize import Expression, Variable

    if isinstance(value, Variable):
        if not scalar:
            return {"variable": value.name}
        if value.size != 1:
            raise SerializationError(
                f"variable {value.name!r} of size {value.size} is used where one number is "
                "expected; index it (var[i])"
            )
        return {"expression": "index", "lhs": {"variable": value.name}, "rhs": 0}
    if isinstance(value, Expression):
        if value.op == "index":
            if not isinstance(value.lhs, Variable):
                raise SerializationError(f"Pulser can only index a variable, not {value.lhs!r}")
            return {
                "expression": "index",
                "lhs": {"variable": value.lhs.name},
                "rhs": _encode_param(value.rhs, scalar=True),
            }
        out: dict[str, Any] = {
            "expression": value.op,
            "lhs": _encode_param(value.lhs, scalar=scalar),
        }
        if not value.is_unary:
            out["rhs"] = _encode_param(value.rhs, scalar=scalar)
        return out
    if isinstance(value, bool):
        raise SerializationError(f"expected a number; got {value!r}")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _finite(float(value))
    if isinstance(value, list | tuple | np.ndarray):
        if _is_parametrized(list(value)):
            raise SerializationError(
                "Pulser cannot hold a list mixing numbers and variables; declare one "
                "variable of the list's size instead"
            )
        arr = np.asarray(value, dtype=np.float64)
        if scalar and arr.ndim == 0:
            return _finite(float(arr))
        return [_finite(float(v)) for v in arr.ravel()]
    raise SerializationError(f"cannot write {value!r} as a Pulser parameter")


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise SerializationError(f"JSON cannot hold the non-finite number {value}")
    return value


# -- format detection, load and dump -------------------------------------------------------


def detect_format(obj: Mapping[str, Any]) -> Format:
    """``"pulser"`` for Pulser's abstract representation, else ``"atomstack"``."""
    if obj.get("format") == "atomstack-sequence":
        return "atomstack"
    if "operations" in obj and "channels" in obj:
        return "pulser"
    return "atomstack"


def load_sequence(source: str | Path) -> Sequence:
    """Read a sequence from JSON text or a file path, in our format or in Pulser's.

    ``source`` is taken as JSON text when it starts with ``{`` (after whitespace), else as a
    path. The format is detected from the document's keys.
    """
    text = _read_source(source)
    obj = _parse(text)
    if not isinstance(obj, dict):
        raise SerializationError(f"a sequence is a JSON object; got {type(obj).__name__}")
    if detect_format(obj) == "pulser":
        return sequence_from_pulser_json(text)
    from sequencer.sequence import Sequence

    return Sequence.from_json(text)


def dump_sequence(seq: Sequence, format: Format = "atomstack") -> str:
    """Write ``seq`` as JSON, in our format (default) or in Pulser's abstract repr."""
    if format == "pulser":
        return sequence_to_pulser_json(seq)
    if format == "atomstack":
        return str(seq.to_json())
    raise SerializationError(f"format must be 'atomstack' or 'pulser'; got {format!r}")


def _read_source(source: str | Path) -> str:
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return source
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SerializationError(f"cannot read sequence file {str(path)!r}: {exc}") from exc
