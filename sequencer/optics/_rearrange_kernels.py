"""Compiled kernels of the rearrangement planner for layouts on an axis-aligned grid.

The grid is ``site[r, c]`` (trap id, or -1 where the grid has no trap), rows sorted by y and
columns by x. Two kernels, kept small because numba's compile time grows fast with size:

* :func:`balance_rows` chooses, for the column phase, the rows every column's atoms end in so
  that each row holds at least as many atoms as it has target sites (greedy transport of
  surplus atoms into rows short of atoms, scored by the exact change of the column's 1D
  transport cost plus the change of the two rows' 1D transport costs);
* :func:`rows_dp` assigns, for the row phase, each row's atoms (order kept) to distinct sites
  of the row covering every target site (a dynamic programme; squared displacement breaks
  ties towards shorter longest moves).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_INF = 1e300


@njit(cache=True)
def _row_delta(gh, r, c, xs, add):
    """Change of row r's symmetric 1D transport cost when an atom is added to/removed from c.

    The mean of the left- and right-cumulative formulations, which agree once the row holds as
    many atoms as target sites.
    """
    n_cols = xs.shape[0]
    excess = gh[r, n_cols - 1]
    left = 0.0
    for k in range(c, n_cols - 1):
        gap = xs[k + 1] - xs[k]
        g = gh[r, k]
        if add:
            left += gap if g >= 0 else -gap
        else:
            left += gap if g <= 0 else -gap
    right = 0.0
    for k in range(c):
        gap = xs[k + 1] - xs[k]
        g = excess - gh[r, k]
        if add:
            right += gap if g >= 0 else -gap
        else:
            right += gap if g <= 0 else -gap
    return 0.5 * (left + right)


@njit(cache=True)
def _nearest_spare(filled, cnt, demand, r, c, step):
    """First row from r (exclusive) in direction ``step`` whose atom in column c can be spared."""
    k = r + step
    while 0 <= k < filled.shape[0]:
        if filled[k, c] and cnt[k] > demand[k]:
            return k
        k += step
    return -1


@njit(cache=True)
def _column_delta(gv, ys, src, r, c):
    """Change of column c's transport cost when its atom in row ``src`` moves to row r."""
    dv = 0.0
    if src < r:
        for q in range(src, r):
            gap = ys[q + 1] - ys[q]
            dv += gap if gv[q, c] >= 0 else -gap
    else:
        for q in range(r, src):
            gap = ys[q + 1] - ys[q]
            dv += gap if gv[q, c] <= 0 else -gap
    return dv


@njit(cache=True)
def balance_rows(site, occ, tgt, demand, order, xs, ys):
    """Phase 1 choice: the rows every column's atoms end in (boolean (R, C) occupancy).

    ``order`` is the order rows are served in (most short first). Greedy transport: each pass
    gives every row short of atoms one more, moved in some column
    from the nearest row above or below that has atoms to spare (the atoms in between shift
    along). The candidate chosen minimises the exact change of that column's 1D transport cost
    plus the change of the symmetric 1D transport cost of the two rows it affects. A row that no
    column can serve directly is served through a chain of columns (:func:`_augment`).
    """
    n_rows, n_cols = site.shape
    filled = occ.copy()
    cnt = np.zeros(n_rows, np.int64)
    # gv[r, c]: atoms of column c in rows <= r before minus after (column transport integrand)
    gv = np.zeros((n_rows, n_cols), np.int64)
    # gh[r, k]: atoms minus target sites of row r in columns <= k (row transport integrand)
    gh = np.zeros((n_rows, n_cols), np.int64)
    for r in range(n_rows):
        run = 0
        for c in range(n_cols):
            if filled[r, c]:
                cnt[r] += 1
                run += 1
            if tgt[r, c]:
                run -= 1
            gh[r, c] = run
    augments = 4 * n_rows * n_cols  # cap on chain searches (each normally fills one atom)
    changed = True
    while changed:
        changed = False
        for oi in range(n_rows):
            r = order[oi]
            if cnt[r] >= demand[r]:
                continue
            best = _INF
            best_c = -1
            best_src = -1
            for c in range(n_cols):
                if site[r, c] < 0 or filled[r, c]:
                    continue
                dh_add = _row_delta(gh, r, c, xs, True)
                for side in range(2):
                    step = -1 if side == 0 else 1
                    src = _nearest_spare(filled, cnt, demand, r, c, step)
                    if src < 0:
                        continue
                    dv = _column_delta(gv, ys, src, r, c)
                    cost = dv + dh_add
                    if demand[src] > 0:
                        cost += _row_delta(gh, src, c, xs, False)
                    if cost < best:
                        best = cost
                        best_c = c
                        best_src = src
            if best_c >= 0:
                _shift(filled, cnt, gv, gh, best_src, r, best_c)
                changed = True
            elif augments > 0:
                augments -= 1
                if _augment(site, filled, cnt, gv, gh, demand, ys, r):
                    changed = True
    return filled


