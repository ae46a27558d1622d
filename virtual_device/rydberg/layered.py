"""The layered layout of a blockade subspace: a streaming H·ψ for 2D arrays, no index table.

When the atoms fall into layers of ``w`` consecutive atoms (the rows of a square or
rectangular array numbered row by row) such that every blockaded pair lies within one layer
or between two neighbouring ones, and the kept states are exactly the independent sets of
that blockade graph (the pair rule, or an energy cutoff that happens to keep the same set),
a state is a sequence of layer patterns r_0 … r_{L−1}: each an independent set of its layer,
each compatible with the next. Atom 0 being the most significant bit, the sorted order of
the kept states is the lexicographic order of these sequences, so the states sharing the
head r_0 … r_{K−1} are one contiguous block, whose tails (r_K … r_{L−1}) depend only on
p = r_{K−1} — one of a few *types* (21 for rows of 6).

The product runs block by block, output-stationary (the block's accumulator stays in L1/L2):

* the diagonal, and the flips of the tail atoms: a small CSR matrix per type, gathered
  inside the block (entries packed as local column << 7 | tag);
* a flip in a head layer above K−1 maps the whole block onto another block of the same type:
  one contiguous stream at a constant offset;
* a flip in layer K−1 (p → p′) maps the block piecewise onto the block of p′: one run per
  first tail row r_K compatible with both, each contiguous (the r_K sub-blocks, of
  N_K(r_K) states, are in the same order in both blocks);

then out = s·acc + c_prev·prev and ⟨u, out⟩ in one pass. As in the chain layout
(:mod:`.kernels`), the drive c σ⁺ + c* σ⁻ is split as Re c·(σ⁺ + σ⁻) + i·Im c·(σ⁺ − σ⁻) on
interleaved (re, im) floats, and for a real drive the second accumulator is skipped.
Flips out of the kept set (none, for the pair rule's independent sets) are the
truncation's leakage channels, tracked by the caller from the state list as for the gather.

Tags are those of :func:`.kernels.subspace_table`: ``atom`` raises into the row (the row
has the atom in |r⟩), ``64 + atom`` lowers.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

__all__ = ["LAYER_TAIL_MAX", "find_layers", "layered_hpsi", "layered_plan"]

LAYER_TAIL_MAX = 4096  # most states per block: accumulators (2 × 64 KiB) stay in L2
_MAX_WIDTH = 10  # atoms per layer (2^w candidate patterns per layer)

# header of the packed plan (one int64 array)
(
    _LP_N,
    _LP_NBLOCK,
    _LP_MAXT,
    _LP_BLOCKS,
    _LP_HS,
    _LP_RF,
    _LP_RUNS,
    _LP_TYPES,
    _LP_TPTR,
    _LP_ENT,
) = range(10)
_LP_HEADER = 10
_BLK = 6  # per block: start, type, head streams lo, hi, layer K−1 flips lo, hi


def _layer_masks(n: int, w: int) -> list[list[int]]:
    """Per layer, the global bit of each of its atoms (atom a is bit n−1−a)."""
    return [[1 << (n - 1 - a) for a in range(s, s + w)] for s in range(0, n, w)]


def blockade_edges(states: NDArray[np.int64], n: int) -> list[tuple[int, int]]:
    """Pairs (i < j) whose doubly excited state is not among the sorted kept ``states``."""
    pairs = np.array(
        [(1 << (n - 1 - i)) | (1 << (n - 1 - j)) for i in range(n) for j in range(i + 1, n)],
        dtype=np.int64,
    )
    k = np.minimum(np.searchsorted(states, pairs), len(states) - 1)
    missing = states[k] != pairs
    ij = [(i, j) for i in range(n) for j in range(i + 1, n)]
    return [e for e, m in zip(ij, missing, strict=True) if m]


def find_layers(states: NDArray[np.int64], n: int) -> tuple[int, list[tuple[int, int]]]:
    """(w, edges): the layer width that fits the kept ``states`` (0 if none), and the graph.

    w is the smallest width > 1 (dividing n, ≥ 3 layers) for which the states are exactly
    the independent sets of a blockade graph whose edges span at most two neighbouring
    layers of w consecutive atoms.

    The graph is read off the states (:func:`blockade_edges`). Every kept state is an
    independent set of it (a kept state's pairs are kept: energies only grow), so equal
    counts make the two sets equal.
    """
    if n < 6 or n > 62 or len(states) < 2:
        return 0, []
    edges = blockade_edges(np.asarray(states, dtype=np.int64), n)
    for w in range(2, min(n // 3, _MAX_WIDTH) + 1):
        if n % w or any(j // w - i // w > 1 for i, j in edges):
            continue
        pats, compat = _patterns(n, w, edges)
        counts = _suffix_counts(pats, compat)
        if sum(counts[0].values()) == len(states):
            return w, edges
    return 0, edges


def _patterns(
    n: int, w: int, edges: list[tuple[int, int]]
) -> tuple[list[list[int]], list[dict[int, list[int]]]]:
    """Per layer its independent patterns, and the compatible patterns of the next layer.

    Patterns are w-bit ints, ascending (bit w−1 = the layer's first atom); ``compat[l][p]``
    lists the patterns of layer l+1 compatible with pattern p of layer l, ascending.
    """
    n_layers = n // w
    inside = [
        [(i % w, j % w) for i, j in edges if i // w == j // w == lay] for lay in range(n_layers)
    ]
    across = [
        [(i % w, j % w) for i, j in edges if i // w == lay and j // w == lay + 1]
        for lay in range(n_layers - 1)
    ]

    def bit(a: int) -> int:
        return 1 << (w - 1 - a)

    pats = []
    for lay in range(n_layers):
        ok = [
            p for p in range(1 << w) if not any(p & bit(a) and p & bit(b) for a, b in inside[lay])
        ]
        pats.append(ok)
    compat = []
    for lay in range(n_layers - 1):
        compat.append(
            {
                p: [
                    q
                    for q in pats[lay + 1]
                    if not any(p & bit(a) and q & bit(b) for a, b in across[lay])
                ]
                for p in pats[lay]
            }
        )
    return pats, compat


def _suffix_counts(
    pats: list[list[int]], compat: list[dict[int, list[int]]]
) -> list[dict[int, int]]:
    """N_l(p): the completions of layers l+1 … given layer l = p.

    Σ_p N_0(p) is the whole space.
    """
    n_layers = len(pats)
    counts: list[dict[int, int]] = [{} for _ in range(n_layers)]
    counts[-1] = {p: 1 for p in pats[-1]}
    for lay in range(n_layers - 2, -1, -1):
        counts[lay] = {p: sum(counts[lay + 1][q] for q in compat[lay][p]) for p in pats[lay]}
    return counts


def _sequences(
    first: list[int], compat: list[dict[int, list[int]]], lay0: int, n_layers: int, w: int
):
    """(ints, last patterns) of the pattern sequences over layers lay0 … lay0+n_layers−1.

    Those whose first pattern is in ``first``, in lexicographic (= integer) order.
    """
    seqs = [(p, p) for p in first]
    for lay in range(lay0, lay0 + n_layers - 1):
        seqs = [((x << w) | q, q) for x, p in seqs for q in compat[lay][p]]
    return [x for x, _ in seqs], [p for _, p in seqs]


def layered_plan(
    n: int, w: int, edges: list[tuple[int, int]], tail_max: int = LAYER_TAIL_MAX
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(plan, states): the packed schedule of :func:`layered_hpsi`, and its states' order.

    Layers are ``w`` consecutive atoms; the states come in the order the plan uses (the
    caller checks they are its own).

    The head is the fewest layers whose blocks hold at most ``tail_max`` states (at least
    one layer, at most all but one).
    """
    n_layers = n // w
    pats, compat = _patterns(n, w, edges)
    counts = _suffix_counts(pats, compat)
    k_head = n_layers - 1
    for k in range(1, n_layers):
        if max(counts[k - 1].values()) <= tail_max:
            k_head = k
            break
    tail_layers = n_layers - k_head
    tail_bits = tail_layers * w
    compat_sets = [{p: set(qs) for p, qs in c.items()} for c in compat]
    pat_sets = [set(ps) for ps in pats]
    last = k_head - 1

    # tail types: for each pattern p of layer K−1, its tails, CSR of their flips, sub-blocks
    type_of = {p: t for t, p in enumerate(pats[last])}
    tails: list[NDArray[np.int64]] = []
    sub_off: list[dict[int, int]] = []
    segs: list[int] = []  # per type, (tag, entries lo, hi) groups
    type_segs_end: list[int] = []
    ent: list[NDArray[np.int64]] = []
    type_rows: list[int] = []
    n_ent = 0
    for p in pats[last]:
        ints, _ = _sequences(compat[last][p], compat, k_head, tail_layers, w)
        arr = np.array(ints, dtype=np.int64)
        tails.append(arr)
        off, pos = {}, 0
        for r in compat[last][p]:
            off[r] = pos
            pos += counts[k_head][r]
        sub_off.append(off)
        rows, cols, tags = [], [], []
        for b in range(tail_bits):
            partner = arr ^ (1 << b)
            idx = np.minimum(np.searchsorted(arr, partner), len(arr) - 1)
            ok = np.flatnonzero(arr[idx] == partner)
            atom = n - 1 - b
            raised = (arr[ok] >> b) & 1
            rows.append(ok)
            cols.append(idx[ok])
            tags.append(np.where(raised == 1, atom, 64 + atom))
        # grouped by tag (one coefficient per group), then by row: no dependency chain
        # between consecutive updates
        r_all, c_all, t_all = np.concatenate(rows), np.concatenate(cols), np.concatenate(tags)
        order = np.lexsort((c_all, r_all, t_all))
        packed = (r_all[order] << 20) | c_all[order]
        t_sorted = t_all[order]
        type_rows.append(len(segs) // 3)
        for tag in np.unique(t_sorted):
            lo, hi = np.searchsorted(t_sorted, [tag, tag + 1])
            segs += [int(tag), n_ent + int(lo), n_ent + int(hi)]
        type_segs_end.append(len(segs) // 3)
        ent.append(packed.astype(np.int64))
        n_ent += len(packed)

    # heads in order, their block starts
    head_ints, head_last = _sequences(pats[0], compat, 0, k_head, w)
    sizes = np.array([len(tails[type_of[p]]) for p in head_last], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    index_of = {x: q for q, x in enumerate(head_ints)}
    head_mask = (1 << w) - 1

    blocks: list[int] = []
    hs: list[int] = []
    rf: list[int] = []
    runs: list[int] = []
    run_ids: dict[tuple[int, int], tuple[int, int]] = {}
    for q, x in enumerate(head_ints):
        rows_q = [(x >> (w * (k_head - 1 - lay))) & head_mask for lay in range(k_head)]
        hs_lo, rf_lo = len(hs) // 2, len(rf) // 4
        for lay in range(k_head):
            r = rows_q[lay]
            for a in range(w):
                m = 1 << (w - 1 - a)
                r2 = r ^ m
                if r2 not in pat_sets[lay]:
                    continue
                if lay > 0 and r2 not in compat_sets[lay - 1][rows_q[lay - 1]]:
                    continue
                atom = lay * w + a
                tag = atom if r & m else 64 + atom
                if lay < last and rows_q[lay + 1] not in compat_sets[lay][r2]:
                    continue
                src = int(starts[index_of[x ^ (m << (w * (k_head - 1 - lay)))]])
                if lay < last:
                    hs += [src, tag]
                    continue
                key = (r, r2)
                if key not in run_ids:
                    lo = len(runs) // 3
                    off_a, off_b = sub_off[type_of[r]], sub_off[type_of[r2]]
                    for rk in compat[last][r]:
                        if rk in compat_sets[last][r2]:
                            runs += [off_a[rk], off_b[rk], counts[k_head][rk]]
                    run_ids[key] = (lo, len(runs) // 3)
                rf += [src, tag, *run_ids[key]]
        blocks += [int(starts[q]), type_of[rows_q[last]], hs_lo, len(hs) // 2, rf_lo, len(rf) // 4]

    types: list[int] = []
    for t in range(len(tails)):
        types += [len(tails[t]), type_rows[t], type_segs_end[t]]
    parts = [blocks, hs, rf, runs, types, segs]
    header = np.zeros(_LP_HEADER, dtype=np.int64)
    header[_LP_N] = n
    header[_LP_NBLOCK] = len(head_ints)
    header[_LP_MAXT] = int(sizes.max())
    pos = _LP_HEADER
    for slot, part in zip(
        (_LP_BLOCKS, _LP_HS, _LP_RF, _LP_RUNS, _LP_TYPES, _LP_TPTR), parts, strict=True
    ):
        header[slot] = pos
        pos += len(part)
    header[_LP_ENT] = pos
    plan = np.concatenate([header, *(np.asarray(part, dtype=np.int64) for part in parts), *ent])
    states = np.concatenate(
        [
            (np.int64(h) << tail_bits) | tails[type_of[p]]
            for h, p in zip(head_ints, head_last, strict=True)
        ]
    )
    return plan, states


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _lay_stream(pa, qa, v, x, y, both):
    """Pa += x·v (and qa += y·v) over ``len(v)`` floats."""
    fs = len(v)
    p = pa[:fs]
    if both:
        qq = qa[:fs]
        for f in range(fs):
            a = v[f]
            p[f] += x * a
            qq[f] += y * a
    else:
        for f in range(fs):
            p[f] += x * v[f]


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _lay_block(q, prog, uf, s, pf, cprev, diag, cx, cy, both, of, pa, qa):
    """Block q: out = s·(diag + drive) u + cprev·prev on its rows; returns ⟨u, out⟩ there."""
    bo = prog[_LP_BLOCKS] + _BLK * q
    b = prog[bo]
    to = prog[_LP_TYPES] + 3 * prog[bo + 1]
    size = prog[to]
    sg = prog[_LP_TPTR]
    e0 = prog[_LP_ENT]
    fs = 2 * size
    ua = uf[2 * b : 2 * b + fs]
    dg = diag[b : b + size]
    for k in range(size):
        d = dg[k]
        pa[2 * k] = d * ua[2 * k]
        pa[2 * k + 1] = d * ua[2 * k + 1]
    if both:
        qa[:fs] = 0.0
    for g in range(prog[to + 1], prog[to + 2]):  # the tail's own flips, one group per tag
        tag = prog[sg + 3 * g]
        x = cx[tag]
        y = cy[tag]
        lo = e0 + prog[sg + 3 * g + 1]
        hi = e0 + prog[sg + 3 * g + 2]
        if both:
            for e in range(lo, hi):
                pk = prog[e]
                i = 2 * (pk >> 20)
                j = 2 * (pk & 0xFFFFF)
                vr = ua[j]
                vi = ua[j + 1]
                pa[i] += x * vr
                pa[i + 1] += x * vi
                qa[i] += y * vr
                qa[i + 1] += y * vi
        else:
            for e in range(lo, hi):
                pk = prog[e]
                i = 2 * (pk >> 20)
                j = 2 * (pk & 0xFFFFF)
                pa[i] += x * ua[j]
                pa[i + 1] += x * ua[j + 1]
    hs = prog[_LP_HS]
    for e in range(prog[bo + 2], prog[bo + 3]):  # head flips: whole blocks
        src = prog[hs + 2 * e]
        tag = prog[hs + 2 * e + 1]
        _lay_stream(pa, qa, uf[2 * src : 2 * src + fs], cx[tag], cy[tag], both)
    rf, rn = prog[_LP_RF], prog[_LP_RUNS]
    for e in range(prog[bo + 4], prog[bo + 5]):  # flips of layer K−1: runs
        o = rf + 4 * e
        src = prog[o]
        x = cx[prog[o + 1]]
        y = cy[prog[o + 1]]
        for r in range(prog[o + 2], prog[o + 3]):
            d = 2 * prog[rn + 3 * r]
            sv = 2 * (src + prog[rn + 3 * r + 1])
            ln = 2 * prog[rn + 3 * r + 2]
            _lay_stream(
                pa[d : d + ln], qa[d : d + ln] if both else qa, uf[sv : sv + ln], x, y, both
            )
    return finish_rows(pa, qa, ua, pf[2 * b : 2 * b + fs], of[2 * b : 2 * b + fs], s, cprev, both)


@njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def finish_rows(pa, qa, ua, pv, ov, s, cprev, both):
    """Set ov = s·(P + i·Q) + cprev·pv over interleaved floats; returns ⟨ua, ov⟩ there.

    Shared with the chain layout's leaves (:mod:`.kernels`). ``pv`` may alias ``ov``.
    """
    dr = 0.0
    di = 0.0
    for k in range(len(ov) // 2):
        f = 2 * k
        if both:
            wr = s * (pa[f] - qa[f + 1]) + cprev * pv[f]  # pv read before ov is written
            wi = s * (pa[f + 1] + qa[f]) + cprev * pv[f + 1]
        else:
            wr = s * pa[f] + cprev * pv[f]
            wi = s * pa[f + 1] + cprev * pv[f + 1]
        ov[f] = wr
        ov[f + 1] = wi
        xr, xi = ua[f], ua[f + 1]
        dr += xr * wr + xi * wi
        di += xr * wi - xi * wr
    return complex(dr, di)


@njit(cache=True, inline="always", error_model="numpy")
def any_nonzero(x):
    """Whether any element is non-zero (shared with the chain layout)."""
    for v in x:
        if v != 0.0:
            return True
    return False


@njit(cache=True, fastmath=True, error_model="numpy")
def _layer_hpsi_serial(u, s, prev, cprev, diag, cx, cy, prog, out):
    uf, pf, of = u.view(np.float64), prev.view(np.float64), out.view(np.float64)
    both = any_nonzero(cy)
    m = prog[_LP_MAXT]
    pa = np.empty(2 * m)
    qa = np.empty(2 * m if both else 0)
    dot = 0j
    for q in range(prog[_LP_NBLOCK]):
        dot += _lay_block(q, prog, uf, s, pf, cprev, diag, cx, cy, both, of, pa, qa)
    return dot


@njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def _layer_hpsi_parallel(u, s, prev, cprev, diag, cx, cy, prog, out):
    uf, pf, of = u.view(np.float64), prev.view(np.float64), out.view(np.float64)
    both = any_nonzero(cy)
    m = prog[_LP_MAXT]
    nq = prog[_LP_NBLOCK]
    per = 16  # blocks per task: one scratch allocation each
    nt = (nq + per - 1) // per
    dots = np.zeros(nt, dtype=np.complex128)
    for t in prange(nt):
        pa = np.empty(2 * m)
        qa = np.empty(2 * m if both else 0)
        acc = 0j
        for q in range(t * per, min(nq, (t + 1) * per)):
            acc += _lay_block(q, prog, uf, s, pf, cprev, diag, cx, cy, both, of, pa, qa)
        dots[t] = acc
    return dots.sum()


def layered_coeffs(
    coeffs: NDArray[np.complex128],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per tag (see the module docstring): Re of its coefficient, and ±Im (+ raising)."""
    c = np.asarray(coeffs, dtype=np.complex128)
    cx = np.zeros(128)
    cy = np.zeros(128)
    cx[: len(c)] = c.real
    cx[64 : 64 + len(c)] = c.real
    cy[: len(c)] = c.imag
    cy[64 : 64 + len(c)] = -c.imag
    return cx, cy


def layered_hpsi(
    u: NDArray[np.complex128],
    s: float,
    prev: NDArray[np.complex128],
    cprev: float,
    diag: NDArray[np.float64],
    coeffs: NDArray[np.complex128],
    prog: NDArray[np.int64],
    out: NDArray[np.complex128],
    parallel: bool = False,
) -> complex:
    """As :func:`.kernels.subspace_hpsi` in the layered layout (``prog``: its plan).

    out = s·(diag + Σ_a (c_a σ⁺_a + c_a* σ⁻_a)) u + cprev·prev; returns ⟨u, out⟩. ``prev``
    may be ``out``; ``u`` must not. Vectors must be C-contiguous.
    """
    cx, cy = layered_coeffs(coeffs)
    kern = _layer_hpsi_parallel if parallel else _layer_hpsi_serial
    return complex(kern(u, float(s), prev, float(cprev), diag, cx, cy, prog, out))
