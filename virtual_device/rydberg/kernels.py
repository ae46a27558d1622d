"""Compiled (numba) kernels for the simulator's hot loops.

Every kernel exists in a serial and a ``parallel=True`` form (separate functions, so numba's
on-disk cache never mixes them); :func:`pick` chooses by vector length and the thread count
set with :func:`kernel_threads`. All are compiled with ``cache=True``: the first call in a
fresh checkout compiles them (a few seconds), later processes load them from ``__pycache__``.

Conventions as in :mod:`virtual_device.rydberg.space`: atom i is bit n−1−i of a basis state
(first atom = most significant bit), 1 = Rydberg; a flip of atom i into |r⟩ carries c_i, into
|g⟩ carries c_i*.

The Lanczos steps are fused around the product (see :class:`~.integrator.Evolver`): with the
basis kept unnormalised (v = s·u),

* ``hpsi``: w = s·H u + c_prev·prev in one pass, returning ⟨u, w⟩;
* :func:`axpy_norm2`: w += a·u, returning ‖w‖²;
* :func:`combine4`: out (+)= Σ_k a_k u_k over four vectors at a time;
* :func:`lanczos_expm`: the whole Lanczos exponential (those steps, the small tridiagonal
  eigenproblem, the error estimate and the combination) in one compiled call, with the
  serial or (``par``) the threaded kernels.
* :func:`arnoldi_expm`: the same for the trajectories' non-Hermitian no-jump exponent (the
  decay −i·gam on the diagonal), with full Gram–Schmidt and :func:`expm_small`.

Blockade subspaces use the row-wise gather (:func:`subspace_hpsi`), or, for a chain whose
kept states are exactly those without two adjacent Rydberg atoms, the streaming product in
the Zeckendorf layout (:func:`chain_hpsi`, no index table), or, for a 2D array whose rows
are layers, the layered streaming product (:mod:`.layered`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import numba
import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

from virtual_device.rydberg.layered import (
    _layer_hpsi_parallel,
    _layer_hpsi_serial,
    any_nonzero,
    finish_rows,
    layered_coeffs,
)

__all__ = [
    "CHUNK_BITS",
    "PARALLEL_MIN",
    "AdaptiveThreads",
    "arnoldi_expm",
    "axpy_norm2",
    "chain_hpsi",
    "chain_krylov_args",
    "chain_plan",
    "combine4",
    "expm_small",
    "full_diag",
    "full_hpsi",
    "kernel_threads",
    "lanczos_expm",
    "qutrit_hpsi",
    "qutrit_krylov_args",
    "subspace_hpsi",
]

CHUNK_BITS = 14  # 2^14 amplitudes = 256 KiB: input and output chunks sit in a 1 MiB L2
PARALLEL_MIN = 1 << 15  # shorter vectors are not worth waking threads for
_BLOCK = 1 << 14  # rows per parallel task in the row-wise kernels
_L1_BITS = 9  # 2^9 amplitudes: x, A and B sub-blocks of 8 KiB each sit in L1


# -- thread control ------------------------------------------------------------------------
_threads = 1
_adaptive = False


@contextmanager
def kernel_threads(n: int | Literal["auto"] | None) -> Iterator[None]:
    """Run the kernels with ``n`` threads inside the block (``None``: numba's default).

    ``"auto"``: the integrator's compiled Lanczos loop chooses between the serial and the
    threaded kernels (numba's default count) by measuring both as it goes (see
    :class:`AdaptiveThreads`); everything else runs serially.
    """
    global _threads, _adaptive
    old, old_adaptive, old_numba = _threads, _adaptive, numba.get_num_threads()
    limit = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    adaptive = n == "auto"
    want = limit if n is None or adaptive else max(1, min(int(n), limit))
    _threads, _adaptive = (1, limit > 1) if adaptive else (want, False)
    if want > 1:
        numba.set_num_threads(want)
    try:
        yield
    finally:
        _threads, _adaptive = old, old_adaptive
        if want > 1:
            numba.set_num_threads(old_numba)


def parallel_for(dim: int) -> bool:
    """Whether a vector of ``dim`` amplitudes goes to the threaded kernels."""
    return _threads > 1 and dim >= PARALLEL_MIN


def adaptive_for(dim: int) -> bool:
    """Whether the serial/threaded choice for ``dim`` amplitudes is left to measurement."""
    return _adaptive and dim >= PARALLEL_MIN


class AdaptiveThreads:
    """Chooses serial or threaded kernels call by call, from measured seconds per product.

    Each option keeps an exponential moving average of its cost per product; the cheaper one
    is used, the other is re-measured every ``explore``-th call, so a machine whose load
    changes (a second job taking a core makes threads twice as slow on two cores) is
    followed within a few calls. Costs at most ~1/``explore`` of the time against always
    choosing right.
    """

    def __init__(self, explore: int = 16, warmup: int = 3, weight: float = 0.3) -> None:
        self.explore, self.warmup, self.weight = explore, warmup, weight
        self.cost: dict[bool, float] = {}
        self.seen = {False: 0, True: 0}
        self.calls = 0

    def choose(self) -> bool:
        """True: use the threaded kernels for the next call."""
        self.calls += 1
        for opt in (False, True):
            if self.seen[opt] < self.warmup:
                return opt
        best = self.cost[True] < self.cost[False]
        return (not best) if self.calls % self.explore == 0 else best

    def record(self, threaded: bool, seconds: float, products: int) -> None:
        """Account one call's wall time over its number of products."""
        if products <= 0:
            return
        c = seconds / products
        old = self.cost.get(threaded)
        self.cost[threaded] = c if old is None else old + self.weight * (c - old)
        self.seen[threaded] += 1


# -- full space ----------------------------------------------------------------------------
@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _full_chunk(
    u: NDArray[np.complex128],
    s: float,
    prev: NDArray[np.complex128],
    cprev: float,
    diag: NDArray[np.float64],
    up: NDArray[np.complex128],
    down: NDArray[np.complex128],
    out: NDArray[np.complex128],
    base: int,
    cbits: int,
    n: int,
) -> complex:
    """out[base:base+2^cbits] = s·(H u) + cprev·prev on one chunk; returns ⟨u, out⟩ there.

    ``up[p]`` / ``down[p]``: coefficient of the flip of bit p into 1 / into 0.
    """
    size = 1 << cbits
    for t in range(base, base + size):
        out[t] = diag[t] * u[t]
    # flips inside the chunk: pairs (t, t + b) with bit p of t clear
    if cbits > 0 and (up[0] != 0 or down[0] != 0):
        a, c = up[0], down[0]
        for t in range(base, base + size, 2):
            x0 = u[t]
            x1 = u[t + 1]
            out[t] += c * x1
            out[t + 1] += a * x0
    if cbits > 1 and (up[1] != 0 or down[1] != 0):
        a, c = up[1], down[1]
        for t in range(base, base + size, 4):
            x0 = u[t]
            x1 = u[t + 1]
            x2 = u[t + 2]
            x3 = u[t + 3]
            out[t] += c * x2
            out[t + 1] += c * x3
            out[t + 2] += a * x0
            out[t + 3] += a * x1
    for p in range(2, cbits):
        a, c = up[p], down[p]
        if a == 0 and c == 0:
            continue
        b = 1 << p
        for blk in range(base, base + size, 2 * b):
            for t in range(blk, blk + b):
                out[t] += c * u[t + b]
                out[t + b] += a * u[t]
    # flips of the high bits: the partner chunk, one contiguous stream per bit
    for p in range(cbits, n):
        b = 1 << p
        k = up[p] if base & b else down[p]
        if k == 0:
            continue
        other = base ^ b
        for t in range(size):
            out[base + t] += k * u[other + t]
    dot = 0j
    for t in range(base, base + size):
        w = s * out[t] + cprev * prev[t]
        out[t] = w
        dot += np.conj(u[t]) * w
    return dot


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _radix2(x, au, ad, b2):
    """A, B += the flips of bit p (b2 = 2 << p floats) in one pass."""
    for blk in range(0, len(x), 2 * b2):
        a_hi = au[blk + b2 : blk + 2 * b2]
        x_lo = x[blk : blk + b2]
        d_lo = ad[blk : blk + b2]
        x_hi = x[blk + b2 : blk + 2 * b2]
        for f in range(b2):
            a_hi[f] += x_lo[f]
            d_lo[f] += x_hi[f]


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _bit_passes(x, au, ad, p_lo, p_hi):
    """A, B += the flips of bits p_lo..p_hi−1, one pass per bit.

    (Three bits per pass, 14 instead of 24 stores per 8 floats, measured no faster.)
    """
    for p in range(p_lo, p_hi):
        _radix2(x, au, ad, 2 << p)


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _uniform_chunk(uf, s, pf, cprev, diag, cr, ci, of, base, cbits, n, acc_up, acc_dn):
    """As :func:`_full_chunk` for one coefficient c on every atom, on float64 views.

    Σ_i (c σ⁺_i + c* σ⁻_i) u = c·A + c*·B with A (B) the sum of u over the neighbours that
    raise (lower) into each amplitude: the flips are additions only, which vectorise on
    the interleaved (re, im) floats; c enters once per amplitude at the end.
    """
    fs = 2 << cbits  # floats in the chunk
    f0 = 2 * base
    # (loops over slice views: LLVM vectorises these, not the same loops on offset indices)
    x = uf[f0 : f0 + fs]
    p_start = 0
    if cbits >= 4:
        # Sub-blocks of 2^_L1_BITS amplitudes (x, A, B: 8 KiB each, in L1): the four lowest
        # bits in registers, sixteen amplitudes at a time (A, B assigned, no zeroing pass),
        # then the next bits up to _L1_BITS while the sub-block is still in L1.
        lb = min(_L1_BITS, cbits)
        p_start = lb
        fsb = 2 << lb
        for sb in range(0, fs, fsb):
            xs = x[sb : sb + fsb]
            au = acc_up[sb : sb + fsb]
            ad = acc_dn[sb : sb + fsb]
            for g in range(0, fsb, 32):
                for r in range(2):  # real, imaginary floats
                    q = g + r
                    x0 = xs[q]
                    x1 = xs[q + 2]
                    x2 = xs[q + 4]
                    x3 = xs[q + 6]
                    x4 = xs[q + 8]
                    x5 = xs[q + 10]
                    x6 = xs[q + 12]
                    x7 = xs[q + 14]
                    x8 = xs[q + 16]
                    x9 = xs[q + 18]
                    x10 = xs[q + 20]
                    x11 = xs[q + 22]
                    x12 = xs[q + 24]
                    x13 = xs[q + 26]
                    x14 = xs[q + 28]
                    x15 = xs[q + 30]
                    au[q] = 0.0
                    au[q + 2] = x0
                    au[q + 4] = x0
                    au[q + 6] = x2 + x1
                    au[q + 8] = x0
                    au[q + 10] = x4 + x1
                    au[q + 12] = x4 + x2
                    au[q + 14] = x6 + x5 + x3
                    au[q + 16] = x0
                    au[q + 18] = x8 + x1
                    au[q + 20] = x8 + x2
                    au[q + 22] = x10 + x9 + x3
                    au[q + 24] = x8 + x4
                    au[q + 26] = x12 + x9 + x5
                    au[q + 28] = x12 + x10 + x6
                    au[q + 30] = x14 + x13 + x11 + x7
                    ad[q] = x1 + x2 + x4 + x8
                    ad[q + 2] = x3 + x5 + x9
                    ad[q + 4] = x3 + x6 + x10
                    ad[q + 6] = x7 + x11
                    ad[q + 8] = x5 + x6 + x12
                    ad[q + 10] = x7 + x13
                    ad[q + 12] = x7 + x14
                    ad[q + 14] = x15
                    ad[q + 16] = x9 + x10 + x12
                    ad[q + 18] = x11 + x13
                    ad[q + 20] = x11 + x14
                    ad[q + 22] = x15
                    ad[q + 24] = x13 + x14
                    ad[q + 26] = x15
                    ad[q + 28] = x15
                    ad[q + 30] = 0.0
            _bit_passes(xs, au, ad, 4, lb)
    else:
        acc_up[:fs] = 0.0
        acc_dn[:fs] = 0.0
        if cbits > 0:
            p_start = 1
            for f in range(0, fs, 4):
                acc_up[f + 2] += x[f]
                acc_up[f + 3] += x[f + 1]
                acc_dn[f] += x[f + 2]
                acc_dn[f + 1] += x[f + 3]
    _bit_passes(x, acc_up, acc_dn, max(1, p_start), cbits)
    for p in range(cbits, n):
        b = 1 << p
        o2 = 2 * (base ^ b)
        y = uf[o2 : o2 + fs]
        acc = acc_up if base & b else acc_dn
        for f in range(fs):
            acc[f] += y[f]
    dr = 0.0
    di = 0.0
    pv = pf[f0 : f0 + fs]
    ov = of[f0 : f0 + fs]
    dg = diag[base : base + (fs >> 1)]
    for t in range(fs >> 1):
        f = 2 * t
        xr = x[f]
        xi = x[f + 1]
        d = dg[t]
        sr = acc_up[f] + acc_dn[f]
        si = acc_up[f + 1] + acc_dn[f + 1]
        mr = acc_up[f] - acc_dn[f]
        mi = acc_up[f + 1] - acc_dn[f + 1]
        wr = s * (d * xr + cr * sr - ci * mi) + cprev * pv[f]
        wi = s * (d * xi + cr * si + ci * mr) + cprev * pv[f + 1]
        ov[f] = wr
        ov[f + 1] = wi
        dr += xr * wr + xi * wi
        di += xr * wi - xi * wr
    return complex(dr, di)


@njit(cache=True, fastmath=True, error_model="numpy")
def _uniform_hpsi_serial(uf, s, pf, cprev, diag, cr, ci, of, n, cbits):
    cb = min(cbits, n)
    acc_up = np.empty(2 << cb)
    acc_dn = np.empty(2 << cb)
    dot = 0j
    for ch in range((1 << n) >> cb):
        dot += _uniform_chunk(uf, s, pf, cprev, diag, cr, ci, of, ch << cb, cb, n, acc_up, acc_dn)
    return dot


@njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def _uniform_hpsi_parallel(uf, s, pf, cprev, diag, cr, ci, of, n, cbits):
    cb = min(cbits, n)
    n_chunks = (1 << n) >> cb
    dots = np.zeros(n_chunks, dtype=np.complex128)
    for ch in prange(n_chunks):
        acc_up = np.empty(2 << cb)
        acc_dn = np.empty(2 << cb)
        dots[ch] = _uniform_chunk(
            uf, s, pf, cprev, diag, cr, ci, of, ch << cb, cb, n, acc_up, acc_dn
        )
    return dots.sum()


def _flip_tables(
    coeffs: NDArray[np.complex128], n: int
) -> tuple[NDArray[np.complex128], NDArray[np.complex128]]:
    """Per bit position: coefficient of the flip into |r⟩ and into |g⟩."""
    up = np.ascontiguousarray(coeffs[::-1], dtype=np.complex128)
    return up, np.conj(up)


@njit(cache=True, fastmath=True, error_model="numpy")
def _full_hpsi_serial(u, s, prev, cprev, diag, up, down, out, n, cbits):
    cb = min(cbits, n)
    dot = 0j
    for ch in range((1 << n) >> cb):
        dot += _full_chunk(u, s, prev, cprev, diag, up, down, out, ch << cb, cb, n)
    return dot


@njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def _full_hpsi_parallel(u, s, prev, cprev, diag, up, down, out, n, cbits):
    cb = min(cbits, n)
    n_chunks = (1 << n) >> cb
    dots = np.zeros(n_chunks, dtype=np.complex128)
    for ch in prange(n_chunks):
        dots[ch] = _full_chunk(u, s, prev, cprev, diag, up, down, out, ch << cb, cb, n)
    return dots.sum()


def full_hpsi(
    u: NDArray[np.complex128],
    s: float,
    prev: NDArray[np.complex128],
    cprev: float,
    diag: NDArray[np.float64],
    coeffs: NDArray[np.complex128],
    out: NDArray[np.complex128],
    chunk_bits: int = CHUNK_BITS,
) -> complex:
    """Set out = s·(diag + Σ_i (c_i σ⁺_i + h.c.)) u + cprev·prev over the 2^N space; ⟨u, out⟩.

    ``out`` must not alias ``u`` or ``prev``. The vector is processed in chunks of
    2^chunk_bits amplitudes: flips of the low bits stay inside the chunk (in cache), each
    higher bit streams the partner chunk once.
    """
    n = len(coeffs)
    par = parallel_for(len(u))
    if n > 0 and np.all(coeffs == coeffs[0]):  # a global drive: additions-only flips
        c = complex(coeffs[0])
        ukern = _uniform_hpsi_parallel if par else _uniform_hpsi_serial
        uf, pf, of = u.view(np.float64), prev.view(np.float64), out.view(np.float64)
        return complex(
            ukern(uf, float(s), pf, float(cprev), diag, c.real, c.imag, of, n, chunk_bits)
        )
    up, down = _flip_tables(coeffs, n)
    kern = _full_hpsi_parallel if par else _full_hpsi_serial
    return complex(kern(u, float(s), prev, float(cprev), diag, up, down, out, n, chunk_bits))


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _diag_rows(lo, hi, inter, v_scale, tables, states, out):
    n_groups = tables.shape[0]
    for k in range(lo, hi):
        x = states[k] if states.shape[0] > 0 else k
        acc = 0.0
        for g in range(n_groups):
            acc += tables[g, (x >> (8 * g)) & 255]
        out[k] = v_scale * inter[k] - acc


@njit(cache=True, fastmath=True, error_model="numpy")
def _diag_serial(inter, v_scale, tables, states, out):
    _diag_rows(0, len(out), inter, v_scale, tables, states, out)


@njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def _diag_parallel(inter, v_scale, tables, states, out):
    dim = len(out)
    for b in prange((dim + _BLOCK - 1) // _BLOCK):
        _diag_rows(b * _BLOCK, min(dim, (b + 1) * _BLOCK), inter, v_scale, tables, states, out)


def byte_tables(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """tables[g, byte] = Σ of values_i over the atoms whose bits are set in byte g of a state."""
    n = len(values)
    n_groups = max(1, (n + 7) // 8)
    tables = np.zeros((n_groups, 256))
    byte = np.arange(256)
    for i, v in enumerate(values):
        p = n - 1 - i
        tables[p // 8] += v * ((byte >> (p % 8)) & 1)
    return tables


def full_diag(
    inter: NDArray[np.float64],
    v_scale: float,
    delta: NDArray[np.float64],
    out: NDArray[np.float64],
    states: NDArray[np.int64] | None = None,
) -> NDArray[np.float64]:
    """Set out = v_scale·inter − Σ_i δ_i n_i, over 0..dim−1 or over ``states``."""
    st = np.zeros(0, dtype=np.int64) if states is None else states
    kern = _diag_parallel if parallel_for(len(out)) else _diag_serial
    kern(inter, float(v_scale), byte_tables(np.asarray(delta, dtype=np.float64)), st, out)
    return out


# -- Lanczos vector operations -------------------------------------------------------------
@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _axpy_norm2_rows(lo, hi, w, a, u):
    acc = 0.0
    for k in range(lo, hi):
        x = w[k] + a * u[k]
        w[k] = x
        acc += x.real * x.real + x.imag * x.imag
    return acc


@njit(cache=True, fastmath=True, error_model="numpy")
def _axpy_norm2_serial(w, a, u):
    return _axpy_norm2_rows(0, len(w), w, a, u)


@njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def _axpy_norm2_parallel(w, a, u):
    dim = len(w)
    nb = (dim + _BLOCK - 1) // _BLOCK
    parts = np.zeros(nb)
    for b in prange(nb):
        parts[b] = _axpy_norm2_rows(b * _BLOCK, min(dim, (b + 1) * _BLOCK), w, a, u)
    return parts.sum()


def axpy_norm2(w: NDArray[np.complex128], a: float, u: NDArray[np.complex128]) -> float:
    """W += a·u in place; returns ‖w‖² (after the update)."""
    kern = _axpy_norm2_parallel if parallel_for(len(w)) else _axpy_norm2_serial
    return float(kern(w, float(a), u))


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _combine4_rows(lo, hi, out, acc, a, u0, u1, u2, u3):
    a0, a1, a2, a3 = a[0], a[1], a[2], a[3]
    if acc:
        for k in range(lo, hi):
            out[k] += a0 * u0[k] + a1 * u1[k] + a2 * u2[k] + a3 * u3[k]
    else:
        for k in range(lo, hi):
            out[k] = a0 * u0[k] + a1 * u1[k] + a2 * u2[k] + a3 * u3[k]


@njit(cache=True, fastmath=True, error_model="numpy")
def _combine4_serial(out, acc, a, u0, u1, u2, u3):
    _combine4_rows(0, len(out), out, acc, a, u0, u1, u2, u3)


@njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def _combine4_parallel(out, acc, a, u0, u1, u2, u3):
    dim = len(out)
    for b in prange((dim + _BLOCK - 1) // _BLOCK):
        _combine4_rows(b * _BLOCK, min(dim, (b + 1) * _BLOCK), out, acc, a, u0, u1, u2, u3)


def combine4(
    out: NDArray[np.complex128],
    coeffs: NDArray[np.complex128],
    vectors: list[NDArray[np.complex128]],
) -> NDArray[np.complex128]:
    """Set out = Σ_k coeffs[k]·vectors[k], four vectors per pass over memory."""
    kern = _combine4_parallel if parallel_for(len(out)) else _combine4_serial
    for lo in range(0, len(vectors), 4):
        vs = vectors[lo : lo + 4]
        a = np.zeros(4, dtype=np.complex128)
        a[: len(vs)] = coeffs[lo : lo + 4]
        vs = vs + [vs[-1]] * (4 - len(vs))  # padding with a zero weight: same cache lines
        kern(out, lo > 0, a, vs[0], vs[1], vs[2], vs[3])
    return out


# -- blockade subspace ---------------------------------------------------------------------
ENTRY_SHIFT = 7  # packed neighbour entry: index << 7 | (1 if the flip lowers) << 6 | atom


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _sub_block(lo, hi, u, s, prev, cprev, diag, table, indptr, ent, out):
    dot = 0j
    tag, shift = np.uint64(127), np.uint64(ENTRY_SHIFT)
    for k in range(lo, hi):
        # two accumulators, entries in pairs: two independent chains of complex adds (the
        # 6x6 symmetric sector's product 5-11 % faster than one, interleaved)
        acc = diag[k] * u[k]
        acc1 = 0j
        e, end = indptr[k], indptr[k + 1]
        while e + 1 < end:
            # unsigned: no negative-index wrap-around test per gather (20–40 % faster)
            x, y = np.uint64(ent[e]), np.uint64(ent[e + 1])
            acc += table[x & tag] * u[x >> shift]
            acc1 += table[y & tag] * u[y >> shift]
            e += 2
        if e < end:
            x = np.uint64(ent[e])
            acc += table[x & tag] * u[x >> shift]
        w = s * (acc + acc1) + cprev * prev[k]  # prev[k] is read before out[k] is written
        out[k] = w
        dot += np.conj(u[k]) * w
    return dot


@njit(cache=True, fastmath=True, error_model="numpy")
def _sub_hpsi_serial(u, s, prev, cprev, diag, table, indptr, ent, out):
    return _sub_block(0, len(out), u, s, prev, cprev, diag, table, indptr, ent, out)


@njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def _sub_hpsi_parallel(u, s, prev, cprev, diag, table, indptr, ent, out):
    dim = len(out)
    nb = (dim + _BLOCK - 1) // _BLOCK
    dots = np.zeros(nb, dtype=np.complex128)
    for b in prange(nb):
        dots[b] = _sub_block(
            b * _BLOCK, min(dim, (b + 1) * _BLOCK), u, s, prev, cprev, diag, table, indptr, ent, out
        )
    return dots.sum()


def subspace_table(coeffs: NDArray[np.complex128]) -> NDArray[np.complex128]:
    """Coefficient per packed entry tag: [atom] raises into the row, [64 + atom] lowers."""
    table = np.zeros(128, dtype=np.complex128)
    table[: len(coeffs)] = coeffs
    table[64 : 64 + len(coeffs)] = np.conj(coeffs)
    return table


def subspace_hpsi(
    u: NDArray[np.complex128],
    s: float,
    prev: NDArray[np.complex128],
    cprev: float,
    diag: NDArray[np.float64],
    table: NDArray[np.complex128],
    indptr: NDArray[np.int64],
    ent: NDArray[Any],
    out: NDArray[np.complex128],
) -> complex:
    """Row-wise: out = s·H u + cprev·prev over the kept states; returns ⟨u, out⟩.

    Row k gathers its kept single-flip neighbours from ``ent[indptr[k]:indptr[k+1]]``
    (packed as index << 7 | tag, ``table[tag]`` the flip's coefficient). ``prev`` may be
    ``out`` itself; ``u`` must not.
    """
    kern = _sub_hpsi_parallel if parallel_for(len(u)) else _sub_hpsi_serial
    return complex(kern(u, float(s), prev, float(cprev), diag, table, indptr, ent, out))


@njit(cache=True, error_model="numpy")
def enumerate_states(n, tables, cutoff, blocked):
    """Sorted states whose interaction energy is ≤ cutoff, and their energies.

    Atoms are appended most significant first; ``tables[k, g, byte]`` = Σ_{j<k} V_jk over
    the atoms j set in byte g. Emitting each kept state s followed by s | bit_k keeps the
    list sorted at every level (bit_k is below every bit set so far). ``blocked`` (one mask
    per atom, or empty): the pair rule instead — atom k may join a state only if none of the
    atoms in ``blocked[k]`` (those j < k with V_jk above the cutoff) is set; the energy is
    then not bounded.
    """
    states = np.zeros(1, dtype=np.int64)
    energy = np.zeros(1)
    n_groups = tables.shape[1]
    pair = len(blocked) > 0
    for k in range(n):
        bit = np.int64(1) << (n - 1 - k)
        m = len(states)
        e1 = np.empty(m)
        ok = np.empty(m, dtype=np.bool_)
        count = m
        for a in range(m):
            x = states[a]
            add = 0.0
            for g in range(n_groups):
                add += tables[k, g, (x >> (8 * g)) & 255]
            e1[a] = energy[a] + add
            ok[a] = (x & blocked[k]) == 0 if pair else e1[a] <= cutoff
            if ok[a]:
                count += 1
        new_states = np.empty(count, dtype=np.int64)
        new_energy = np.empty(count)
        j = 0
        for a in range(m):
            new_states[j] = states[a]
            new_energy[j] = energy[a]
            j += 1
            if ok[a]:
                new_states[j] = states[a] | bit
                new_energy[j] = e1[a]
                j += 1
        states, energy = new_states, new_energy
    return states, energy


@njit(cache=True, error_model="numpy")
def _raise_partner(states, bit, partner):
    """partner[k] = index of states[k] | bit if bit is clear and that state is kept, else −1.

    ``states`` is sorted, and so are the raised states: a merge walk, no search.
    """
    dim = len(states)
    p = 0
    for k in range(dim):
        x = states[k]
        if x & bit:
            partner[k] = -2  # bit set: a lowering flip, always kept
            continue
        target = x | bit
        while p < dim and states[p] < target:
            p += 1
        partner[k] = p if p < dim and states[p] == target else -1


@njit(cache=True, error_model="numpy")
def _neighbour_counts(states, n, kept):
    """Per-row counts of kept flips (if ``kept``; else left 0) and of leaky flips, as CSR."""
    dim = len(states)
    partner = np.empty(dim, dtype=np.int64)
    count = np.zeros(dim + 1, dtype=np.int64)
    leak_count = np.zeros(dim + 1, dtype=np.int64)
    for i in range(n):
        _raise_partner(states, np.int64(1) << (n - 1 - i), partner)
        for k in range(dim):
            q = partner[k]
            if q >= 0:
                if not kept:
                    continue
                count[k + 1] += 1  # raising out of row k, kept
                count[q + 1] += 1  # and the lowering back into row k from q
            elif q == -1:
                leak_count[k + 1] += 1
    for k in range(dim):
        count[k + 1] += count[k]
        leak_count[k + 1] += leak_count[k]
    return count, leak_count


@njit(cache=True, error_model="numpy")
def _neighbour_fill(states, n, count, leak_count, ent, leak_atom, kept):
    """Fill ``ent`` (kept flips, if ``kept``) and ``leak_atom`` (leaky flips) row by row."""
    dim = len(states)
    partner = np.empty(dim, dtype=np.int64)  # recomputed here: O(dim) memory, not O(N·dim)
    fill = count[:dim].copy()
    lfill = leak_count[:dim].copy()
    for i in range(n):
        _raise_partner(states, np.int64(1) << (n - 1 - i), partner)
        for k in range(dim):
            q = partner[k]
            if q >= 0:
                if not kept:
                    continue
                # row k gains from q by lowering atom i (tag 64 + i); row q by raising (tag i)
                ent[fill[k]] = (q << ENTRY_SHIFT) | (64 + i)
                fill[k] += 1
                ent[fill[q]] = (np.int64(k) << ENTRY_SHIFT) | i
                fill[q] += 1
            elif q == -1:
                leak_atom[lfill[k]] = i
                lfill[k] += 1


def neighbour_lists(
    states: NDArray[np.int64], n: int
) -> tuple[NDArray[np.int64], NDArray[Any], NDArray[np.int64], NDArray[np.int8]]:
    """Packed kept-flip neighbours per row (CSR) and the leaky flips per row.

    Returns (indptr, ent, leak_ptr, leak_atom): ``ent`` as described in
    :func:`subspace_hpsi` (int32 while the packed index fits, else int64), ``leak_atom`` the
    atoms whose raising flip from the row leaves the kept set, rows ``leak_ptr[k]:leak_ptr[k+1]``.
    """
    count, leak_count = _neighbour_counts(states, n, True)
    wide = len(states) >= 1 << (31 - ENTRY_SHIFT)
    ent = np.empty(int(count[-1]), dtype=np.int64 if wide else np.int32)
    leak_atom = np.empty(int(leak_count[-1]), dtype=np.int8)
    _neighbour_fill(states, n, count, leak_count, ent, leak_atom, True)
    return count, ent, leak_count, leak_atom


@njit(cache=True, fastmath=True, error_model="numpy")
def leak_penalties(states, leak_ptr, leak_atom, tables):
    """Interaction-energy cost Σ_j V_ij n_j of each leaky flip (``tables[i, g, byte]``)."""
    out = np.empty(len(leak_atom), dtype=np.float32)
    n_groups = tables.shape[1]
    for k in range(len(states)):
        x = states[k]
        for e in range(leak_ptr[k], leak_ptr[k + 1]):
            i = leak_atom[e]
            acc = 0.0
            for g in range(n_groups):
                acc += tables[i, g, (x >> (8 * g)) & 255]
            out[e] = acc
    return out


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _leakage_general_rows(lo, hi, psi, inv_norm2, amp2, delta, leak_ptr, leak_atom, penalty):
    rate2 = 0.0
    pop = 0.0
    for k in range(lo, hi):
        e0, e1 = leak_ptr[k], leak_ptr[k + 1]
        if e0 == e1:
            continue
        src = (psi[k].real ** 2 + psi[k].imag ** 2) * inv_norm2
        for e in range(e0, e1):
            i = leak_atom[e]
            amp = amp2[i] * src
            rate2 += amp
            pen = abs(penalty[e] - delta[i])
            pen = max(pen, 1e-12)
            pop += min(amp / (pen * pen), src)
    return rate2, pop


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _leakage_uniform_rows(lo, hi, psi, inv_norm2, a2, d, leak_ptr, penalty):
    """As :func:`_leakage_general_rows` for a drive equal on every atom (|c|² = a2, δ = d).

    Per row, Σ_e min(a2/ΔE_e², 1) over its contiguous penalties (no per-entry atom lookup;
    in float32, as the penalties are stored, so the inner loop vectorises 8 wide, divisions
    included) times the row's |ψ|²; the rate is the row's count of leaky flips times a2 |ψ|².
    """
    rate2 = 0.0
    pop = 0.0
    a32, d32 = np.float32(a2), np.float32(d)
    tiny, one = np.float32(1e-12), np.float32(1.0)
    for k in range(lo, hi):
        e0, e1 = leak_ptr[k], leak_ptr[k + 1]
        if e0 == e1:
            continue
        src = (psi[k].real ** 2 + psi[k].imag ** 2) * inv_norm2
        part = np.float32(0.0)
        for e in range(e0, e1):  # float32 (the penalties are): 8 lanes; an estimate
            pen = max(abs(penalty[e] - d32), tiny)
            part += min(a32 / (pen * pen), one)
        rate2 += (e1 - e0) * src
        pop += part * src
    return rate2 * a2, pop


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _leakage_rows(lo, hi, psi, inv_norm2, amp2, delta, leak_ptr, leak_atom, penalty, uniform):
    if uniform:
        return _leakage_uniform_rows(
            lo, hi, psi, inv_norm2, amp2[0], delta[0], leak_ptr, penalty
        )  # fmt: skip
    return _leakage_general_rows(lo, hi, psi, inv_norm2, amp2, delta, leak_ptr, leak_atom, penalty)


@njit(cache=True, fastmath=True, error_model="numpy")
def _leakage_serial(psi, inv_norm2, amp2, delta, leak_ptr, leak_atom, penalty, uniform):
    return _leakage_rows(
        0, len(psi), psi, inv_norm2, amp2, delta, leak_ptr, leak_atom, penalty, uniform
    )  # fmt: skip


@njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def _leakage_parallel(psi, inv_norm2, amp2, delta, leak_ptr, leak_atom, penalty, uniform):
    dim = len(psi)
    nb = (dim + _BLOCK - 1) // _BLOCK
    parts = np.zeros((nb, 2))
    for b in prange(nb):
        lo = b * _BLOCK
        r, p = _leakage_rows(
            lo, min(dim, lo + _BLOCK), psi, inv_norm2, amp2, delta, leak_ptr, leak_atom, penalty,
            uniform,
        )  # fmt: skip
        parts[b, 0] = r
        parts[b, 1] = p
    return parts[:, 0].sum(), parts[:, 1].sum()


def leakage_sums(
    psi: NDArray[np.complex128],
    inv_norm2: float,
    amp2: NDArray[np.float64],
    delta: NDArray[np.float64],
    leak_ptr: NDArray[np.int64],
    leak_atom: NDArray[Any],
    penalty: NDArray[np.float32],
) -> tuple[float, float]:
    """(Σ |c_i ψ_a|², Σ min(|c_i ψ_a / ΔE|², |ψ_a|²)) over leaky flips, ψ scaled to norm 1.

    Threaded for long vectors whenever the simulation may use threads (also under
    ``threads="auto"``: one call per accepted block, ≈ 0.1 s serially on the 30-chain).
    """
    threaded = (_threads > 1 or _adaptive) and len(psi) >= PARALLEL_MIN
    # a drive equal on every atom (a global channel's): no per-entry atom lookup and
    # float32 sums, ≈ 2-3× faster on the 6x6 sector
    uniform = bool(len(amp2)) and bool(np.all(amp2 == amp2[0]) and np.all(delta == delta[0]))
    kern = _leakage_parallel if threaded else _leakage_serial
    r, p = kern(psi, float(inv_norm2), amp2, delta, leak_ptr, leak_atom, penalty, uniform)
    return float(r), float(p)


@njit(cache=True, fastmath=True, error_model="numpy")
def bit_sums(states, n, weights):
    """Σ_k weights[k]·bits(states[k]): per-atom sums (occupations from probabilities)."""
    out = np.zeros(n)
    for k in range(len(states)):
        x = states[k]
        w = weights[k]
        for i in range(n):
            if (x >> (n - 1 - i)) & 1:
                out[i] += w
    return out


def leak_lists(states: NDArray[np.int64], n: int) -> tuple[NDArray[np.int64], NDArray[np.int8]]:
    """The leaky flips per row alone: (leak_ptr, leak_atom) exactly as :func:`neighbour_lists`.

    For spaces whose product needs no neighbour lists (the chain layout): the same passes,
    with the kept flips skipped.
    """
    count, leak_count = _neighbour_counts(states, n, False)
    leak_atom = np.empty(int(leak_count[-1]), dtype=np.int8)
    _neighbour_fill(states, n, count, leak_count, np.empty(0, np.int32), leak_atom, False)
    return leak_count, leak_atom


# -- blockade subspace of a 1D chain: the Fibonacci (Zeckendorf) layout --------------------
# When the kept states are exactly the bit strings without two adjacent 1s (a chain whose
# atoms are numbered along it, nearest neighbours blockaded), the sorted rank of a state is
# its Zeckendorf value Σ_{p set} F(p+2) (bit position p = n−1−atom, F(1) = F(2) = 1). The
# space of the lowest L positions is S(L) = [S(L−1) | S(L−2)] (position L−1 clear, then set
# with L−2 clear, at offset F(L+1)), and the flip of position L−1 couples b+k with
# b+F(L+1)+k for k < F(L): contiguous streams at constant offsets, no index table.
#
# The product runs leaf by leaf over blocks S(L) of CHAIN_LEAF_BITS (or one fewer)
# positions, output-stationary: a leaf's accumulator (in L2) gets the diagonal, the flips of
# its own positions (streams down to blocks of 13 or 8 states, then straight-line code), and
# from every other position whose flip maps the whole leaf onto another block, that block
# streamed in (four at a time); then out = s·acc + c_prev·prev and ⟨u, out⟩ in one pass.
# The drive c σ⁺ + c* σ⁻ is split as Re c·(σ⁺ + σ⁻) + i·Im c·(σ⁺ − σ⁻): real coefficients
# on interleaved (re, im) floats vectorise without shuffles, and for a real drive (a global
# channel at phase 0) the second accumulator is skipped altogether.
CHAIN_LEAF_BITS = 19  # F(21) = 10946 states: u block + accumulator(s) 350 (525) KiB, in L2
_CHAIN_MICRO = 5  # blocks S(5) (13 states) and S(4) (8 states): straight-line code
# header of the packed plan (:func:`chain_plan`), then per leaf type (L0 and L0 − 1):
# L, then (offset, count) of its streams, S(5) blocks, S(4) blocks and smaller blocks
_CP_N, _CP_NLEAF, _CP_LEAVES, _CP_G4P, _CP_G4, _CP_G1P, _CP_G1, _CP_FIB, _CP_MAXLEAF = range(9)
_CP_TYPES = 9
_CP_TYPE_SLOTS = 9
_CP_HEADER = _CP_TYPES + 2 * _CP_TYPE_SLOTS


def fibonacci(m: int) -> NDArray[np.int64]:
    """F(0) … F(m−1) with F(0) = 0, F(1) = F(2) = 1."""
    f = np.zeros(max(m, 2), dtype=np.int64)
    f[1] = 1
    for i in range(2, m):
        f[i] = f[i - 1] + f[i - 2]
    return f[:m]


def is_chain_space(states: NDArray[np.int64], n: int) -> bool:
    """Whether ``states`` are exactly the n-bit strings without two adjacent 1s.

    They are if none has two adjacent bits set and there are F(n+2) of them (a subset of
    that size is the whole set).
    """
    if n < 1 or n > 62 or len(states) != int(fibonacci(n + 3)[n + 2]):
        return False
    return not np.any(states & (states >> 1))


def _chain_leaves(n: int, leaf_bits: int, fib: NDArray[np.int64]) -> list[tuple[int, int, int]]:
    """Leaves (L, offset, bits above L) of the recursion S(L) = [S(L−1) | S(L−2)], in order."""
    leaves = []
    stack = [(n, 0, 0)]
    while stack:
        level, b, pre = stack.pop()
        if level <= leaf_bits:
            leaves.append((level, b, pre))
            continue
        stack.append((level - 2, b + int(fib[level + 1]), pre | (1 << (level - 1))))
        stack.append((level - 1, b, pre))
    return leaves


def _chain_block_flips(
    n: int, level: int, b: int, pre: int, fib: NDArray[np.int64]
) -> list[tuple[int, int, int]]:
    """(source offset, length, tag) of the flips that map leaf S(level) at b onto a block.

    Tags as in :func:`subspace_table` (atom: raises into the row, 64 + atom: lowers). The
    flip of position ``level`` (clear in the leaf) reaches only the leaf's first F(level+1)
    states (those with position level−1 clear); every higher position maps the whole leaf.
    """

    def bit(q: int) -> int:
        return (pre >> q) & 1 if 0 <= q < n else 0

    out = []
    if level < n and not bit(level + 1):
        out.append((b + int(fib[level + 2]), int(fib[level + 1]), 64 + n - 1 - level))
    for p in range(level + 1, n):
        if bit(p):
            out.append((b - int(fib[p + 2]), int(fib[level + 2]), n - 1 - p))
        elif not bit(p - 1) and not bit(p + 1):
            out.append((b + int(fib[p + 2]), int(fib[level + 2]), 64 + n - 1 - p))
    return out


def _chain_leaf_nodes(
    level: int, fib: NDArray[np.int64]
) -> tuple[list[int], list[int], list[int], list[int]]:
    """One leaf type's own flips, each list in offset order.

    Streams (l, c) for the nodes S(l > 5), the blocks S(5) and S(4), and (l, c) for smaller
    blocks (the leaves of chains of ≤ 3 atoms).
    """
    streams: list[int] = []
    m5: list[int] = []
    m4: list[int] = []
    rest: list[int] = []
    stack = [(level, 0)]
    while stack:
        lv, c = stack.pop()
        if lv > _CHAIN_MICRO:
            streams += [lv, c]
            stack.append((lv - 2, c + int(fib[lv + 1])))
            stack.append((lv - 1, c))
        elif lv == 5:
            m5.append(c)
        elif lv == 4:
            m4.append(c)
        elif lv >= 1:
            rest += [lv, c]
    return streams, m5, m4, rest


def chain_plan(n: int, leaf_bits: int = CHAIN_LEAF_BITS) -> NDArray[np.int64]:
    """The chain product's whole schedule for n atoms, packed in one int64 array.

    Header (``_CP_*`` slots) with the offsets of: the leaves (L, offset), per leaf its block
    flips as groups of four full-length ones (source, tag × 4; tag −1 pads with a zero
    coefficient) and the partial one (source, length, tag), the Fibonacci numbers, and for
    the two leaf types their own flips.
    """
    fib = fibonacci(n + 6)
    leaf_bits = max(1, int(leaf_bits))
    leaves = _chain_leaves(n, leaf_bits, fib)
    g4: list[int] = []
    g4p = [0]
    g1: list[int] = []
    g1p = [0]
    for level, b, pre in leaves:
        flips = _chain_block_flips(n, level, b, pre, fib)
        full = [f for f in flips if f[1] == fib[level + 2]]
        full += [(b, 0, -1)] * (-len(full) % 4)  # padding: the leaf itself, coefficient 0
        for i in range(0, len(full), 4):
            g4 += [x for f in full[i : i + 4] for x in (f[0], f[2])]
        for f in flips:
            if f[1] != fib[level + 2]:
                g1 += list(f)
        g4p.append(len(g4) // 8)
        g1p.append(len(g1) // 3)
    top = max(level for level, _, _ in leaves)
    types = [top, max(top - 1, 0)]
    parts: list[list[int]] = [
        [x for level, b, _ in leaves for x in (level, b)],
        g4p,
        g4,
        g1p,
        g1,
        [int(f) for f in fib],
    ]
    per_type = [_chain_leaf_nodes(t, fib) for t in types]
    header = np.zeros(_CP_HEADER, dtype=np.int64)
    header[_CP_N] = n
    header[_CP_NLEAF] = len(leaves)
    header[_CP_MAXLEAF] = int(fib[top + 2])
    pos = _CP_HEADER
    for slot, part in zip(
        (_CP_LEAVES, _CP_G4P, _CP_G4, _CP_G1P, _CP_G1, _CP_FIB), parts, strict=True
    ):
        header[slot] = pos
        pos += len(part)
    for t, (level, lists) in enumerate(zip(types, per_type, strict=True)):
        base = _CP_TYPES + t * _CP_TYPE_SLOTS
        header[base] = level
        for j, (lst, width) in enumerate(zip(lists, (2, 1, 1, 2), strict=True)):
            header[base + 1 + 2 * j] = pos
            header[base + 2 + 2 * j] = len(lst) // width
            parts.append(lst)
            pos += len(lst)
    body = np.fromiter((x for part in parts for x in part), dtype=np.int64)
    return np.concatenate([header, body])


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _chain_stream(pa, qa, ua, lo, hi, m, x, y, both):
    """Node flip on float views: P[hi+k] += x·u[lo+k], P[lo+k] += x·u[hi+k] (Q: +y, −y)."""
    f0, f1, fm = 2 * lo, 2 * hi, 2 * m
    pl = pa[f0 : f0 + fm]
    ph = pa[f1 : f1 + fm]
    ul = ua[f0 : f0 + fm]
    uh = ua[f1 : f1 + fm]
    if both:
        ql = qa[f0 : f0 + fm]
        qh = qa[f1 : f1 + fm]
        for f in range(fm):
            a = ul[f]
            b = uh[f]
            ph[f] += x * a
            pl[f] += x * b
            qh[f] += y * a
            ql[f] -= y * b
    else:
        for f in range(fm):
            a = ul[f]
            b = uh[f]
            ph[f] += x * a
            pl[f] += x * b


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _chain_m5(pa, ua, c, x0, x1, x2, x3, x4, g):
    """Block S(5) at c (13 states): raising terms x_p, lowering terms g·x_p."""
    y0, y1, y2, y3, y4 = g * x0, g * x1, g * x2, g * x3, g * x4
    a = pa[2 * c : 2 * c + 26]
    u = ua[2 * c : 2 * c + 26]
    for r in range(2):  # real, imaginary floats
        u0, u1, u2, u3, u4 = u[r], u[2 + r], u[4 + r], u[6 + r], u[8 + r]
        u5, u6, u7, u8, u9 = u[10 + r], u[12 + r], u[14 + r], u[16 + r], u[18 + r]
        u10, u11, u12 = u[20 + r], u[22 + r], u[24 + r]
        a[r] += y4 * u8 + y3 * u5 + y2 * u3 + y1 * u2 + y0 * u1
        a[2 + r] += y4 * u9 + y3 * u6 + y2 * u4 + x0 * u0
        a[4 + r] += y4 * u10 + y3 * u7 + x1 * u0
        a[6 + r] += y4 * u11 + x2 * u0 + y0 * u4
        a[8 + r] += y4 * u12 + x2 * u1 + x0 * u3
        a[10 + r] += x3 * u0 + y1 * u7 + y0 * u6
        a[12 + r] += x3 * u1 + x0 * u5
        a[14 + r] += x3 * u2 + x1 * u5
        a[16 + r] += x4 * u0 + y2 * u11 + y1 * u10 + y0 * u9
        a[18 + r] += x4 * u1 + y2 * u12 + x0 * u8
        a[20 + r] += x4 * u2 + x1 * u8
        a[22 + r] += x4 * u3 + x2 * u8 + y0 * u12
        a[24 + r] += x4 * u4 + x2 * u9 + x0 * u11


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _chain_m4(pa, ua, c, x0, x1, x2, x3, g):
    """Block S(4) at c (8 states): raising terms x_p, lowering terms g·x_p."""
    y0, y1, y2, y3 = g * x0, g * x1, g * x2, g * x3
    a = pa[2 * c : 2 * c + 16]
    u = ua[2 * c : 2 * c + 16]
    for r in range(2):  # real, imaginary floats
        u0, u1, u2, u3 = u[r], u[2 + r], u[4 + r], u[6 + r]
        u4, u5, u6, u7 = u[8 + r], u[10 + r], u[12 + r], u[14 + r]
        a[r] += y3 * u5 + y2 * u3 + y1 * u2 + y0 * u1
        a[2 + r] += x0 * u0 + y3 * u6 + y2 * u4
        a[4 + r] += x1 * u0 + y3 * u7
        a[6 + r] += x2 * u0 + y0 * u4
        a[8 + r] += x2 * u1 + x0 * u3
        a[10 + r] += x3 * u0 + y1 * u7 + y0 * u6
        a[12 + r] += x3 * u1 + x0 * u5
        a[14 + r] += x3 * u2 + x1 * u5


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _chain_m3(pa, ua, c, x0, x1, x2, g):
    """Block S(3) at c (5 states)."""
    y0, y1, y2 = g * x0, g * x1, g * x2
    a = pa[2 * c : 2 * c + 10]
    u = ua[2 * c : 2 * c + 10]
    for r in range(2):
        u0, u1, u2, u3, u4 = u[r], u[2 + r], u[4 + r], u[6 + r], u[8 + r]
        a[r] += y2 * u3 + y1 * u2 + y0 * u1
        a[2 + r] += x0 * u0 + y2 * u4
        a[4 + r] += x1 * u0
        a[6 + r] += x2 * u0 + y0 * u4
        a[8 + r] += x2 * u1 + x0 * u3


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _chain_small(pa, ua, level, c, x0, x1, x2, g):
    """Block S(3) (5 states), S(2) (3 states) or S(1) (2 states) at c."""
    if level == 3:
        _chain_m3(pa, ua, c, x0, x1, x2, g)
        return
    for r in range(2):
        f = 2 * c + r
        if level == 2:
            pa[f] += g * (x1 * ua[f + 4] + x0 * ua[f + 2])
            pa[f + 2] += x0 * ua[f]
            pa[f + 4] += x1 * ua[f]
        else:
            pa[f] += g * x0 * ua[f + 2]
            pa[f + 2] += x0 * ua[f]


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _chain_micro(pa, ua, co, g, n, prog, t0):
    """The flips of positions 0–4 inside one leaf: straight-line code per small block."""
    x0 = co[n - 1]
    x1 = co[n - 2] if n >= 2 else 0.0
    x2 = co[n - 3] if n >= 3 else 0.0
    x3 = co[n - 4] if n >= 4 else 0.0
    x4 = co[n - 5] if n >= 5 else 0.0
    o, cnt = prog[t0 + 3], prog[t0 + 4]
    for e in range(cnt):
        _chain_m5(pa, ua, prog[o + e], x0, x1, x2, x3, x4, g)
    o, cnt = prog[t0 + 5], prog[t0 + 6]
    for e in range(cnt):
        _chain_m4(pa, ua, prog[o + e], x0, x1, x2, x3, g)
    o, cnt = prog[t0 + 7], prog[t0 + 8]
    for e in range(cnt):
        _chain_small(pa, ua, prog[o + 2 * e], prog[o + 2 * e + 1], x0, x1, x2, g)


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _chain_tag_coeff(co, g, t):
    if t < 0:
        return 0.0
    return co[t & 63] * (g if t >= 64 else 1.0)


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _chain_block_sum(pa, uf, co, g, prog, q, fs):
    """pa[:fs] += the leaf's block flips (coefficient co[atom], lowering ones times g)."""
    g4, g1 = prog[_CP_G4], prog[_CP_G1]
    for e in range(prog[prog[_CP_G4P] + q], prog[prog[_CP_G4P] + q + 1]):
        o = g4 + 8 * e
        t0, t1, t2, t3 = prog[o + 1], prog[o + 3], prog[o + 5], prog[o + 7]
        y0 = _chain_tag_coeff(co, g, t0)
        y1 = _chain_tag_coeff(co, g, t1)
        y2 = _chain_tag_coeff(co, g, t2)
        y3 = _chain_tag_coeff(co, g, t3)
        s0, s1, s2, s3 = 2 * prog[o], 2 * prog[o + 2], 2 * prog[o + 4], 2 * prog[o + 6]
        v0 = uf[s0 : s0 + fs]
        v1 = uf[s1 : s1 + fs]
        v2 = uf[s2 : s2 + fs]
        v3 = uf[s3 : s3 + fs]
        p = pa[:fs]
        for f in range(fs):
            p[f] += y0 * v0[f] + y1 * v1[f] + y2 * v2[f] + y3 * v3[f]
    for e in range(prog[prog[_CP_G1P] + q], prog[prog[_CP_G1P] + q + 1]):
        o = g1 + 3 * e
        src, ln, t = 2 * prog[o], 2 * prog[o + 1], prog[o + 2]
        y = _chain_tag_coeff(co, g, t)
        v = uf[src : src + ln]
        p = pa[:ln]
        for f in range(ln):
            p[f] += y * v[f]


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _chain_leaf(q, prog, uf, s, pf, cprev, diag, cr, ci, both, of, pa, qa):
    """Leaf q: out = s·(diag + drive) u + cprev·prev on its rows; returns ⟨u, out⟩ there."""
    n = prog[_CP_N]
    level = prog[prog[_CP_LEAVES] + 2 * q]
    b = prog[prog[_CP_LEAVES] + 2 * q + 1]
    fib = prog[_CP_FIB]
    size = prog[fib + level + 2]
    t0 = _CP_TYPES if level == prog[_CP_TYPES] else _CP_TYPES + _CP_TYPE_SLOTS
    fs = 2 * size
    ua = uf[2 * b : 2 * b + fs]
    dg = diag[b : b + size]
    for k in range(size):
        d = dg[k]
        pa[2 * k] = d * ua[2 * k]
        pa[2 * k + 1] = d * ua[2 * k + 1]
    if both:
        qa[:fs] = 0.0
    o, cnt = prog[t0 + 1], prog[t0 + 2]
    for e in range(cnt):
        lv = prog[o + 2 * e]
        c = prog[o + 2 * e + 1]
        atom = n - lv  # position lv − 1
        x, y = cr[atom], ci[atom]
        if x != 0.0 or y != 0.0:
            _chain_stream(pa, qa, ua, c, c + prog[fib + lv + 1], prog[fib + lv], x, y, both)
    _chain_micro(pa, ua, cr, 1.0, n, prog, t0)
    _chain_block_sum(pa, uf, cr, 1.0, prog, q, fs)
    if both:
        _chain_micro(qa, ua, ci, -1.0, n, prog, t0)
        _chain_block_sum(qa, uf, ci, -1.0, prog, q, fs)
    return finish_rows(pa, qa, ua, pf[2 * b : 2 * b + fs], of[2 * b : 2 * b + fs], s, cprev, both)


@njit(cache=True, fastmath=True, error_model="numpy")
def _chain_hpsi_serial(u, s, prev, cprev, diag, cr, ci, prog, out):
    uf, pf, of = u.view(np.float64), prev.view(np.float64), out.view(np.float64)
    both = any_nonzero(ci)
    m = prog[_CP_MAXLEAF]
    pa = np.empty(2 * m)
    qa = np.empty(2 * m if both else 0)
    dot = 0j
    for q in range(prog[_CP_NLEAF]):
        dot += _chain_leaf(q, prog, uf, s, pf, cprev, diag, cr, ci, both, of, pa, qa)
    return dot


@njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def _chain_hpsi_parallel(u, s, prev, cprev, diag, cr, ci, prog, out):
    uf, pf, of = u.view(np.float64), prev.view(np.float64), out.view(np.float64)
    both = any_nonzero(ci)
    m = prog[_CP_MAXLEAF]
    n_leaves = prog[_CP_NLEAF]
    dots = np.zeros(n_leaves, dtype=np.complex128)
    for q in prange(n_leaves):
        pa = np.empty(2 * m)
        qa = np.empty(2 * m if both else 0)
        dots[q] = _chain_leaf(q, prog, uf, s, pf, cprev, diag, cr, ci, both, of, pa, qa)
    return dots.sum()


def _chain_coeffs(
    coeffs: NDArray[np.complex128],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    c = np.asarray(coeffs, dtype=np.complex128)
    return np.ascontiguousarray(c.real), np.ascontiguousarray(c.imag)


def chain_hpsi(
    u: NDArray[np.complex128],
    s: float,
    prev: NDArray[np.complex128],
    cprev: float,
    diag: NDArray[np.float64],
    coeffs: NDArray[np.complex128],
    prog: NDArray[np.int64],
    out: NDArray[np.complex128],
) -> complex:
    """As :func:`subspace_hpsi` for the chain layout (``prog`` from :func:`chain_plan`).

    out = s·(diag + Σ_a (c_a σ⁺_a + c_a* σ⁻_a)) u + cprev·prev over the F(n+2) states without
    two adjacent Rydberg atoms, in Zeckendorf (= sorted) order; returns ⟨u, out⟩. ``prev``
    may be ``out``; ``u`` must not. Strided vectors are copied (the kernel works on the
    contiguous (re, im) floats).
    """
    kerns = (_chain_hpsi_serial, _chain_hpsi_parallel)
    return _streaming_hpsi(kerns, _chain_coeffs, u, s, prev, cprev, diag, coeffs, prog, out)


def layer_hpsi(
    u: NDArray[np.complex128],
    s: float,
    prev: NDArray[np.complex128],
    cprev: float,
    diag: NDArray[np.float64],
    coeffs: NDArray[np.complex128],
    prog: NDArray[np.int64],
    out: NDArray[np.complex128],
) -> complex:
    """As :func:`chain_hpsi` for the layered layout (``prog``: :func:`.layered.layered_plan`)."""
    kerns = (_layer_hpsi_serial, _layer_hpsi_parallel)
    return _streaming_hpsi(kerns, layered_coeffs, u, s, prev, cprev, diag, coeffs, prog, out)


def _streaming_hpsi(
    kerns: tuple[Any, Any],
    split: Any,
    u: NDArray[np.complex128],
    s: float,
    prev: NDArray[np.complex128],
    cprev: float,
    diag: NDArray[np.float64],
    coeffs: NDArray[np.complex128],
    prog: NDArray[np.int64],
    out: NDArray[np.complex128],
) -> complex:
    """A streaming product on contiguous vectors: strided ones are copied, out written back.

    ``kerns``: the serial and threaded kernels; ``split`` makes their coefficient arrays.
    """
    if not (u.flags.c_contiguous and prev.flags.c_contiguous and out.flags.c_contiguous):
        tmp = np.empty(len(out), dtype=np.complex128)
        u_c, prev_c = np.ascontiguousarray(u), np.ascontiguousarray(prev)  # before out changes
        d_c = np.ascontiguousarray(diag)
        dot = _streaming_hpsi(kerns, split, u_c, s, prev_c, cprev, d_c, coeffs, prog, tmp)
        out[:] = tmp
        return dot
    a, b = split(coeffs)
    kern = kerns[1] if parallel_for(len(u)) else kerns[0]
    return complex(kern(u, float(s), prev, float(cprev), diag, a, b, prog, out))


# -- the whole Lanczos exponential, compiled -----------------------------------------------
MODE_UNIFORM = 0  # full space, one coefficient on every atom (additions-only flips)
MODE_GENERAL = 1  # full space, per-atom coefficients
MODE_SUBSPACE = 2  # blockade subspace gather
MODE_QUTRIT = 3  # three-level g–r–h full space
MODE_CHAIN = 4  # blockade subspace of a 1D chain, Zeckendorf layout (no index table)
MODE_LAYERED = 5  # blockade subspace of a 2D array in layers (rows), see :mod:`.layered`


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _qutrit_span(u, out, a, b, st, k0, k1):
    """Atom with stride ``st``: its flips for the g-digit indices k0 … k1 − 1 of one block."""
    ac, bc = np.conj(a), np.conj(b)
    for k in range(k0, k1):
        ug = u[k]
        ur = u[k + st]
        uh = u[k + 2 * st]
        out[k] += ac * ur + b * uh  # ⟨g|: c^R* from r, c^D from h
        out[k + st] += a * ug  # ⟨r|: c^R from g
        out[k + 2 * st] += bc * ug  # ⟨h|: c^D* from g


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _qutrit_finish(u, s, prev, cprev, out, k0, k1):
    dot = 0j
    for k in range(k0, k1):
        w = s * out[k] + cprev * prev[k]
        out[k] = w
        dot += np.conj(u[k]) * w
    return dot


@njit(cache=True, fastmath=True, error_model="numpy")
def qutrit_hpsi(u, s, prev, cprev, diag, c_ryd, c_ram, out, n):
    """Three levels g–r–h: out = s·H u + cprev·prev; returns ⟨u, out⟩ (``out`` ≠ ``u``).

    Digits 0, 1, 2 = g, r, h, the first atom most significant; c^R_i drives g↔r, c^D_i h↔g.
    """
    dim = u.shape[0]
    for k in range(dim):
        out[k] = diag[k] * u[k]
    st = dim
    for i in range(n):
        st //= 3
        a, b = c_ryd[i], c_ram[i]
        if a == 0 and b == 0:
            continue
        for base in range(0, dim, 3 * st):
            _qutrit_span(u, out, a, b, st, base, base + st)
    return _qutrit_finish(u, s, prev, cprev, out, 0, dim)


@njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def _qutrit_hpsi_parallel(u, s, prev, cprev, diag, c_ryd, c_ram, out, n):
    """:func:`qutrit_hpsi` with threads: per atom one launch over (block, chunk) tasks."""
    dim = u.shape[0]
    nbk = (dim + _BLOCK - 1) // _BLOCK
    for t in prange(nbk):
        for k in range(t * _BLOCK, min(dim, (t + 1) * _BLOCK)):
            out[k] = diag[k] * u[k]
    st = dim
    for i in range(n):
        st //= 3
        a, b = c_ryd[i], c_ram[i]
        if a == 0 and b == 0:
            continue
        blocks = dim // (3 * st)
        chunk = min(st, _BLOCK)
        per = (st + chunk - 1) // chunk
        for q in prange(blocks * per):
            base = (q // per) * 3 * st
            k0 = base + (q % per) * chunk
            _qutrit_span(u, out, a, b, st, k0, min(k0 + chunk, base + st))
    dots = np.zeros(nbk, dtype=np.complex128)
    for t in prange(nbk):
        dots[t] = _qutrit_finish(u, s, prev, cprev, out, t * _BLOCK, min(dim, (t + 1) * _BLOCK))
    return dots.sum()


@njit(cache=True, fastmath=True, error_model="numpy")
def _product(mode, par, u, s, prev, cprev, diag, args, out):
    """One fused product ``out = s·H u + cprev·prev``; returns ⟨u, out⟩.

    ``par``: None for the serial kernels, else (any int) the threaded ones (numba's thread
    pool, one launch per product). A None argument prunes the threaded branch at compile
    time, so the serial specialisation never compiles the threaded kernels.
    """
    cr, ci, up, down, table, indptr, ent, n, cbits, acc_up, acc_dn = args
    if par is not None:
        if mode == MODE_UNIFORM:
            uf, pf, of = u.view(np.float64), prev.view(np.float64), out.view(np.float64)
            return _uniform_hpsi_parallel(uf, s, pf, cprev, diag, cr, ci, of, n, cbits)
        if mode == MODE_GENERAL:
            return _full_hpsi_parallel(u, s, prev, cprev, diag, up, down, out, n, cbits)
        if mode == MODE_QUTRIT:
            return _qutrit_hpsi_parallel(u, s, prev, cprev, diag, up, down, out, n)
        if mode == MODE_CHAIN:
            return _chain_hpsi_parallel(u, s, prev, cprev, diag, acc_up, acc_dn, indptr, out)
        if mode == MODE_LAYERED:
            return _layer_hpsi_parallel(u, s, prev, cprev, diag, acc_up, acc_dn, indptr, out)
        return _sub_hpsi_parallel(u, s, prev, cprev, diag, table, indptr, ent, out)
    if mode == MODE_QUTRIT:
        return qutrit_hpsi(u, s, prev, cprev, diag, up, down, out, n)
    if mode == MODE_CHAIN:
        return _chain_hpsi_serial(u, s, prev, cprev, diag, acc_up, acc_dn, indptr, out)
    if mode == MODE_LAYERED:
        return _layer_hpsi_serial(u, s, prev, cprev, diag, acc_up, acc_dn, indptr, out)
    if mode == MODE_UNIFORM:
        cb = min(cbits, n)
        uf, pf, of = u.view(np.float64), prev.view(np.float64), out.view(np.float64)
        dot = 0j
        for ch in range((1 << n) >> cb):
            dot += _uniform_chunk(
                uf, s, pf, cprev, diag, cr, ci, of, ch << cb, cb, n, acc_up, acc_dn
            )
        return dot
    if mode == MODE_GENERAL:
        cb = min(cbits, n)
        dot = 0j
        for ch in range((1 << n) >> cb):
            dot += _full_chunk(u, s, prev, cprev, diag, up, down, out, ch << cb, cb, n)
        return dot
    return _sub_block(0, len(out), u, s, prev, cprev, diag, table, indptr, ent, out)


@njit(cache=True, inline="always", error_model="numpy")
def phi1(z):
    """φ₁(z) = (e^z − 1)/z, by its series near 0."""
    if abs(z) < 1e-5:
        return 1.0 + z * (0.5 + z / 6.0)
    return (np.exp(z) - 1.0) / z


@njit(cache=True, error_model="numpy")
def _tridiag_exp_first(alphas, betas, m, scale, y):
    """y[:m] = exp(−i·scale·T) e_0 for the m×m tridiagonal T (alphas, betas).

    Returns e_{m−1}ᵀ φ₁(−i·scale·T) e_0, the factor of the error estimate (see
    :func:`lanczos_expm`).
    """
    t = np.zeros((m, m))
    for k in range(m):
        t[k, k] = alphas[k]
        if k + 1 < m:
            t[k, k + 1] = betas[k]
            t[k + 1, k] = betas[k]
    evals, evecs = np.linalg.eigh(t)
    last = 0j
    for k in range(m):
        last += evecs[m - 1, k] * phi1(-1j * scale * evals[k]) * evecs[0, k]
    for r in range(m):
        acc = 0j
        for k in range(m):
            acc += evecs[r, k] * (np.exp(-1j * scale * evals[k]) * evecs[0, k])
        y[r] = acc
    return last


@njit(cache=True, fastmath=True, error_model="numpy")
def lanczos_expm(psi, scale, tol, m_max, work, mode, par, diag, args, out, fstate, j0):
    """exp(−i·scale·A) ψ into ``out`` by Lanczos, the whole loop compiled.

    The same algorithm, step for step, as :meth:`~.integrator.Evolver._lanczos` (see
    there): unnormalised basis v_j = s_j u_j with u_0 = ψ, the fused product then
    w −= α v_j with ‖w‖²; after every step y = exp(−i·scale·T_j) e_0 from the eigen-
    decomposition of the tridiagonal T_j and Saad's error estimate β₀·β_j·scale·
    |e_jᵀ φ₁(−i·scale·T_j) e_0|; accept if j ≥ 1 and it is ≤ ``tol``, or on breakdown.
    Krylov vector k ≥ 1 is ``work[k − 1]``.

    ``fstate`` (3 × (m_max + 1): α, β with β₀ at [1, m_max], s) holds the recurrence, so
    that a call can resume at step ``j0`` after the caller enlarged ``work``. Returns
    (status, error, products, j): status 1 converged (``out`` set), 0 if ``m_max`` vectors
    did not reach ``tol``, 2 if ψ = 0, 3 if step j needs ``work[j]`` beyond its rows (call
    again with more rows and j0 = j).
    """
    dim = len(psi)
    alphas = fstate[0]
    betas = fstate[1]
    ss = fstate[2]
    if j0 == 0:
        b2 = 0.0
        for k in range(dim):
            b2 += psi[k].real * psi[k].real + psi[k].imag * psi[k].imag
        if b2 == 0.0:
            return 2, 0.0, 0, 0
        betas[m_max] = np.sqrt(b2)
        ss[0] = 1.0 / betas[m_max]
    beta0 = betas[m_max]
    y = np.zeros(m_max, dtype=np.complex128)
    products = 0
    for j in range(j0, m_max):
        if j >= work.shape[0]:
            return 3, 0.0, products, j
        w = work[j]
        uj = psi if j == 0 else work[j - 1]
        if j == 0:
            prev = psi
            cprev = 0.0
        else:
            prev = psi if j == 1 else work[j - 2]
            cprev = -betas[j - 1] * ss[j - 1]
        dot = _product(mode, par, uj, ss[j], prev, cprev, diag, args, w)
        products += 1
        alpha = ss[j] * dot.real
        if par is not None:
            nrm2 = _axpy_norm2_parallel(w, -alpha * ss[j], uj)
        else:
            nrm2 = _axpy_norm2_rows(0, dim, w, -alpha * ss[j], uj)
        beta = np.sqrt(max(nrm2, 0.0))
        alphas[j] = alpha
        m = j + 1
        last = _tridiag_exp_first(alphas, betas, m, scale, y)
        err = beta0 * beta * scale * abs(last)
        breakdown = beta <= 1e-13 * beta0
        if (j >= 1 and err <= tol) or breakdown:
            wts = np.zeros(4, dtype=np.complex128)
            for lo in range(0, m, 4):
                for q in range(4):
                    wts[q] = beta0 * y[lo + q] * ss[lo + q] if lo + q < m else 0.0
                hi = min(lo + 4, m)
                # basis vector k is ψ for k = 0, else work[k − 1]; padding has weight 0
                v0 = psi if lo == 0 else work[lo - 1]
                v1 = work[lo] if lo + 1 < hi else v0
                v2 = work[lo + 1] if lo + 2 < hi else v1
                v3 = work[lo + 2] if lo + 3 < hi else v2
                if par is not None:
                    _combine4_parallel(out, lo > 0, wts, v0, v1, v2, v3)
                else:
                    _combine4_rows(0, dim, out, lo > 0, wts, v0, v1, v2, v3)
            return 1, (0.0 if breakdown else err), products, m
        betas[j] = beta
        ss[j + 1] = 1.0 / beta
    return 0, 0.0, products, m_max


@njit(cache=True, error_model="numpy")
def expm_small(a):
    """exp(a) of a small complex matrix: scaling and squaring around a Taylor series.

    The matrix is halved until its ∞-norm is ≤ 1/2, the series summed until a term adds
    less than 1e-17 relative, then squared back: for the ≤ 41×41 Krylov matrices here.
    """
    n = a.shape[0]
    nrm = 0.0
    for r in range(n):
        row = 0.0
        for c in range(n):
            row += abs(a[r, c])
        nrm = max(nrm, row)
    squarings = 0
    while nrm > 0.5:
        nrm *= 0.5
        squarings += 1
    x = a * (0.5**squarings)
    result = np.eye(n, dtype=np.complex128)
    term = np.eye(n, dtype=np.complex128)
    for k in range(1, 40):
        term = (term @ x) / k
        result += term
        if np.abs(term).max() <= 1e-17 * np.abs(result).max():
            break
    for _ in range(squarings):
        result = result @ result
    return result


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _dots4(rows, q0, nq, w, h):
    """h[q0 + i] = ⟨rows[q0 + i], w⟩ for i < nq ≤ 4, in one pass (accumulators in registers)."""
    r0 = rows[q0]
    r1 = rows[q0 + 1] if nq > 1 else r0
    r2 = rows[q0 + 2] if nq > 2 else r0
    r3 = rows[q0 + 3] if nq > 3 else r0
    a0 = 0j
    a1 = 0j
    a2 = 0j
    a3 = 0j
    for k in range(len(w)):
        wk = w[k]
        a0 += np.conj(r0[k]) * wk
        a1 += np.conj(r1[k]) * wk
        a2 += np.conj(r2[k]) * wk
        a3 += np.conj(r3[k]) * wk
    h[q0] = a0
    if nq > 1:
        h[q0 + 1] = a1
    if nq > 2:
        h[q0 + 2] = a2
    if nq > 3:
        h[q0 + 3] = a3


@njit(cache=True, fastmath=True, error_model="numpy")
def arnoldi_expm(psi, gam, scale, tol, rows, mode, par, diag, args, out):
    """exp(−i·scale·(A − i·gam)) ψ into ``out`` by Arnoldi, the whole loop compiled.

    The same algorithm, step for step, as :func:`~.integrator.arnoldi_exp`: A by
    the fused product (``mode``, ``par``, ``diag``, ``args`` as for :func:`lanczos_expm`),
    minus i·gam·v; classical Gram–Schmidt against every basis vector (all coefficients in
    one pass, the subtraction in a second), repeated once if the step lost more than half
    its norm; from two vectors on, Saad's estimate β₀·h_{m+1,m}·scale·|e_mᵀ φ₁(X) e₁|,
    X = −i·scale·H_m, from :func:`expm_small` of the bordered matrix. ``rows``: (m_max + 1,
    dim), the basis. Returns (status, error, products, m): status 1 converged, 0 if m_max
    vectors did not reach ``tol``, 2 if ψ = 0.
    """
    dim = len(psi)
    m_max = rows.shape[0] - 1
    b2 = 0.0
    for k in range(dim):
        b2 += psi[k].real * psi[k].real + psi[k].imag * psi[k].imag
    if b2 == 0.0:
        return 2, 0.0, 0, 0
    beta0 = np.sqrt(b2)
    inv = 1.0 / beta0
    v0 = rows[0]
    for k in range(dim):
        v0[k] = psi[k] * inv
    hess = np.zeros((m_max + 1, m_max), dtype=np.complex128)
    h = np.zeros(m_max, dtype=np.complex128)
    products = 0
    for j in range(m_max):
        v = rows[j]
        w = rows[j + 1]
        _product(mode, par, v, 1.0, v, 0.0, diag, args, w)
        products += 1
        n2 = 0.0
        for k in range(dim):
            x = w[k] - 1j * gam[k] * v[k]
            w[k] = x
            n2 += x.real * x.real + x.imag * x.imag
        norm_in = np.sqrt(n2)
        hn = norm_in
        for _ in range(2):
            before = hn
            for q0 in range(0, j + 1, 4):
                _dots4(rows, q0, min(4, j + 1 - q0), w, h)
            n2 = 0.0
            for k in range(dim):
                acc = w[k]
                for q in range(j + 1):
                    acc -= h[q] * rows[q, k]
                w[k] = acc
                n2 += acc.real * acc.real + acc.imag * acc.imag
            for q in range(j + 1):
                hess[q, j] += h[q]
            hn = np.sqrt(n2)
            if hn >= 0.5 * before:
                break
        hess[j + 1, j] = hn
        breakdown = hn <= 1e-13 * max(norm_in, 1e-300)
        if j == 0 and not breakdown:
            for k in range(dim):
                w[k] *= 1.0 / hn
            continue
        m = j + 1
        bordered = np.zeros((m + 1, m + 1), dtype=np.complex128)
        for r in range(m):
            for c in range(m):
                bordered[r, c] = -1j * scale * hess[r, c]
        bordered[0, m] = 1.0
        e = expm_small(bordered)  # [[exp(X), φ₁(X) e₁], [0, 1]]
        err = beta0 * hn * scale * abs(e[m - 1, m])
        if err <= tol or breakdown:
            for k in range(dim):
                acc = 0j
                for q in range(m):
                    acc += e[q, 0] * rows[q, k]
                out[k] = beta0 * acc
            return 1, (0.0 if breakdown else err), products, m
        for k in range(dim):
            w[k] *= 1.0 / hn
    return 0, 0.0, products, m_max


def _no_table() -> tuple[NDArray[np.complex128], NDArray[np.int64], NDArray[np.int32]]:
    return np.zeros(128, dtype=np.complex128), np.zeros(1, dtype=np.int64), np.zeros(0, np.int32)


def full_krylov_args(
    coeffs: NDArray[np.complex128], n: int, chunk_bits: int = CHUNK_BITS
) -> tuple[int, tuple[Any, ...]]:
    """(mode, args) of :func:`lanczos_expm` for the full space with these coefficients."""
    cb = min(chunk_bits, n)
    table, indptr, ent = _no_table()
    none_c = np.zeros(0, dtype=np.complex128)
    if n > 0 and np.all(coeffs == coeffs[0]):
        c = complex(coeffs[0])
        bufs = (np.empty(2 << cb), np.empty(2 << cb))
        return MODE_UNIFORM, (c.real, c.imag, none_c, none_c, table, indptr, ent, n, cb, *bufs)
    up, down = _flip_tables(coeffs, n)
    none_f = np.zeros(0)
    return MODE_GENERAL, (0.0, 0.0, up, down, table, indptr, ent, n, cb, none_f, none_f)


def subspace_krylov_args(
    coeffs: NDArray[np.complex128],
    indptr: NDArray[np.int64],
    ent: NDArray[Any],
    table: NDArray[np.complex128] | None = None,
) -> tuple[int, tuple[Any, ...]]:
    """(mode, args) of :func:`lanczos_expm` for the blockade-subspace gather.

    ``table``: the coefficient per entry tag, if not :func:`subspace_table` of ``coeffs``.
    """
    none_c = np.zeros(0, dtype=np.complex128)
    none_f = np.zeros(0)
    if table is None:
        table = subspace_table(coeffs)
    return MODE_SUBSPACE, (0.0, 0.0, none_c, none_c, table, indptr, ent, 0, 0, none_f, none_f)


def chain_krylov_args(
    coeffs: NDArray[np.complex128], prog: NDArray[np.int64]
) -> tuple[int, tuple[Any, ...]]:
    """(mode, args) of :func:`lanczos_expm` for the chain layout (``prog``: :func:`chain_plan`).

    The plan travels as ``indptr``, Re c and Im c per atom as ``acc_up`` and ``acc_dn``: the
    same argument types as the full-space modes, so no further compiled specialisation.
    """
    table, _, ent = _no_table()
    none_c = np.zeros(0, dtype=np.complex128)
    cr, ci = _chain_coeffs(coeffs)
    n = int(prog[_CP_N])
    return MODE_CHAIN, (0.0, 0.0, none_c, none_c, table, prog, ent, n, 0, cr, ci)


def layered_krylov_args(
    coeffs: NDArray[np.complex128], prog: NDArray[np.int64]
) -> tuple[int, tuple[Any, ...]]:
    """(mode, args) of :func:`lanczos_expm` for the layered layout (``prog``: its plan).

    As :func:`chain_krylov_args`: the plan travels as ``indptr``, the per-tag coefficients
    (:func:`.layered.layered_coeffs`) as ``acc_up`` and ``acc_dn``.
    """
    table, _, ent = _no_table()
    none_c = np.zeros(0, dtype=np.complex128)
    cx, cy = layered_coeffs(coeffs)
    return MODE_LAYERED, (0.0, 0.0, none_c, none_c, table, prog, ent, 0, 0, cx, cy)


def qutrit_krylov_args(
    c_ryd: NDArray[np.complex128], c_ram: NDArray[np.complex128], n: int
) -> tuple[int, tuple[Any, ...]]:
    """(mode, args) of :func:`lanczos_expm` for the three-level space (``qutrit_hpsi``)."""
    table, indptr, ent = _no_table()
    none_f = np.zeros(0)
    cr = np.ascontiguousarray(c_ryd, dtype=np.complex128)
    cd = np.ascontiguousarray(c_ram, dtype=np.complex128)
    return MODE_QUTRIT, (0.0, 0.0, cr, cd, table, indptr, ent, n, 0, none_f, none_f)
