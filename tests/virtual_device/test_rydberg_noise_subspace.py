"""Rydberg simulator: noise channels, readout errors and the blockade subspace."""

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.linalg import expm

from sequencer import ChannelSamples, Register, SampledSequence, TargetSlot
from virtual_device.rydberg import NoiseModel, cutoff_for_distance, simulate

C6 = 865723.02
TWO_PI = 2 * np.pi


def lindblad_single_atom(omega, t_ns, dephasing=0.0, relaxation=0.0):
    """⟨n⟩(t) for one resonantly driven atom, dense Liouvillian (basis g=0, r=1)."""
    h = np.array([[0, omega / 2], [omega / 2, 0]], complex)
    ops = []
    if dephasing:
        ops.append(np.sqrt(2 * dephasing) * np.diag([0.0, 1.0]))  # Pulser: √(2γ)|r⟩⟨r|
    if relaxation:
        ops.append(np.sqrt(relaxation) * np.array([[0, 1], [0, 0]], complex))
    eye = np.eye(2)
    liou = -1j * (np.kron(h, eye) - np.kron(eye, h.T))
    for op in ops:
        ld = op.conj().T @ op
        liou += np.kron(op, op.conj()) - 0.5 * np.kron(ld, eye) - 0.5 * np.kron(eye, ld.T)
    rho0 = np.array([[1, 0], [0, 0]], complex).reshape(-1)
    rho = (expm(liou * t_ns * 1e-3) @ rho0).reshape(2, 2)
    return rho[1, 1].real


def test_noise_model_uses_pulser_names_and_validates_ranges():
    nm = NoiseModel(
        state_prep_error=0.005,
        p_false_pos=0.01,
        p_false_neg=0.05,
        temperature=50.0,
        laser_waist=175.0,
        amp_sigma=0.05,
        dephasing_rate=0.05,
        relaxation_rate=0.01,
        runs=15,
        samples_per_run=5,
    )
    assert nm.is_stochastic and nm.has_readout_errors
    with pytest.raises(ValidationError, match="p_false_pos"):
        NoiseModel(p_false_pos=1.5)
    with pytest.raises(ValidationError, match="temperature"):
        NoiseModel(temperature=-1.0)


@pytest.mark.pulser
def test_doppler_sigma_matches_pulser():
    from pulser.noise_model import _doppler_sigma

    assert NoiseModel(temperature=50.0).doppler_sigma == pytest.approx(
        _doppler_sigma(50e-6), rel=1e-12
    )


def test_readout_errors_are_exact_in_probabilities_and_sampled_per_shot():
    noise = NoiseModel(p_false_pos=0.1, p_false_neg=0.2)
    t = 500  # π pulse on atom 0, atom 1 left in |g⟩
    amp = np.zeros((2, t))
    amp[0] = np.pi / (t * 1e-3)
    res = simulate(
        amplitude=amp,
        register=[[0, 0], [30, 0]],
        interaction_coeff=C6,
        noise=noise,
        tolerance=1e-10,
    )
    measured = res.bitstring_probabilities()
    assert measured["10"] == pytest.approx(0.8 * 0.9, abs=1e-9)
    assert measured["00"] == pytest.approx(0.2 * 0.9, abs=1e-9)
    assert measured["11"] == pytest.approx(0.8 * 0.1, abs=1e-9)
    assert res.bitstring_probabilities(measurement_errors=False)["10"] == pytest.approx(1.0)
    shots = res.sample_shots(20000, rng=5)
    assert shots["10"] / 20000 == pytest.approx(0.72, abs=0.015)


