"""Benchmark: rearrangement planning time and quality against scipy's optimal assignment.

For square arrays (5 µm pitch) loaded at random (50 %), a centred square target (side ≈ 0.69 of
the array: 11×11 in 16×16, 22×22 in 32×32) is planned for ``--fills`` seeded fills. Reported:

* our planning time (median and worst over the fills, each the best of 3 calls);
* scipy ``linear_sum_assignment`` time on the L1 (cityblock) cost, cost matrix included;
* total path / the optimal assignment's total path, on L1 (our moves are rows and columns, so
  L1 is the metric of our paths) and on L2 (the bound for any straight-line plan);
* our longest atom path / the L1 optimum's longest assignment distance;
* parallel moves per plan (single-tweezer repair moves among them) and the physical time;
* the fraction of fills planned defect-free, and the fraction that have enough atoms at all.

Run: ``.venv/bin/python benchmarks/optics_rearrange.py [--fills 50] [sides...]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from sequencer.optics.rearrange import plan
from sequencer.register import RegisterLayout


def _target(side: int, tside: int) -> list[int]:
    off = (side - tside) // 2
    return [r * side + c for r in range(off, off + tside) for c in range(off, off + tside)]


def _lsa(coords: np.ndarray, occ: np.ndarray, tgt: list[int], metric: str) -> tuple[float, float]:
    cost = cdist(coords[occ], coords[tgt], metric=metric)
    r, c = linear_sum_assignment(cost)
    return float(cost[r, c].sum()), float(cost[r, c].max())


def main(sides: list[int], fills: int, filling: float) -> None:
    """Print one table row per array size."""
    print(
        "| sites | target | ours ms (median / max) | scipy LSA ms | path / LSA-L1 (mean / max) "
        "| path / LSA-L2 | longest / LSA-L1 longest | moves (repair) | move time ms "
        "| defect-free | enough atoms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for side in sides:
        tside = round(side * 22 / 32)
        layout = RegisterLayout.square(side, 5.0)
        coords = layout.coords
        tgt = _target(side, tside)
        plan(np.arange(0, side * side, 2), tgt, layout)  # compile / load the numba cache
        ours, lsa_t, r1, r2, rmax, nmoves, nrep, ttime = [], [], [], [], [], [], [], []
        ok = enough = 0
        for seed in range(fills):
            occ = np.flatnonzero(np.random.default_rng(seed).random(side * side) < filling)
            best = np.inf
            for _ in range(3):
                t0 = time.perf_counter()
                result = plan(occ, tgt, layout)
                best = min(best, time.perf_counter() - t0)
            ours.append(best)
            ok += result.defect_free
            nmoves.append(result.n_moves)
            nrep.append(sum(m.n_tones == (1, 1) for m in result.moves))
            ttime.append(result.total_time_us / 1e3)
            if len(occ) < len(tgt):
                continue
            enough += 1
            t0 = time.perf_counter()
            l1, l1max = _lsa(coords, occ, tgt, "cityblock")
            lsa_t.append(time.perf_counter() - t0)
            l2, _ = _lsa(coords, occ, tgt, "euclidean")
            r1.append(result.total_path_um / l1)
            r2.append(result.total_path_um / l2)
            rmax.append(result.longest_move_um / l1max)
        print(
            f"| {side * side} | {tside}×{tside} "
            f"| {np.median(ours) * 1e3:.2f} / {np.max(ours) * 1e3:.2f} "
            f"| {np.median(lsa_t) * 1e3:.0f} "
            f"| {np.mean(r1):.3f} / {np.max(r1):.3f} | {np.mean(r2):.3f} "
            f"| {np.mean(rmax):.2f} | {np.mean(nmoves):.1f} ({np.mean(nrep):.1f}) "
            f"| {np.mean(ttime):.1f} | {ok}/{fills} | {enough}/{fills} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sides", nargs="*", type=int, default=[16, 32])
    parser.add_argument("--fills", type=int, default=50)
    parser.add_argument("--filling", type=float, default=0.5)
    args = parser.parse_args()
    main(args.sides, args.fills, args.filling)
