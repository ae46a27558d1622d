"""Introspection helpers for serialisers (our JSON and Pulser's abstract representation).

- :func:`pulse_parts` — a pulse's amplitude/detuning (waveform, or a number/expression for the
  constant side of ``ConstantAmplitude``/``ConstantDetuning``), phase, post_phase_shift.
- :func:`waveform_parts` — ``(kind, arguments)`` of a waveform, concrete or deferred; ``kind``
  is Pulser's (``constant ramp blackman blackman_max interpolated composite custom``).
- :func:`encode_expression` — a variable/expression as Pulser writes it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sequencer.errors import SerializationError
from sequencer.parametrize import Expression, Variable
from sequencer.parametrize import is_parametrized as _is_parametrized
from sequencer.pulse import DeferredPulse, Pulse
from sequencer.waveforms import (
    CompositeWaveform,
    ConstantWaveform,
    DeferredWaveform,
    Waveform,
)

__all__ = ["encode_expression", "is_parametrized", "pulse_parts", "waveform_parts"]


def is_parametrized(obj: Any) -> bool:
    """Whether ``obj`` depends on a variable."""
    return _is_parametrized(obj)


def pulse_parts(pulse: Pulse | DeferredPulse) -> dict[str, Any]:
    """``amplitude``, ``detuning``, ``phase``, ``post_phase_shift`` of a pulse."""
    if isinstance(pulse, Pulse):
        parts: dict[str, Any] = {
            "amplitude": pulse.amplitude,
            "detuning": pulse.detuning,
            "phase": pulse.phase,
            "post_phase_shift": pulse.post_phase_shift,
        }
        if pulse._form is not None:
            form, value = pulse._form
            parts["amplitude" if form == "ConstantAmplitude" else "detuning"] = value
        return parts
    if isinstance(pulse, DeferredPulse):
        a = pulse.bound_arguments()
        if pulse.method == "ConstantPulse":
            return {
                "amplitude": ConstantWaveform(a["duration"], a["amplitude"]),
                "detuning": ConstantWaveform(a["duration"], a["detuning"]),
                "phase": a["phase"],
                "post_phase_shift": a["post_phase_shift"],
            }
        return {k: a[k] for k in ("amplitude", "detuning", "phase", "post_phase_shift")}
    raise SerializationError(f"not a pulse: {pulse!r}")


def waveform_parts(waveform: Waveform) -> tuple[str, Any]:
    """``(kind, args)``; for ``composite`` ``args`` is the list of parts."""
    if isinstance(waveform, DeferredWaveform):
        kind = waveform.kind
        args = waveform.bound_arguments()
        if kind == "composite":
            return kind, list(args.get("waveforms", []))
        if kind == "interpolated":
            if args.get("times") is None:
                values = args["values"]
                n = values.size if isinstance(values, Variable) else len(values)
                args["times"] = np.linspace(0, 1, n).tolist()
            extra = set(args) - {"duration", "values", "times", "interpolator"}
            if extra or args.get("interpolator", "PchipInterpolator") != "PchipInterpolator":
                raise SerializationError("only the default PCHIP interpolator can be exported")
            args.pop("interpolator", None)
        return kind, args
    if isinstance(waveform, CompositeWaveform):
        return "composite", list(waveform.waveforms)
    params = waveform.parameters()
    if waveform.kind == "interpolated":
        if params.pop("interpolator") != "PchipInterpolator" or set(params) - {
            "duration",
            "values",
            "times",
        }:
            raise SerializationError("only the default PCHIP interpolator can be exported")
    return waveform.kind, params


def encode_expression(value: Any, *, scalar: bool = True) -> Any:
    """Pulser's abstract repr of a variable/expression (lists element-wise, numbers as is)."""
    if isinstance(value, Variable):
        return {"variable": value.name}
    if isinstance(value, Expression):
        out: dict[str, Any] = {"expression": value.op, "lhs": encode_expression(value.lhs)}
        if not value.is_unary:
            out["rhs"] = encode_expression(value.rhs)
        return out
    if isinstance(value, list | tuple | np.ndarray):
        return [encode_expression(v) for v in value]
    if isinstance(value, bool):
        raise SerializationError(f"expected a number; got {value!r}")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    raise SerializationError(f"cannot encode {value!r} as a Pulser parameter")
