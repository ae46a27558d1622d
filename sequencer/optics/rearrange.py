"""Atom rearrangement: assign loaded atoms to target traps and plan parallel 2D-AOD moves.

The model (see ``docs/optics-rearrangement.md``):

* A move is made by a crossed pair of acousto-optic deflectors (AODs). ``n_x`` RF tones on the
  x deflector and ``n_y`` on the y deflector make a tweezer at **every** intersection
  ``(x_i, y_j)``. At pick-up the tweezers are ramped on at the start positions and every atom
  sitting at an intersection is carried, wanted or not; at drop-off they are ramped off at the
  end positions and each carried atom must land in an empty trap.
* All tones of a move share one duration ``T`` and follow the minimum-jerk profile
  ``x(t) = x0 + (x1 - x0)·s(t/T)``, ``s(u) = 10u³ − 15u⁴ + 6u⁵``. A tweezer therefore moves on
  the straight line between its start and end, and the gap between two tones of one axis is
  interpolated linearly: tones listed in increasing order at both ends with at least the
  minimum separation keep order and separation for the whole move (they never cross).
* ``T`` is the shortest time that keeps the peak speed ``1.875·d/T`` and the peak acceleration
  ``5.774·d/T²`` of the longest tweezer displacement ``d`` within the limits.
* Unless :attr:`AODConstraints.allow_pass_through`, no tweezer, carrying an atom or empty, may
  come within :attr:`AODConstraints.clearance_um` of an occupied trap that is not being moved.

The planner uses row moves (one y tone, several x tones) and column moves (one x tone,
several y tones) on layouts that sit on an axis-aligned grid, and single-tweezer moves
elsewhere and to repair what the grid phases left.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sequencer.optics._profile import (
    PEAK_ACCEL_FACTOR,
    PEAK_SPEED_FACTOR,
    min_jerk,
    min_jerk_duration_us,
)
from sequencer.optics._rearrange_generic import fill_holes
from sequencer.optics._rearrange_grid import Move, grid_moves
from sequencer.optics.errors import OpticsError
from sequencer.register import Register, RegisterLayout

__all__ = [
    "AODConstraints",
    "ParallelMove",
    "RearrangementPlan",
    "plan",
]

SITE_TOLERANCE_UM = 1e-3
"""A tweezer within this distance of a trap (µm) is on the trap."""
_BIG = 1e9  # cost of leaving a target site empty in the row programme (µm-equivalent)
_REL = 1e-9  # relative slack on the speed and acceleration limits


class AODConstraints(BaseModel):
    """What the 2D AOD and the atoms allow during a rearrangement move.

    Defaults are typical of published tweezer arrays: tens of tones per axis, minimum-jerk moves
    at ≈0.4 µm/µs average speed (peak 0.75 µm/µs) and ≤ 2750 m/s² (= 2.75e-3 µm/µs²), so a
    5 µm move takes ≈100 µs and a 50 µm move ≈320 µs, plus 100 µs to pick up and to drop.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_tones_x: int = Field(
        default=32, ge=1, le=1024, description="Most RF tones on the x deflector at once (1..1024)."
    )
    max_tones_y: int = Field(
        default=32, ge=1, le=1024, description="Most RF tones on the y deflector at once (1..1024)."
    )
    x_range_um: tuple[float, float] = Field(
        default=(-100.0, 100.0),
        description="Reachable x of a tweezer in the atom plane, (low, high) µm, low < high.",
    )
    y_range_um: tuple[float, float] = Field(
        default=(-100.0, 100.0),
        description="Reachable y of a tweezer in the atom plane, (low, high) µm, low < high.",
    )
    min_tone_separation_um: float = Field(
        default=3.0,
        gt=0.0,
        le=1000.0,
        description="Smallest distance between two tones of one axis, µm (0 < value ≤ 1000).",
    )
    clearance_um: float = Field(
        default=2.0,
        ge=0.0,
        le=1000.0,
        description=(
            "Smallest distance a moving tweezer may come to an occupied trap that is not part "
            "of the move, µm (0 ≤ value ≤ 1000); ignored with allow_pass_through."
        ),
    )
    max_speed_um_per_us: float = Field(
        default=0.75,
        gt=0.0,
        le=100.0,
        description="Peak tweezer speed, µm/µs (0 < value ≤ 100); 1 µm/µs = 1 m/s.",
    )
    max_accel_um_per_us2: float = Field(
        default=2.75e-3,
        gt=0.0,
        le=10.0,
        description="Peak tweezer acceleration, µm/µs² (0 < value ≤ 10); 1e-3 µm/µs² = 1000 m/s².",
    )
    pickup_time_us: float = Field(
        default=100.0,
        ge=0.0,
        le=1e5,
        description="Time to ramp the tweezers on (pick-up), and again to ramp them off "
        "(drop-off), µs (0 ≤ value ≤ 1e5).",
    )
    allow_pass_through: bool = Field(
        default=False,
        description="Whether a moving tweezer may pass over an occupied trap (atoms still "
        "never land on an occupied trap).",
    )

    @field_validator("x_range_um", "y_range_um")
    @classmethod
    def _check_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        lo, hi = value
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"range must be finite with low < high µm; got {value}")
        return value

    def move_duration_us(self, distance_um: float) -> float:
        """Duration of a minimum-jerk move of ``distance_um`` within the speed/accel limits."""
        return float(
            min_jerk_duration_us(distance_um, self.max_speed_um_per_us, self.max_accel_um_per_us2)
        )


