"""The density-matrix (Lindblad) solver, ``simulate(method="lindblad")``, and the noise of the
three-level trajectories: analytic solutions, independent dense references, properties of ρ,
and the Monte-Carlo trajectories against the master equation.

Basis: first atom = most significant bit/digit, 0 = g, 1 = r (2 = h for qutrits).
"""

import json
from functools import reduce

import numpy as np
import pytest
from rydberg_refs import liouvillian
from scipy.linalg import expm
from threadpoolctl import threadpool_limits

from sequencer import ChannelSamples, Register, SampledSequence, TargetSlot
from virtual_device.errors import SimulationError
from virtual_device.rydberg import NoiseModel, simulate
from virtual_device.rydberg.lindblad import LiouvilleSpace, QutritLiouvilleSpace
from virtual_device.rydberg.space import pair_interactions

C6 = 865723.02
TWO_PI = 2 * np.pi
COORDS3 = np.array([[0.0, 0.0], [6.0, 0.0], [3.0, 5.5]])


def random_drives(n, t, rng, scale=1.0):
    """Local smooth pulses with a linear detuning ramp and a phase jump half-way (kinks)."""
    amp = scale * np.abs(rng.normal(3.0, 1.0, size=(n, 1))) * np.sin(np.linspace(0, np.pi, t))
    det = scale * (
        rng.normal(0, 2, size=(n, 1)) + np.outer(rng.normal(0, 2, n), np.linspace(-1, 1, t))
    )
    phase = np.outer(rng.uniform(-np.pi, np.pi, n), np.ones(t))
    phase[:, t // 2 :] += 0.7
    return amp, det, phase


# -- independent dense references: per-ns expm of the Liouvillian --------------------------------
def kron_all(ops):
    return reduce(np.kron, ops)


def local(op, i, n, dim=2):
    """``op`` on atom i (first atom leftmost in the Kronecker product)."""
    return kron_all([op if k == i else np.eye(dim) for k in range(n)])


@threadpool_limits.wrap(limits=1, user_api="blas")  # small matrices: threads only cost
def dense_two_level(amp, det, phase, coords, dephasing, relaxation):
    """ρ after the staircase: H = Σ Ω/2 (e^{iφ}|r⟩⟨g| + h.c.) − Σ Δ n + Σ C6/r⁶ n n."""
    n, t = amp.shape
    nr = np.diag([0.0, 1.0])
    sigma_plus = np.array([[0, 0], [1, 0]], complex)  # |r⟩⟨g|
    v = pair_interactions(np.asarray(coords, float), C6)
    inter = sum(
        v[i, j] * local(nr, i, n) @ local(nr, j, n) for i in range(n) for j in range(i + 1, n)
    )
    collapse = [np.sqrt(2 * dephasing) * local(nr, i, n) for i in range(n) if dephasing]
    collapse += [np.sqrt(relaxation) * local(sigma_plus.T, i, n) for i in range(n) if relaxation]
    rho = np.zeros((2**n) ** 2, complex)
    rho[0] = 1.0
    for k in range(t):
        h = inter + 0
        for i in range(n):
            c = 0.5 * amp[i, k] * np.exp(1j * phase[i, k])
            h = (
                h
                + local(c * sigma_plus + np.conj(c) * sigma_plus.T, i, n)
                - det[i, k] * local(nr, i, n)
            )
        rho = expm(liouvillian(h, collapse) * 1e-3) @ rho
    return rho.reshape(2**n, 2**n)


@threadpool_limits.wrap(limits=1, user_api="blas")
def dense_three_level(ryd, ram, coords, dephasing, relaxation):
    """ρ (digits 0 = g, 1 = r, 2 = h) under Pulser's g–h–r Hamiltonian, written independently.

    H = Σ Ωᴿ/2 (e^{−iφᴿ}|g⟩⟨r| + h.c.) − Δᴿ|r⟩⟨r| + Ωᴰ/2 (e^{−iφᴰ}|h⟩⟨g| + h.c.) − Δᴰ|g⟩⟨g|
        + Σ C6/r⁶ |r⟩⟨r| |r⟩⟨r|; collapse √(2γ_φ)|r⟩⟨r| and √γ_r |g⟩⟨r| per atom.
    """
    (a_r, d_r, p_r), (a_d, d_d, p_d) = ryd, ram
    n, t = a_r.shape
    ket = np.eye(3)
    g, r, h = ket[0], ket[1], ket[2]
    proj_r, proj_g = np.outer(r, r), np.outer(g, g)
    g_from_r, h_from_g = np.outer(g, r), np.outer(h, g)
    v = pair_interactions(np.asarray(coords, float), C6)
    inter = sum(
        v[i, j] * local(proj_r, i, n, 3) @ local(proj_r, j, n, 3)
        for i in range(n)
        for j in range(i + 1, n)
    )
    collapse = [np.sqrt(2 * dephasing) * local(proj_r, i, n, 3) for i in range(n)]
    collapse += [np.sqrt(relaxation) * local(g_from_r, i, n, 3) for i in range(n)]
    rho = np.zeros((3**n) ** 2, complex)
    rho[0] = 1.0
    for k in range(t):
        ham = inter + 0
        for i in range(n):
            x = 0.5 * a_r[i, k] * np.exp(-1j * p_r[i, k]) * g_from_r
            y = 0.5 * a_d[i, k] * np.exp(-1j * p_d[i, k]) * h_from_g
            single = x + x.conj().T + y + y.conj().T - d_r[i, k] * proj_r - d_d[i, k] * proj_g
            ham = ham + local(single, i, n, 3)
        rho = expm(liouvillian(ham, collapse) * 1e-3) @ rho
    return rho.reshape(3**n, 3**n)


# -- (1) without noise: the state-vector result ----------------------------------------------
@pytest.mark.parametrize("basis", ["ground-rydberg", "digital"])
def test_without_noise_equals_the_state_vector_result(basis):
    amp, det, phase = random_drives(3, 400, np.random.default_rng(1))
    kw = dict(
        amplitude=amp, detuning=det, phase=phase, register=COORDS3, interaction_coeff=C6,
        basis=basis, tolerance=1e-10, record_every_ns=50,
    )  # fmt: skip
    psi = simulate(**kw)
    rho = simulate(**kw, method="lindblad")
    assert psi.final_occupations.max() > 0.1  # something happened
    assert rho.final_state is None and rho.density_matrix is not None
    assert psi.density_matrix is None
    assert rho.extra["method"] == "lindblad" and rho.runs == 1
    assert np.abs(rho.probabilities - psi.probabilities).max() <= 1e-9
    assert np.abs(rho.occupations - psi.occupations).max() <= 1e-9
    pure = np.outer(psi.final_state, psi.final_state.conj())
    assert np.linalg.norm(rho.density_matrix - pure) <= 1e-8


# -- (2) one atom: analytic solutions --------------------------------------------------------
def test_resonant_drive_with_relaxation_is_torreys_damped_rabi_oscillation():
    omega, t_ns = TWO_PI * 1.3, 2000
    for gamma in (0.8, 30.0):  # under- and overdamped
        res = simulate(
            amplitude=np.full(t_ns, omega), register=[[0, 0]], interaction_coeff=C6,
            noise=NoiseModel(relaxation_rate=gamma), method="lindblad", tolerance=1e-10,
            record_every_ns=25,
        )  # fmt: skip
        t = res.times_ns * 1e-3
        lam = np.sqrt(complex(omega**2 - gamma**2 / 16))
        decay = np.exp(-3 * gamma * t / 4) * (
            np.cos(lam * t) + 3 * gamma / (4 * lam) * np.sin(lam * t)
        )
        expected = (omega**2 / (2 * omega**2 + gamma**2) * (1 - decay)).real
        np.testing.assert_allclose(res.occupations[:, 0], expected, atol=1e-9)
        assert res.runs == 1  # the master equation needs no noise runs


def test_resonant_drive_with_dephasing_matches_the_bloch_equations():
    omega, t_ns = TWO_PI * 1.3, 2000
    for gamma in (0.8, 30.0):
        res = simulate(
            amplitude=np.full(t_ns, omega), register=[[0, 0]], interaction_coeff=C6,
            noise=NoiseModel(dephasing_rate=gamma), method="lindblad", tolerance=1e-10,
            record_every_ns=25,
        )  # fmt: skip
        t = res.times_ns * 1e-3
        mu = np.sqrt(complex(omega**2 - gamma**2 / 4))  # coherence decays at γ (√(2γ)|r⟩⟨r|)
        expected = (
            0.5
            * (1 - np.exp(-gamma * t / 2) * (np.cos(mu * t) + gamma / (2 * mu) * np.sin(mu * t)))
        ).real
        np.testing.assert_allclose(res.occupations[:, 0], expected, atol=1e-9)


def test_free_decay_after_a_pulse_is_exponential():
    gamma, pulse, idle = 0.7, 250, 1750
    amp = np.concatenate([np.full(pulse, np.pi / 0.25), np.zeros(idle)])  # a π pulse, then off
    det = np.concatenate([np.zeros(pulse), np.full(idle, 4.0)])  # detuned idling: no effect
    res = simulate(
        amplitude=amp, detuning=det, register=[[0, 0]], interaction_coeff=C6,
        noise=NoiseModel(relaxation_rate=gamma, dephasing_rate=0.3), method="lindblad",
        tolerance=1e-10, record_every_ns=50,
    )  # fmt: skip
    after = res.times_ns >= pulse
    t = (res.times_ns[after] - pulse) * 1e-3
    p0 = res.occupations[after][0, 0]
    assert 0.8 < p0 < 0.95  # mostly excited, some decay during the pulse
    np.testing.assert_allclose(res.occupations[after][:, 0], p0 * np.exp(-gamma * t), rtol=1e-9)


# -- (3) independent dense references ---------------------------------------------------------
def test_two_atoms_with_noise_equal_a_dense_liouvillian_staircase():
    amp, det, phase = random_drives(2, 300, np.random.default_rng(7))
    coords = [[0.0, 0.0], [6.5, 0.0]]
    gd, gr = 0.9, 1.3
    res = simulate(
        amplitude=amp, detuning=det, phase=phase, register=coords, interaction_coeff=C6,
        noise=NoiseModel(dephasing_rate=gd, relaxation_rate=gr), method="lindblad",
        tolerance=1e-10,
    )  # fmt: skip
    ref = dense_two_level(amp, det, phase, coords, gd, gr)
    err = np.linalg.norm(res.density_matrix - ref)
    assert err <= 1e-9
    assert err <= res.error_estimate + 1e-13
    # the reference tells the conventions apart: the conjugate phase, or σ⁺ jumps, are far off
    wrong_phase = dense_two_level(amp, det, -phase, coords, gd, gr)
    assert np.linalg.norm(res.density_matrix - wrong_phase) > 1e-2
    wrong_rate = dense_two_level(amp, det, phase, coords, gd / 2, gr)
    assert np.linalg.norm(res.density_matrix - wrong_rate) > 1e-3


def test_three_level_with_noise_equals_a_dense_liouvillian_staircase():
    rng = np.random.default_rng(8)
    ryd = random_drives(2, 200, rng, scale=4.0)
    ram = random_drives(2, 200, rng, scale=2.0)
    coords = [[0.0, 0.0], [6.0, 0.0]]
    gd, gr = 0.8, 1.1
    res = simulate(
        amplitude=ryd[0], detuning=ryd[1], phase=ryd[2], raman_amplitude=ram[0],
        raman_detuning=ram[1], raman_phase=ram[2], register=coords, interaction_coeff=C6,
        basis="all", noise=NoiseModel(dephasing_rate=gd, relaxation_rate=gr),
        method="lindblad", tolerance=1e-10, measure="ground-rydberg",
    )  # fmt: skip
    ref = dense_three_level(ryd, ram, coords, gd, gr)
    assert res.qutrit_state is None and res.density_matrix is not None
    err = np.linalg.norm(res.density_matrix - ref)
    assert err <= 1e-9
    assert res.hyperfine_occupations.max(axis=0).min() > 0.05  # both drives acted on both atoms
    assert res.rydberg_occupations.max(axis=0).min() > 0.02
    # marginals of ρ: level populations and the measured bitstrings (1 = r)
    p = ref.diagonal().real
    pops = p.reshape(3, 3)
    np.testing.assert_allclose(res.rydberg_occupations[-1], [pops[1].sum(), pops[:, 1].sum()])
    measured = res.bitstring_probabilities()
    assert measured["11"] == pytest.approx(pops[1, 1], abs=1e-9)


@pytest.mark.parametrize("drive", ["global", "local"])
def test_liouvillian_product_equals_the_dense_superoperator(drive):
    """Both two-level products (the doubled-space kernel in its frame for one c, the direct
    kernel for per-atom c) and the qutrit one, on random Hermitian ρ, against kron algebra."""
    rng = np.random.default_rng(12)
    gd, gr, tau = 0.7, 1.1, 0.37
    n = 3
    c = (
        np.full(n, 0.4 - 0.7j)
        if drive == "global"
        else rng.normal(size=n) + 1j * rng.normal(size=n)
    )
    space = LiouvilleSpace(pair_interactions(COORDS3, C6), gd, gr)
    diag = space.hilbert_diagonal(tau, rng.normal(size=n), np.empty(2**n))
    nr, sigma_plus = np.diag([0.0, 1.0]), np.array([[0, 0], [1, 0]], complex)
    a = np.diag(diag) + sum(
        local(ci * sigma_plus + np.conj(ci) * sigma_plus.T, i, n) for i, ci in enumerate(c)
    )
    ops = [np.sqrt(2 * gd * tau) * local(nr, i, n) for i in range(n)]
    ops += [np.sqrt(gr * tau) * local(sigma_plus.T, i, n) for i in range(n)]
    x = rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8))
    x = x + x.conj().T
    out = np.empty(64, complex)
    space.apply(x.ravel(), diag, c, tau, out)
    ref = liouvillian(a, ops) @ x.ravel()
    assert np.abs(out - ref).max() <= 1e-13 * np.abs(ref).max()
    # qutrit: 2 atoms, Rydberg and Raman coefficients
    q = QutritLiouvilleSpace(pair_interactions(COORDS3[:2], C6), gd, gr)
    cq = rng.normal(size=4) + 1j * rng.normal(size=4)
    if drive == "global":
        cq[1], cq[3] = cq[0], cq[2]
    dq = q.hilbert_diagonal(tau, rng.normal(size=4), np.empty(9))
    e = np.eye(3)
    aq = np.diag(dq).astype(complex)
    for i in range(2):
        y = cq[i] * np.outer(e[1], e[0]) + cq[2 + i] * np.outer(e[0], e[2])
        aq += local(y + y.conj().T, i, 2, 3)
    ops = [np.sqrt(2 * gd * tau) * local(np.outer(e[1], e[1]), i, 2, 3) for i in range(2)]
    ops += [np.sqrt(gr * tau) * local(np.outer(e[0], e[1]), i, 2, 3) for i in range(2)]
    xq = rng.normal(size=(9, 9)) + 1j * rng.normal(size=(9, 9))
    xq = xq + xq.conj().T
    outq = np.empty(81, complex)
    q.apply(xq.ravel(), dq, cq, tau, outq)
    refq = liouvillian(aq, ops) @ xq.ravel()
    assert np.abs(outq - refq).max() <= 1e-13 * np.abs(refq).max()


