"""Compiled H·ψ and Lanczos kernels against numpy / dense references (random states)."""

import numpy as np
import pytest
from rydberg_refs import dense_operator

from virtual_device.rydberg import cutoff_for_distance, kernels, simulate
from virtual_device.rydberg.space import BlockadeSubspace, FullSpace, pair_interactions

C6 = 865723.02


def random_space(n, rng):
    coords = np.stack([np.arange(n) * 5.5 + rng.normal(0, 0.4, n), rng.normal(0, 1.0, n)], 1)
    return FullSpace(pair_interactions(coords, C6))


def cvec(rng, dim):
    return rng.normal(size=dim) + 1j * rng.normal(size=dim)


def numpy_product(space, u, s, prev, cprev, v_scale, coeffs, delta):
    ref = (v_scale * space.interaction - space.detuning_diagonal(delta)) * u
    space.apply_drive(u, coeffs, ref)  # the numpy (reshape + cache-chunk) reference
    return s * ref + cprev * prev


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("uniform", [False, True])
@pytest.mark.parametrize(
    ("n", "chunk_bits"),
    [(1, 14), (2, 14), (3, 14), (6, 14), (9, 14), (6, 2), (10, 3), (12, 5), (16, 14), (17, 14)],
)
def test_full_space_kernel_equals_numpy_product(n, chunk_bits, uniform, threads):
    # chunk_bits < n exercises the partner-chunk (high-bit) path; N = 16, 17 the default one
    rng = np.random.default_rng(n + 100 * chunk_bits)
    space = random_space(n, rng)
    coeffs = np.full(n, 0.4 - 1.3j) if uniform else cvec(rng, n)
    if not uniform and n > 2:
        coeffs[1] = 0.0  # a switched-off atom is skipped
    delta = rng.normal(size=n)
    u, prev = cvec(rng, space.dim), cvec(rng, space.dim)
    ref = numpy_product(space, u, 0.3, prev, -0.7, 0.9, coeffs, delta)
    with kernels.kernel_threads(threads):
        diag = space.diagonal(0.9, delta, np.empty(space.dim))
        out = np.empty_like(u)
        dot = kernels.full_hpsi(u, 0.3, prev, -0.7, diag, coeffs, out, chunk_bits=chunk_bits)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(
        diag, 0.9 * space.interaction - space.detuning_diagonal(delta), atol=1e-12 * scale
    )
    assert np.abs(out - ref).max() <= 1e-12 * scale
    assert abs(dot - np.vdot(u, ref)) <= 1e-12 * abs(np.vdot(u, ref)) + 1e-12


@pytest.mark.parametrize("threads", [1, 2])
def test_vector_kernels_equal_numpy(threads):
    rng = np.random.default_rng(3)
    dim = 1 << 16
    w, u = cvec(rng, dim), cvec(rng, dim)
    vecs = [cvec(rng, dim) for _ in range(6)]
    coeffs = cvec(rng, 6)
    with kernels.kernel_threads(threads):
        w2 = w.copy()
        norm2 = kernels.axpy_norm2(w2, -0.37, u)
        out = kernels.combine4(np.empty(dim, complex), coeffs, vecs)
    np.testing.assert_allclose(w2, w - 0.37 * u, rtol=0, atol=1e-13)
    assert norm2 == pytest.approx(np.vdot(w - 0.37 * u, w - 0.37 * u).real, rel=1e-12)
    ref = sum(c * v for c, v in zip(coeffs, vecs, strict=True))
    assert np.abs(out - ref).max() <= 1e-12 * np.abs(ref).max()


def dense_subspace(space, coeffs, diag):
    """H over the kept states, built by comparing every pair of states (independent of the
    neighbour lists)."""
    st = space.states()
    n = space.n_atoms
    h = np.diag(diag).astype(complex)
    index = {int(s): k for k, s in enumerate(st)}
    for k, s in enumerate(st):
        for i in range(n):
            bit = 1 << (n - 1 - i)
            j = index.get(int(s) ^ bit)
            if j is None:
                continue
            h[k, j] = coeffs[i] if s & bit else np.conj(coeffs[i])
    return h


