"""Waveforms: Ω(t) or Δ(t) shapes sampled on a 1 ns grid, following Pulser's conventions.

Every waveform has an integer ``duration`` (ns) and ``samples`` (float64, one per ns, sample
``k`` holding the value during ``[k, k+1)`` ns). ``integral`` is ``Σ samples × 1e-3``: the pulse
area in rad for an amplitude in rad/µs.

Conventions copied from pulser-core 1.9.1 so samples agree to the last bit:

- :class:`RampWaveform` is ``np.linspace(start, stop, duration)``: the last sample *is* ``stop``.
- :class:`BlackmanWaveform` is ``clip(np.blackman(duration), 0) × area / Σ × 1e3``.
- :class:`InterpolatedWaveform` places the points at ``times × (duration − 1)`` ns and
  evaluates the interpolator at ``0, 1, …, duration − 1``; with the default PCHIP (monotone)
  the result is clipped to the range of ``values``.

Arguments may be :class:`~sequencer.parametrize.Variable` s or expressions: the constructor then
returns a :class:`DeferredWaveform` that ``Sequence.build`` turns into the real waveform.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import interpolate

from sequencer.errors import ParameterError, WaveformError
from sequencer.parametrize import Parametrized, as_int, is_parametrized, resolve

__all__ = [
    "BlackmanWaveform",
    "CompositeWaveform",
    "ConstantWaveform",
    "CustomWaveform",
    "DeferredWaveform",
    "InterpolatedWaveform",
    "RampWaveform",
    "Waveform",
]


def _duration(value: Any) -> int:
    try:
        d = as_int(value, "duration")
    except ParameterError as exc:
        raise WaveformError(str(exc)) from None
    if d <= 0:
        raise WaveformError(f"a waveform's duration must be a positive number of ns; got {value}")
    return d


def _finite(value: Any, what: str) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError) as exc:
        raise WaveformError(f"{what} must be a number; got {value!r}") from exc
    if not np.isfinite(f):
        raise WaveformError(f"{what} must be finite; got {value!r}")
    return f


def _array(value: Any, what: str) -> NDArray[np.float64]:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise WaveformError(f"{what} must be numbers; got {value!r}") from exc
    if arr.ndim != 1 or arr.size == 0:
        raise WaveformError(f"{what} must be a non-empty 1-D array; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise WaveformError(f"{what} must be finite")
    return arr


class Waveform:
    """Base class: a shape with ``duration`` (ns) and ``samples`` on a 1 ns grid."""

    kind: ClassVar[str] = ""
    _samples: NDArray[np.float64]

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        if cls is not DeferredWaveform and (is_parametrized(args) or is_parametrized(kwargs)):
            return DeferredWaveform(cls, "__init__", args, kwargs)
        return super().__new__(cls)

    def _set(self, samples: NDArray[np.float64]) -> None:
        samples = np.array(samples, dtype=np.float64)
        samples.flags.writeable = False
        self._samples = samples

    # -- the common API ---------------------------------------------------------------------
    @property
    def duration(self) -> int:
        """Duration in ns (= number of samples)."""
        return len(self._samples)

    @property
    def samples(self) -> NDArray[np.float64]:
        """Read-only float64 samples, one per ns."""
        return self._samples

    @property
    def integral(self) -> float:
        """Σ samples × 1e-3: the area in rad for samples in rad/µs."""
        return float(np.sum(self._samples)) * 1e-3

    @property
    def first_value(self) -> float:
        """The first sample."""
        return float(self._samples[0])

    @property
    def last_value(self) -> float:
        """The last sample."""
        return float(self._samples[-1])

    def is_parametrized(self) -> bool:
        """False: a concrete waveform (see :class:`DeferredWaveform`)."""
        return False

    def parameters(self) -> dict[str, Any]:
        """Constructor arguments, JSON-ready (numbers and lists)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": ..., **parameters}``; :func:`waveform_from_dict` reads it back."""
        return {"kind": self.kind, **self.parameters()}

    # -- arithmetic -------------------------------------------------------------------------
    def _scaled(self, factor: float) -> Waveform:
        return CustomWaveform(self._samples * factor)

    def _shifted(self, offset: float) -> Waveform:
        return CustomWaveform(self._samples + offset)

    def __mul__(self, other: Any) -> Waveform:
        if isinstance(other, Waveform) or not np.isscalar(other):
            return NotImplemented
        return self._scaled(_finite(other, "factor"))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Waveform:
        if isinstance(other, Waveform) or not np.isscalar(other):
            return NotImplemented
        divisor = _finite(other, "divisor")
        if divisor == 0:
            raise WaveformError("cannot divide a waveform by zero")
        return self._scaled(1.0 / divisor)

    def __neg__(self) -> Waveform:
        return self._scaled(-1.0)

    def __add__(self, other: Any) -> Waveform:
        if isinstance(other, Waveform) or not np.isscalar(other):
            return NotImplemented
        return self._shifted(_finite(other, "offset"))

    __radd__ = __add__

    def __sub__(self, other: Any) -> Waveform:
        if isinstance(other, Waveform) or not np.isscalar(other):
            return NotImplemented
        return self._shifted(-_finite(other, "offset"))

    def __rsub__(self, other: Any) -> Waveform:
        return (-self)._shifted(_finite(other, "offset"))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Waveform) or isinstance(other, DeferredWaveform):
            return False
        return type(self) is type(other) and np.array_equal(self._samples, other._samples)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._samples.tobytes()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.parameters().items())
        return f"{type(self).__name__}({args})"