@njit(cache=True)
def _shift(filled, cnt, gv, gh, src, dst, c):
    """Move column c's atom from row src to row dst (the atoms in between shift along)."""
    n_cols = filled.shape[1]
    filled[src, c] = False
    filled[dst, c] = True
    cnt[src] -= 1
    cnt[dst] += 1
    if src < dst:
        for q in range(src, dst):
            gv[q, c] += 1
    else:
        for q in range(dst, src):
            gv[q, c] -= 1
    for k in range(c, n_cols):
        gh[dst, k] += 1
        gh[src, k] -= 1


@njit(cache=True)
def _augment(site, filled, cnt, gv, gh, demand, ys, r):
    """Give row r an atom through a chain of columns when no column has one to spare directly.

    Dijkstra over rows (cost: vertical distance): row u may take column c's atom from row v when
    (u, c) is an empty site and (v, c) is filled; the chain ends at a row with atoms to spare.
    Rows along the chain keep their count. Returns whether r got an atom.
    """
    n_rows, n_cols = site.shape
    dist = np.full(n_rows, _INF)
    via_row = np.full(n_rows, -1, np.int64)
    via_col = np.full(n_rows, -1, np.int64)
    done = np.zeros(n_rows, np.bool_)
    dist[r] = 0.0
    end = -1
    for _ in range(n_rows):
        u = -1
        du = _INF
        for k in range(n_rows):
            if not done[k] and dist[k] < du:
                du = dist[k]
                u = k
        if u < 0:
            break
        done[u] = True
        if u != r and cnt[u] > demand[u]:
            end = u
            break
        for c in range(n_cols):
            if site[u, c] < 0 or filled[u, c]:
                continue
            for v in range(n_rows):
                if filled[v, c] and not done[v]:
                    d = du + abs(ys[v] - ys[u])
                    if d < dist[v]:
                        dist[v] = d
                        via_row[v] = u
                        via_col[v] = c
    if end < 0:
        return False
    # apply from r outwards; each link is re-checked (a column may recur along the chain)
    nlinks = 0
    v = end
    while v != r:
        nlinks += 1
        v = via_row[v]
    chain_v = np.empty(nlinks, np.int64)
    v = end
    q = nlinks - 1
    while v != r:
        chain_v[q] = v
        q -= 1
        v = via_row[v]
    for q in range(nlinks):
        v = chain_v[q]
        u = via_row[v]
        c = via_col[v]
        if not filled[v, c] or filled[u, c]:
            return q > 0
        _shift(filled, cnt, gv, gh, v, u, c)
    return True


@njit(cache=True)
def rows_dp(site_ptr, site_x, site_is_target, site_penalty, atom_ptr, atom_x):
    """Order-preserving assignment of each row's atoms to the row's sites covering its targets.

    Row ``k`` has sites ``site_ptr[k]:site_ptr[k+1]`` and atoms ``atom_ptr[k]:atom_ptr[k+1]``,
    both in increasing x, with at most as many atoms as sites. Leaving target site j empty
    costs ``site_penalty[j]`` (large: every target is filled when there are enough atoms);
    placing an atom on a site costs |dx| + 1e-6·dx². Returns, for every atom, the index (into
    the site arrays) of its site.
    """
    n_lines = site_ptr.shape[0] - 1
    max_s = 0
    max_n = 0
    for k in range(n_lines):
        max_s = max(max_s, site_ptr[k + 1] - site_ptr[k])
        max_n = max(max_n, atom_ptr[k + 1] - atom_ptr[k])
    dp = np.empty((max_n + 1, max_s + 1))
    took = np.empty((max_n + 1, max_s + 1), np.bool_)
    dest = np.empty(atom_x.shape[0], np.int64)
    for k in range(n_lines):
        s0 = site_ptr[k]
        s = site_ptr[k + 1] - s0
        a0 = atom_ptr[k]
        n = atom_ptr[k + 1] - a0
        for i in range(n + 1):
            for j in range(s + 1):
                dp[i, j] = _INF
        dp[0, 0] = 0.0
        for j in range(s):
            skip = site_penalty[s0 + j] if site_is_target[s0 + j] else 0.0
            for i in range(min(j, n) + 1):
                v = dp[i, j]
                if v >= _INF:
                    continue
                w = v + skip
                if w < dp[i, j + 1]:
                    dp[i, j + 1] = w
                    took[i, j + 1] = False
                if i < n:
                    dx = atom_x[a0 + i] - site_x[s0 + j]
                    w = v + abs(dx) + 1e-6 * dx * dx
                    if w < dp[i + 1, j + 1]:
                        dp[i + 1, j + 1] = w
                        took[i + 1, j + 1] = True
        i = n
        j = s
        while j > 0 and i > 0:
            if took[i, j]:
                dest[a0 + i - 1] = s0 + j - 1
                i -= 1
            j -= 1
    return dest


