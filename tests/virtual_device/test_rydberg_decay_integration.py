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