class ConstantWaveform(Waveform):
    """``value`` for ``duration`` ns."""

    kind = "constant"

    def __init__(self, duration: Any, value: Any) -> None:
        self._value = _finite(value, "value")
        self._set(np.full(_duration(duration), self._value))

    @property
    def value(self) -> float:
        """The constant value."""
        return self._value

    def parameters(self) -> dict[str, Any]:
        """``duration``, ``value``."""
        return {"duration": self.duration, "value": self._value}

    def _scaled(self, factor: float) -> Waveform:
        return ConstantWaveform(self.duration, self._value * factor)

    def _shifted(self, offset: float) -> Waveform:
        return ConstantWaveform(self.duration, self._value + offset)


class RampWaveform(Waveform):
    """Linear ramp ``np.linspace(start, stop, duration)``: the last sample equals ``stop``."""

    kind = "ramp"

    def __init__(self, duration: Any, start: Any, stop: Any) -> None:
        self._start = _finite(start, "start")
        self._stop = _finite(stop, "stop")
        self._set(np.linspace(self._start, self._stop, _duration(duration)))

    @property
    def slope(self) -> float:
        """(stop − start)/(duration − 1) per ns, as Pulser defines it."""
        return (self._stop - self._start) / max(self.duration - 1, 1)

    def parameters(self) -> dict[str, Any]:
        """``duration``, ``start``, ``stop``."""
        return {"duration": self.duration, "start": self._start, "stop": self._stop}

    def _scaled(self, factor: float) -> Waveform:
        return RampWaveform(self.duration, self._start * factor, self._stop * factor)

    def _shifted(self, offset: float) -> Waveform:
        return RampWaveform(self.duration, self._start + offset, self._stop + offset)


class BlackmanWaveform(Waveform):
    """A Blackman window of ``duration`` ns whose integral is ``area`` (rad)."""

    kind = "blackman"

    def __init__(self, duration: Any, area: Any) -> None:
        d = _duration(duration)
        self._area = _finite(area, "area")
        norm = np.clip(np.blackman(d), 0, np.inf)
        total = np.sum(norm)
        if total == 0:
            raise WaveformError(
                f"a Blackman waveform of {d} ns has no area (np.blackman is zero); use >= 3 ns"
            )
        scaling = self._area / total * 1e3
        self._set(norm * scaling)

    @property
    def area(self) -> float:
        """The requested area (rad)."""
        return self._area

    @classmethod
    def from_max_val(cls, max_val: Any, area: Any) -> BlackmanWaveform:
        """The shortest Blackman pulse of ``area`` whose peak does not exceed ``max_val``.

        Same algorithm as Pulser (duration from a 0.42 × duration normalised area, then
        lengthened until the peak fits; odd/even subtlety of ``np.blackman`` included).
        """
        if is_parametrized((max_val, area)):
            return DeferredWaveform(cls, "from_max_val", (max_val, area), {})  # type: ignore[return-value]
        max_val_f = _finite(max_val, "max_val")
        area_f = _finite(area, "area")
        if max_val_f == 0 or area_f == 0 or np.sign(max_val_f) != np.sign(area_f):
            raise WaveformError(
                f"max_val ({max_val_f}) and area ({area_f}) must be non-zero and of the same sign"
            )
        sign = float(np.sign(area_f))
        max_val_f, area_f = abs(max_val_f), abs(area_f)
        duration = int(np.ceil(area_f / (0.42 * max_val_f) * 1e3))
        wf = cls(duration, area_f)
        previous = None
        while area_f / np.sum(np.clip(np.blackman(duration), 0, np.inf)) * 1e3 > max_val_f:
            duration += 1
            previous = wf
            wf = cls(duration, area_f)
        arr_max = float(np.max(wf.samples))
        if (
            previous is not None
            and duration % 2 == 1
            and arr_max < np.max(previous.samples) <= max_val_f
        ):
            wf = previous
        return wf if sign > 0 else -wf  # type: ignore[return-value]

    def parameters(self) -> dict[str, Any]:
        """``duration``, ``area``."""
        return {"duration": self.duration, "area": self._area}

    def _scaled(self, factor: float) -> Waveform:
        return BlackmanWaveform(self.duration, self._area * factor)