@pytest.mark.parametrize("layout", ["auto", "gather"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    ("n", "spacing", "cutoff_distance"), [(7, 5.0, 5.5), (9, 4.0, 6.0), (16, 5.5, 6.0)]
)
def test_subspace_kernel_equals_dense_product(n, spacing, cutoff_distance, threads, layout):
    """Both products (the chain layout where it applies under "auto", else the gather)."""
    rng = np.random.default_rng(n)
    coords = np.stack([np.arange(n) * spacing, rng.normal(0, 0.5, n)], 1)
    pair_v = pair_interactions(coords, C6)
    space = BlockadeSubspace(pair_v, cutoff_for_distance(C6, cutoff_distance), layout=layout)
    assert 0 < space.dim < 1 << n
    coeffs = cvec(rng, n)
    delta = rng.normal(size=n)
    u, prev = cvec(rng, space.dim), cvec(rng, space.dim)
    diag_ref = 0.6 * space.interaction - space.bits() @ delta
    with kernels.kernel_threads(threads):
        diag = space.diagonal(0.6, delta, np.empty(space.dim))
        out = np.empty_like(u)
        dot = space.hpsi(u, 0.3, prev, -0.7, diag, coeffs, out)
        acc = prev.copy()
        space.apply_drive(u, coeffs, acc)
    np.testing.assert_allclose(diag, diag_ref, atol=1e-12 * np.abs(diag_ref).max())
    h = dense_subspace(space, coeffs, diag_ref)
    ref = 0.3 * (h @ u) - 0.7 * prev
    scale = np.abs(ref).max()
    assert np.abs(out - ref).max() <= 1e-12 * scale
    assert abs(dot - np.vdot(u, ref)) <= 1e-12 * abs(np.vdot(u, ref))
    drive = h - np.diag(np.diag(h))
    assert np.abs(acc - (prev + drive @ u)).max() <= 1e-12 * scale
    # occupations and the leak bookkeeping against direct numpy sums
    probs = np.abs(u) ** 2 / np.sum(np.abs(u) ** 2)
    np.testing.assert_allclose(space.occupations(probs), probs @ space.bits(), atol=1e-14)
    leak_src, leak_atom, pen = [], [], []
    st = space.states()
    for k, s in enumerate(st):
        for i in range(n):
            bit = 1 << (n - 1 - i)
            if not s & bit and not np.any(st == (s | bit)):
                leak_src.append(k)
                leak_atom.append(i)
                pen.append(pair_v[i] @ space.bits()[k])
    assert space.truncation.leaky_transitions == len(leak_src)
    amp = np.abs(coeffs[leak_atom] * u[leak_src]) ** 2 / np.sum(np.abs(u) ** 2)
    source = probs[leak_src]
    penalty = np.abs(np.array(pen) - delta[leak_atom])
    rate, pop = space.leakage(u, coeffs, delta, norm2=float(np.sum(np.abs(u) ** 2)))
    assert rate == pytest.approx(np.sqrt(amp.sum()), rel=1e-12)
    assert pop == pytest.approx(
        min(1.0, np.sum(np.minimum(amp / np.maximum(penalty, 1e-12) ** 2, source))), rel=1e-6
    )
    # a drive equal on every atom takes the uniform path (float32 sums of the penalty terms)
    cu, du = np.full(n, coeffs[0]), np.full(n, delta[0])
    amp_u = np.abs(cu[0] * u[leak_src]) ** 2 / np.sum(np.abs(u) ** 2)
    pen_u = np.abs(np.array(pen) - du[0])
    rate_u, pop_u = space.leakage(u, cu, du, norm2=float(np.sum(np.abs(u) ** 2)))
    assert rate_u == pytest.approx(np.sqrt(amp_u.sum()), rel=1e-12)
    assert pop_u == pytest.approx(
        min(1.0, np.sum(np.minimum(amp_u / np.maximum(pen_u, 1e-12) ** 2, source))), rel=1e-5
    )
    args = (u, 1.0 / np.sum(np.abs(u) ** 2), np.abs(cu) ** 2, du, space._leak_ptr)
    for uniform in (False, True):
        serial = kernels._leakage_serial(*args, space._leak_atom, space._leak_penalty, uniform)
        parallel = kernels._leakage_parallel(*args, space._leak_atom, space._leak_penalty, uniform)
        np.testing.assert_allclose(parallel, serial, rtol=1e-12)


def test_wide_neighbour_entries_match_narrow():
    # the int64 packing used for subspaces of ≥ 2^24 states, checked on a small one
    coords = np.stack([np.arange(10) * 5.0, np.zeros(10)], 1)
    space = BlockadeSubspace(pair_interactions(coords, C6), cutoff_for_distance(C6, 5.5))
    count, leak_count = kernels._neighbour_counts(space.states(), 10, True)
    ent = np.empty(int(count[-1]), dtype=np.int64)
    leak_atom = np.empty(int(leak_count[-1]), dtype=np.int8)
    kernels._neighbour_fill(space.states(), 10, count, leak_count, ent, leak_atom, True)
    np.testing.assert_array_equal(ent, space._ent.astype(np.int64))
    np.testing.assert_array_equal(leak_atom, space._leak_atom)


def test_threaded_simulation_equals_serial():
    n = 15  # 2^15 amplitudes: the threaded kernels are used
    coords = np.stack([np.arange(n) * 6.0, np.zeros(n)], 1)
    t = 300
    amp = np.concatenate([np.linspace(0, 12.0, t // 2), np.linspace(12.0, 0, t - t // 2)])
    amp = np.vstack([amp * (1 + 0.01 * i) for i in range(n)])  # local amplitudes
    det = np.linspace(-20, 20, t)
    runs = [
        simulate(
            amplitude=amp,
            detuning=det,
            register=coords,
            interaction_coeff=C6,
            tolerance=1e-6,
            record_every_ns=0,
            threads=k,
        )
        for k in (1, 2, "auto")
    ]
    for run in runs[1:]:
        assert run.matvecs == runs[0].matvecs
        assert np.abs(run.final_state - runs[0].final_state).max() < 1e-12


def test_adaptive_threads_follow_the_measured_cost():
    choice = kernels.AdaptiveThreads(explore=4, warmup=2, weight=0.5)
    cost = {False: 1.0, True: 0.5}  # seconds per product: threads twice as fast

    def run(calls):
        picks = []
        for _ in range(calls):
            threaded = choice.choose()
            picks.append(threaded)
            choice.record(threaded, 10 * cost[threaded], 10)
        return picks

    first = run(4)
    assert sorted(first) == [False, False, True, True]  # each option measured first
    picks = run(40)
    assert sum(picks) == 30  # threaded except on every 4th call (re-measuring serial)
    cost[True] = 2.0  # another job takes a core: threads now twice as slow as serial
    run(12)
    picks = run(40)
    assert sum(not p for p in picks) == 30  # serial, with threads re-measured every 4th
    choice.record(True, 1.0, 0)  # a call without products changes nothing
    assert choice.cost[True] == pytest.approx(2.0, rel=0.1)


@pytest.mark.parametrize("kind", ["uniform", "general", "chain", "gather"])
def test_compiled_lanczos_equals_python_loop_and_dense_expm(kind):
    # the compiled Lanczos loop (kernels.lanczos_expm) against the integrator's Python loop
    # over space.hpsi (same steps: same number of products, same error estimate) and against
    # a dense matrix exponential; "chain" and "gather": the two subspace layouts
    from scipy.linalg import expm

    from virtual_device.rydberg.integrator import Evolver

    rng = np.random.default_rng(11)
    n = 9
    subspace = kind in ("chain", "gather")
    if subspace:
        coords = np.stack([np.arange(n) * 5.0, rng.normal(0, 0.5, n)], 1)
        pair_v = pair_interactions(coords, C6)
        space = BlockadeSubspace(pair_v, cutoff_for_distance(C6, 5.5), layout=kind)
    else:
        space = random_space(n, rng)
    coeffs = np.full(n, 2.0 - 1.0j) if kind == "uniform" else cvec(rng, n)
    delta = rng.normal(size=n) * 3
    ev = Evolver(space, np.zeros((n, 2), complex), np.zeros((n, 2)), tolerance=1e-6)
    diag = space.diagonal(0.02, delta, np.empty(space.dim))
    psi = cvec(rng, space.dim)
    psi /= np.linalg.norm(psi)
    kargs = space.krylov_args(coeffs)
    assert kargs is not None
    if subspace:
        assert kargs[0] == (kernels.MODE_CHAIN if kind == "chain" else kernels.MODE_SUBSPACE)
    # (0.5, 1e-12) needs more than the 16 kept work vectors: the compiled loop resumes
    products = []
    for scale, tol in [(0.05, 1e-9), (0.2, 1e-12), (0.5, 1e-6), (0.5, 1e-12)]:
        m0 = ev.stats.matvecs
        ref = ev._lanczos(diag, coeffs, psi, scale, tol)
        m1 = ev.stats.matvecs
        got = ev._lanczos(diag, coeffs, psi, scale, tol, kargs)
        m2 = ev.stats.matvecs
        assert ref is not None and got is not None
        assert m2 - m1 == m1 - m0
        products.append(m2 - m1)
        assert np.abs(got[0] - ref[0]).max() <= 1e-12
        assert got[1] == pytest.approx(ref[1], rel=1e-6, abs=1e-15)
        if subspace:
            h = dense_subspace(space, coeffs, diag)
        else:
            h = dense_operator(space, coeffs, diag)
        exact = expm(-1j * scale * h) @ psi
        assert np.linalg.norm(got[0] - exact) <= max(10 * tol, 1e-11)
    assert max(products) > 16
    # a zero vector and a basis that runs out (m_max reached): same outcome as the Python loop
    zero = np.zeros(space.dim, complex)
    out, err = ev._lanczos(diag, coeffs, zero, 0.1, 1e-9, kargs)
    assert err == 0.0 and not np.any(out)
    assert ev._lanczos(diag, coeffs, psi, 40.0, 1e-14, kargs) is None
    assert ev._lanczos(diag, coeffs, psi, 40.0, 1e-14) is None


def test_compiled_lanczos_runs_the_three_level_space_as_the_python_loop():
    # QutritSpace.krylov_args: the compiled loop with the qutrit product equals the
    # integrator's Python loop over QutritSpace.hpsi (same products, same error estimate)
    # and a dense exponential of the 3^N matrix
    from scipy.linalg import expm

    from virtual_device.rydberg.integrator import Evolver
    from virtual_device.rydberg.three_level import QutritSpace

    rng = np.random.default_rng(5)
    n = 5
    coords = np.stack([np.arange(n) * 6.0, rng.normal(0, 0.5, n)], 1)
    space = QutritSpace(pair_interactions(coords, C6))
    coeffs = cvec(rng, 2 * n)  # Rydberg rows, then Raman rows
    delta = rng.normal(size=2 * n) * 3
    ev = Evolver(space, np.zeros((2 * n, 2), complex), np.zeros((2 * n, 2)), tolerance=1e-6)
    diag = space.diagonal(0.02, delta, np.empty(space.dim))
    psi = cvec(rng, space.dim)
    psi /= np.linalg.norm(psi)
    kargs = space.krylov_args(coeffs)
    assert kargs is not None
    h = dense_operator(space, coeffs, diag)
    for scale, tol in [(0.05, 1e-9), (0.5, 1e-12)]:
        m0 = ev.stats.matvecs
        ref = ev._lanczos(diag, coeffs, psi, scale, tol)
        m1 = ev.stats.matvecs
        got = ev._lanczos(diag, coeffs, psi, scale, tol, kargs)
        assert ref is not None and got is not None
        assert ev.stats.matvecs - m1 == m1 - m0
        assert np.abs(got[0] - ref[0]).max() <= 1e-12
        assert got[1] == pytest.approx(ref[1], rel=1e-6, abs=1e-15)
        assert np.linalg.norm(got[0] - expm(-1j * scale * h) @ psi) <= max(10 * tol, 1e-11)


def test_threaded_qutrit_product_and_run_equal_the_serial_ones():
    import numba

    from virtual_device.rydberg.three_level import QutritSpace

    rng = np.random.default_rng(8)
    n = 10  # 3^10 = 59,049 amplitudes: above PARALLEL_MIN, so threads="auto"/2 may use them
    coords = np.stack([np.arange(n) * 6.0, rng.normal(0, 0.3, n)], 1)
    space = QutritSpace(pair_interactions(coords, C6))
    u, prev = cvec(rng, space.dim), cvec(rng, space.dim)
    diag = rng.normal(size=space.dim)
    c_ryd, c_ram = cvec(rng, n), cvec(rng, n)
    c_ram[3] = 0.0  # an atom without Raman drive
    serial, threaded = np.empty_like(u), np.empty_like(u)
    d1 = kernels.qutrit_hpsi(u, 0.3, prev, -0.2, diag, c_ryd, c_ram, serial, n)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        d2 = kernels._qutrit_hpsi_parallel(u, 0.3, prev, -0.2, diag, c_ryd, c_ram, threaded, n)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(threaded, serial)  # each amplitude: the same operations
    assert d2 == pytest.approx(d1, rel=1e-12)  # ⟨u, out⟩: the sum in another order
    t = 40
    amp = np.tile(np.linspace(2.0, 8.0, t), (n, 1))
    det = np.tile(np.linspace(-5.0, 5.0, t), (n, 1))
    kw = dict(
        basis="all", register=coords, amplitude=amp, detuning=det, phase=np.zeros((n, t)),
        raman_amplitude=amp / 2, raman_detuning=det / 3, raman_phase=np.zeros((n, t)),
        interaction_coeff=C6, tolerance=1e-8, progress=False,
    )  # fmt: skip
    one = simulate(threads=1, **kw)
    two = simulate(threads=2, **kw)
    assert one.matvecs == two.matvecs
    np.testing.assert_allclose(two.qutrit_state, one.qutrit_state, rtol=0, atol=1e-12)


@pytest.mark.parametrize("layout", ["chain", "gather"])
def test_threaded_leakage_sums_equal_the_serial_ones(layout):
    """The per-block truncation estimate (leakage rate, dropped population): threaded = serial
    up to the order of the sums, on a 22-chain (46,368 states) with every flip's penalty."""
    coords = np.c_[np.arange(22) * 5.5, np.zeros(22)]
    pair_v = pair_interactions(coords, 865723.02)
    space = BlockadeSubspace(pair_v, 0.99 * pair_v[0, 1], layout=layout)
    assert space.dim >= kernels.PARALLEL_MIN
    rng = np.random.default_rng(3)
    psi = rng.normal(size=space.dim) + 1j * rng.normal(size=space.dim)
    amp2 = rng.uniform(1.0, 40.0, 22)
    delta = rng.uniform(-30.0, 30.0, 22)
    args = (psi, 0.3, amp2, delta, space._leak_ptr, space._leak_atom, space._leak_penalty)
    serial = kernels._leakage_serial(*args, False)
    threaded = kernels._leakage_parallel(*args, False)
    assert serial[0] > 0 and serial[1] > 0
    np.testing.assert_allclose(threaded, serial, rtol=1e-12)
    # a drive equal on every atom: the uniform path, threaded = serial too
    uni = (psi, 0.3, np.full(22, amp2[0]), np.full(22, delta[0]), *args[4:])
    np.testing.assert_allclose(
        kernels._leakage_parallel(*uni, True), kernels._leakage_serial(*uni, True), rtol=1e-12
    )
    with kernels.kernel_threads(2):
        np.testing.assert_allclose(kernels.leakage_sums(*args), serial, rtol=1e-12)
    # the estimate the simulator reports uses it: rate = √Σ, population capped at 1
    rate, pop = space.leakage(psi, np.sqrt(amp2) + 0j, delta, norm2=1 / 0.3)
    assert rate == pytest.approx(np.sqrt(serial[0]), rel=1e-12)
    assert pop == pytest.approx(min(1.0, serial[1]), rel=1e-12)