# -- (4) ρ is a state; error control -----------------------------------------------------------
def test_density_matrix_is_hermitian_positive_with_unit_trace():
    n, t = 4, 800
    coords = np.stack([np.arange(n) * 5.5, np.zeros(n)], axis=1)
    amp = TWO_PI * 2.0 * np.sin(np.linspace(0, np.pi, t))
    det = np.linspace(-TWO_PI * 3, TWO_PI * 3, t)
    res = simulate(
        amplitude=amp, detuning=det, register=coords, interaction_coeff=C6,
        noise=NoiseModel(dephasing_rate=0.4, relaxation_rate=0.2), method="lindblad",
        tolerance=1e-9,
    )  # fmt: skip
    rho = res.density_matrix
    assert rho.shape == (16, 16)
    assert abs(np.trace(rho) - 1) <= 1e-9
    np.testing.assert_array_equal(rho, rho.conj().T)  # made exactly Hermitian after each block
    assert np.linalg.eigvalsh(rho).min() >= -1e-10
    np.testing.assert_allclose(res.probabilities, rho.diagonal().real, atol=1e-9)
    assert np.linalg.matrix_rank(rho, tol=1e-6) > 1  # mixed: the noise acted


def test_error_estimate_bounds_the_actual_error():
    amp, det, phase = random_drives(3, 600, np.random.default_rng(2))
    noise = NoiseModel(dephasing_rate=0.5, relaxation_rate=2.0)
    kw = dict(
        amplitude=amp, detuning=det, phase=phase, register=COORDS3, interaction_coeff=C6,
        noise=noise, method="lindblad", record_every_ns=0,
    )  # fmt: skip
    ref = simulate(**kw, tolerance=1e-12)
    for tol in (1e-3, 1e-5):
        res = simulate(**kw, tolerance=tol)
        actual = np.linalg.norm(res.density_matrix - ref.density_matrix)
        assert res.error_estimate <= tol
        assert actual <= res.error_estimate
        assert np.abs(res.probabilities - ref.probabilities).max() <= res.error_estimate