class InterpolatedWaveform(Waveform):
    """Interpolation through ``values`` at ``times`` (fractions of the duration, 0..1).

    ``interpolator``: ``"PchipInterpolator"`` (default; monotone, no overshoot, clipped to the
    range of ``values``), ``"interp1d"`` (piecewise linear unless ``kind=`` is given) or
    ``"CubicSpline"`` (smooth, C²; may overshoot). Extra keyword arguments go to SciPy.
    """

    kind = "interpolated"
    _INTERPOLATORS = ("PchipInterpolator", "interp1d", "CubicSpline")

    def __init__(
        self,
        duration: Any,
        values: ArrayLike | Parametrized,
        times: ArrayLike | Parametrized | None = None,
        interpolator: str = "PchipInterpolator",
        **interpolator_kwargs: Any,
    ) -> None:
        d = _duration(duration)
        vals = _array(values, "values")
        if times is None:
            t = np.linspace(0, 1, num=len(vals))
        else:
            t = _array(times, "times")
            if np.any(t < 0) or np.any(t > 1):
                raise WaveformError(f"times must lie in [0, 1]; got {t.tolist()}")
            if len(np.unique(t)) != len(t):
                raise WaveformError("times must not repeat")
            if t.size != vals.size:
                raise WaveformError(
                    f"times ({t.size}) and values ({vals.size}) must have the same length"
                )
        if vals.size < 2:
            raise WaveformError("an interpolated waveform needs at least 2 values")
        if interpolator not in self._INTERPOLATORS:
            raise WaveformError(
                f"interpolator must be one of {self._INTERPOLATORS}; got {interpolator!r}"
            )
        self._values = vals
        self._times = t
        self._given_times = times is not None
        self._interpolator = interpolator
        self._kwargs = dict(interpolator_kwargs)
        x = t * (d - 1)
        order = np.argsort(x)
        cls_ = getattr(interpolate, interpolator)
        try:
            func = cls_(x[order], vals[order], **interpolator_kwargs)
        except (ValueError, TypeError) as exc:
            raise WaveformError(f"{interpolator}: {exc}") from exc
        samples = np.asarray(func(np.arange(d)), dtype=np.float64)
        if interpolator == "PchipInterpolator" and not interpolator_kwargs:
            samples = np.clip(samples, np.min(vals), np.max(vals))
        else:
            value_range = np.max(np.abs(samples))
            if value_range > 0:
                decimals = int(min(np.finfo(samples.dtype).precision - np.log10(value_range), 9))
                samples = np.round(samples, decimals=decimals)
        self._set(samples)

    @property
    def values(self) -> NDArray[np.float64]:
        """The interpolation values."""
        return self._values.copy()

    @property
    def times(self) -> NDArray[np.float64]:
        """The interpolation times as fractions of the duration."""
        return self._times.copy()

    def parameters(self) -> dict[str, Any]:
        """``duration``, ``values``, ``times``, ``interpolator`` (+ SciPy keyword arguments)."""
        out: dict[str, Any] = {
            "duration": self.duration,
            "values": self._values.tolist(),
            "times": self._times.tolist(),
            "interpolator": self._interpolator,
        }
        out.update(self._kwargs)
        return out

    def _rebuilt(self, values: NDArray[np.float64]) -> Waveform:
        return InterpolatedWaveform(
            self.duration, values, self._times, self._interpolator, **self._kwargs
        )

    def _scaled(self, factor: float) -> Waveform:
        if self._interpolator != "PchipInterpolator" or self._kwargs:
            return super()._scaled(factor)
        return self._rebuilt(self._values * factor)

    def _shifted(self, offset: float) -> Waveform:
        if self._interpolator != "PchipInterpolator" or self._kwargs:
            return super()._shifted(offset)
        return self._rebuilt(self._values + offset)


