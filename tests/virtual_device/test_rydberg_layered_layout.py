"""The layered layout of the blockade subspace (2D arrays row by row): its product and runs."""

import dataclasses
import importlib

import numpy as np
import pytest
from rydberg_refs import cvec, gather_product

from virtual_device.rydberg import kernels, layered, simulate
from virtual_device.rydberg.space import BlockadeSubspace, pair_interactions

C6 = 865723.02
A = 6.0
V_NN = C6 / A**6


def grid(rows, cols, spacing=A):
    """Row by row: atoms of one row are consecutive."""
    return np.array([(x, y) for y in range(rows) for x in range(cols)], float) * spacing


def pair_space(rows, cols, layout="auto", spacing=A):
    v = pair_interactions(grid(rows, cols, spacing), C6)
    return BlockadeSubspace(v, 0.99 * C6 / spacing**6, layout=layout, rule="pair")


@pytest.mark.parametrize(
    ("rows", "cols", "count"),
    [(3, 3, 63), (4, 4, 1234), (3, 6, 2999), (5, 4, 6743), (5, 5, 55447)],
)
def test_a_square_array_under_the_pair_rule_takes_the_layered_layout(rows, cols, count):
    space = pair_space(rows, cols)
    assert space.dim == count  # independent sets of the grid graph (A006506 for squares; 5×4
    # and 3×6 counted by brute force over 2^N)
    assert space.layout == "layered"
    assert space.truncation.product_layout == "layered"
    w, edges = layered.find_layers(space.states(), rows * cols)
    assert w == cols
    assert sorted(edges) == sorted(
        (i, j)
        for i in range(rows * cols)
        for j in range(i + 1, rows * cols)
        if (j == i + 1 and j % cols) or j == i + cols
    )


def test_the_energy_rule_in_2d_and_a_scrambled_numbering_keep_the_gather():
    v = pair_interactions(grid(4, 4), C6)
    # the energy rule drops checkerboard-like states: not all independent sets
    assert BlockadeSubspace(v, 0.99 * V_NN).layout == "gather"
    perm = np.random.default_rng(0).permutation(16)
    scrambled = BlockadeSubspace(pair_interactions(grid(4, 4)[perm], C6), 0.99 * V_NN, rule="pair")
    assert scrambled.dim == 1234
    assert scrambled.layout == "gather"
    with pytest.raises(Exception, match="layered layout needs"):
        BlockadeSubspace(v, 0.99 * V_NN, layout="layered")


@pytest.mark.parametrize("real", [False, True])
@pytest.mark.parametrize("tail_max", [None, 1, 30, 300])
@pytest.mark.parametrize(("rows", "cols"), [(3, 3), (4, 4), (5, 4), (3, 6)])
def test_layered_product_equals_gather(rows, cols, tail_max, real):
    # tail_max decides how many rows the head has: every split (one head row … all but one)
    # and so every kind of flip (whole blocks, runs, the tail's own) is covered
    space = pair_space(rows, cols)
    n = rows * cols
    plan = space._layer_plan
    if tail_max is not None:
        w, edges = layered.find_layers(space.states(), n)
        plan, order = layered.layered_plan(n, w, edges, tail_max=tail_max)
        np.testing.assert_array_equal(order, space.states())
    rng = np.random.default_rng(rows * 10 + cols)
    coeffs = rng.normal(size=n) + (0 if real else 1j * rng.normal(size=n))
    u, prev = cvec(rng, space.dim), cvec(rng, space.dim)
    diag = rng.normal(size=space.dim)
    ref, ref_dot = gather_product(space, u, 0.7, prev, -0.3, diag, coeffs)
    for parallel in (False, True):
        out = np.empty_like(u)
        dot = layered.layered_hpsi(u, 0.7, prev, -0.3, diag, coeffs, plan, out, parallel)
        assert np.abs(out - ref).max() <= 1e-12 * np.abs(ref).max()
        assert abs(dot - ref_dot) <= 1e-12 * abs(ref_dot)
    # prev may be out (the Lanczos recurrence overwrites it in place)
    out = prev.copy()
    layered.layered_hpsi(u, 0.7, out, -0.3, diag, coeffs, plan, out)
    assert np.abs(out - ref).max() <= 1e-12 * np.abs(ref).max()