def test_dephasing_trajectories_average_to_the_lindblad_solution():
    omega, t, gamma = TWO_PI * 1.0, 1500, 1.0
    runs = 300
    res = simulate(
        amplitude=np.full(t, omega),
        register=[[0, 0]],
        interaction_coeff=C6,
        noise=NoiseModel(dephasing_rate=gamma, runs=runs),
        seed=1,
        tolerance=1e-7,
    )
    expected = lindblad_single_atom(omega, t, dephasing=gamma)
    assert expected != pytest.approx(np.sin(omega * 1.5 / 2) ** 2, abs=0.05)  # noise visible
    assert res.final_occupations[0] == pytest.approx(expected, abs=4 * 0.5 / np.sqrt(runs))


def test_relaxation_trajectories_average_to_the_lindblad_solution():
    omega, t, gamma = TWO_PI * 1.0, 1500, 0.8
    runs = 300
    res = simulate(
        amplitude=np.full(t, omega),
        register=[[0, 0]],
        interaction_coeff=C6,
        noise=NoiseModel(relaxation_rate=gamma, runs=runs),
        seed=2,
        tolerance=1e-7,
    )
    expected = lindblad_single_atom(omega, t, relaxation=gamma)
    assert res.final_occupations[0] == pytest.approx(expected, abs=4 * 0.5 / np.sqrt(runs))


def test_state_preparation_error_leaves_atoms_undriven():
    t = 500
    res = simulate(
        amplitude=np.full(t, np.pi / (t * 1e-3)),
        register=[[0, 0]],
        interaction_coeff=C6,
        noise=NoiseModel(state_prep_error=0.3, runs=400),
        seed=3,
        tolerance=1e-9,
    )
    assert res.final_occupations[0] == pytest.approx(0.7, abs=4 * np.sqrt(0.21 / 400))


def test_lost_atoms_read_as_dark():
    res = simulate(
        amplitude=np.zeros(10),
        register=[[0, 0]],
        interaction_coeff=C6,
        noise=NoiseModel(atom_loss_prob=0.25, runs=400),
        seed=4,
    )
    assert res.bitstring_probabilities()["1"] == pytest.approx(0.25, abs=4 * np.sqrt(0.19 / 400))


def test_doppler_and_amplitude_noise_blur_a_rabi_oscillation_reproducibly():
    omega, t = TWO_PI * 1.0, 3000
    noise = NoiseModel(temperature=50.0, amp_sigma=0.05, runs=30)
    kwargs = dict(
        amplitude=np.full(t, omega),
        register=[[0, 0]],
        interaction_coeff=C6,
        noise=noise,
        tolerance=1e-7,
    )
    a = simulate(**kwargs, seed=9)
    b = simulate(**kwargs, seed=9)
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
    ideal = np.sin(omega * 3.0 / 2) ** 2  # = 0 after 3 full periods
    assert a.final_occupations[0] > ideal + 0.01


def test_laser_waist_reduces_amplitude_off_axis():
    t = 500
    amp = np.full(t, np.pi / (t * 1e-3))
    res = simulate(
        amplitude=amp,
        register=[[0, 0], [100, 0]],
        interaction_coeff=C6,
        noise=NoiseModel(laser_waist=100.0),
        tolerance=1e-10,
    )
    factor = np.exp(-1.0)
    assert res.final_occupations[0] == pytest.approx(1.0, abs=1e-9)
    assert res.final_occupations[1] == pytest.approx(np.sin(np.pi * factor / 2) ** 2, abs=1e-8)


def test_subspace_with_cutoff_above_every_energy_is_the_full_space():
    coords = np.array([[0, 0], [5, 0], [10, 0], [5, 5]], float)
    amp = np.full(400, TWO_PI * 1.5)
    det = np.linspace(-10, 10, 400)
    full = simulate(
        amplitude=amp, detuning=det, register=coords, interaction_coeff=C6, tolerance=1e-10
    )
    sub = simulate(
        amplitude=amp,
        detuning=det,
        register=coords,
        interaction_coeff=C6,
        tolerance=1e-10,
        subspace_cutoff=1e9,
    )
    assert sub.truncation is not None
    assert sub.truncation.info.dropped_states == 0
    np.testing.assert_allclose(sub.probabilities, full.probabilities, atol=1e-9)


