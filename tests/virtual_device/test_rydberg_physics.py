"""Rydberg simulator: physics against closed forms and an independent dense reference."""

import numpy as np
import pytest
from scipy.linalg import expm

from virtual_device.errors import SimulationError
from virtual_device.rydberg import cutoff_for_distance, simulate

C6 = 865723.02  # AnalogDevice, rad/µs·µm⁶
TWO_PI = 2 * np.pi


def chain(n, spacing):
    return np.stack([np.arange(n) * spacing, np.zeros(n)], axis=1)


def sweep(n_ramp=100, n_sweep=400, omega=TWO_PI * 2, delta=TWO_PI * 6):
    amp = np.concatenate(
        [np.linspace(0, omega, n_ramp), np.full(n_sweep, omega), np.linspace(omega, 0, n_ramp)]
    )
    det = np.concatenate(
        [np.full(n_ramp, -delta), np.linspace(-delta, delta, n_sweep), np.full(n_ramp, delta)]
    )
    return amp, det


def dense_reference(amp, det, phase, coords, c6):
    """exp(-iH_k dt) multiplied sample by sample with dense matrices (Pulser's staircase)."""
    amp, det, phase = (np.atleast_2d(x) for x in (amp, det, phase))
    n = len(coords)
    if amp.shape[0] == 1:
        amp, det, phase = (np.repeat(x, n, axis=0) for x in (amp, det, phase))
    dim = 1 << n
    states = np.arange(dim)
    bits = (states[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1
    inter = np.zeros(dim)
    for i in range(n):
        for j in range(i + 1, n):
            r = np.linalg.norm(coords[i] - coords[j])
            inter += c6 / r**6 * bits[:, i] * bits[:, j]
    raise_ops = []
    for i in range(n):
        op = np.zeros((dim, dim))
        src = states[bits[:, i] == 0]
        op[src | (1 << (n - 1 - i)), src] = 1.0
        raise_ops.append(op)
    psi = np.zeros(dim, complex)
    psi[0] = 1
    for k in range(amp.shape[1]):
        h = np.diag(inter - bits @ det[:, k]).astype(complex)
        for i in range(n):
            c = 0.5 * amp[i, k] * np.exp(1j * phase[i, k])
            h += c * raise_ops[i] + np.conj(c) * raise_ops[i].T
        psi = expm(-1j * h * 1e-3) @ psi
    return psi


def test_single_atom_resonant_rabi_matches_sin_squared():
    omega = TWO_PI * 1.3
    for t_ns in (137, 500, 1234):
        res = simulate(
            amplitude=np.full(t_ns, omega),
            register=[[0.0, 0.0]],
            interaction_coeff=C6,
            tolerance=1e-10,
            record_every_ns=0,
        )
        expected = np.sin(omega * t_ns * 1e-3 / 2) ** 2
        assert abs(res.final_occupations[0] - expected) <= 1e-8


def test_detuned_rabi_matches_generalised_rabi_formula():
    omega, delta, t_ns = TWO_PI * 1.0, TWO_PI * 0.7, 900
    res = simulate(
        amplitude=np.full(t_ns, omega),
        detuning=np.full(t_ns, delta),
        register=[[0.0, 0.0]],
        interaction_coeff=C6,
        tolerance=1e-10,
    )
    w = np.hypot(omega, delta)
    expected = (omega / w) ** 2 * np.sin(w * t_ns * 1e-3 / 2) ** 2
    assert abs(res.final_occupations[0] - expected) <= 1e-8


def test_phase_enters_as_pulser_convention():
    # H = Ω/2 (e^{iφ}|r⟩⟨g| + h.c.) ⇒ ψ(t) = cos(Ωt/2)|g⟩ − i e^{iφ} sin(Ωt/2)|r⟩
    omega, phi, t_ns = TWO_PI * 1.0, 0.7, 200
    res = simulate(
        amplitude=np.full(t_ns, omega),
        phase=np.full(t_ns, phi),
        register=[[0.0, 0.0]],
        interaction_coeff=C6,
        tolerance=1e-11,
    )
    theta = omega * t_ns * 1e-3 / 2
    assert res.final_state is not None
    np.testing.assert_allclose(
        res.final_state, [np.cos(theta), -1j * np.exp(1j * phi) * np.sin(theta)], atol=1e-9
    )


def test_matches_dense_staircase_reference_with_local_drives():
    rng = np.random.default_rng(7)
    coords = np.array([[0.0, 0.0], [6.0, 0.0], [3.0, 5.0]])
    t = 240
    # smooth-ish random per-atom drives with jumps, local phases and detunings
    amp = np.abs(np.cumsum(rng.normal(0, 0.6, (3, t)), axis=1)) + 2.0
    det = np.cumsum(rng.normal(0, 0.8, (3, t)), axis=1)
    phase = np.cumsum(rng.normal(0, 0.05, (3, t)), axis=1)
    amp[:, 100:140] = 9.0  # a plateau and kinks
    ref = dense_reference(amp, det, phase, coords, C6)
    res = simulate(
        amplitude=amp,
        detuning=det,
        phase=phase,
        register=coords,
        interaction_coeff=C6,
        tolerance=1e-9,
    )
    assert res.final_state is not None
    assert np.linalg.norm(res.final_state - ref) <= 1e-8


def test_reported_error_estimate_bounds_the_actual_error():
    coords = chain(5, 5.5)
    amp, det = sweep()
    ref = simulate(
        amplitude=amp, detuning=det, register=coords, interaction_coeff=C6, tolerance=1e-11
    )
    for tol in (1e-3, 1e-5):
        res = simulate(
            amplitude=amp, detuning=det, register=coords, interaction_coeff=C6, tolerance=tol
        )
        actual = np.linalg.norm(res.final_state - ref.final_state)
        assert res.error_estimate <= tol
        assert actual <= res.error_estimate + 1e-10
        probs_diff = np.max(np.abs(res.probabilities - ref.probabilities))
        assert probs_diff <= 2 * tol


def test_norm_is_conserved_without_noise():
    coords = chain(6, 5.0)
    amp, det = sweep(50, 200)
    res = simulate(
        amplitude=amp, detuning=det, register=coords, interaction_coeff=C6, tolerance=1e-8
    )
    assert res.final_state is not None
    assert abs(np.linalg.norm(res.final_state) - 1) <= 1e-12  # normalised copy …
    assert abs(res.probabilities.sum() - 1) <= 1e-12
    # … and the raw evolution did not lose norm: the time series sums agree with the end state
    np.testing.assert_allclose(res.final_occupations, res.occupations[-1])


def test_blockade_enhances_rabi_frequency_by_sqrt2_at_5um():
    omega = TWO_PI * 1.0
    v = C6 / 5.0**6  # ≈ 55 rad/µs ≫ Ω: blockaded
    t = np.arange(1, 1201)
    res = simulate(
        amplitude=np.full(1200, omega),
        register=[[0, 0], [5, 0]],
        interaction_coeff=C6,
        record_every_ns=1,
        tolerance=1e-9,
    )
    total = res.occupations[1:].sum(axis=1)  # ⟨n1 + n2⟩ ≈ P(one excitation)
    expected = np.sin(np.sqrt(2) * omega * t * 1e-3 / 2) ** 2
    physical_deviation = 4 * (omega / v) ** 2 + 2 * omega / v * omega / v  # leakage to |rr⟩
    assert np.max(np.abs(total - expected)) <= physical_deviation
    t_peak = t[np.argmax(total[: int(1.5 * np.pi / (np.sqrt(2) * omega) * 1e3)])]
    ratio = np.pi / (t_peak * 1e-3) / omega
    assert abs(ratio - np.sqrt(2)) <= 0.02


def test_atoms_15um_apart_are_independent():
    omega = TWO_PI * 1.0
    res = simulate(
        amplitude=np.full(1000, omega),
        register=[[0, 0], [15, 0]],
        interaction_coeff=C6,
        tolerance=1e-9,
    )
    p1 = np.sin(omega / 2) ** 2
    probs = res.bitstring_probabilities()
    v_t = C6 / 15.0**6 * 1.0  # interaction phase accumulated over 1 µs
    assert abs(probs["11"] - p1 * p1) <= v_t
    np.testing.assert_allclose(res.final_occupations, [p1, p1], atol=v_t)


def test_landau_zener_sweep_transition_probability():
    omega, t_ns, d_max = TWO_PI * 0.5, 10_000, TWO_PI * 50
    det = np.linspace(-d_max, d_max, t_ns)
    res = simulate(
        amplitude=np.full(t_ns, omega),
        detuning=det,
        register=[[0, 0]],
        interaction_coeff=C6,
        tolerance=1e-7,
        record_every_ns=0,
    )
    rate = 2 * d_max / (t_ns * 1e-3)
    p_adiabatic = 1 - np.exp(-np.pi * omega**2 / (2 * rate))
    finite_sweep = 2 * omega / d_max  # amplitude of the oscillations of a finite sweep
    assert abs(res.final_occupations[0] - p_adiabatic) <= finite_sweep


def test_bitstrings_put_the_first_atom_leftmost():
    t = 500  # π pulse on the first atom only
    amp = np.zeros((2, t))
    amp[0] = np.pi / (t * 1e-3)
    res = simulate(amplitude=amp, register=[[0, 0], [20, 0]], interaction_coeff=C6, tolerance=1e-10)
    probs = res.bitstring_probabilities(min_probability=1e-6)
    assert list(probs) == ["10"]
    assert probs["10"] == pytest.approx(1.0, abs=1e-9)


def test_digital_basis_ignores_interactions():
    omega, t = TWO_PI * 1.0, 400
    res = simulate(
        amplitude=np.full(t, omega), register=[[0, 0], [1, 0]], basis="digital", tolerance=1e-10
    )
    p = np.sin(omega * t * 1e-3 / 2) ** 2
    assert res.bitstring_probabilities()["11"] == pytest.approx(p * p, abs=1e-9)


def test_correlations_vanish_for_independent_atoms_and_not_in_blockade():
    omega = TWO_PI * 1.0
    far = simulate(amplitude=np.full(300, omega), register=[[0, 0], [60, 0]], interaction_coeff=C6)
    near = simulate(amplitude=np.full(300, omega), register=[[0, 0], [4, 0]], interaction_coeff=C6)
    assert abs(far.correlations()[0, 1]) <= 1e-6
    assert near.correlations()[0, 1] < -0.05  # blockade anticorrelates


def test_shot_sampling_is_seeded_and_follows_probabilities():
    omega = TWO_PI * 1.0
    res = simulate(amplitude=np.full(300, omega), register=[[0, 0], [4, 0]], interaction_coeff=C6)
    a = res.sample_shots(4000, rng=11)
    b = res.sample_shots(4000, rng=np.random.default_rng(11))
    assert a == b
    probs = res.bitstring_probabilities()
    for key, p in probs.items():
        assert abs(a.get(key, 0) / 4000 - p) <= 4 * np.sqrt(p * (1 - p) / 4000) + 1e-3


def test_bad_inputs_name_the_problem():
    with pytest.raises(SimulationError, match="shape"):
        simulate(amplitude=np.ones((3, 10)), register=[[0, 0], [5, 0]], interaction_coeff=C6)
    with pytest.raises(SimulationError, match="interaction_coeff"):
        simulate(amplitude=np.ones(10), register=[[0, 0]])
    with pytest.raises(SimulationError, match="tolerance"):
        simulate(amplitude=np.ones(10), register=[[0, 0]], interaction_coeff=C6, tolerance=0)
    with pytest.raises(SimulationError, match="µm"):
        cutoff_for_distance(C6, 0.0)


def test_seventeen_independent_atoms_follow_single_atom_rabi():
    # 17 atoms exercise the cache-chunked H·ψ (flips of the last 16 atoms stay in chunks)
    omega, t = TWO_PI * 1.0, 60
    n = 17
    amp = np.full((n, t), omega) * np.linspace(0.5, 1.5, n)[:, None]
    res = simulate(
        amplitude=amp,
        register=chain(n, 200.0),
        interaction_coeff=C6,
        tolerance=1e-9,
        record_every_ns=0,
    )
    expected = np.sin(amp[:, 0] * t * 1e-3 / 2) ** 2
    np.testing.assert_allclose(res.final_occupations, expected, atol=1e-8)


def test_progress_bar_can_be_forced_on_without_changing_the_result():
    amp, det = sweep(20, 80)
    kwargs = dict(amplitude=amp, detuning=det, register=chain(3, 6.0), interaction_coeff=C6)
    quiet = simulate(**kwargs, progress=False)
    shown = simulate(**kwargs, progress=True)
    np.testing.assert_array_equal(quiet.probabilities, shown.probabilities)
