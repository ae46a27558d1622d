"""The no-jump evolution of the trajectories (decay in the exponent) against dense matrices.

Between jumps a trajectory evolves under H − (i/2) Σ_i γ_i n_i. The integrator takes that
non-Hermitian exponent by Arnoldi inside the Magnus blocks; these tests compare it, sample
by sample, with the dense exponential of each nanosecond's effective Hamiltonian, and check
that the reported error estimate bounds the actual error. (An earlier integrator split the
decay off the drive, D(h/2)·U·D(h/2): its error, ≈ 1e-7 here, was not in its estimate.)
"""

from __future__ import annotations

import numpy as np
import pytest
from rydberg_refs import dense_operator
from scipy.linalg import expm

from virtual_device.rydberg import kernels
from virtual_device.rydberg.integrator import Evolver
from virtual_device.rydberg.simulate import cutoff_for_distance
from virtual_device.rydberg.space import BlockadeSubspace, FullSpace, pair_interactions

C6 = 865723.02


def drives(n: int, t: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Smooth per-atom fields Ω e^{iφ}/2 (phase jump half-way) and linear detuning sweeps."""
    shape = np.sin(np.linspace(0, np.pi, t))
    amp = np.abs(rng.normal(8.0, 2.0, size=(n, 1))) * shape
    phase = np.outer(rng.uniform(-np.pi, np.pi, n), np.ones(t))
    phase[:, t // 2 :] += 0.9
    delta = rng.normal(0, 3, size=(n, 1)) + np.outer(rng.normal(0, 6, n), np.linspace(-1, 1, t))
    return 0.5 * amp * np.exp(1j * phase), delta


def dense_hamiltonian(space, coeff: np.ndarray, delta: np.ndarray) -> np.ndarray:
    return dense_operator(space, coeff, space.diagonal(1.0, delta, np.empty(space.dim)))


def reference(space, coeff, delta, gamma) -> np.ndarray:
    """Π_k exp(−i (H_k − (i/2) Σ γ_i n_i) · 1 ns) |g…g⟩, dense."""
    decay = np.diag(space.detuning_diagonal(gamma))
    psi = space.ground_state().astype(complex)
    for k in range(coeff.shape[1]):
        h = dense_hamiltonian(space, coeff[:, k], delta[:, k]) - 0.5j * decay
        psi = expm(-1j * 1e-3 * h) @ psi
    return psi


def spaces() -> dict[str, object]:
    rng = np.random.default_rng(5)
    coords3 = rng.uniform(0, 9, size=(3, 2))
    chain = np.stack([np.arange(6) * 5.5, np.zeros(6)], 1)
    return {
        "full": FullSpace(pair_interactions(coords3, C6)),
        "chain subspace": BlockadeSubspace(
            pair_interactions(chain, C6), cutoff_for_distance(C6, 5.5) * 0.99
        ),
    }


@pytest.mark.parametrize("name", ["full", "chain subspace"])
@pytest.mark.parametrize("tolerance", [1e-6, 1e-10])
def test_no_jump_evolution_matches_dense_and_its_estimate_bounds_the_error(name, tolerance):
    space = spaces()[name]
    n = space.n_atoms
    rng = np.random.default_rng(17)
    t = 300
    coeff, delta = drives(n, t, rng)
    gamma = rng.uniform(0.3, 2.0, n)  # 1/µs: strong decay, so a split would show
    ev = Evolver(space, coeff, delta, tolerance=tolerance, decay_rates=gamma)
    psi = ev.advance(space.ground_state().astype(complex), 0, t)
    ref = reference(space, coeff, delta, gamma)
    actual = float(np.linalg.norm(psi - ref))
    est = ev.stats.error_estimate
    assert est <= tolerance
    assert actual <= est + 1e-13
    # decay is really there: the norm fell by a sizeable amount
    assert 0.05 < 1.0 - float(np.vdot(ref, ref).real) < 0.95


def test_constant_block_with_decay_is_exact_up_to_the_krylov_error():
    # a constant drive is one block: with decay in the exponent it needs no step doubling
    space = spaces()["full"]
    n = space.n_atoms
    t = 400
    coeff = np.full((n, t), 4.0 + 1.5j)
    delta = np.full((n, t), 2.0)
    gamma = np.array([0.5, 1.0, 1.5])
    ev = Evolver(space, coeff, delta, tolerance=1e-9, decay_rates=gamma)
    psi = ev.advance(space.ground_state().astype(complex), 0, t)
    h = dense_hamiltonian(space, coeff[:, 0], delta[:, 0])
    h = h - 0.5j * np.diag(space.detuning_diagonal(gamma))
    exact = expm(-1j * t * 1e-3 * h) @ space.ground_state().astype(complex)
    assert np.linalg.norm(psi - exact) <= ev.stats.error_estimate + 1e-13
    assert ev.stats.error_estimate <= 1e-9
    assert ev.stats.magnus_error == 0.0


def test_expm_small_equals_scipy():
    rng = np.random.default_rng(2)
    for n, scale in [(1, 0.3), (3, 2.0), (9, 10.0), (25, 0.01), (41, 4.0)]:
        a = scale * (rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n)))
        ref = expm(a)
        got = kernels.expm_small(a)
        assert np.abs(got - ref).max() <= 1e-12 * max(1.0, np.abs(ref).max())


@pytest.mark.parametrize("kind", ["uniform", "general", "chain", "gather"])
def test_compiled_arnoldi_equals_python_loop_and_dense_expm(kind):
    # kernels.arnoldi_expm (short vectors) against the Python loop with BLAS Gram–Schmidt (long
    # vectors): the same products, the same estimate, and both against the dense exponential
    rng = np.random.default_rng(23)
    n = 8
    if kind in ("chain", "gather"):
        coords = np.stack([np.arange(n) * 5.0, rng.normal(0, 0.5, n)], 1)
        space = BlockadeSubspace(
            pair_interactions(coords, C6), cutoff_for_distance(C6, 5.5), layout=kind
        )
    else:
        grid = np.stack(np.meshgrid(np.arange(4) * 7.0, np.arange(2) * 7.0), -1).reshape(-1, 2)
        space = FullSpace(pair_interactions(grid + rng.normal(0, 0.5, (n, 2)), C6))
    coeffs = (
        np.full(n, 1.5 - 0.7j)
        if kind == "uniform"
        else rng.normal(size=n) + 1j * rng.normal(size=n)
    )
    delta = rng.normal(size=n) * 3
    gamma = rng.uniform(0.5, 3.0, n)
    ev = Evolver(space, np.zeros((n, 2), complex), np.zeros((n, 2)), tolerance=1e-6)
    diag = space.diagonal(0.02, delta, np.empty(space.dim))
    gam = 0.5 * 0.02 * space.detuning_diagonal(gamma)
    psi = rng.normal(size=space.dim) + 1j * rng.normal(size=space.dim)
    psi /= np.linalg.norm(psi)
    kargs = space.krylov_args(coeffs)
    assert kargs is not None
    h = dense_operator(space, coeffs, diag) - 1j * np.diag(gam)
    for scale, tol in [(0.05, 1e-10), (0.5, 1e-7), (1.0, 1e-12)]:
        m0 = ev.stats.matvecs
        ref = ev._decay_arnoldi(diag, gam, coeffs, psi, scale, tol)
        m1 = ev.stats.matvecs
        got = ev._decay_arnoldi(diag, gam, coeffs, psi, scale, tol, kargs)
        assert ref is not None and got is not None
        assert ev.stats.matvecs - m1 == m1 - m0
        assert np.abs(got[0] - ref[0]).max() <= 1e-12
        assert got[1] == pytest.approx(ref[1], rel=1e-6, abs=1e-15)
        exact = expm(-1j * scale * h) @ psi
        assert np.linalg.norm(got[0] - exact) <= got[1] * 2 + 1e-13
        assert np.linalg.norm(got[0] - exact) <= 10 * tol
    zero = np.zeros(space.dim, complex)
    out, err = ev._decay_arnoldi(diag, gam, coeffs, zero, 0.1, 1e-9, kargs)
    assert err == 0.0 and not np.any(out)