def test_blockade_subspace_is_close_when_blockade_is_strong_and_reports_it():
    coords = np.stack([np.arange(6) * 4.5, np.zeros(6)], axis=1)  # V_nn ≈ 104 rad/µs
    amp = np.full(800, TWO_PI * 1.0)
    det = np.linspace(-TWO_PI * 2, TWO_PI * 2, 800)
    full = simulate(
        amplitude=amp, detuning=det, register=coords, interaction_coeff=C6, tolerance=1e-9
    )
    sub = simulate(
        amplitude=amp,
        detuning=det,
        register=coords,
        interaction_coeff=C6,
        tolerance=1e-9,
        subspace_cutoff=cutoff_for_distance(C6, 5.0),
    )
    info = sub.truncation
    assert info is not None
    assert info.info.kept_states == 21  # independent sets of a 6-path (Fibonacci)
    assert info.info.dropped_states == 64 - 21
    pf = full.bitstring_probabilities()
    ps = sub.bitstring_probabilities()
    diff = max(abs(pf.get(k, 0) - ps.get(k, 0)) for k in set(pf) | set(ps))
    assert 0 < diff <= 10 * info.max_dropped_population
    assert info.max_dropped_population < 0.05
    assert info.leakage_amplitude > 0


def test_sampled_sequence_input_matches_arrays():
    reg = Register({"a": (0, 0), "b": (6, 0), "c": (0, 7)})
    t = 300
    amp = np.linspace(0, 8, t)
    det = np.linspace(-5, 5, t)
    glob = ChannelSamples(
        "rydberg_global",
        "ground-rydberg",
        "Global",
        amp,
        det,
        np.zeros(t),
        (TargetSlot(0, t, frozenset(reg.ids)),),
    )
    loc = ChannelSamples(
        "rydberg_local",
        "ground-rydberg",
        "Local",
        np.full(t, 3.0),
        np.zeros(t),
        np.full(t, 0.4),
        (TargetSlot(100, 200, frozenset({"b"})),),
    )
    seq = SampledSequence(reg, {"rydberg_global": glob, "rydberg_local": loc})
    drives = seq.atom_drives()
    a = simulate(seq, interaction_coeff=C6, tolerance=1e-10)
    b = simulate(
        amplitude=drives.amplitude,
        detuning=drives.detuning,
        phase=drives.phase,
        register=reg,
        interaction_coeff=C6,
        tolerance=1e-10,
    )
    assert a.atom_ids == ("a", "b", "c")
    np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-12)


def test_sampled_sequence_takes_c6_from_its_device():
    import sequencer

    if not hasattr(sequencer, "get_device"):
        pytest.skip("sequencer.get_device not in this checkout")
    reg = Register({"a": (0, 0), "b": (5.5, 0)})
    t = 300
    ch = ChannelSamples(
        "rydberg_global",
        "ground-rydberg",
        "Global",
        np.full(t, 8.0),
        np.zeros(t),
        np.zeros(t),
        (TargetSlot(0, t, frozenset(reg.ids)),),
    )
    seq = SampledSequence(reg, {"rydberg_global": ch}, device_name="AnalogDevice")
    c6 = sequencer.get_device("AnalogDevice").interaction_coeff
    looked_up = simulate(seq, tolerance=1e-10)
    explicit = simulate(seq, interaction_coeff=c6, tolerance=1e-10)
    np.testing.assert_array_equal(looked_up.probabilities, explicit.probabilities)
    assert looked_up.bitstring_probabilities()["11"] < 0.1  # interacting, not independent


def _square(side, spacing):
    return np.array([(i * spacing, j * spacing) for i in range(side) for j in range(side)], float)


