"""Sequence: device limits enforced when an instruction is added, recording of calls."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sequencer import (
    AnalogDevice,
    BlackmanWaveform,
    ConstantWaveform,
    DigitalAnalogDevice,
    MockDevice,
    Pulse,
    Register,
    Sequence,
)
from sequencer.errors import ChannelError, DeviceConstraintError, SequenceError
from sequencer.sequence import Call


def analog() -> Sequence:
    seq = Sequence(Register.square(2, spacing=6.0).centered(), AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    return seq


def digital() -> Sequence:
    seq = Sequence(Register.square(2, spacing=6.0).centered(), DigitalAnalogDevice)
    seq.declare_channel("ram", "raman_local", initial_target="q0")
    return seq


def test_amplitude_over_the_limit_names_value_limit_and_channel() -> None:
    seq = analog()
    with pytest.raises(DeviceConstraintError, match=r"13.*'ryd'.*12.566"):
        seq.add(Pulse.ConstantPulse(100, 13.0, 0.0, 0.0), "ryd")


def test_detuning_over_the_limit_is_refused() -> None:
    seq = analog()
    limit = 2 * math.pi * 20
    seq.add(Pulse.ConstantPulse(100, 1.0, -limit, 0.0), "ryd")
    with pytest.raises(DeviceConstraintError, match="max_abs_detuning"):
        seq.add(Pulse.ConstantPulse(100, 1.0, limit + 0.01, 0.0), "ryd")


@pytest.mark.parametrize("duration", [8, 102])
def test_pulse_duration_below_minimum_or_off_the_clock_is_refused(duration: int) -> None:
    seq = analog()
    with pytest.raises(DeviceConstraintError, match="ns on channel 'ryd'"):
        seq.add(Pulse.ConstantPulse(duration, 1.0, 0.0, 0.0), "ryd")


def test_sequence_longer_than_the_device_allows_is_refused() -> None:
    seq = analog()
    seq.add(Pulse.ConstantPulse(4000, 1.0, 0.0, 0.0), "ryd")
    with pytest.raises(DeviceConstraintError, match="6000"):
        seq.add(Pulse.ConstantPulse(2400, 1.0, 0.0, 0.0), "ryd")
    with pytest.raises(DeviceConstraintError, match="6000"):
        seq.delay(2400, "ryd")
    assert seq.get_duration() == 4000  # the refused instructions left nothing behind


def test_unknown_channels_and_global_targeting_are_refused() -> None:
    seq = analog()
    with pytest.raises(ChannelError, match="raman_local"):
        seq.declare_channel("x", "raman_local")
    with pytest.raises(ChannelError, match="already"):
        seq.declare_channel("ryd", "rydberg_global")
    with pytest.raises(ChannelError, match="already declared"):
        seq.declare_channel("other", "rydberg_global")
    with pytest.raises(ChannelError, match="Global"):
        seq.target("q0", "ryd")
    with pytest.raises(ChannelError):
        seq.add(Pulse.ConstantPulse(100, 1.0, 0.0, 0.0), "nope")


def test_local_channel_limits() -> None:
    seq = digital()
    with pytest.raises(DeviceConstraintError, match="max_targets"):
        seq.target(["q0", "q1"], "ram")
    with pytest.raises(SequenceError, match="not in the register"):
        seq.target("q9", "ram")
    fresh = Sequence(Register.square(2, spacing=6.0).centered(), DigitalAnalogDevice)
    fresh.declare_channel("loc", "rydberg_local")
    with pytest.raises(ChannelError, match="target"):
        fresh.add(Pulse.ConstantPulse(100, 1.0, 0.0, 0.0), "loc")


def test_retarget_waits_the_minimum_interval() -> None:
    seq = digital()
    seq.add(Pulse.ConstantPulse(40, 1.0, 0.0, 0.0), "ram")
    seq.target("q1", "ram")
    # 220 ns retarget interval counted from the initial target at t = 0.
    assert seq.get_duration("ram") == 220


def test_min_delay_waits_for_channels_on_the_same_atoms() -> None:
    seq = Sequence(Register.square(2, spacing=6.0).centered(), MockDevice)
    seq.declare_channel("g", "rydberg_global")
    seq.declare_channel("l", "raman_local", initial_target="q0")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0.0, 0.0), "l")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0.0, 0.0), "g", protocol="no-delay")
    assert seq.get_duration("g") == 100
    seq.add(Pulse.ConstantPulse(50, 1.0, 0.0, 0.0), "l", protocol="wait-for-all")
    assert seq.get_duration("l") == 150
    seq.align("g", "l")
    assert seq.get_duration("g") == seq.get_duration("l") == 150


def test_measure_closes_the_sequence() -> None:
    seq = analog()
    seq.add(Pulse.ConstantPulse(100, 1.0, 0.0, 0.0), "ryd")
    with pytest.raises(ChannelError, match="digital"):
        seq.measure("digital")
    seq.measure()
    assert seq.is_measured()
    with pytest.raises(SequenceError, match="measure"):
        seq.add(Pulse.ConstantPulse(100, 1.0, 0.0, 0.0), "ryd")


def test_register_outside_the_device_is_refused() -> None:
    with pytest.raises(DeviceConstraintError):
        Sequence(Register.square(2, spacing=3.0), AnalogDevice)


def test_calls_are_recorded_with_arguments_as_given() -> None:
    seq = analog()
    pulse = Pulse.ConstantDetuning(BlackmanWaveform(200, 1.0), 0.0, 0.0)
    seq.add(pulse, "ryd")
    seq.delay(40, "ryd")
    assert seq.calls == (
        Call("declare_channel", ("ryd", "rydberg_global"), {"initial_target": None}),
        Call("add", (pulse, "ryd"), {"protocol": "min-delay"}),
        Call("delay", (40, "ryd"), {}),
    )
    assert seq.declared_channels == {"ryd": AnalogDevice.channels["rydberg_global"]}


def test_refused_instruction_is_not_recorded() -> None:
    seq = analog()
    with pytest.raises(DeviceConstraintError):
        seq.add(Pulse(ConstantWaveform(100, 20.0), ConstantWaveform(100, 0.0), 0.0), "ryd")
    assert [c.name for c in seq.calls] == ["declare_channel"]


# -- property: out of limits is refused with our own exception, in limits is kept exactly ----

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sequencer import RampWaveform  # noqa: E402


@settings(max_examples=80, deadline=None)
@given(
    duration=st.integers(-10, 7000),
    amp=st.floats(-5, 20, allow_nan=False),
    det_start=st.floats(-200, 200),
    det_stop=st.floats(-200, 200),
)
def test_out_of_limits_is_refused_never_clipped(
    duration: int, amp: float, det_start: float, det_stop: float
) -> None:
    seq = analog()
    ch = AnalogDevice.channels["rydberg_global"]
    try:
        pulse = Pulse(
            ConstantWaveform(duration, amp), RampWaveform(duration, det_start, det_stop), 0.0
        )
        seq.add(pulse, "ryd")
    except SequenceError:
        within = (
            duration >= ch.min_duration
            and duration % ch.clock_period == 0
            and duration <= (AnalogDevice.max_sequence_duration or duration)
            and 0 <= amp <= (ch.max_amp or amp)
            and max(abs(det_start), abs(det_stop)) <= (ch.max_abs_detuning or 0)
        )
        assert not within
        return
    from sequencer import sample

    samples = sample(seq).channels["ryd"]
    assert 0 <= amp <= ch.max_amp  # type: ignore[operator]
    assert max(abs(det_start), abs(det_stop)) <= ch.max_abs_detuning + 1e-6  # type: ignore[operator]
    assert duration % ch.clock_period == 0 and duration >= ch.min_duration
    # Accepted pulses are played exactly: nothing clipped or rounded.
    np.testing.assert_array_equal(samples.amplitude, pulse.amplitude.samples)
    np.testing.assert_array_equal(samples.detuning, pulse.detuning.samples)


def test_a_refused_call_leaves_the_sequence_unchanged() -> None:
    seq = digital()
    seq.add(Pulse.ConstantPulse(40, 1.0, 0.0, 0.0), "ram")
    before = (seq.calls, sample_of(seq))
    dev_limit = DigitalAnalogDevice.channels["raman_local"].max_amp
    assert dev_limit is not None
    with pytest.raises(ChannelError):
        seq.declare_channel("g", "rydberg_global", initial_target="q0")
    with pytest.raises(SequenceError):
        seq.target("q9", "ram")
    with pytest.raises(DeviceConstraintError):
        seq.add(Pulse.ConstantPulse(40, dev_limit * 2, 0.0, 0.0), "ram")
    assert seq.calls == before[0]
    assert sample_of(seq) == before[1]
    assert "g" not in seq.declared_channels


def test_refused_schedule_leaves_no_partial_delay() -> None:
    seq = analog()
    seq.add(Pulse.ConstantPulse(5000, 1.0, 0.0, 0.0), "ryd")
    # The phase jump needs a delay first; the pulse then overruns the 6 µs limit.
    with pytest.raises(DeviceConstraintError):
        seq.add(Pulse.ConstantPulse(800, 1.0, 0.0, 1.0), "ryd")
    assert seq.get_duration() == 5000
    assert len(seq.calls) == 2


def sample_of(seq: Sequence) -> object:
    from sequencer import sample

    return sample(seq)


# -- property: junk arguments raise our own exceptions, never anything else -----------------

_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.sampled_from(["ryd", "ram", "q0", "q1", "digital", "ground-rydberg", "rydberg_global"]),
    st.lists(st.integers(-2, 5), max_size=3),
    st.lists(st.text(max_size=2), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)
_call = st.one_of(
    st.tuples(st.just("add"), st.tuples(st.sampled_from(["pulse", None, 3.0]), _junk, _junk)),
    st.tuples(st.just("delay"), st.tuples(_junk, _junk)),
    st.tuples(st.just("target"), st.tuples(_junk, _junk)),
    st.tuples(st.just("target_index"), st.tuples(_junk, _junk)),
    st.tuples(st.just("phase_shift"), st.tuples(_junk, _junk)),
    st.tuples(st.just("align"), st.tuples(_junk, _junk)),
    st.tuples(st.just("measure"), st.tuples(_junk)),
    st.tuples(st.just("declare_channel"), st.tuples(_junk, _junk)),
    st.tuples(st.just("declare_variable"), st.tuples(_junk)),
)


@settings(max_examples=150, deadline=None)
@given(calls=st.lists(_call, min_size=1, max_size=6))
def test_junk_arguments_raise_only_sequence_errors(
    calls: list[tuple[str, tuple[object, ...]]],
) -> None:
    seq = Sequence(Register.square(2, spacing=6.0).centered(), DigitalAnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.declare_channel("ram", "raman_local", initial_target="q0")
    pulse = Pulse.ConstantPulse(100, 1.0, 0.0, 0.0)
    for name, given_args in calls:
        args: list[object] = list(given_args)
        kwargs: dict[str, object] = {}
        if name == "add" and args[0] == "pulse":
            args[0] = pulse
        if name == "phase_shift":
            kwargs["basis"] = args.pop()
        try:
            getattr(seq, name)(*args, **kwargs)
        except SequenceError:
            pass
    from sequencer import sample

    if not seq.is_parametrized():
        assert sample(seq).duration_ns == seq.get_duration()
