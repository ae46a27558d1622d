"""Parity with pulser-core: the same sequence built with both APIs samples to the same arrays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

pulser = pytest.importorskip("pulser")
from pulser.devices import AnalogDevice as PulserAnalog  # noqa: E402
from pulser.devices import DigitalAnalogDevice as PulserDigitalAnalog  # noqa: E402
from pulser.sampler import sample as pulser_sample  # noqa: E402

from sequencer import waveforms as ours_wf  # noqa: E402
from sequencer.devices import AnalogDevice, Device, DigitalAnalogDevice  # noqa: E402
from sequencer.pulse import Pulse  # noqa: E402
from sequencer.register import Register  # noqa: E402
from sequencer.sampling import sample  # noqa: E402
from sequencer.sequence import Sequence  # noqa: E402

COORDS = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0], [6.0, 6.0]])
TOL = 1e-9

Builder = Callable[[Any, Any, Any], None]


def assert_parity(build: Builder, device: Device, pulser_device: Any, modulation: bool) -> None:
    """Build with both libraries and compare every channel's Ω, Δ, φ."""
    ours = Sequence(Register.from_coordinates(COORDS, prefix="q"), device)
    build(ours, ours_wf, Pulse)
    theirs = pulser.Sequence(pulser.Register.from_coordinates(COORDS, prefix="q"), pulser_device)
    build(theirs, pulser, pulser.Pulse)
    ours_s = sample(ours, modulation=modulation)
    theirs_s = pulser_sample(theirs, modulation=modulation)
    if not modulation:
        assert ours_s.duration_ns == theirs.get_duration()
    for name in ours.declared_channels:
        ch = theirs_s.channel_samples[name]
        mine = ours_s.channels[name]
        for a, b in (
            (mine.amplitude, ch.amp.as_array()),
            (mine.detuning, ch.det.as_array()),
            (mine.phase, ch.phase.as_array()),
        ):
            b = np.asarray(b, dtype=np.float64)
            n = len(b)
            # Pulser's channel arrays stop at the channel's end; ours are padded to the
            # sequence's end (zeros for Ω/Δ, last value for φ, as Pulser's extend_duration).
            np.testing.assert_allclose(a[:n], b, rtol=0, atol=TOL)
            if n < len(a) and n:
                assert np.all(a[n:] == a[n:][0])
        if mine.addressing == "Local":
            # Pulser's per-pulse target slots, fall time included (ours end with the arrays).
            end = ours_s.duration_ns
            theirs_slots = [(sl.ti, min(sl.tf, end), frozenset(sl.targets)) for sl in ch.slots]
            ours_slots = [(sl.start_ns, sl.stop_ns, sl.targets) for sl in mine.slots]
            assert ours_slots == theirs_slots


def analog_mixed(s: Any, w: Any, p: Any) -> None:
    s.declare_channel("ryd", "rydberg_global")
    s.add(p.ConstantDetuning(w.BlackmanWaveform(800, np.pi), -2.0, 0.0), "ryd")
    s.add(p(w.RampWaveform(200, 0, 12.0), w.RampWaveform(200, -10, 10), 1.0), "ryd")
    s.add(
        p(w.InterpolatedWaveform(1000, [0, 5, 11, 5, 0]), w.ConstantWaveform(1000, 3), 0.5),
        "ryd",
        protocol="no-delay",
    )
    s.delay(100, "ryd")
    s.add(p.ConstantPulse(100, 3, 0, 0.5, post_phase_shift=1.0), "ryd")
    s.add(p.ConstantPulse(100, 3, 0, 0.5), "ryd")
    s.add(
        p.ConstantAmplitude(
            4.0, w.InterpolatedWaveform(400, [-20, 0, 5], times=[0.0, 0.3, 1.0]), 2.0
        ),
        "ryd",
    )


def digital_analog_local(s: Any, w: Any, p: Any) -> None:
    s.declare_channel("ryd", "rydberg_global")
    s.declare_channel("loc", "rydberg_local", initial_target="q0")
    s.declare_channel("ram", "raman_local", initial_target="q1")
    s.add(p.ConstantPulse(200, 10, 0, 0.0), "ram")
    s.add(p.ConstantPulse(100, 5, 1, 0.3), "loc")
    s.target("q1", "loc")
    s.add(p.ConstantPulse(100, 5, 1, 0.3), "loc")
    s.add(p.ConstantPulse(100, 5, 1, 0.3), "ryd", protocol="wait-for-all")
    s.phase_shift(0.7, "q1", basis="digital")
    s.add(p.ConstantPulse(100, 10, 0, 0.0), "ram")
    s.align("ryd", "loc", "ram")
    s.target("q2", "ram")
    s.add(p(w.BlackmanWaveform(120, 1.0), w.RampWaveform(120, -3, 3), 0.2), "ram")
    s.add(p.ConstantPulse(100, 5, 1, 0.3), "loc", protocol="min-delay")
    s.measure("ground-rydberg")