def test_the_compiled_lanczos_loop_runs_the_layered_product():
    space = pair_space(4, 4)
    rng = np.random.default_rng(3)
    coeffs = cvec(rng, 16)
    mode, args = space.krylov_args(coeffs)
    assert mode == kernels.MODE_LAYERED
    diag = rng.normal(size=space.dim)
    u = cvec(rng, space.dim)
    out = np.empty_like(u)
    ref, _ = gather_product(space, u, 1.0, np.zeros_like(u), 0.0, diag, coeffs)
    kernels._product(mode, None, u, 1.0, np.zeros_like(u), 0.0, diag, args, out)
    assert np.abs(out - ref).max() <= 1e-12 * np.abs(ref).max()


class _GatherSubspace(BlockadeSubspace):
    """What simulate() builds, with the gather layout forced: the reference."""

    def __init__(self, pair_v, energy_cutoff, rule="energy"):
        super().__init__(pair_v, energy_cutoff, layout="gather", rule=rule)


def _sweep(rows, cols, t, local, threads, noise=None):
    n = rows * cols
    amp = np.concatenate([np.linspace(0, 12.0, t // 2), np.linspace(12.0, 0, t - t // 2)])
    det = np.linspace(-15.0, 15.0, t)
    kwargs = {}
    if local:  # per-atom amplitudes and phases: complex per-atom coefficients
        amp = np.vstack([amp * (1 + 0.03 * i) for i in range(n)])
        kwargs["phase"] = np.linspace(0.0, 1.3, n)[:, None] * np.ones(t)
    return simulate(
        amplitude=amp,
        detuning=det,
        register=grid(rows, cols),
        interaction_coeff=C6,
        subspace_cutoff=0.99 * V_NN,
        subspace_rule="pair",
        symmetry="off",  # the layered layout itself (the symmetric sector: test_rydberg_symmetry)
        tolerance=1e-9,
        record_every_ns=50,
        progress=False,
        threads=threads,
        noise=noise,
        seed=5,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("rows", "cols", "t", "local", "threads"),
    [(4, 4, 400, False, 1), (4, 4, 400, True, 1), (5, 5, 150, True, 2)],
)
def test_simulation_in_the_layered_layout_equals_the_gather(
    monkeypatch, rows, cols, t, local, threads
):
    got = _sweep(rows, cols, t, local, threads)
    sim_module = importlib.import_module("virtual_device.rydberg.simulate")
    monkeypatch.setattr(sim_module, "BlockadeSubspace", _GatherSubspace)
    ref = _sweep(rows, cols, t, local, threads)
    assert np.abs(got.occupations - ref.occupations).max() <= 1e-9
    assert np.abs(got.final_state - ref.final_state).max() <= 1e-9
    assert got.occupations[-1].max() > 0.05  # the sweep does excite atoms
    assert got.truncation is not None and ref.truncation is not None
    assert got.truncation.to_dict()["product_layout"] == "layered"
    assert ref.truncation.to_dict()["product_layout"] == "gather"
    assert dataclasses.replace(got.truncation.info, product_layout="gather") == ref.truncation.info
    assert got.truncation.max_dropped_population == pytest.approx(
        ref.truncation.max_dropped_population, rel=1e-6
    )


def test_relaxation_trajectories_run_the_layered_product_through_arnoldi(monkeypatch):
    from virtual_device.rydberg import NoiseModel

    noise = NoiseModel(runs=2, relaxation_rate=0.5)
    got = _sweep(3, 3, 300, False, 1, noise)
    sim_module = importlib.import_module("virtual_device.rydberg.simulate")
    monkeypatch.setattr(sim_module, "BlockadeSubspace", _GatherSubspace)
    ref = _sweep(3, 3, 300, False, 1, noise)
    assert got.truncation is not None and got.truncation.info.product_layout == "layered"
    assert np.abs(got.occupations - ref.occupations).max() <= 1e-8
