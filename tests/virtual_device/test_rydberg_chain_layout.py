"""The blockade subspace's chain layout: Zeckendorf ranks, the streaming product against the
gather, whole simulations against the gather layout, and the cases that must fall back."""

import dataclasses
import importlib
import itertools

import numpy as np
import pytest
from rydberg_refs import cvec, gather_product

from virtual_device.errors import SimulationError
from virtual_device.rydberg import kernels, simulate
from virtual_device.rydberg.space import BlockadeSubspace, pair_interactions

C6 = 865723.02
SPACING = 5.5
V_NN = C6 / SPACING**6


def chain_coords(n, order=None):
    x = np.arange(n, dtype=float) * SPACING
    if order is not None:
        x = x[np.asarray(order)]
    return np.stack([x, np.zeros(n)], axis=1)


def chain_space(n, cutoff=0.5 * V_NN, layout="auto", order=None):
    return BlockadeSubspace(pair_interactions(chain_coords(n, order), C6), cutoff, layout=layout)


@pytest.mark.parametrize("n", range(1, 13))
def test_chain_states_are_the_independent_sets_in_zeckendorf_order(n):
    space = chain_space(n)
    assert space.layout == "chain"
    st = space.states()
    fib = kernels.fibonacci(n + 3)
    assert space.dim == fib[n + 2]
    # exactly the strings without two adjacent 1s, sorted ascending
    brute = [x for x in range(1 << n) if not x & (x >> 1)]
    np.testing.assert_array_equal(st, brute)
    # the sorted rank of a state is its Zeckendorf value Σ_{p set} F(p + 2), p = n − 1 − atom
    for rank, x in enumerate(st):
        assert sum(int(fib[p + 2]) for p in range(n) if (int(x) >> p) & 1) == rank
    # so a flip of position p is the constant offset F(p + 2)
    index = {int(x): k for k, x in enumerate(st)}
    for k, x in enumerate(st):
        for p in range(n):
            y = int(x) | (1 << p)
            if not (int(x) >> p) & 1 and y in index:
                assert index[y] - k == fib[p + 2]


@pytest.mark.parametrize("real", [False, True])
@pytest.mark.parametrize("leaf_bits", [None, 2, 5])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 13, 20])
def test_chain_product_equals_gather(n, leaf_bits, real):
    # leaf_bits below n: several leaves, so the flips between leaves (streamed in from other
    # blocks, four at a time, and the partial one) are exercised at small n too
    rng = np.random.default_rng(10 * n + (leaf_bits or 0) + 1000 * real)
    space = chain_space(n)
    assert space.layout == "chain"
    prog = kernels.chain_plan(n) if leaf_bits is None else kernels.chain_plan(n, leaf_bits)
    coeffs = cvec(rng, n)
    if real:
        coeffs = coeffs.real + 0j  # the real drive skips the second accumulator
    if n > 3:
        coeffs[2] = 0.0  # a switched-off atom
    dim = space.dim
    u, prev, diag = cvec(rng, dim), cvec(rng, dim), rng.normal(size=dim) * 3
    s, cprev = 0.37, -0.81
    ref, ref_dot = gather_product(space, u, s, prev, cprev, diag, coeffs)
    scale = np.abs(ref).max()
    cr, ci = np.ascontiguousarray(coeffs.real), np.ascontiguousarray(coeffs.imag)
    for kern in (kernels._chain_hpsi_serial, kernels._chain_hpsi_parallel):
        out = np.empty_like(u)
        dot = kern(u, s, prev, cprev, diag, cr, ci, prog, out)
        assert np.abs(out - ref).max() <= 1e-12 * scale
        assert abs(dot - ref_dot) <= 1e-12 * abs(ref_dot)
        # prev aliasing out (as apply_drive uses it)
        alias = prev.copy()
        dot = kern(u, s, alias, cprev, diag, cr, ci, prog, alias)
        assert np.abs(alias - ref).max() <= 1e-12 * scale
        assert abs(dot - ref_dot) <= 1e-12 * abs(ref_dot)
    # the public entry points: BlockadeSubspace.hpsi and apply_drive
    out = np.empty_like(u)
    dot = space.hpsi(u, s, prev, cprev, diag, coeffs, out)
    assert np.abs(out - ref).max() <= 1e-12 * scale
    assert abs(dot - ref_dot) <= 1e-12 * abs(ref_dot)
    acc = prev.copy()
    space.apply_drive(u, coeffs, acc)
    drive_ref, _ = gather_product(space, u, 1.0, prev, 1.0, np.zeros(dim), coeffs)
    assert np.abs(acc - drive_ref).max() <= 1e-12 * np.abs(drive_ref).max()