class CompositeWaveform(Waveform):
    """Waveforms played one after the other."""

    kind = "composite"

    def __init__(self, *waveforms: Waveform) -> None:
        if not waveforms:
            raise WaveformError("a composite waveform needs at least one waveform")
        for w in waveforms:
            if not isinstance(w, Waveform) or isinstance(w, DeferredWaveform):
                raise WaveformError(f"a composite waveform takes waveforms; got {w!r}")
        self._waveforms = tuple(waveforms)
        self._set(np.concatenate([w.samples for w in waveforms]))

    @property
    def waveforms(self) -> tuple[Waveform, ...]:
        """The parts, in order."""
        return self._waveforms

    def parameters(self) -> dict[str, Any]:
        """``waveforms``: the parts as dicts."""
        return {"waveforms": [w.to_dict() for w in self._waveforms]}

    def _scaled(self, factor: float) -> Waveform:
        return CompositeWaveform(*(w._scaled(factor) for w in self._waveforms))

    def _shifted(self, offset: float) -> Waveform:
        return CompositeWaveform(*(w._shifted(offset) for w in self._waveforms))


class CustomWaveform(Waveform):
    """Samples given one per ns."""

    kind = "custom"

    def __init__(self, samples: ArrayLike) -> None:
        self._set(_array(samples, "samples"))

    def parameters(self) -> dict[str, Any]:
        """``samples``."""
        return {"samples": self._samples.tolist()}


class DeferredWaveform(Waveform):
    """A waveform whose arguments hold variables; ``build(values)`` constructs it.

    ``cls`` and ``method`` (``"__init__"`` or ``"from_max_val"``) say how, ``args`` and
    ``kwargs`` are the arguments as given.
    """

    def __init__(
        self, cls: type[Waveform], method: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> None:
        self.cls = cls
        self.method = method
        self.args = tuple(args)
        self.kwargs = dict(kwargs)

    @property
    def kind(self) -> str:  # type: ignore[override]
        """Pulser's waveform kind, ``blackman_max`` for ``BlackmanWaveform.from_max_val``."""
        return "blackman_max" if self.method == "from_max_val" else self.cls.kind

    def is_parametrized(self) -> bool:
        """True."""
        return True

    def build(self, values: Mapping[str, Any]) -> Waveform:
        """The concrete waveform for the variable ``values``."""
        args = resolve(self.args, values)
        kwargs = resolve(self.kwargs, values)
        if self.method == "from_max_val":
            return BlackmanWaveform.from_max_val(*args, **kwargs)
        return self.cls(*args, **kwargs)

    def bound_arguments(self) -> dict[str, Any]:
        """The arguments by parameter name (defaults omitted)."""
        import inspect

        func = getattr(self.cls, self.method)
        sig = inspect.signature(func)
        bound = sig.bind(
            *(() if self.method == "from_max_val" else (None,)), *self.args, **self.kwargs
        )
        out = dict(bound.arguments)
        out.pop("self", None)
        for name, param in sig.parameters.items():
            if param.kind is inspect.Parameter.VAR_KEYWORD and name in out:
                out.update(out.pop(name))
            if param.kind is inspect.Parameter.VAR_POSITIONAL and name in out:
                out[name] = list(out[name])
        return out

    def _unavailable(self) -> WaveformError:
        return WaveformError(
            f"{self.cls.__name__} with variables has no samples before Sequence.build()"
        )

    @property
    def duration(self) -> int:  # noqa: D102
        raise self._unavailable()

    @property
    def samples(self) -> NDArray[np.float64]:  # noqa: D102
        raise self._unavailable()

    def _scaled(self, factor: float) -> Waveform:
        raise WaveformError("arithmetic on a parametrised waveform is not supported")

    def _shifted(self, offset: float) -> Waveform:
        raise WaveformError("arithmetic on a parametrised waveform is not supported")

    def parameters(self) -> dict[str, Any]:
        """The arguments as given (variables unevaluated)."""
        return self.bound_arguments()

    def __eq__(self, other: object) -> bool:
        from sequencer.parametrize import _equal

        return (
            isinstance(other, DeferredWaveform)
            and (self.cls, self.method) == (other.cls, other.method)
            and _equal(list(self.args), list(other.args))
            and set(self.kwargs) == set(other.kwargs)
            and all(_equal(self.kwargs[k], other.kwargs[k]) for k in self.kwargs)
        )

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"Deferred{self.cls.__name__}.{self.method}{self.args!r}"


_KINDS: dict[str, type[Waveform]] = {
    c.kind: c
    for c in (
        ConstantWaveform,
        RampWaveform,
        BlackmanWaveform,
        InterpolatedWaveform,
        CompositeWaveform,
        CustomWaveform,
    )
}


def waveform_from_dict(data: Mapping[str, Any]) -> Waveform:
    """Inverse of :meth:`Waveform.to_dict` (concrete waveforms)."""
    params = dict(data)
    kind = params.pop("kind", None)
    if kind == "composite":
        return CompositeWaveform(*(waveform_from_dict(w) for w in params["waveforms"]))
    if kind not in _KINDS:
        raise WaveformError(f"unknown waveform kind {kind!r}; known: {sorted(_KINDS)}")
    return _KINDS[kind](**params)
