"""The pulse-level :class:`Sequence`: channels, pulses, delays, targets, alignment, variables.

Scheduling follows pulser-core 1.9.1 exactly (so sampled arrays agree with Pulser's):

- ``add(..., protocol="min-delay")`` starts a pulse as soon as the channel is free and no
  other channel acting on the same atoms is still playing (including its modulation fall
  time); ``"wait-for-all"`` waits for every channel; ``"no-delay"`` starts right away.
- Between two pulses of different phase on one channel, at least ``phase_jump_time``
  (2 × rise time) plus the previous pulse's fall time separates them (not for ``no-delay``).
- Retargeting a local channel waits ``min_retarget_interval`` since the last retarget (at
  least ``fixed_retarget_t``), rounded up to the clock period and the minimum duration.
- ``align`` pads channels to the latest end, including the fall time of the last pulse.
- A pulse's phase is offset by the accumulated phase shifts of its targets in its basis.

Stricter than Pulser: durations off the channel's clock grid are refused instead of rounded
with a warning. Every limit violation raises a :mod:`sequencer.errors` exception naming the
value, the limit and the channel.

Every user call is recorded in :attr:`Sequence.calls`; ``build(**values)`` replays them with
the variables substituted, and the JSON format stores them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

from sequencer.devices import Channel, Device
from sequencer.errors import (
    ChannelError,
    DeviceConstraintError,
    ParameterError,
    SequenceError,
)
from sequencer.parametrize import Parametrized, Variable, as_int, is_parametrized, resolve
from sequencer.pulse import DeferredPulse, Pulse, wrap_phase
from sequencer.register import Register
from sequencer.waveforms import ConstantWaveform

__all__ = ["Call", "Sequence"]

Protocol = Literal["min-delay", "wait-for-all", "no-delay"]
_PROTOCOLS = ("min-delay", "wait-for-all", "no-delay")
_TWO_PI = 2 * np.pi


@dataclass(frozen=True)
class Call:
    """One recorded user call: method ``name`` with ``args`` and ``kwargs`` as given."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        from sequencer.parametrize import _equal

        if not isinstance(other, Call):
            return NotImplemented
        return (
            self.name == other.name
            and _equal(list(self.args), list(other.args))
            and set(self.kwargs) == set(other.kwargs)
            and all(_equal(self.kwargs[k], other.kwargs[k]) for k in self.kwargs)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass
class _Slot:
    kind: Any  # a Pulse, "delay" or "target"
    ti: int
    tf: int
    targets: frozenset[str]


@dataclass
class _QubitRef:
    phase: float = 0.0
    phase_time: int = 0
    used: list[int] = field(default_factory=lambda: [0])

    @property
    def last_used(self) -> int:
        return max(self.used)


# -- modulation helpers (Pulser's transfer function and buffers) -----------------------------


def apply_modulation(samples: NDArray[np.float64], mod_bandwidth: float) -> NDArray[np.float64]:
    """Gaussian low-pass of Pulser's AOM model (bandwidth in MHz, Pulser's definition)."""
    fc = mod_bandwidth * 1e-3 / np.sqrt(2 * np.log(2))
    freqs = np.fft.fftfreq(samples.size)
    return np.fft.ifft(np.fft.fft(samples) * np.exp(-(freqs**2) / fc**2)).real


@functools.lru_cache(maxsize=512)
def _buffers_cached(data: bytes, mod_bandwidth: float, rise: int) -> tuple[int, int]:
    samples = np.frombuffer(data, dtype=np.float64)
    padded = np.pad(samples, rise)
    mod = apply_modulation(padded, mod_bandwidth)
    diffs = np.abs(padded - mod) <= 1e-2
    hits = np.argwhere(diffs[:rise])
    start = rise - int(hits[-1][0]) - 1 if len(hits) else rise
    hits = np.argwhere(diffs[-rise:])
    end = int(hits[0][0]) if len(hits) else rise
    return start, end


def modulation_buffers(samples: NDArray[np.float64], channel: Channel) -> tuple[int, int]:
    """Minimal (start, end) buffers (ns) around modulated samples, as Pulser computes them."""
    if not channel.mod_bandwidth:
        return 0, 0
    arr = np.ascontiguousarray(samples, dtype=np.float64)
    return _buffers_cached(arr.tobytes(), float(channel.mod_bandwidth), channel.rise_time)


def is_detuned_delay(pulse: Pulse) -> bool:
    """Pulser's "detuned delay": Ω a constant 0 and Δ constant; its phase is ignored."""
    return (
        isinstance(pulse.amplitude, ConstantWaveform)
        and pulse.amplitude.value == 0.0
        and isinstance(pulse.detuning, ConstantWaveform)
    )


def fall_time(pulse: Pulse, channel: Channel) -> int:
    """Extra time (ns) for the channel's output to ramp down after ``pulse``."""
    if not channel.mod_bandwidth:
        return 0
    end = max(
        modulation_buffers(pulse.amplitude.samples, channel)[1],
        modulation_buffers(pulse.detuning.samples, channel)[1],
    )
    return channel.rise_time + end


class _ChannelSchedule:
    def __init__(self, name: str, channel_id: str, channel: Channel) -> None:
        self.name = name
        self.channel_id = channel_id
        self.channel = channel
        self.slots: list[_Slot] = []

    @property
    def last(self) -> _Slot:
        return self.slots[-1]

    def pulse_slots(self) -> list[_Slot]:
        return [s for s in self.slots if isinstance(s.kind, Pulse)]

    def last_pulse_slot(self, ignore_detuned_delay: bool = False) -> _Slot | None:
        for s in reversed(self.slots):
            if isinstance(s.kind, Pulse) and not (
                ignore_detuned_delay and is_detuned_delay(s.kind)
            ):
                return s
        return None

    def last_target_time(self) -> int:
        for s in reversed(self.slots):
            if s.kind == "target":
                return s.tf
        return 0

    def duration(self, include_fall_time: bool = False) -> int:
        temp_tf = 0
        for i, op in enumerate(reversed(self.slots)):
            if i == 0:
                temp_tf = op.tf
                if not include_fall_time:
                    break
            if isinstance(op.kind, Pulse):
                temp_tf = max(temp_tf, op.tf + fall_time(op.kind, self.channel))
                break
            if temp_tf - op.tf >= 2 * self.channel.rise_time:
                break
        return temp_tf


_F = TypeVar("_F", bound=Callable[..., Any])


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise SequenceError(f"{what} must be a string; got {value!r}")
    return value


def _atomic(method: _F) -> _F:
    """Run a user call all-or-nothing: on any error the sequence is left as it was."""

    @functools.wraps(method)
    def wrapper(self: Sequence, *args: Any, **kwargs: Any) -> Any:
        n_calls = len(self._calls)
        schedule = dict(self._schedule)
        slots = {k: list(v.slots) for k, v in schedule.items()}
        refs = {
            basis: {q: _QubitRef(r.phase, r.phase_time, list(r.used)) for q, r in d.items()}
            for basis, d in self._refs.items()
        }
        measurement = self._measurement
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            del self._calls[n_calls:]
            self._schedule = schedule
            for k, v in schedule.items():
                v.slots = slots[k]
            self._refs = refs
            self._measurement = measurement
            raise

    return wrapper  # type: ignore[return-value]


class Sequence:
    """A pulse sequence on ``register`` for ``device`` (times ns, Ω/Δ rad/µs, phases rad)."""

    def __init__(self, register: Register, device: Device) -> None:
        if not isinstance(register, Register):
            raise SequenceError(f"register must be a Register; got {type(register).__name__}")
        if not isinstance(device, Device):
            raise SequenceError(f"device must be a Device; got {type(device).__name__}")
        device.validate_register(register)
        self._register = register
        self._device = device
        self._calls: list[Call] = []
        self._variables: dict[str, Variable] = {}
        self._schedule: dict[str, _ChannelSchedule] = {}
        self._refs: dict[str, dict[str, _QubitRef]] = {}
        self._measurement: str | None = None

    # -- read-only views -----------------------------------------------------------------
    @property
    def register(self) -> Register:
        """The register."""
        return self._register

    @property
    def device(self) -> Device:
        """The device."""
        return self._device

    @property
    def calls(self) -> tuple[Call, ...]:
        """Every user call so far, in order, with arguments as given."""
        return tuple(self._calls)

    @property
    def declared_channels(self) -> dict[str, Channel]:
        """Declared channel name → its :class:`Channel`."""
        return {name: s.channel for name, s in self._schedule.items()}

    @property
    def declared_channel_ids(self) -> dict[str, str]:
        """Declared channel name → the device's channel id."""
        return {name: s.channel_id for name, s in self._schedule.items()}

    @property
    def declared_variables(self) -> dict[str, Variable]:
        """Declared variables by name."""
        return dict(self._variables)

    @property
    def measurement_basis(self) -> str | None:
        """The basis given to :meth:`measure`, if measured."""
        return self._measurement

    def is_parametrized(self) -> bool:
        """Whether variables were declared (then :meth:`build` gives a concrete sequence)."""
        return bool(self._variables)

    def is_measured(self) -> bool:
        """Whether :meth:`measure` was called."""
        return self._measurement is not None

    def get_duration(self, channel: str | None = None, include_fall_time: bool = False) -> int:
        """End of the last instruction (ns), of ``channel`` or of the whole sequence."""
        self._require_built("get_duration")
        if channel is not None:
            return self._sched(channel).duration(include_fall_time)
        return max((s.duration(include_fall_time) for s in self._schedule.values()), default=0)

    # -- recording ------------------------------------------------------------------------
    def _record(self, name: str, *args: Any, **kwargs: Any) -> None:
        self._calls.append(Call(name, tuple(args), dict(kwargs)))

    def _check_open(self) -> None:
        if self._measurement is not None:
            raise SequenceError("the sequence is measured; no instruction can follow measure()")

    def _require_built(self, what: str) -> None:
        if self.is_parametrized():
            raise ParameterError(
                f"{what}() needs a concrete sequence; call build(**values) first "
                f"(variables: {sorted(self._variables)})"
            )

    def _sched(self, channel: str) -> _ChannelSchedule:
        _name(channel, "a channel name")
        try:
            return self._schedule[channel]
        except KeyError:
            raise ChannelError(
                f"no declared channel {channel!r}; declared: {sorted(self._schedule)}"
            ) from None

    # -- declarations ---------------------------------------------------------------------
    @_atomic
    def declare_channel(self, name: str, channel_id: str, initial_target: Any = None) -> None:
        """Declare ``name`` as the device's channel ``channel_id`` (e.g. ``"rydberg_global"``).

        ``initial_target`` (atom id or ids) is required before pulses on a local channel.
        """
        self._check_open()
        _name(name, "a channel name")
        _name(channel_id, "a channel id")
        if name in self._schedule:
            raise ChannelError(f"channel name {name!r} is already declared")
        channel = self._device.channel(channel_id)
        reusable = self._device.max_atom_num is None
        if not reusable and channel_id in self.declared_channel_ids.values():
            raise ChannelError(
                f"channel {channel_id!r} of device {self._device.name!r} is already declared"
            )
        self._record("declare_channel", name, channel_id, initial_target=initial_target)
        self._schedule[name] = _ChannelSchedule(name, channel_id, channel)
        if channel.basis not in self._refs:
            self._refs[channel.basis] = {q: _QubitRef() for q in self._register.ids}
        if channel.addressing == "Global":
            if initial_target is not None:
                raise ChannelError(f"channel {name!r} is Global; it takes no initial_target")
            self._schedule[name].slots.append(_Slot("target", -1, 0, frozenset(self._register.ids)))
        elif initial_target is not None:
            qubits = self._qubit_set(initial_target, name)
            if not is_parametrized(initial_target):
                self._add_target(qubits, name)

    def declare_variable(self, name: str, size: int = 1, dtype: type = float) -> Variable:
        """Declare a variable for :meth:`build`; ``size`` values of ``dtype`` (int/float)."""
        _name(name, "a variable name")
        if name in self._variables:
            raise ParameterError(f"variable {name!r} is already declared")
        var = Variable(name, size=size, dtype=dtype)
        self._record("declare_variable", name, size=size, dtype=dtype)
        self._variables[name] = var
        return var

    # -- instructions ---------------------------------------------------------------------
    @_atomic
    def add(self, pulse: Pulse | DeferredPulse, channel: str, protocol: str = "min-delay") -> None:
        """Add ``pulse`` on ``channel``, scheduled by ``protocol`` (see the module doc)."""
        self._check_open()
        sched = self._sched(channel)
        if protocol not in _PROTOCOLS:
            raise SequenceError(f"protocol must be one of {_PROTOCOLS}; got {protocol!r}")
        if not isinstance(pulse, Pulse | DeferredPulse):
            raise SequenceError(f"add() takes a Pulse; got {type(pulse).__name__}")
        if isinstance(pulse, Pulse):
            self._validate_pulse(pulse, sched)
        self._record("add", pulse, channel, protocol=protocol)
        if self.is_parametrized() or isinstance(pulse, DeferredPulse):
            if not self.is_parametrized():
                raise ParameterError("a pulse with variables needs declared variables")
            return
        self._add_pulse(pulse, sched, protocol)

    @_atomic
    def delay(self, duration: int | Parametrized, channel: str) -> None:
        """Idle ``channel`` for ``duration`` ns (0 does nothing)."""
        self._check_open()
        sched = self._sched(channel)
        if not is_parametrized(duration):
            duration = as_int(duration, "delay duration")
            if duration != 0:
                sched.channel.check_duration(duration, channel, "delay")
        self._record("delay", duration, channel)
        if self.is_parametrized() or duration == 0:
            return
        self._add_delay(int(duration), sched)  # type: ignore[arg-type]

    @_atomic
    def target(self, qubits: Any, channel: str) -> None:
        """Point local ``channel`` at atom id(s) ``qubits``."""
        self._check_open()
        sched = self._sched(channel)
        qubits_set = self._qubit_set(qubits, channel)
        self._record("target", qubits, channel)
        if not self.is_parametrized():
            self._add_target(qubits_set, sched.name)

    @_atomic
    def target_index(self, qubits: Any, channel: str) -> None:
        """Like :meth:`target`, with register indices instead of atom ids."""
        self._check_open()
        sched = self._sched(channel)
        if is_parametrized(qubits):
            if not self.is_parametrized():
                raise ParameterError("targets with variables need declared variables")
            self._record("target_index", qubits, channel)
            return
        ids = self._register.ids
        try:
            items = [qubits] if np.ndim(qubits) == 0 else list(np.ravel(qubits))
        except (TypeError, ValueError):
            raise SequenceError(f"target_index takes register indices; got {qubits!r}") from None
        names = []
        for i in items:
            k = as_int(i, "atom index")
            if not 0 <= k < len(ids):
                raise SequenceError(f"atom index {k} is outside 0..{len(ids) - 1}")
            names.append(ids[k])
        qubits_set = self._qubit_set(names, channel)
        self._record("target_index", qubits, channel)
        if not self.is_parametrized():
            self._add_target(qubits_set, sched.name)

    @_atomic
    def phase_shift(self, phi: float | Parametrized, *targets: Any, basis: str = "digital") -> None:
        """Virtual-Z: add ``phi`` (rad) to the phase reference of ``targets`` (all if none)."""
        self._check_open()
        if _name(basis, "basis") not in self._refs:
            raise ChannelError(f"no declared channel acts on the basis {basis!r}")
        ids = list(targets) if targets else list(self._register.ids)
        for q in ids:
            if str(q) not in self._register:
                raise SequenceError(f"no atom {q!r} in the register")
        if not is_parametrized(phi):
            try:
                phi_value = float(phi)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise ParameterError(f"phase_shift takes a phase in rad; got {phi!r}") from None
            if not np.isfinite(phi_value):
                raise ParameterError(f"phase_shift takes a finite phase; got {phi!r}")
        self._record("phase_shift", phi, *targets, basis=basis)
        if self.is_parametrized():
            return
        self._phase_shift(float(phi), [str(q) for q in ids], basis)  # type: ignore[arg-type]

    @_atomic
    def align(self, *channels: str) -> None:
        """Delay ``channels`` so the next instruction on each starts after all have ended."""
        self._check_open()
        for c in channels:
            self._sched(c)
        if len(set(channels)) != len(channels):
            raise ChannelError(f"align() got the same channel twice: {channels}")
        if len(channels) < 2:
            raise ChannelError("align() needs at least two channels")
        self._record("align", *channels)
        if self.is_parametrized():
            return
        tf = max(self._schedule[c].duration(include_fall_time=True) for c in channels)
        for c in channels:
            sched = self._schedule[c]
            delta = tf - sched.duration()
            if delta > 0:
                self._add_delay(sched.channel.adjust_duration(delta), sched)

    @_atomic
    def measure(self, basis: str = "ground-rydberg") -> None:
        """End the sequence with a measurement in ``basis`` (a declared channel's basis)."""
        self._check_open()
        if _name(basis, "basis") not in self._refs:
            raise ChannelError(
                f"cannot measure in {basis!r}: no declared channel acts on it "
                f"(declared bases: {sorted(self._refs)})"
            )
        self._record("measure", basis)
        self._measurement = basis

    # -- build ----------------------------------------------------------------------------
    def build(self, **values: Any) -> Sequence:
        """A concrete sequence: every call replayed with the variables' ``values``."""
        missing = set(self._variables) - set(values)
        unknown = set(values) - set(self._variables)
        if missing or unknown:
            raise ParameterError(
                f"build() needs exactly the declared variables {sorted(self._variables)}; "
                f"missing {sorted(missing)}, unknown {sorted(unknown)}"
            )
        coerced = {name: var.coerce(values[name]) for name, var in self._variables.items()}
        seq = Sequence(self._register, self._device)
        for call in self._calls:
            if call.name == "declare_variable":
                continue
            args = resolve(call.args, coerced)
            kwargs = resolve(call.kwargs, coerced)
            getattr(seq, call.name)(*args, **kwargs)
        return seq

    # -- drawing / serialisation (delegated) -----------------------------------------------
    def draw(self, **kwargs: Any) -> Any:
        """Figure of each channel's Ω, Δ, φ over time; see :func:`sequencer.draw.draw_sequence`."""
        from sequencer.draw import draw_sequence

        return draw_sequence(self, **kwargs)

    def to_json(self) -> str:
        """Our own JSON format (register, device, variables, calls)."""
        from sequencer.serialization import sequence_to_json

        return sequence_to_json(self)

    @classmethod
    def from_json(cls, text: str) -> Sequence:
        """Inverse of :meth:`to_json`."""
        from sequencer.serialization import sequence_from_json

        return sequence_from_json(text)

    # -- internals ------------------------------------------------------------------------
    def _qubit_set(self, qubits: Any, channel: str) -> frozenset[str]:
        sched = self._sched(channel)
        if sched.channel.addressing != "Local":
            raise ChannelError(f"channel {channel!r} is Global; only Local channels are targeted")
        if is_parametrized(qubits):
            raise ParameterError("target() takes atom ids; use target_index() for variables")
        if isinstance(qubits, str | int | np.integer):
            items: list[Any] = [qubits]
        elif isinstance(qubits, list | tuple | set | frozenset | np.ndarray):
            items = list(qubits)
        else:
            raise SequenceError(f"targets are an atom id or a collection of ids; got {qubits!r}")
        names = frozenset(str(q) for q in items)
        if not names:
            raise SequenceError(f"no atom given to target on channel {channel!r}")
        unknown = names - set(self._register.ids)
        if unknown:
            raise SequenceError(f"atoms {sorted(unknown)} are not in the register")
        limit = sched.channel.max_targets
        if limit is not None and len(names) > limit:
            raise DeviceConstraintError(
                f"{len(names)} targets on channel {channel!r} exceed its max_targets of {limit}"
            )
        return names

    def _validate_pulse(self, pulse: Pulse, sched: _ChannelSchedule) -> None:
        ch, name = sched.channel, sched.name
        ch.check_duration(pulse.duration, name, "pulse duration")
        if ch.max_amp is not None:
            peak = float(np.max(pulse.amplitude.samples))
            if peak > ch.max_amp:
                raise DeviceConstraintError(
                    f"amplitude {peak:.6g} rad/us on channel {name!r} exceeds its max_amp of "
                    f"{ch.max_amp:.6g} rad/us"
                )
        if ch.max_abs_detuning is not None:
            peak = float(np.max(np.round(np.abs(pulse.detuning.samples), 6)))
            if peak > ch.max_abs_detuning:
                raise DeviceConstraintError(
                    f"|detuning| {peak:.6g} rad/us on channel {name!r} exceeds its "
                    f"max_abs_detuning of {ch.max_abs_detuning:.6g} rad/us"
                )
        if sched.channel.addressing == "Local" and not sched.slots and not self.is_parametrized():
            raise ChannelError(f"local channel {name!r} has no target; call target() first")

    def _check_total(self, tf: int) -> None:
        limit = self._device.max_sequence_duration
        if limit is not None and tf > limit:
            raise DeviceConstraintError(
                f"the sequence would last {tf} ns; device {self._device.name!r} allows at most "
                f"{limit} ns (max_sequence_duration)"
            )

    def _add_pulse(self, pulse: Pulse, sched: _ChannelSchedule, protocol: str) -> None:
        basis = sched.channel.basis
        last = sched.last
        refs = self._refs[basis]
        phases = {refs[q].phase for q in last.targets}
        if len(phases) != 1:
            raise SequenceError(
                f"the targets of channel {sched.name!r} have different phase references"
            )
        pulse = pulse.with_phase(pulse.phase + phases.pop())
        barriers = [refs[q].phase_time for q in last.targets]
        t0 = last.tf
        current = max(t0, *barriers)
        jump_buffer = 0
        if protocol != "no-delay":
            current = self._find_add_delay(current, sched, protocol)
            prev = sched.last_pulse_slot(ignore_detuned_delay=True)
            if prev is not None and prev.kind.phase != pulse.phase:
                jump_buffer = (
                    sched.channel.phase_jump_time
                    + fall_time(prev.kind, sched.channel)
                    - (t0 - prev.tf)
                )
        delay = max(current - t0, jump_buffer)
        if delay > 0:
            delay = sched.channel.adjust_duration(delay)
        ti = t0 + delay
        tf = ti + pulse.duration
        self._check_total(tf)
        if delay > 0:
            self._add_delay(delay, sched)
        sched.slots.append(_Slot(pulse, ti, tf, last.targets))
        for q in last.targets:
            refs[q].used.append(tf)
        if pulse.post_phase_shift:
            self._phase_shift(pulse.post_phase_shift, sorted(last.targets), basis)

    def _find_add_delay(self, t0: int, sched: _ChannelSchedule, protocol: str) -> int:
        current = t0
        mine = sched.last.targets
        for other in self._schedule.values():
            if other is sched:
                continue
            rise = other.channel.rise_time
            for op in reversed(other.slots):
                if not isinstance(op.kind, Pulse):
                    if op.tf + 2 * rise <= current:
                        break
                elif op.tf + fall_time(op.kind, other.channel) <= current:
                    break
                elif op.targets & mine or protocol == "wait-for-all":
                    current = op.tf + fall_time(op.kind, other.channel)
                    break
        return current

    def _add_delay(self, duration: int, sched: _ChannelSchedule) -> None:
        ti = sched.last.tf if sched.slots else 0
        self._check_total(ti + duration)
        targets = sched.last.targets if sched.slots else frozenset()
        sched.slots.append(_Slot("delay", ti, ti + duration, targets))

    def _wait_for_fall(self, sched: _ChannelSchedule) -> None:
        extra = sched.duration(include_fall_time=True) - sched.duration()
        if extra > 0:
            self._add_delay(sched.channel.adjust_duration(extra), sched)

    def _add_target(self, qubits: frozenset[str], channel: str) -> None:
        sched = self._schedule[channel]
        ch = sched.channel
        if sched.slots:
            self._wait_for_fall(sched)
            last = sched.last
            if last.targets == qubits:
                return
            ti = last.tf
            retarget = int(ch.min_retarget_interval or 0)
            elapsed = ti - sched.last_target_time()
            delta = int(np.clip(retarget - elapsed, 0, retarget))
            if ch.fixed_retarget_t:
                delta = max(delta, ch.fixed_retarget_t)
            if delta != 0:
                delta = ch.adjust_duration(delta)
            tf = ti + delta
        else:
            ti, tf = -1, 0
        self._check_total(tf)
        sched.slots.append(_Slot("target", ti, tf, qubits))

    def _phase_shift(self, phi: float, qubits: Iterable[str], basis: str) -> None:
        refs = self._refs[basis]
        for q in qubits:
            ref = refs[q]
            ref.phase = wrap_phase(ref.phase + phi)
            ref.phase_time = ref.last_used

    # used by sampling
    def _channel_schedules(self) -> Mapping[str, _ChannelSchedule]:
        return self._schedule

    def __repr__(self) -> str:
        return (
            f"Sequence({len(self._register)} atoms on {self._device.name}, "
            f"channels={self.declared_channel_ids}, {len(self._calls)} calls)"
        )
