"""Agreement with pulser-simulation (QuTiP) on the same sampled drives.

The sequences are built and sampled with pulser-core; the very same arrays drive our
simulator. Pulser's final state uses |r⟩ = basis index 0, so its amplitude index is the
bitwise complement of our bitstring index.
"""

import numpy as np
import pytest

pulser = pytest.importorskip("pulser")
pytest.importorskip("pulser_simulation")

from pulser import Pulse, Register, Sequence  # noqa: E402
from pulser.devices import AnalogDevice, DigitalAnalogDevice  # noqa: E402
from pulser.sampler import sample  # noqa: E402
from pulser.waveforms import BlackmanWaveform, ConstantWaveform, RampWaveform  # noqa: E402

from virtual_device.rydberg import simulate  # noqa: E402

pytestmark = [pytest.mark.pulser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

TWO_PI = 2 * np.pi


def z2_sequence(coords, device=AnalogDevice, scale=1.0):
    reg = Register.from_coordinates(coords, prefix="q")
    seq = Sequence(reg, device)
    seq.declare_channel("ryd", "rydberg_global")
    om, d = TWO_PI * 2, TWO_PI * 6
    n_ramp, n_sweep = int(500 * scale), int(3000 * scale)
    seq.add(Pulse(RampWaveform(n_ramp, 0, om), ConstantWaveform(n_ramp, -d), 0), "ryd")
    seq.add(Pulse(ConstantWaveform(n_sweep, om), RampWaveform(n_sweep, -d, d), 0), "ryd")
    seq.add(Pulse(RampWaveform(n_ramp, om, 0), ConstantWaveform(n_ramp, d), 0), "ryd")
    return seq


def pulser_probabilities(seq):
    from pulser_simulation import QutipEmulator

    psi = QutipEmulator.from_sequence(seq).run().get_final_state().full().ravel()
    probs = np.abs(psi) ** 2
    return probs[(len(probs) - 1) - np.arange(len(probs))]


def our_probabilities(seq, coords, tolerance):
    samples = sample(seq)
    n, t = len(coords), samples.max_duration
    amp, det, phase = np.zeros((n, t)), np.zeros((n, t)), np.zeros((n, t))
    ids = list(seq.register.qubit_ids)
    for ch in samples.channel_samples.values():
        for slot in ch.slots:
            rows = [ids.index(q) for q in slot.targets]
            sl = slice(slot.ti, slot.tf)
            amp[rows, sl] += ch.amp[sl]
            det[rows, sl] += ch.det[sl]
            phase[rows, sl] = ch.phase[sl]
    res = simulate(
        amplitude=amp,
        detuning=det,
        phase=phase,
        register=coords,
        interaction_coeff=seq.device.interaction_coeff,
        tolerance=tolerance,
    )
    return res


def chain(n, spacing):
    return np.stack([np.arange(n) * spacing, np.zeros(n)], axis=1)


def square(side, spacing):
    return np.array([(x, y) for y in range(side) for x in range(side)], float) * spacing


@pytest.mark.parametrize("n", [5, 6])
def test_z2_sweep_on_a_chain_agrees_with_pulser(n):
    coords = chain(n, 5.5)
    seq = z2_sequence(coords)
    ours = our_probabilities(seq, coords, 1e-7)
    assert ours.error_estimate <= 1e-7
    assert np.max(np.abs(ours.probabilities - pulser_probabilities(seq))) <= 1e-3


def test_z2_sweep_on_a_3x3_square_agrees_with_pulser():
    coords = square(3, 6.0)
    seq = z2_sequence(coords)
    ours = our_probabilities(seq, coords, 1e-6)
    assert np.max(np.abs(ours.probabilities - pulser_probabilities(seq))) <= 1e-3


def test_local_phase_and_shaped_pulses_agree_with_pulser():
    coords = np.array([[0.0, 0.0], [6.0, 0.0], [3.0, 5.0]])
    reg = Register.from_coordinates(coords, prefix="q")
    seq = Sequence(reg, DigitalAnalogDevice)
    seq.declare_channel("glob", "rydberg_global")
    seq.declare_channel("loc", "rydberg_local", initial_target="q1")
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(600, np.pi), -3.0, 0.6), "glob")
    seq.add(Pulse(ConstantWaveform(300, 4.0), RampWaveform(300, -2.0, 5.0), 1.1), "loc")
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(400, np.pi / 2), 2.0, -0.4), "glob")
    ours = our_probabilities(seq, coords, 1e-8)
    assert np.max(np.abs(ours.probabilities - pulser_probabilities(seq))) <= 1e-3


@pytest.mark.slow
def test_z2_sweep_on_an_8_atom_chain_agrees_with_pulser():
    coords = chain(8, 5.5)
    seq = z2_sequence(coords)
    ours = our_probabilities(seq, coords, 1e-7)
    assert np.max(np.abs(ours.probabilities - pulser_probabilities(seq))) <= 1e-3