def test_pair_rule_keeps_exactly_the_independent_sets_and_the_energy_rule_drops_order():
    from virtual_device.rydberg.space import BlockadeSubspace, pair_interactions

    coords = _square(4, 6.0)
    v = pair_interactions(coords, C6)
    cutoff = 0.99 * C6 / 6.0**6  # below V_nn, above every other pair
    n = 16
    every = np.arange(1 << n)
    bits = (every[:, None] >> (n - 1 - np.arange(n))) & 1
    close = np.triu(v > cutoff, 1)
    energy = np.einsum("si,ij,sj->s", bits, np.triu(v, 1), bits)
    blockaded = np.einsum("si,ij,sj->s", bits, close, bits) > 0
    pair = BlockadeSubspace(v, cutoff, rule="pair")
    np.testing.assert_array_equal(pair.states(), every[~blockaded])
    assert pair.dim == 1234  # independent sets of the 4×4 grid graph (OEIS A006506)
    np.testing.assert_allclose(pair.interaction, energy[~blockaded], rtol=1e-12)
    assert pair.truncation.rule == "pair"
    by_energy = BlockadeSubspace(v, cutoff)
    np.testing.assert_array_equal(by_energy.states(), every[energy <= cutoff])
    checkerboard = int(sum(1 << (n - 1 - k) for k in range(n) if (k // 4 + k % 4) % 2 == 0))
    assert energy[checkerboard] > C6 / 6.0**6  # 1.26 V_nn of diagonal and longer pairs
    assert checkerboard in set(pair.states().tolist())
    assert checkerboard not in set(by_energy.states().tolist())
    # on a chain the two rules keep the same states
    chain = pair_interactions(np.stack([np.arange(12) * 5.5, np.zeros(12)], axis=1), C6)
    c_cut = 0.99 * C6 / 5.5**6
    by_pair = BlockadeSubspace(chain, c_cut, rule="pair")
    np.testing.assert_array_equal(by_pair.states(), BlockadeSubspace(chain, c_cut).states())
    assert by_pair.layout == "chain"


def test_pair_rule_subspace_follows_a_2d_z2_sweep_where_the_energy_rule_cannot():
    # 4×4 at 5 µm (V_nn = 55 rad/µs above the final Δ = 44 rad/µs: nearest neighbours stay
    # blockaded), a 3 µs sweep into the checkerboard phase
    coords = _square(4, 5.0)
    t = 3000
    k = np.arange(t)
    amp = TWO_PI * 1.5 * np.minimum(1.0, np.minimum(k, t - 1 - k) / 300)
    det = np.linspace(-TWO_PI * 4, TWO_PI * 7, t)
    kw = dict(amplitude=amp, detuning=det, register=coords, interaction_coeff=C6, tolerance=1e-6)
    full = simulate(**kw).bitstring_probabilities()
    cutoff = 0.99 * C6 / 5.0**6
    checkerboards = ["1010010110100101", "0101101001011010"]
    assert min(full[c] for c in checkerboards) > 0.25  # the two likeliest outcomes
    assert max(full, key=full.get) in checkerboards

    def worst(res):
        p = res.bitstring_probabilities()
        return max(abs(full.get(s, 0) - p.get(s, 0)) for s in set(full) | set(p))

    pair = simulate(**kw, subspace_cutoff=cutoff, subspace_rule="pair")
    energy = simulate(**kw, subspace_cutoff=cutoff)
    assert pair.truncation is not None and pair.truncation.info.kept_states == 1234
    assert worst(pair) < 0.04  # measured 0.025
    assert worst(pair) <= 10 * pair.truncation.max_dropped_population
    e_probs = energy.bitstring_probabilities()
    assert all(c not in e_probs for c in checkerboards)  # not in its space
    assert worst(energy) > 0.25


def test_subspace_rule_is_validated():
    with pytest.raises(Exception, match="subspace_rule must be 'energy' or 'pair'; got 'radius'"):
        simulate(
            amplitude=np.ones(10),
            register=np.zeros((1, 2)),
            interaction_coeff=C6,
            subspace_cutoff=1.0,
            subspace_rule="radius",
        )