# -- (5) shot-to-shot noise, atom loss and readout ----------------------------------------------
def test_shot_to_shot_noise_draws_the_same_realisations_as_the_state_vector_path():
    amp, det, phase = random_drives(3, 300, np.random.default_rng(3))
    noise = NoiseModel(
        temperature=40.0, amp_sigma=0.1, state_prep_error=0.2, atom_loss_prob=0.15, runs=6,
        p_false_pos=0.02, p_false_neg=0.05,
    )  # fmt: skip
    kw = dict(
        amplitude=amp, detuning=det, phase=phase, register=COORDS3, interaction_coeff=C6,
        noise=noise, tolerance=1e-10, seed=11,
    )  # fmt: skip
    psi = simulate(**kw)
    rho = simulate(**kw, method="lindblad")
    assert rho.runs == psi.runs == 6
    full = np.zeros(8)
    full[psi.basis_states] = psi.probabilities
    np.testing.assert_allclose(rho.probabilities, full, atol=1e-9)
    np.testing.assert_allclose(rho.occupations, psi.occupations, atol=1e-9)
    a, b = rho.bitstring_probabilities(), psi.bitstring_probabilities()  # readout applied
    assert max(abs(a[k] - b.get(k, 0.0)) for k in a) <= 1e-9
    # a lost atom reads 1 in ρ too: its diagonal is the probabilities
    np.testing.assert_allclose(rho.density_matrix.diagonal().real, rho.probabilities, atol=1e-9)
    assert abs(np.trace(rho.density_matrix) - 1) <= 1e-9