def _durations(dmax: NDArray[np.float64], c: AODConstraints) -> NDArray[np.float64]:
    return min_jerk_duration_us(dmax, c.max_speed_um_per_us, c.max_accel_um_per_us2)


class ParallelMove(BaseModel):
    """One AOD move: tone positions at start and end (atom plane, µm) and what it carries.

    ``x_start_um[i] → x_end_um[i]`` is x tone ``i`` and ``y_start_um[j] → y_end_um[j]`` y tone
    ``j``, each listed in increasing position at both ends (tones never cross). A tweezer sits at
    every intersection; ``carries`` lists ``(from_trap, to_trap)`` for every atom it carries.
    All tones follow :func:`~sequencer.optics.min_jerk` over ``duration_us``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    x_start_um: tuple[float, ...] = Field(description="x tones at pick-up, increasing, µm.")
    x_end_um: tuple[float, ...] = Field(description="x tones at drop-off, increasing, µm.")
    y_start_um: tuple[float, ...] = Field(description="y tones at pick-up, increasing, µm.")
    y_end_um: tuple[float, ...] = Field(description="y tones at drop-off, increasing, µm.")
    carries: tuple[tuple[int, int], ...] = Field(
        description="(from_trap, to_trap) of every atom carried."
    )
    duration_us: float = Field(gt=0.0, description="Duration of the move (without pick-up), µs.")

    @model_validator(mode="after")
    def _check_tones(self) -> ParallelMove:
        for axis, start, end in (
            ("x", self.x_start_um, self.x_end_um),
            ("y", self.y_start_um, self.y_end_um),
        ):
            if len(start) == 0 or len(start) != len(end):
                raise ValueError(
                    f"{axis} tones need as many start as end positions (≥ 1); got "
                    f"{len(start)} and {len(end)}"
                )
            for name, arr in (("start", start), ("end", end)):
                a = np.asarray(arr)
                if not np.all(np.isfinite(a)):
                    raise ValueError(f"{axis} tone {name} positions must be finite; got {arr}")
                if np.any(np.diff(a) <= 0):
                    raise ValueError(
                        f"{axis} tone {name} positions must be strictly increasing (tones "
                        f"never cross); got {arr}"
                    )
        return self

    @property
    def n_tones(self) -> tuple[int, int]:
        """(x tones, y tones)."""
        return len(self.x_start_um), len(self.y_start_um)

    @property
    def max_displacement_um(self) -> float:
        """Longest tweezer displacement of the move, µm."""
        dx = np.abs(np.subtract(self.x_end_um, self.x_start_um)).max()
        dy = np.abs(np.subtract(self.y_end_um, self.y_start_um)).max()
        return float(np.hypot(dx, dy))

    @property
    def peak_speed_um_per_us(self) -> float:
        """Peak tweezer speed, 1.875·d/T (µm/µs)."""
        return PEAK_SPEED_FACTOR * self.max_displacement_um / self.duration_us

    @property
    def peak_accel_um_per_us2(self) -> float:
        """Peak tweezer acceleration, 5.774·d/T² (µm/µs²)."""
        return PEAK_ACCEL_FACTOR * self.max_displacement_um / self.duration_us**2

    def tone_positions(self, t_us: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(x tones, y tones) in µm at ``t_us`` after the start of the move."""
        s = float(min_jerk(t_us / self.duration_us))
        x0, x1 = np.asarray(self.x_start_um), np.asarray(self.x_end_um)
        y0, y1 = np.asarray(self.y_start_um), np.asarray(self.y_end_um)
        return x0 + (x1 - x0) * s, y0 + (y1 - y0) * s