def retarget_interval(s: Any, w: Any, p: Any) -> None:
    s.declare_channel("ram", "raman_local", initial_target="q0")
    s.add(p.ConstantPulse(40, 10, 0, 0.0), "ram")
    s.target("q1", "ram")
    s.add(p.ConstantPulse(40, 10, 0, 1.0), "ram")
    s.target("q3", "ram")
    s.delay(300, "ram")
    s.target("q0", "ram")
    s.add(
        p(
            w.CompositeWaveform(w.RampWaveform(40, 0, 8), w.ConstantWaveform(40, 8)),
            w.ConstantWaveform(80, 0),
            2.0,
        ),
        "ram",
    )


@pytest.mark.parametrize("modulation", [False, True])
def test_analog_device_sequence_matches_pulser(modulation: bool) -> None:
    assert_parity(analog_mixed, AnalogDevice, PulserAnalog, modulation)


def test_local_channels_targets_phase_shift_align_match_pulser() -> None:
    assert_parity(digital_analog_local, DigitalAnalogDevice, PulserDigitalAnalog, False)


def test_retarget_timing_matches_pulser() -> None:
    assert_parity(retarget_interval, DigitalAnalogDevice, PulserDigitalAnalog, False)


# -- random sequences on AnalogDevice (modulated channel: fall times, phase jumps) -----------

_waveform = st.one_of(
    st.tuples(st.just("constant"), st.floats(0, 12)),
    st.tuples(st.just("ramp"), st.floats(0, 12), st.floats(0, 12)),
    st.tuples(st.just("blackman"), st.floats(0.1, 3.0)),
    st.tuples(st.just("interp"), st.lists(st.floats(0, 12), min_size=2, max_size=5)),
)
_step = st.one_of(
    st.tuples(
        st.just("pulse"),
        st.integers(4, 60).map(lambda k: 4 * k),
        _waveform,
        st.floats(-100, 100),
        st.sampled_from([0.0, 0.0, 1.0, 2.5]),
        st.sampled_from(["min-delay", "no-delay", "wait-for-all"]),
    ),
    st.tuples(st.just("delay"), st.integers(4, 50).map(lambda k: 4 * k)),
)


def _make(w: Any, spec: tuple[Any, ...], duration: int) -> Any:
    kind = spec[0]
    if kind == "constant":
        return w.ConstantWaveform(duration, spec[1])
    if kind == "ramp":
        return w.RampWaveform(duration, spec[1], spec[2])
    if kind == "blackman":
        return w.BlackmanWaveform(duration, min(spec[1], 10.0 * duration * 0.40e-3))
    return w.InterpolatedWaveform(duration, spec[1])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(_step, min_size=1, max_size=6), modulation=st.booleans())
def test_random_analog_sequences_match_pulser(steps: list[Any], modulation: bool) -> None:
    def build(s: Any, w: Any, p: Any) -> None:
        s.declare_channel("ryd", "rydberg_global")
        for step in steps:
            if step[0] == "delay":
                s.delay(step[1], "ryd")
                continue
            _, duration, wf, det, phase, protocol = step
            s.add(p.ConstantDetuning(_make(w, wf, duration), det, phase), "ryd", protocol=protocol)

    # Keep clear of max_sequence_duration (6 µs) even with phase-jump delays.
    assume(sum(step[1] for step in steps) < 4000)
    assert_parity(build, AnalogDevice, PulserAnalog, modulation)


def test_parametrised_sequence_built_like_pulsers() -> None:
    def build(s: Any, w: Any, p: Any) -> Any:
        s.declare_channel("ryd", "rydberg_global")
        t = s.declare_variable("t", dtype=int)
        amps = s.declare_variable("amps", size=3)
        s.add(p.ConstantDetuning(w.InterpolatedWaveform(t, amps), -3.0, 0.0), "ryd")
        s.add(p.ConstantPulse(2 * t, amps[1], 1.0, 1.5), "ryd")
        return s

    ours = build(
        Sequence(Register.from_coordinates(COORDS, prefix="q"), AnalogDevice), ours_wf, Pulse
    )
    theirs = build(
        pulser.Sequence(pulser.Register.from_coordinates(COORDS, prefix="q"), PulserAnalog),
        pulser,
        pulser.Pulse,
    )
    values = {"t": 300, "amps": np.array([0.0, 7.0, 2.0])}
    mine = sample(ours.build(**values)).channels["ryd"]
    ref = pulser_sample(theirs.build(**values)).channel_samples["ryd"]
    np.testing.assert_allclose(mine.amplitude, ref.amp.as_array(), atol=TOL, rtol=0)
    np.testing.assert_allclose(mine.detuning, ref.det.as_array(), atol=TOL, rtol=0)
    np.testing.assert_allclose(mine.phase, ref.phase.as_array(), atol=TOL, rtol=0)