def test_lost_atoms_read_as_dark_in_the_density_matrix():
    res = simulate(
        amplitude=np.zeros(20), register=[[0, 0], [20, 0]], interaction_coeff=C6,
        noise=NoiseModel(atom_loss_prob=0.3, runs=400), seed=4, method="lindblad",
    )  # fmt: skip
    rho = res.density_matrix
    lost_first = rho[2, 2].real + rho[3, 3].real  # "10" and "11"
    assert lost_first == pytest.approx(0.3, abs=4 * np.sqrt(0.21 / 400))
    assert np.count_nonzero(np.abs(rho - np.diag(rho.diagonal())) > 0) == 0  # no coherence


# -- (6) the trajectories average to the master equation ---------------------------------------
def trajectory_statistics(results):
    return np.array([np.concatenate([r.occupations[1:].ravel(), r.probabilities]) for r in results])


def assert_trajectories_agree(kw, noise_kw, trajectories, seed, z_max=4.0):
    exact = simulate(**kw, noise=NoiseModel(**noise_kw), method="lindblad")
    gen = np.random.default_rng(seed)  # one generator: independent trajectories
    one = NoiseModel(**noise_kw, runs=1)
    x = trajectory_statistics([simulate(**kw, noise=one, seed=gen) for _ in range(trajectories)])
    mean, sigma = x.mean(axis=0), x.std(axis=0, ddof=1) / np.sqrt(trajectories)
    ref = trajectory_statistics([exact])[0]
    assert sigma.max() < 0.05  # the bound is a bound
    z = np.abs(mean - ref) / sigma
    assert z.max() <= z_max, (z.max(), mean, ref)
    return z.max()


