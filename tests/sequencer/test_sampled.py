import io

import numpy as np
import pytest

from sequencer import ChannelSamples, Register, SampledSequence, SequenceError, TargetSlot


def _global(name, amp, det, phase, reg):
    return ChannelSamples(
        name,
        "ground-rydberg",
        "Global",
        np.asarray(amp, float),
        np.asarray(det, float),
        np.asarray(phase, float),
        (TargetSlot(0, len(amp), frozenset(reg.ids)),),
    )


def test_atom_drives_sum_complex_rabi_frequencies():
    reg = Register.line(2, 10.0)
    g = _global("g", [1.0, 1.0], [0.5, 0.5], [0.0, 0.0], reg)
    loc = ChannelSamples(
        "l",
        "ground-rydberg",
        "Local",
        np.array([1.0, 0.0]),
        np.array([2.0, 0.0]),
        np.array([np.pi / 2, 0.0]),
        (TargetSlot(0, 1, frozenset({"q1"})),),
    )
    drives = SampledSequence(reg, {"g": g, "l": loc}).atom_drives()
    assert drives.amplitude.shape == (2, 2)
    assert drives.amplitude[0, 0] == pytest.approx(1.0)
    assert drives.amplitude[1, 0] == pytest.approx(np.sqrt(2.0))
    assert drives.phase[1, 0] == pytest.approx(np.pi / 4)
    assert drives.detuning[1, 0] == pytest.approx(2.5)
    assert drives.detuning[1, 1] == pytest.approx(0.5)


def test_channels_must_share_length_and_target_known_atoms():
    reg = Register.line(2, 10.0)
    with pytest.raises(SequenceError, match="different lengths"):
        SampledSequence(
            reg,
            {"a": _global("a", [1], [0], [0], reg), "b": _global("b", [1, 1], [0, 0], [0, 0], reg)},
        )
    bad = ChannelSamples(
        "l",
        "ground-rydberg",
        "Local",
        np.zeros(2),
        np.zeros(2),
        np.zeros(2),
        (TargetSlot(0, 2, frozenset({"zz"})),),
    )
    with pytest.raises(SequenceError, match="zz"):
        SampledSequence(reg, {"l": bad})


def test_npz_round_trip():
    reg = Register.square(2, 6.0)
    rng = np.random.default_rng(1)
    seq = SampledSequence(
        reg,
        {"g": _global("g", rng.random(50), rng.random(50), rng.random(50), reg)},
        device_name="AnalogDevice",
        measurement_basis="ground-rydberg",
    )
    buf = io.BytesIO()
    np.savez(buf, **seq.to_npz_dict())
    buf.seek(0)
    back = SampledSequence.load_npz(buf)
    assert back == seq
    assert back.duration_ns == 50
