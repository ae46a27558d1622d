"""sample(): lengths, areas, phases, slots, modulation; property tests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer import (
    AnalogDevice,
    BlackmanWaveform,
    DigitalAnalogDevice,
    MockDevice,
    Pulse,
    RampWaveform,
    Register,
    Sequence,
    sample,
)
from sequencer.errors import ParameterError

REG = Register.square(2, spacing=6.0).centered()

_pulse = st.tuples(
    st.integers(4, 100).map(lambda k: 4 * k),  # duration on AnalogDevice's 4 ns clock
    st.floats(0.05, 2.0),  # Blackman area, rad
    st.floats(-50, 50),  # detuning
    st.floats(0, 6.28),  # phase
    st.sampled_from(["min-delay", "no-delay", "wait-for-all"]),
)


@settings(max_examples=40, deadline=None)
@given(
    pulses=st.lists(_pulse, min_size=1, max_size=5), delay=st.integers(0, 20).map(lambda k: 4 * k)
)
def test_sample_length_is_the_duration_and_areas_are_preserved(
    pulses: list[tuple[int, float, float, float, str]], delay: int
) -> None:
    seq = Sequence(REG, MockDevice)
    seq.declare_channel("ryd", "rydberg_global")
    total_area = 0.0
    for i, (duration, area, det, phase, protocol) in enumerate(pulses):
        seq.add(
            Pulse.ConstantDetuning(BlackmanWaveform(duration, area), det, phase), "ryd", protocol
        )
        total_area += area
        if i == 0 and delay:
            seq.delay(delay, "ryd")
    sampled = sample(seq)
    ch = sampled.channels["ryd"]
    assert sampled.duration_ns == seq.get_duration() == len(ch.amplitude)
    assert np.sum(ch.amplitude) * 1e-3 == pytest.approx(total_area, rel=1e-9)


def test_phase_switches_one_phase_jump_time_before_the_pulse() -> None:
    seq = Sequence(REG, AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0.0, 0.0), "ryd")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0.0, 1.0), "ryd")
    ch = sample(seq).channels["ryd"]
    jump = AnalogDevice.channels["rydberg_global"].phase_jump_time
    second_start = int(np.flatnonzero(ch.amplitude)[100])
    # The gap holds the phase jump plus the first pulse's fall time.
    assert second_start - 100 >= jump
    assert ch.phase[second_start - jump] == 1.0
    assert ch.phase[second_start - jump - 1] == 0.0


def test_local_slots_follow_targets_and_global_slot_covers_all() -> None:
    seq = Sequence(REG, DigitalAnalogDevice)
    seq.declare_channel("g", "rydberg_global")
    seq.declare_channel("ram", "raman_local", initial_target="q0")
    seq.add(Pulse.ConstantPulse(40, 1.0, 0.0, 0.0), "ram")
    seq.target("q1", "ram")
    seq.add(Pulse.ConstantPulse(40, 1.0, 0.0, 0.0), "ram")
    seq.add(Pulse.ConstantPulse(40, 1.0, 0.0, 0.0), "g")
    s = sample(seq)
    ram = s.channels["ram"]
    assert [sorted(slot.targets) for slot in ram.slots] == [["q0"], ["q1"]]
    assert ram.targets_at(10) == {"q0"}
    assert s.channels["g"].slots[0].targets == frozenset(REG.ids)
    assert s.device_name == "DigitalAnalogDevice"
    drives = s.atom_drives("digital")
    assert drives.amplitude[REG.ids.index("q0"), 10] == 1.0
    assert drives.amplitude[REG.ids.index("q1"), 10] == 0.0


def test_modulation_smooths_and_extends_but_keeps_the_area() -> None:
    seq = Sequence(REG, AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.add(Pulse.ConstantAmplitude(5.0, RampWaveform(400, -10, 10), 0.0), "ryd")
    plain = sample(seq).channels["ryd"]
    mod = sample(seq, modulation=True).channels["ryd"]
    assert len(mod.amplitude) > len(plain.amplitude)
    assert mod.amplitude[0] < 0.05 * 5.0  # the AOM cannot jump
    assert np.sum(mod.amplitude) == pytest.approx(np.sum(plain.amplitude), rel=1e-3)


def test_parametrised_sequence_must_be_built_before_sampling() -> None:
    seq = Sequence(REG, MockDevice)
    seq.declare_channel("ryd", "rydberg_global")
    t = seq.declare_variable("t", dtype=int)
    seq.add(Pulse.ConstantPulse(t, 1.0, 0.0, 0.0), "ryd")
    with pytest.raises(ParameterError, match="build"):
        sample(seq)
    assert sample(seq.build(t=120)).duration_ns == 120


def test_draw_shows_each_channels_samples() -> None:
    seq = Sequence(REG, DigitalAnalogDevice)
    seq.declare_channel("g", "rydberg_global")
    seq.declare_channel("ram", "raman_local", initial_target="q0")
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(200, 1.0), -2.0, 0.5), "g")
    seq.add(Pulse.ConstantPulse(100, 3.0, 1.0, 0.0), "ram")
    fig = seq.draw()
    sampled = sample(seq)
    rows = [ax for ax in fig.axes if ax.get_ylabel().split("\n")[0] in sampled.channels]
    assert [ax.get_ylabel().split("\n")[0] for ax in rows] == ["g", "ram"]
    for ax in rows:
        ch = sampled.channels[ax.get_ylabel().split("\n")[0]]
        omega, delta = ax.get_lines()[:2]
        np.testing.assert_array_equal(omega.get_ydata(), ch.amplitude)
        np.testing.assert_array_equal(delta.get_ydata(), ch.detuning)
    parametrised = Sequence(REG, MockDevice)
    parametrised.declare_channel("g", "rydberg_global")
    parametrised.declare_variable("t")
    with pytest.raises(ParameterError):
        parametrised.draw()