def test_dephasing_and_relaxation_trajectories_agree_with_lindblad():
    t = 500
    kw = dict(
        amplitude=np.full(t, TWO_PI * 1.5), detuning=np.linspace(-3, 3, t),
        register=[[0, 0], [8, 0]], interaction_coeff=C6, tolerance=1e-6, record_every_ns=t // 6,
    )  # fmt: skip
    assert_trajectories_agree(kw, dict(dephasing_rate=2.0, relaxation_rate=2.0), 250, seed=2)


def test_three_level_trajectories_agree_with_lindblad():
    t = 400
    kw = dict(
        amplitude=np.full(t, TWO_PI * 1.2), detuning=np.full(t, 1.0),
        raman_amplitude=np.full(t, TWO_PI * 0.8), raman_detuning=np.zeros(t),
        register=[[0, 0]], interaction_coeff=C6, basis="all", measure="ground-rydberg",
        tolerance=1e-6, record_every_ns=t // 5,
    )  # fmt: skip
    assert_trajectories_agree(kw, dict(dephasing_rate=2.0, relaxation_rate=2.5), 200, seed=5)


# -- (7) three-level noise by trajectories -----------------------------------------------------
def test_three_level_rydberg_only_with_noise_equals_the_two_level_simulator():
    amp, det, phase = random_drives(3, 300, np.random.default_rng(5))
    noise = NoiseModel(
        dephasing_rate=0.5, relaxation_rate=0.4, temperature=30.0, atom_loss_prob=0.1,
        state_prep_error=0.05, runs=8,
    )  # fmt: skip
    kw = dict(
        amplitude=amp, detuning=det, phase=phase, register=COORDS3, interaction_coeff=C6,
        noise=noise, tolerance=1e-9, seed=5, record_every_ns=50,
    )  # fmt: skip
    two = simulate(**kw)
    three = simulate(**kw, basis="all", measure="ground-rydberg")
    a, b = two.bitstring_probabilities(), three.bitstring_probabilities()
    assert max(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b)) <= 1e-9
    np.testing.assert_allclose(three.occupations, two.occupations, atol=1e-9)
    assert three.qutrit_state is None
    # the noise acted: different from the same drive without it
    clean = simulate(**{**kw, "noise": None}, basis="all", measure="ground-rydberg")
    assert np.abs(clean.occupations - three.occupations).max() > 0.01


