"""Column-then-row line moves for layouts on an axis-aligned grid (see ``_rearrange_kernels``).

Every move here is a 1D move of one line: a column move has one x tone (fixed) and one y tone
per moving atom of the column; a row move has one y tone and one x tone per moving atom. All
the atoms of the line are reassigned in their order, so no atom passes over another: an atom
that stays put is never between a moving atom's start and end (order kept), and two moving
atoms keep their order and their distance ≥ the grid pitch.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from sequencer.optics._rearrange_kernels import balance_rows, improve_rows, rows_dp

_SWEEPS = 3  # local-search sweeps after the greedy row balancing

Move = tuple[int, NDArray[np.int64], NDArray[np.int64]]
"""(kind, from traps, to traps); kind 0: column move, 1: row move, 2: single tweezer."""


def _line_moves(
    kind: int,
    line: NDArray[np.int64],
    src: NDArray[np.int64],
    dst: NDArray[np.int64],
    step: NDArray[np.float64],
    max_tones: int,
) -> list[Move]:
    """Group moving atoms (sorted by line, then start position) into moves of ≤ max_tones.

    A line with too many moving atoms is split: the atoms moving down (``step`` < 0) in chunks
    from the low end, then those moving up in chunks from the high end; a chunk then never
    passes over an atom of the line that is still to move.
    """
    if line.size == 0:
        return []
    starts = np.flatnonzero(np.r_[True, line[1:] != line[:-1]]).tolist()
    ends = [*starts[1:], len(line)]
    out: list[Move] = []
    for a, b in zip(starts, ends):
        if b - a <= max_tones:
            out.append((kind, src[a:b], dst[a:b]))
            continue
        down = a + np.flatnonzero(step[a:b] < 0)
        up = a + np.flatnonzero(step[a:b] > 0)
        for i in range(0, len(down), max_tones):
            idx = down[i : i + max_tones]
            out.append((kind, src[idx], dst[idx]))
        for hi in range(len(up), 0, -max_tones):
            idx = up[max(0, hi - max_tones) : hi]
            out.append((kind, src[idx], dst[idx]))
    return out


def grid_moves(
    site: NDArray[np.int64],
    xs: NDArray[np.float64],
    ys: NDArray[np.float64],
    occ: NDArray[np.bool_],
    tgt: NDArray[np.bool_],
    penalty: NDArray[np.float64],
    max_tones_x: int,
    max_tones_y: int,
) -> tuple[list[Move], NDArray[np.bool_]]:
    """Column moves then row moves on the grid; returns the moves and the final (R, C) occupancy.

    ``penalty[r, c]`` is the cost of leaving target site (r, c) empty (large).
    """
    demand = tgt.sum(axis=1).astype(np.int64)
    order = np.argsort(-(demand - occ.sum(axis=1)), kind="stable").astype(np.int64)
    filled = balance_rows(site, occ, tgt, demand, order, xs, ys)
    improve_rows(site, occ, filled, tgt, demand, xs, ys, _SWEEPS)

    # Column phase: the i-th atom of a column (by y) goes to the i-th chosen row of the column.
    c0, r0 = np.nonzero(occ.T)
    c1, r1 = np.nonzero(filled.T)
    mv = r0 != r1
    moves = _line_moves(
        0, c0[mv], site[r0[mv], c0[mv]], site[r1[mv], c1[mv]], ys[r1[mv]] - ys[r0[mv]], max_tones_y
    )

    # Row phase: order-preserving programme per row with target sites.
    rows = np.flatnonzero(demand > 0)
    sk, scol = np.nonzero(site[rows] >= 0)
    ak, acol = np.nonzero(filled[rows])
    site_ptr = np.r_[0, np.cumsum(np.bincount(sk, minlength=len(rows)))].astype(np.int64)
    atom_ptr = np.r_[0, np.cumsum(np.bincount(ak, minlength=len(rows)))].astype(np.int64)
    srow = rows[sk]
    dest = rows_dp(
        site_ptr,
        xs[scol],
        tgt[srow, scol],
        penalty[srow, scol],
        atom_ptr,
        xs[acol],
    )
    arow = rows[ak]
    tcol = scol[dest]
    mv = tcol != acol
    moves += _line_moves(
        1,
        arow[mv],
        site[arow[mv], acol[mv]],
        site[arow[mv], tcol[mv]],
        xs[tcol[mv]] - xs[acol[mv]],
        max_tones_x,
    )
    final = filled.copy()
    final[arow, acol] = False
    final[arow, tcol] = True
    return moves, final