class RearrangementPlan(BaseModel):
    """The result of :func:`plan`: assignment, parallel moves and their cost.

    ``assignment`` pairs the initial trap of every atom that ends on a target site with that
    site, in target order. Path lengths count every carried atom, including atoms pushed out of
    the way. Times include ``2·pickup_time_us`` per move.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    initial_sites: tuple[int, ...] = Field(description="Occupied traps before the moves, sorted.")
    target_sites: tuple[int, ...] = Field(description="Requested target traps, in given order.")
    assignment: tuple[tuple[int, int], ...] = Field(
        description="(initial trap, target trap) of every filled target site, in target order."
    )
    moves: tuple[ParallelMove, ...] = Field(description="Moves, in execution order.")
    final_sites: tuple[int, ...] = Field(description="Occupied traps after the moves, sorted.")
    missing_sites: tuple[int, ...] = Field(description="Target traps left empty.")
    total_path_um: float = Field(ge=0.0, description="Sum of all atoms' path lengths, µm.")
    longest_move_um: float = Field(
        ge=0.0, description="Longest path of one atom over the whole plan, µm."
    )
    total_time_us: float = Field(
        ge=0.0, description="Σ over moves of (duration + 2·pickup_time_us), µs."
    )
    defect_free: bool = Field(description="Every target site is filled.")
    constraints: AODConstraints = Field(description="Constraints the plan was made for.")

    @property
    def n_moves(self) -> int:
        """Number of parallel moves."""
        return len(self.moves)

    def replay(
        self, layout: RegisterLayout, occupied_sites: Iterable[int] | None = None
    ) -> tuple[frozenset[int], ...]:
        """Replay the moves on ``occupied_sites`` (default: :attr:`initial_sites`), checking each.

        Returns the occupancy before the first move and after each move. Raises
        :class:`OpticsError` on a constraint violation (tone count, range, separation, order,
        speed, acceleration), an atom carried that the move does not list, a tweezer passing
        within the clearance of an occupied trap, an atom dropped off a trap or onto an
        occupied one; replaying the plan's own initial sites must end in :attr:`final_sites`.
        """
        coords = layout.coords
        own = occupied_sites is None
        sites = self.initial_sites if occupied_sites is None else occupied_sites
        occ_ids = _trap_ids(sites, layout.n_traps, "occupied_sites", allow_empty=True)
        occ = np.zeros(layout.n_traps, dtype=bool)
        occ[occ_ids] = True
        states = [frozenset(occ_ids.tolist())]
        for k, move in enumerate(self.moves):
            _check_move(k, move, occ, coords, self.constraints)
            states.append(frozenset(np.flatnonzero(occ).tolist()))
        if own and states[-1] != frozenset(self.final_sites):
            raise OpticsError("replaying the plan does not end in its final_sites")
        return tuple(states)


def _check_move(
    k: int,
    move: ParallelMove,
    occ: NDArray[np.bool_],
    coords: NDArray[np.float64],
    c: AODConstraints,
) -> None:
    """Check one move against the constraints and the occupancy; apply it to ``occ``."""
    eps = 1e-9
    x0, x1 = np.asarray(move.x_start_um), np.asarray(move.x_end_um)
    y0, y1 = np.asarray(move.y_start_um), np.asarray(move.y_end_um)
    for axis, a0, a1, limit, (lo, hi) in (
        ("x", x0, x1, c.max_tones_x, c.x_range_um),
        ("y", y0, y1, c.max_tones_y, c.y_range_um),
    ):
        if len(a0) > limit:
            raise OpticsError(
                f"move {k}: {len(a0)} {axis} tones, more than max_tones_{axis}={limit}"
            )
        for name, arr in (("start", a0), ("end", a1)):
            out = arr[(arr < lo - eps) | (arr > hi + eps)]
            if out.size:
                raise OpticsError(
                    f"move {k}: {axis} tone {name} at {out[0]:g} µm outside "
                    f"{axis}_range_um [{lo:g}, {hi:g}]"
                )
            gaps = np.diff(arr)
            if gaps.size and gaps.min() < c.min_tone_separation_um - 1e-6:
                raise OpticsError(
                    f"move {k}: {axis} tones {name} {gaps.min():g} µm apart (or crossing); "
                    f"min_tone_separation_um is {c.min_tone_separation_um:g}"
                )
    dmax = float(np.hypot(np.abs(x1 - x0).max(), np.abs(y1 - y0).max()))
    speed = PEAK_SPEED_FACTOR * dmax / move.duration_us
    accel = PEAK_ACCEL_FACTOR * dmax / move.duration_us**2
    if speed > c.max_speed_um_per_us * (1 + _REL):
        raise OpticsError(
            f"move {k}: peak speed {speed:.4g} µm/µs over max_speed_um_per_us="
            f"{c.max_speed_um_per_us:g} (d={dmax:g} µm, T={move.duration_us:g} µs)"
        )
    if accel > c.max_accel_um_per_us2 * (1 + _REL):
        raise OpticsError(
            f"move {k}: peak acceleration {accel:.4g} µm/µs² over max_accel_um_per_us2="
            f"{c.max_accel_um_per_us2:g} (d={dmax:g} µm, T={move.duration_us:g} µs)"
        )
    p0 = np.stack(np.meshgrid(x0, y0, indexing="ij"), axis=-1).reshape(-1, 2)
    p1 = np.stack(np.meshgrid(x1, y1, indexing="ij"), axis=-1).reshape(-1, 2)
    d0 = np.linalg.norm(p0[:, None, :] - coords[None, :, :], axis=-1)
    near0 = np.argmin(d0, axis=1)
    on0 = d0[np.arange(len(p0)), near0] <= SITE_TOLERANCE_UM
    carried = on0 & occ[near0]
    from_traps = near0[carried]
    stationary = occ.copy()
    stationary[from_traps] = False
    st = np.flatnonzero(stationary)
    if not c.allow_pass_through and st.size and c.clearance_um > 0:
        ab = p1 - p0
        rel = coords[st][None, :, :] - p0[:, None, :]
        l2 = np.einsum("ij,ij->i", ab, ab)
        t = np.where(
            l2[:, None] > 0,
            np.einsum("ijk,ik->ij", rel, ab) / np.where(l2 > 0, l2, 1.0)[:, None],
            0.0,
        )
        t = np.clip(t, 0.0, 1.0)
        gap = np.linalg.norm(rel - t[:, :, None] * ab[:, None, :], axis=-1)
        bad = np.argwhere(gap < c.clearance_um - 1e-6)
        if bad.size:
            i, j = bad[0]
            raise OpticsError(
                f"move {k}: tweezer {p0[i].tolist()} → {p1[i].tolist()} µm passes "
                f"{gap[i, j]:.3g} µm from occupied trap {int(st[j])}; clearance_um is "
                f"{c.clearance_um:g} (allow_pass_through is False)"
            )
    ends = p1[carried]
    d1 = np.linalg.norm(ends[:, None, :] - coords[None, :, :], axis=-1)
    near1 = np.argmin(d1, axis=1) if len(ends) else np.zeros(0, dtype=np.int64)
    off = d1[np.arange(len(ends)), near1] > SITE_TOLERANCE_UM
    if np.any(off):
        i = int(np.flatnonzero(off)[0])
        raise OpticsError(
            f"move {k}: atom from trap {int(from_traps[i])} dropped at {ends[i].tolist()} µm, "
            "which is not a trap"
        )
    landed = stationary[near1]
    if np.any(landed):
        i = int(np.flatnonzero(landed)[0])
        raise OpticsError(
            f"move {k}: atom from trap {int(from_traps[i])} dropped on occupied trap "
            f"{int(near1[i])} (collision)"
        )
    if len(set(near1.tolist())) != len(near1):
        raise OpticsError(f"move {k}: two atoms dropped on the same trap")
    physical = set(zip(from_traps.tolist(), near1.tolist()))
    listed = set(move.carries)
    if physical != listed:
        raise OpticsError(
            f"move {k}: the tweezers carry {sorted(physical - listed)} not listed in carries, "
            f"and carries lists {sorted(listed - physical)} that no tweezer carries"
        )
    occ[from_traps] = False
    occ[near1] = True


def _trap_ids(values: Any, n_traps: int, what: str, *, allow_empty: bool) -> NDArray[np.int64]:
    """Validate trap indices (or a boolean mask of length n_traps) → int64 array."""
    if isinstance(values, str | bytes):
        raise OpticsError(f"{what} must be trap indices; got {values!r}")
    try:
        arr = np.asarray(values if isinstance(values, np.ndarray) else list(values))
    except TypeError:
        raise OpticsError(f"{what} must be an iterable of trap indices; got {values!r}") from None
    if arr.dtype == np.bool_ and arr.ndim == 1 and len(arr) == n_traps:
        arr = np.flatnonzero(arr)
    if arr.size == 0:
        if not allow_empty:
            raise OpticsError(f"{what} must hold at least one trap; got none")
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1:
        raise OpticsError(f"{what} must be a flat list of trap indices; got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        bad = [v for v in arr.tolist() if isinstance(v, bool) or not float(v).is_integer()]
        if arr.dtype.kind not in "f" or bad:
            raise OpticsError(
                f"{what} must be integer trap indices; got {(bad or arr.tolist())[:5]}"
            )
    ids = arr.astype(np.int64)
    out = ids[(ids < 0) | (ids >= n_traps)]
    if out.size:
        raise OpticsError(
            f"{what} {sorted(set(out.tolist()))[:10]} not in the layout: trap indices run "
            f"0..{n_traps - 1}"
        )
    uniq, counts = np.unique(ids, return_counts=True)
    if np.any(counts > 1):
        raise OpticsError(f"{what} lists traps more than once: {uniq[counts > 1].tolist()[:10]}")
    return ids


def _target_ids(target: Register | Iterable[int], layout: RegisterLayout) -> NDArray[np.int64]:
    if isinstance(target, Register):
        if target.trap_ids is None or target.layout is None:
            raise OpticsError(
                "target register was not defined from a layout (no trap ids); use "
                "layout.define_register(*trap_ids)"
            )
        if target.layout != layout:
            raise OpticsError(
                f"target register belongs to {target.layout!r}, not to the planned {layout!r}"
            )
        return _trap_ids(target.trap_ids, layout.n_traps, "target", allow_empty=False)
    return _trap_ids(target, layout.n_traps, "target", allow_empty=False)


def _in_range(coords: NDArray[np.float64], c: AODConstraints) -> NDArray[np.bool_]:
    (xlo, xhi), (ylo, yhi) = c.x_range_um, c.y_range_um
    x, y = coords[:, 0], coords[:, 1]
    return np.asarray((x >= xlo) & (x <= xhi) & (y >= ylo) & (y <= yhi))


def _by_centrality(targets: NDArray[np.int64], coords: NDArray[np.float64]) -> NDArray[np.int64]:
    """Targets sorted from the centre of the target outwards (ties by trap index)."""
    pts = coords[targets]
    dist = np.round(np.linalg.norm(pts - pts.mean(axis=0), axis=1), 6)
    return targets[np.lexsort((targets, dist))]


def _grid(
    coords: NDArray[np.float64], c: AODConstraints
) -> (
    tuple[
        NDArray[np.int64],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.int64],
        NDArray[np.int64],
    ]
    | None
):
    """The axis-aligned grid the traps sit on, if line moves can be used on it."""
    rx = np.round(coords[:, 0], 6)
    ry = np.round(coords[:, 1], 6)
    xs, ci = np.unique(rx, return_inverse=True)
    ys, ri = np.unique(ry, return_inverse=True)
    n = len(coords)
    if len(xs) * len(ys) > 4 * n:
        return None
    need = max(c.min_tone_separation_um, c.clearance_um)
    if (len(xs) > 1 and np.diff(xs).min() < need) or (len(ys) > 1 and np.diff(ys).min() < need):
        return None
    site = np.full((len(ys), len(xs)), -1, dtype=np.int64)
    site[ri, ci] = np.arange(n)
    return (
        site,
        xs.astype(np.float64),
        ys.astype(np.float64),
        ri.astype(np.int64),
        ci.astype(np.int64),
    )


def plan(
    occupied_sites: Iterable[int],
    target: Register | Iterable[int],
    layout: RegisterLayout,
    constraints: AODConstraints | None = None,
) -> RearrangementPlan:
    """Plan the moves that bring the atoms in ``occupied_sites`` onto ``target``.

    ``occupied_sites``: indices of the traps of ``layout`` holding an atom (or a boolean mask of
    length ``layout.n_traps``); ``target``: a register defined from ``layout`` (its trap ids are
    used) or trap indices. ``constraints`` defaults to :class:`AODConstraints()`.

    With fewer reachable atoms than target sites, the target sites nearest the centre of the
    target are filled and the plan reports ``defect_free=False``. Raises :class:`OpticsError` for
    trap indices outside the layout, duplicates, an empty target, target traps the AOD cannot
    reach, or arguments of the wrong type.
    """
    if not isinstance(layout, RegisterLayout):
        raise OpticsError(f"layout must be a RegisterLayout; got {type(layout).__name__}")
    c = AODConstraints() if constraints is None else constraints
    if not isinstance(c, AODConstraints):
        raise OpticsError(f"constraints must be AODConstraints; got {type(c).__name__}")
    coords = layout.coords
    n_traps = layout.n_traps
    occ_ids = np.sort(_trap_ids(occupied_sites, n_traps, "occupied_sites", allow_empty=True))
    tgt_ids = _target_ids(target, layout)
    reach = _in_range(coords, c)
    unreachable = tgt_ids[~reach[tgt_ids]]
    if unreachable.size:
        t = int(unreachable[0])
        raise OpticsError(
            f"target trap {t} at {coords[t].tolist()} µm is outside the AOD range "
            f"x {list(c.x_range_um)}, y {list(c.y_range_um)} µm"
        )
    occ = np.zeros(n_traps, dtype=bool)
    occ[occ_ids] = True
    mobile = occ & reach
    ordered = _by_centrality(tgt_ids, coords)
    effective = ordered[: int(mobile.sum())]

    moves: list[Move] = []
    grid = _grid(coords, c) if bool(reach.all()) else None
    if grid is not None and effective.size:
        site, xs, ys, ri, ci = grid
        occ_g = np.zeros(site.shape, dtype=bool)
        occ_g[ri[occ_ids], ci[occ_ids]] = True
        tgt_g = np.zeros(site.shape, dtype=bool)
        tgt_g[ri[effective], ci[effective]] = True
        centre = coords[tgt_ids].mean(axis=0)
        penalty = np.full(site.shape, _BIG)
        penalty[ri, ci] = _BIG - np.linalg.norm(coords - centre, axis=1)
        moves, final_g = grid_moves(
            site, xs, ys, occ_g, tgt_g, penalty, c.max_tones_x, c.max_tones_y
        )
        occ = np.zeros(n_traps, dtype=bool)
        occ[site[final_g]] = True
    if effective.size:
        extra = fill_holes(occ, coords, effective, reach, c.clearance_um, c.allow_pass_through)
        moves += [(2, np.array([s_]), np.array([d_])) for s_, d_ in extra]
    return _assemble(occ_ids, tgt_ids, moves, coords, c)


def _assemble(
    occ_ids: NDArray[np.int64],
    tgt_ids: NDArray[np.int64],
    moves: list[Move],
    coords: NDArray[np.float64],
    c: AODConstraints,
) -> RearrangementPlan:
    n_moves = len(moves)
    atom_at = np.full(len(coords), -1, dtype=np.int64)
    atom_at[occ_ids] = np.arange(len(occ_ids))
    who = []
    for _, f, t in moves:
        carried = atom_at[f]
        atom_at[f] = -1
        atom_at[t] = carried
        who.append(carried)
    sizes = [len(f) for _, f, _ in moves]
    bounds = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    if n_moves:
        pf = np.concatenate([f for _, f, _ in moves])
        pt = np.concatenate([t for _, _, t in moves])
        pa = np.concatenate(who)
    else:
        pf = pt = pa = np.zeros(0, dtype=np.int64)
    seg = np.linalg.norm(coords[pt] - coords[pf], axis=1)
    path = np.bincount(pa, weights=seg, minlength=len(occ_ids))
    dmax = np.maximum.reduceat(seg, bounds[:-1]) if n_moves else np.zeros(0)
    durations = _durations(dmax, c)
    fx, fy = coords[pf, 0].tolist(), coords[pf, 1].tolist()
    tx, ty = coords[pt, 0].tolist(), coords[pt, 1].tolist()
    carries = list(zip(pf.tolist(), pt.tolist()))
    built: list[ParallelMove] = []
    for k, (kind, _, _) in enumerate(moves):
        a, b = int(bounds[k]), int(bounds[k + 1])
        if kind == 0:  # column move: one x tone, y tones in increasing order
            xs0, xs1 = (fx[a],), (tx[a],)
            ys0, ys1 = tuple(fy[a:b]), tuple(ty[a:b])
        elif kind == 1:  # row move: one y tone
            ys0, ys1 = (fy[a],), (ty[a],)
            xs0, xs1 = tuple(fx[a:b]), tuple(tx[a:b])
        else:  # single tweezer
            xs0, xs1, ys0, ys1 = (fx[a],), (tx[a],), (fy[a],), (ty[a],)
        built.append(
            ParallelMove.model_construct(
                x_start_um=xs0,
                x_end_um=xs1,
                y_start_um=ys0,
                y_end_um=ys1,
                carries=tuple(carries[a:b]),
                duration_us=float(durations[k]),
            )
        )
    held = atom_at[tgt_ids]
    filled = held >= 0
    assignment = tuple(zip(occ_ids[held[filled]].tolist(), tgt_ids[filled].tolist()))
    return RearrangementPlan.model_construct(
        initial_sites=tuple(occ_ids.tolist()),
        target_sites=tuple(tgt_ids.tolist()),
        assignment=assignment,
        moves=tuple(built),
        final_sites=tuple(np.flatnonzero(atom_at >= 0).tolist()),
        missing_sites=tuple(tgt_ids[~filled].tolist()),
        total_path_um=float(path.sum()),
        longest_move_um=float(path.max()) if path.size else 0.0,
        total_time_us=float(durations.sum() + 2 * c.pickup_time_us * n_moves),
        defect_free=bool(filled.all()),
        constraints=c,
    )