def test_three_level_noise_acts_on_the_rydberg_level_only():
    """Raman only: r is never populated, so r-dephasing, r → g decay and Doppler change nothing."""
    amp, det, phase = random_drives(2, 200, np.random.default_rng(6), scale=3.0)
    kw = dict(
        raman_amplitude=amp, raman_detuning=det, raman_phase=phase, register=COORDS3[:2],
        interaction_coeff=C6, basis="all", tolerance=1e-10, seed=3,
    )  # fmt: skip
    noise = NoiseModel(dephasing_rate=3.0, relaxation_rate=3.0, temperature=80.0, runs=2)
    clean = simulate(**kw)
    for method in ("state-vector", "lindblad"):
        noisy = simulate(**kw, noise=noise, method=method)
        np.testing.assert_allclose(noisy.probabilities, clean.probabilities, atol=1e-9)
        np.testing.assert_allclose(
            noisy.hyperfine_occupations, clean.hyperfine_occupations, atol=1e-9
        )
    # … while on a Rydberg drive the same noise does act
    ryd = simulate(**{**kw, "amplitude": amp, "noise": noise}, method="lindblad")
    ryd_clean = simulate(**{**kw, "amplitude": amp})
    assert np.abs(ryd.probabilities - ryd_clean.probabilities).max() > 0.01


def test_three_level_single_atom_decay_from_r():
    gamma, pulse, idle = 2.5, 100, 500
    amp = np.concatenate([np.full(pulse, np.pi / 0.1), np.zeros(idle)])  # r, then decay to g
    kw = dict(
        amplitude=amp, raman_amplitude=np.zeros(pulse + idle), register=[[0, 0]],
        interaction_coeff=C6, basis="all", tolerance=1e-9, record_every_ns=100,
    )  # fmt: skip
    exact = simulate(**kw, noise=NoiseModel(relaxation_rate=gamma), method="lindblad")
    t = (exact.times_ns[1:] - pulse) * 1e-3
    p0 = exact.rydberg_occupations[1, 0]
    np.testing.assert_allclose(exact.rydberg_occupations[1:, 0], p0 * np.exp(-gamma * t), rtol=1e-8)
    runs = 300
    traj = simulate(**kw, noise=NoiseModel(relaxation_rate=gamma, runs=runs), seed=9)
    expected = p0 * np.exp(-gamma * t)
    sigma = np.sqrt(expected * (1 - expected) / runs)  # each trajectory is in r or in g
    assert np.all(np.abs(traj.rydberg_occupations[1:, 0] - expected) <= 4 * sigma + 1e-3)
    assert traj.hyperfine_occupations.max() == 0.0  # decay goes to g, not h