def _modulated_devices() -> tuple[Device, Any]:
    from pulser.channels import Raman as PRaman
    from pulser.channels import Rydberg as PRydberg
    from pulser.devices import VirtualDevice

    from sequencer.devices import Raman, Rydberg

    glob: dict[str, Any] = dict(clock_period=4, min_duration=16, mod_bandwidth=5.0)
    loc: dict[str, Any] = dict(
        clock_period=4,
        min_duration=16,
        mod_bandwidth=12.0,
        min_retarget_interval=100,
        fixed_retarget_t=48,
    )
    ours = Device(
        name="Modulated",
        rydberg_level=70,
        channels={
            "rydberg_global": Rydberg.Global(60.0, 20.0, **glob),
            "raman_local": Raman.Local(60.0, 20.0, **loc),
        },
    )
    theirs = VirtualDevice(
        name="Modulated",
        dimensions=2,
        rydberg_level=70,
        max_atom_num=None,
        max_radial_distance=None,
        min_atom_distance=0.0,
        channel_objects=(
            PRydberg.Global(60.0, 20.0, **glob),
            PRaman.Local(60.0, 20.0, **loc),
        ),
    )
    return ours, theirs


def modulated_local(s: Any, w: Any, p: Any) -> None:
    s.declare_channel("g", "rydberg_global")
    s.declare_channel("ram", "raman_local", initial_target="q0")
    s.add(p.ConstantPulse(200, 10, 0, 0.0), "ram")
    s.target("q1", "ram")  # waits for the fall time, then the retarget interval
    s.add(p(w.BlackmanWaveform(160, 1.0), w.RampWaveform(160, -5, 5), 1.0), "ram")
    s.add(p.ConstantPulse(100, 5, 2, 0.5), "g")
    s.align("g", "ram")  # includes fall times
    s.add(p.ConstantPulse(100, 5, 2, 2.5), "g")
    s.add(p.ConstantPulse(100, 8, 0, 1.0), "ram", protocol="wait-for-all")


@pytest.mark.parametrize("modulation", [False, True])
def test_modulated_local_channels_match_pulser(modulation: bool) -> None:
    ours, theirs = _modulated_devices()
    assert_parity(modulated_local, ours, theirs, modulation)


# -- random local/global sequences on the modulated device: same schedule or both refuse ----

_atom = st.sampled_from(["q0", "q1", "q2", "q3"])
_local_step = st.one_of(
    st.tuples(
        st.just("pulse"),
        st.sampled_from(["g", "ram"]),
        st.integers(4, 40).map(lambda k: 4 * k),
        st.floats(0, 15),
        st.floats(-20, 20),
        st.sampled_from([0.0, 1.0]),
        st.sampled_from(["min-delay", "no-delay", "wait-for-all"]),
    ),
    st.tuples(
        st.just("delay"), st.sampled_from(["g", "ram"]), st.integers(4, 50).map(lambda k: 4 * k)
    ),
    st.tuples(st.just("target"), _atom),
    st.tuples(st.just("align")),
    st.tuples(
        st.just("phase_shift"),
        st.floats(0.1, 3.0),
        _atom,
        st.sampled_from(["digital", "ground-rydberg"]),
    ),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(_local_step, min_size=1, max_size=8), modulation=st.booleans())
def test_random_local_sequences_match_pulser_or_both_refuse(
    steps: list[Any], modulation: bool
) -> None:
    def build(s: Any, w: Any, p: Any) -> None:
        s.declare_channel("g", "rydberg_global")
        s.declare_channel("ram", "raman_local", initial_target="q0")
        for step in steps:
            kind = step[0]
            if kind == "pulse":
                _, ch, duration, amp, det, phase, protocol = step
                s.add(p.ConstantPulse(duration, amp, det, phase), ch, protocol=protocol)
            elif kind == "delay":
                s.delay(step[2], step[1])
            elif kind == "target":
                s.target(step[1], "ram")
            elif kind == "align":
                s.align("g", "ram")
            else:
                s.phase_shift(step[1], step[2], basis=step[3])

    ours_dev, their_dev = _modulated_devices()
    # Pulser cannot modulate a channel that never played a pulse (np.pad of an empty array).
    modulation = modulation and {st[1] for st in steps if st[0] == "pulse"} == {"g", "ram"}
    try:
        build(
            pulser.Sequence(pulser.Register.from_coordinates(COORDS, prefix="q"), their_dev),
            pulser,
            pulser.Pulse,
        )
    except (ValueError, RuntimeError):
        from sequencer.errors import SequenceError

        event("both refuse")
        with pytest.raises(SequenceError):
            build(Sequence(Register.from_coordinates(COORDS, prefix="q"), ours_dev), ours_wf, Pulse)
        return
    event("compared")
    assert_parity(build, ours_dev, their_dev, modulation)