@njit(cache=True)
def _row_cost(site, filled, tgt, r, xs, buf_sx, buf_st, buf_ax, dp):
    """Exact cost (µm) of the row phase for row r: order-preserving DP, every target filled.

    Only the feasible band of the DP is visited (enough sites left for the atoms, enough atoms
    left for the target sites), which is narrow when the row has few atoms to spare.
    ``dp`` is scratch space of shape (2, n_cols + 1).
    """
    n_cols = site.shape[1]
    s = 0
    n = 0
    for c in range(n_cols):
        if site[r, c] >= 0:
            buf_sx[s] = xs[c]
            buf_st[s] = tgt[r, c]
            s += 1
        if filled[r, c]:
            buf_ax[n] = xs[c]
            n += 1
    # trem: target sites among j..s-1, kept in a running count from the right
    trem = 0
    for j in range(s):
        if buf_st[j]:
            trem += 1
    prev = 0
    dp[prev, 0] = 0.0
    lo = 0
    hi = 0
    for j in range(s):
        cur = 1 - prev
        tnext = trem - (1 if buf_st[j] else 0)
        nlo = max(0, n - (s - j - 1))
        nhi = min(j + 1, n - tnext)
        for i in range(nlo, nhi + 1):
            dp[cur, i] = _INF
        for i in range(lo, hi + 1):
            v = dp[prev, i]
            if v >= _INF:
                continue
            if not buf_st[j] and nlo <= i <= nhi and v < dp[cur, i]:
                dp[cur, i] = v
            if i < n and nlo <= i + 1 <= nhi:
                w = v + abs(buf_ax[i] - buf_sx[j])
                if w < dp[cur, i + 1]:
                    dp[cur, i + 1] = w
        prev = cur
        lo = nlo
        hi = nhi
        trem = tnext
    if lo <= n <= hi:
        return dp[prev, n]
    return _INF


@njit(cache=True)
def improve_rows(site, occ, filled, tgt, demand, xs, ys, sweeps):
    """Local search after :func:`balance_rows`: fill a row's empty target site vertically.

    For every empty target site, the nearest atom above or below in its column that a row can
    spare (the atoms in between shift along) is moved in when that lowers the column's transport
    cost plus the exact row-phase costs of the two rows. ``filled`` is updated in place.
    """
    n_rows, n_cols = site.shape
    cnt = np.zeros(n_rows, np.int64)
    gv = np.zeros((n_rows, n_cols), np.int64)
    for c in range(n_cols):
        run = 0
        for r in range(n_rows):
            if occ[r, c]:
                run += 1
            if filled[r, c]:
                run -= 1
                cnt[r] += 1
            gv[r, c] = run
    buf_sx = np.empty(n_cols)
    buf_st = np.empty(n_cols, np.bool_)
    buf_ax = np.empty(n_cols)
    dp = np.empty((2, n_cols + 1))
    cost = np.zeros(n_rows)
    for r in range(n_rows):
        if demand[r] > 0 and cnt[r] >= demand[r]:
            cost[r] = _row_cost(site, filled, tgt, r, xs, buf_sx, buf_st, buf_ax, dp)
    for _ in range(sweeps):
        improved = False
        for r in range(n_rows):
            if demand[r] == 0 or cnt[r] < demand[r]:
                continue
            for c in range(n_cols):
                if not tgt[r, c] or filled[r, c]:
                    continue
                best = -1e-9
                best_src = -1
                best_cr = 0.0
                best_cs = 0.0
                for side in range(2):
                    step = -1 if side == 0 else 1
                    src = _nearest_spare(filled, cnt, demand, r, c, step)
                    if src < 0:
                        continue
                    dv = _column_delta(gv, ys, src, r, c)
                    filled[r, c] = True
                    cr = _row_cost(site, filled, tgt, r, xs, buf_sx, buf_st, buf_ax, dp)
                    filled[r, c] = False
                    cs = 0.0
                    if demand[src] > 0:
                        filled[src, c] = False
                        cs = _row_cost(site, filled, tgt, src, xs, buf_sx, buf_st, buf_ax, dp)
                        filled[src, c] = True
                    delta = dv + (cr - cost[r]) + (cs - cost[src])
                    if delta < best:
                        best = delta
                        best_src = src
                        best_cr = cr
                        best_cs = cs
                if best_src >= 0:
                    src = best_src
                    filled[src, c] = False
                    filled[r, c] = True
                    cnt[src] -= 1
                    cnt[r] += 1
                    cost[r] = best_cr
                    cost[src] = best_cs
                    if src < r:
                        for q in range(src, r):
                            gv[q, c] += 1
                    else:
                        for q in range(r, src):
                            gv[q, c] -= 1
                    improved = True
        if not improved:
            break