def test_three_level_lost_atoms_are_dark_in_both_measurement_bases():
    for measure in ("ground-rydberg", "digital"):
        res = simulate(
            amplitude=np.zeros(10), raman_amplitude=np.zeros(10), register=[[0, 0]],
            interaction_coeff=C6, basis="all", measure=measure,
            noise=NoiseModel(atom_loss_prob=0.25, runs=400), seed=4,
        )  # fmt: skip
        assert res.bitstring_probabilities()["1"] == pytest.approx(
            0.25, abs=4 * np.sqrt(0.19 / 400)
        )


# -- (8) inputs, limits, progress, sequences, CLI ----------------------------------------------
def test_bad_method_inputs_name_the_problem():
    kw = dict(amplitude=np.ones(10), interaction_coeff=C6)
    with pytest.raises(SimulationError, match="method must be one of"):
        simulate(**kw, register=[[0, 0]], method="mesolve")
    with pytest.raises(SimulationError, match="subspace_cutoff"):
        simulate(**kw, register=[[0, 0]], method="lindblad", subspace_cutoff=10.0)
    with pytest.raises(SimulationError, match=r"at most 10 atoms; got N = 11"):
        simulate(**kw, register=[[10.0 * i, 0] for i in range(11)], method="lindblad")
    with pytest.raises(SimulationError, match=r"at most 6 atoms; got N = 7"):
        simulate(**kw, register=[[10.0 * i, 0] for i in range(7)], method="lindblad", basis="all")
    with pytest.raises(SimulationError, match="at most 10 atoms"):
        LiouvilleSpace(np.zeros((11, 11)))
    with pytest.raises(SimulationError, match="at most 6 atoms"):
        QutritLiouvilleSpace(np.zeros((7, 7)))


def test_sampled_sequence_and_progress_bar():
    reg = Register({"a": (0, 0), "b": (6, 0)})
    t = 300
    glob = ChannelSamples(
        "rydberg_global", "ground-rydberg", "Global", np.linspace(0, 8, t),
        np.linspace(-5, 5, t), np.zeros(t), (TargetSlot(0, t, frozenset(reg.ids)),),
    )  # fmt: skip
    seq = SampledSequence(reg, {"rydberg_global": glob})
    noise = NoiseModel(dephasing_rate=0.5, relaxation_rate=0.5, laser_waist=10.0)
    kw = dict(interaction_coeff=C6, noise=noise, method="lindblad", tolerance=1e-9)
    quiet = simulate(seq, **kw, progress=False)
    shown = simulate(seq, **kw, progress=True)
    np.testing.assert_array_equal(quiet.probabilities, shown.probabilities)
    drives = seq.atom_drives()
    arrays = simulate(
        amplitude=drives.amplitude * np.exp(-((reg.coords[:, :1] / 10.0) ** 2)),
        detuning=drives.detuning, phase=drives.phase, register=reg,
        interaction_coeff=C6, noise=noise.model_copy(update={"laser_waist": None}),
        method="lindblad", tolerance=1e-9,
    )  # fmt: skip
    np.testing.assert_allclose(quiet.probabilities, arrays.probabilities, atol=1e-12)


def test_cli_method_lindblad(tmp_path):
    from control.cli import main

    reg = Register({"a": (0, 0), "b": (7, 0)})
    t = 400
    ch = ChannelSamples(
        "rydberg_global", "ground-rydberg", "Global", np.full(t, TWO_PI), np.zeros(t),
        np.zeros(t), (TargetSlot(0, t, frozenset(reg.ids)),),
    )  # fmt: skip
    seq = tmp_path / "seq.npz"
    SampledSequence(reg, {"rydberg_global": ch}).save_npz(seq)
    noise = tmp_path / "noise.json"
    noise.write_text(json.dumps({"dephasing_rate": 1.0, "relaxation_rate": 0.5}))
    out = tmp_path / "out.json"
    args = ["simulate", str(seq), "--c6", str(C6), "--noise", str(noise), "--no-progress"]
    assert main([*args, "--method", "lindblad", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["method"] == "lindblad" and data["runs"] == 1
    direct = simulate(
        SampledSequence.load_npz(seq),
        interaction_coeff=C6,
        noise=NoiseModel(dephasing_rate=1.0, relaxation_rate=0.5),
        method="lindblad",
    )
    for k, p in direct.bitstring_probabilities(min_probability=1e-9).items():
        assert data["bitstring_probabilities"][k] == pytest.approx(p, abs=1e-12)