@pytest.mark.parametrize("threads", [1, 2])
def test_chain_product_through_kernel_threads(threads):
    # F(24) = 46368 states ≥ PARALLEL_MIN: with two threads the threaded kernel runs
    n = 22
    rng = np.random.default_rng(22)
    space = chain_space(n)
    coeffs = cvec(rng, n)
    u, prev, diag = cvec(rng, space.dim), cvec(rng, space.dim), rng.normal(size=space.dim)
    ref, ref_dot = gather_product(space, u, 1.3, prev, 0.4, diag, coeffs)
    with kernels.kernel_threads(threads):
        assert kernels.parallel_for(space.dim) == (threads > 1)
        out = np.empty_like(u)
        dot = space.hpsi(u, 1.3, prev, 0.4, diag, coeffs, out)
    assert np.abs(out - ref).max() <= 1e-12 * np.abs(ref).max()
    assert abs(dot - ref_dot) <= 1e-12 * abs(ref_dot)


def test_chain_layout_keeps_the_leak_bookkeeping_and_holds_no_neighbour_lists():
    n = 14
    chain, gather = chain_space(n), chain_space(n, layout="gather")
    assert (chain.layout, gather.layout) == ("chain", "gather")
    np.testing.assert_array_equal(chain.states(), gather.states())
    assert (chain.truncation.product_layout, gather.truncation.product_layout) == (
        "chain",
        "gather",
    )
    assert dataclasses.replace(chain.truncation, product_layout="gather") == gather.truncation
    np.testing.assert_array_equal(chain._leak_ptr, gather._leak_ptr)
    np.testing.assert_array_equal(chain._leak_atom, gather._leak_atom)
    np.testing.assert_array_equal(chain._leak_penalty, gather._leak_penalty)
    rng = np.random.default_rng(5)
    psi, coeffs, delta = cvec(rng, chain.dim), cvec(rng, n), rng.normal(size=n)
    assert chain.leakage(psi, coeffs, delta, 3.0) == gather.leakage(psi, coeffs, delta, 3.0)
    # the chain layout holds only its schedule; the lists are built if asked for
    assert chain._neighbours is None
    assert chain.memory_bytes < gather.memory_bytes
    small = chain.memory_bytes
    np.testing.assert_array_equal(chain._ent, gather._ent)
    assert chain.memory_bytes > small
    # and the compiled Lanczos loop gets the chain mode, the gather the gather mode
    assert chain.krylov_args(coeffs)[0] == kernels.MODE_CHAIN
    assert gather.krylov_args(coeffs)[0] == kernels.MODE_SUBSPACE


class _GatherSubspace(BlockadeSubspace):
    """What simulate() builds, with the gather layout forced: the reference."""

    def __init__(self, pair_v, energy_cutoff, rule="energy"):
        super().__init__(pair_v, energy_cutoff, layout="gather", rule=rule)


