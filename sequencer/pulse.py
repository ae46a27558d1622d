"""Pulses: an amplitude waveform, a detuning waveform, a phase and a post-pulse phase shift.

Units as Pulser: Ω and Δ in rad/µs, phases in rad (stored modulo 2π, as Pulser does).
Arguments may hold variables; the constructors then return a :class:`DeferredPulse` that
``Sequence.build`` turns into a real pulse.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from sequencer.errors import WaveformError
from sequencer.parametrize import _equal, is_parametrized, resolve
from sequencer.waveforms import ConstantWaveform, DeferredWaveform, Waveform

__all__ = ["DeferredPulse", "Pulse"]

_TWO_PI = 2 * math.pi


def _phase(value: Any, what: str) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError) as exc:
        raise WaveformError(f"{what} must be a number (rad); got {value!r}") from exc
    if not math.isfinite(f):
        raise WaveformError(f"{what} must be finite; got {value!r}")
    return wrap_phase(f)


def wrap_phase(phi: float) -> float:
    """``phi`` modulo 2π in [0, 2π) (``-1e-300 % 2π`` rounds to 2π; that becomes 0)."""
    out = phi % _TWO_PI
    return 0.0 if out >= _TWO_PI else out


class Pulse:
    """Ω(t) (``amplitude``, ≥ 0) and Δ(t) (``detuning``) of equal duration, a phase φ (rad).

    ``post_phase_shift`` (rad) is a virtual-Z applied to the addressed atoms after the pulse.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        if cls is Pulse and (is_parametrized(args) or is_parametrized(kwargs)):
            return DeferredPulse("__init__", args, kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        amplitude: Waveform,
        detuning: Waveform,
        phase: float,
        post_phase_shift: float = 0.0,
    ) -> None:
        for name, wf in (("amplitude", amplitude), ("detuning", detuning)):
            if not isinstance(wf, Waveform) or isinstance(wf, DeferredWaveform):
                raise WaveformError(f"the pulse's {name} must be a Waveform; got {wf!r}")
        if amplitude.duration != detuning.duration:
            raise WaveformError(
                f"amplitude ({amplitude.duration} ns) and detuning ({detuning.duration} ns) "
                "must have the same duration"
            )
        if np.any(amplitude.samples < 0):
            raise WaveformError(
                f"the amplitude must be >= 0 rad/us; its minimum is {np.min(amplitude.samples)}"
            )
        self.amplitude = amplitude
        self.detuning = detuning
        self.phase = _phase(phase, "phase")
        self.post_phase_shift = _phase(post_phase_shift, "post_phase_shift")
        # How the pulse was written, for serialisation: ("ConstantAmplitude", value) etc.
        self._form: tuple[str, float] | None = None

    @classmethod
    def ConstantAmplitude(
        cls, amplitude: Any, detuning: Any, phase: Any, post_phase_shift: Any = 0.0
    ) -> Pulse:
        """A constant Ω (rad/µs) with a detuning waveform."""
        args = (amplitude, detuning, phase, post_phase_shift)
        if is_parametrized(args):
            return DeferredPulse("ConstantAmplitude", args, {})  # type: ignore[return-value]
        p = cls(ConstantWaveform(detuning.duration, amplitude), detuning, phase, post_phase_shift)
        p._form = ("ConstantAmplitude", float(amplitude))
        return p

    @classmethod
    def ConstantDetuning(
        cls, amplitude: Any, detuning: Any, phase: Any, post_phase_shift: Any = 0.0
    ) -> Pulse:
        """An amplitude waveform with a constant Δ (rad/µs)."""
        args = (amplitude, detuning, phase, post_phase_shift)
        if is_parametrized(args):
            return DeferredPulse("ConstantDetuning", args, {})  # type: ignore[return-value]
        p = cls(amplitude, ConstantWaveform(amplitude.duration, detuning), phase, post_phase_shift)
        p._form = ("ConstantDetuning", float(detuning))
        return p

    @classmethod
    def ConstantPulse(
        cls,
        duration: Any,
        amplitude: Any,
        detuning: Any,
        phase: Any,
        post_phase_shift: Any = 0.0,
    ) -> Pulse:
        """Constant Ω and Δ (rad/µs) for ``duration`` ns."""
        args = (duration, amplitude, detuning, phase, post_phase_shift)
        if is_parametrized(args):
            return DeferredPulse("ConstantPulse", args, {})  # type: ignore[return-value]
        return cls(
            ConstantWaveform(duration, amplitude),
            ConstantWaveform(duration, detuning),
            phase,
            post_phase_shift,
        )

    @property
    def duration(self) -> int:
        """Duration in ns."""
        return self.amplitude.duration

    def is_parametrized(self) -> bool:
        """False: a concrete pulse."""
        return False

    def with_phase(self, phase: float) -> Pulse:
        """The same pulse with another phase (rad)."""
        p = Pulse(self.amplitude, self.detuning, phase, self.post_phase_shift)
        p._form = self._form
        return p

    def to_dict(self) -> dict[str, Any]:
        """Waveforms as dicts plus phase and post_phase_shift."""
        return {
            "amplitude": self.amplitude.to_dict(),
            "detuning": self.detuning.to_dict(),
            "phase": self.phase,
            "post_phase_shift": self.post_phase_shift,
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pulse):
            return False
        return (
            self.amplitude == other.amplitude
            and self.detuning == other.detuning
            and self.phase == other.phase
            and self.post_phase_shift == other.post_phase_shift
        )

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return (
            f"Pulse(amplitude={self.amplitude!r}, detuning={self.detuning!r}, "
            f"phase={self.phase:.6g}, post_phase_shift={self.post_phase_shift:.6g})"
        )


class DeferredPulse:
    """A pulse whose arguments hold variables; ``build(values)`` constructs it.

    ``method`` is ``"__init__"``, ``"ConstantAmplitude"``, ``"ConstantDetuning"`` or
    ``"ConstantPulse"``; ``args``/``kwargs`` are the arguments as given.
    """

    def __init__(self, method: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        self.method = method
        self.args = tuple(args)
        self.kwargs = dict(kwargs)

    def is_parametrized(self) -> bool:
        """True."""
        return True

    def build(self, values: Mapping[str, Any]) -> Pulse:
        """The concrete pulse for the variable ``values``."""
        args = resolve(self.args, values)
        kwargs = resolve(self.kwargs, values)
        if self.method == "__init__":
            return Pulse(*args, **kwargs)
        return getattr(Pulse, self.method)(*args, **kwargs)

    def bound_arguments(self) -> dict[str, Any]:
        """Arguments by parameter name, defaults applied."""
        import inspect

        func = Pulse.__init__ if self.method == "__init__" else getattr(Pulse, self.method)
        sig = inspect.signature(func)
        lead = (None,) if self.method == "__init__" else ()
        bound = sig.bind(*lead, *self.args, **self.kwargs)
        bound.apply_defaults()
        out = dict(bound.arguments)
        out.pop("self", None)
        return out

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, DeferredPulse)
            and self.method == other.method
            and _equal(list(self.args), list(other.args))
            and set(self.kwargs) == set(other.kwargs)
            and all(_equal(self.kwargs[k], other.kwargs[k]) for k in self.kwargs)
        )

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"DeferredPulse.{self.method}{self.args!r}"
