"""Single-tweezer hole filling for any layout (and repair after the grid phases).

Atoms already on target sites stay; the empty target sites ("holes") are assigned to the
atoms that are not on target sites by a minimum sum-of-squared-distances assignment
(``scipy.optimize.linear_sum_assignment``), and each assignment becomes one move of a single
tweezer (one x tone, one y tone) along a straight line. A move whose line passes within the
clearance of an occupied trap is resolved before it runs:

* blocked by an atom that sits on a target site: that atom takes over the rest of the path
  and the moving atom fills the blocker's site (same total path when the blocker lies on the
  line; one more move);
* blocked by an atom that is not needed: that atom takes the hole instead (shorter path);
* blocked by an atom that still has to move: wait for it; when nothing can run, the two
  exchange destinations.

Atoms that the AOD cannot reach (outside its range) never move; a path they block is given up
and its hole stays empty (reported by the plan).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment


def first_blocker(
    src: int,
    dst: int,
    occ: NDArray[np.bool_],
    coords: NDArray[np.float64],
    clearance_um: float,
) -> int:
    """The first occupied trap (not ``src``) within ``clearance_um`` of the line src→dst, or -1.

    "First" is nearest to ``src`` along the line.
    """
    a = coords[src]
    ab = coords[dst] - a
    idx = np.flatnonzero(occ)
    idx = idx[idx != src]
    if idx.size == 0:
        return -1
    p = coords[idx] - a
    length2 = float(ab @ ab)
    t = np.clip((p @ ab) / length2, 0.0, 1.0) if length2 > 0 else np.zeros(len(idx))
    d = p - t[:, None] * ab
    close = np.einsum("ij,ij->i", d, d) < clearance_um * clearance_um
    if not np.any(close):
        return -1
    return int(idx[close][np.argmin(t[close])])


def fill_holes(
    occ: NDArray[np.bool_],
    coords: NDArray[np.float64],
    targets: NDArray[np.int64],
    mobile: NDArray[np.bool_],
    clearance_um: float,
    pass_through: bool,
) -> list[tuple[int, int]]:
    """Fill the empty sites of ``targets`` with single-tweezer moves; ``occ`` is updated.

    ``targets`` is in order of preference (the first are filled when atoms are short).
    Returns the moves in execution order as (from_trap, to_trap).
    """
    is_target = np.zeros(len(occ), dtype=bool)
    is_target[targets] = True
    holes = targets[~occ[targets]]
    cands = np.flatnonzero(occ & mobile & ~is_target)
    if holes.size == 0 or cands.size == 0:
        return []
    holes = holes[: cands.size]
    diff = coords[cands][:, None, :] - coords[holes][None, :, :]
    cost = np.einsum("ijk,ijk->ij", diff, diff)
    rows, cols = linear_sum_assignment(cost)
    pending = {int(cands[r]): int(holes[c]) for r, c in zip(rows, cols)}
    clearance = 0.0 if pass_through else clearance_um

    def blocker(s: int, d: int) -> int:
        if clearance <= 0.0:
            return -1
        return first_blocker(s, d, occ, coords, clearance)

    def length(s: int) -> float:
        return float(np.hypot(*(coords[pending[s]] - coords[s])))

    moves: list[tuple[int, int]] = []
    budget = 20 * len(pending) + 50
    while pending and budget > 0:
        budget -= 1
        progressed = False
        for s in sorted(pending, key=length):
            if s not in pending:
                continue
            d = pending[s]
            if occ[d]:
                continue  # its occupant still has to leave
            b = blocker(s, d)
            if b < 0:
                occ[s] = False
                occ[d] = True
                moves.append((s, d))
                del pending[s]
                progressed = True
            elif b not in pending and mobile[b]:
                del pending[s]
                pending[b] = d
                if is_target[b]:
                    pending[s] = b
                progressed = True
        if progressed:
            continue
        swapped = False
        for s, d in list(pending.items()):
            if occ[d]:
                continue
            b = blocker(s, d)
            if b >= 0 and b in pending:
                pending[s], pending[b] = pending[b], d
                swapped = True
                break
        if not swapped:
            break  # only unreachable blockers left: those holes stay empty
    return moves