def _sweep(n, t, local, threads):
    amp = np.concatenate([np.linspace(0, 12.0, t // 2), np.linspace(12.0, 0, t - t // 2)])
    det = np.linspace(-20.0, 20.0, t)
    kwargs = {}
    if local:  # per-atom amplitudes and phases: complex per-atom coefficients
        amp = np.vstack([amp * (1 + 0.03 * i) for i in range(n)])
        kwargs["phase"] = np.linspace(0.0, 1.3, n)[:, None] * np.ones(t)
    return simulate(
        amplitude=amp,
        detuning=det,
        register=chain_coords(n),
        interaction_coeff=C6,
        subspace_cutoff=0.5 * V_NN,
        tolerance=1e-9,
        record_every_ns=50,
        progress=False,
        threads=threads,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("n", "t", "local", "threads"),
    [(12, 400, False, 1), (12, 400, True, 1), (22, 120, True, 2)],
)
def test_simulation_in_the_chain_layout_equals_the_gather_layout(monkeypatch, n, t, local, threads):
    assert chain_space(n).layout == "chain"  # what simulate() builds here
    got = _sweep(n, t, local, threads)
    sim_module = importlib.import_module("virtual_device.rydberg.simulate")
    monkeypatch.setattr(sim_module, "BlockadeSubspace", _GatherSubspace)
    ref = _sweep(n, t, local, threads)
    assert got.occupations.shape == ref.occupations.shape
    assert np.abs(got.occupations - ref.occupations).max() <= 1e-9
    assert np.abs(got.final_state - ref.final_state).max() <= 1e-9
    assert got.occupations[-1].max() > 0.05  # the sweep does excite atoms
    assert got.truncation is not None and ref.truncation is not None
    # the same truncation, and the report says which product ran
    assert got.truncation.to_dict()["product_layout"] == "chain"
    assert ref.truncation.to_dict()["product_layout"] == "gather"
    assert dataclasses.replace(got.truncation.info, product_layout="gather") == ref.truncation.info


def test_a_chain_numbered_out_of_order_leaves_the_chain_layout():
    n = 9
    # atoms 1 and 2 swapped, the last three reversed: neighbours stay within or between
    # neighbouring groups of three atoms, so the layered layout takes it
    order = [0, 2, 1, 3, 4, 5, 8, 7, 6]
    space = chain_space(n, order=order)
    assert space.dim == kernels.fibonacci(n + 3)[n + 2]  # the same number of states …
    assert space.layout == "layered"  # … but adjacent atoms are not adjacent bits
    _check_against_dense(space)
    scrambled = chain_space(n, order=[0, 5, 1, 6, 2, 7, 3, 8, 4])  # no layering fits
    assert scrambled.layout == "gather"
    _check_against_dense(scrambled)


def test_a_square_falls_back_to_the_gather():
    coords = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0], [6.0, 6.0]])
    space = BlockadeSubspace(pair_interactions(coords, C6), 0.9 * C6 / 6.0**6)
    assert space.dim == 7  # ∅, four singles, two diagonals
    assert space.layout == "gather"
    _check_against_dense(space)


def test_a_chain_cut_above_the_nearest_neighbour_energy_falls_back():
    n = 8
    space = chain_space(n, cutoff=1.5 * V_NN)  # one blockaded pair per state is kept
    assert space.dim > kernels.fibonacci(n + 3)[n + 2]
    assert space.layout == "gather"
    _check_against_dense(space)
    with pytest.raises(SimulationError, match="chain layout"):
        chain_space(n, cutoff=1.5 * V_NN, layout="chain")
    assert chain_space(n, layout="chain").layout == "chain"
    with pytest.raises(SimulationError, match="layout"):
        chain_space(n, layout="zigzag")


def _check_against_dense(space):
    n = space.n_atoms
    rng = np.random.default_rng(n)
    coeffs = cvec(rng, n)
    st = [int(x) for x in space.states()]
    index = {x: k for k, x in enumerate(st)}
    h = np.zeros((space.dim, space.dim), complex)
    for (k, x), i in itertools.product(enumerate(st), range(n)):
        bit = 1 << (n - 1 - i)
        j = index.get(x ^ bit)
        if j is not None:
            h[k, j] = coeffs[i] if x & bit else np.conj(coeffs[i])
    u = cvec(rng, space.dim)
    out = np.zeros(space.dim, complex)
    space.apply_drive(u, coeffs, out)
    assert np.abs(out - h @ u).max() <= 1e-12 * np.abs(h @ u).max()
