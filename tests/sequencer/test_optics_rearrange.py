"""Tests for the rearrangement planner (assignment, collision-free parallel AOD moves)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from sequencer.optics import (
    AODConstraints,
    OpticsError,
    ParallelMove,
    RearrangementPlan,
    min_jerk,
    min_jerk_duration_us,
    plan,
)
from sequencer.register import Register, RegisterLayout

PITCH = 5.0


def _centred_target(side: int, tside: int) -> list[int]:
    off = (side - tside) // 2
    return [r * side + c for r in range(off, off + tside) for c in range(off, off + tside)]


def _fill(n_traps: int, p: float, seed: int) -> np.ndarray:
    return np.flatnonzero(np.random.default_rng(seed).random(n_traps) < p)


def _simulate(
    layout: RegisterLayout,
    initial: list[int] | np.ndarray,
    moves: tuple[ParallelMove, ...],
    c: AODConstraints,
) -> set[int]:
    """Independent replay: samples every tweezer's trajectory in time (no closed forms).

    Raises AssertionError on any violation; returns the final occupancy.
    """
    coords = layout.coords
    occ = {int(i) for i in initial}
    u = np.linspace(0.0, 1.0, 2001)
    s = 10 * u**3 - 15 * u**4 + 6 * u**5
    for k, mv in enumerate(moves):
        x0, x1 = np.array(mv.x_start_um), np.array(mv.x_end_um)
        y0, y1 = np.array(mv.y_start_um), np.array(mv.y_end_um)
        assert len(x0) <= c.max_tones_x and len(y0) <= c.max_tones_y, f"move {k}: tone count"
        xt = x0[None, :] + (x1 - x0)[None, :] * s[:, None]  # (time, tone)
        yt = y0[None, :] + (y1 - y0)[None, :] * s[:, None]
        for tones, (lo, hi) in ((xt, c.x_range_um), (yt, c.y_range_um)):
            assert tones.min() >= lo - 1e-9 and tones.max() <= hi + 1e-9, f"move {k}: range"
            gaps = np.diff(tones, axis=1)
            assert np.all(gaps >= c.min_tone_separation_um - 1e-9), f"move {k}: tones too close"
        # speed and acceleration of every tweezer, by finite differences
        dt = mv.duration_us / (len(u) - 1)
        for i in range(len(x0)):
            for j in range(len(y0)):
                path = np.stack([xt[:, i], yt[:, j]], axis=1)
                v = np.linalg.norm(np.diff(path, axis=0), axis=1) / dt
                a = np.abs(np.diff(v)) / dt
                assert v.max() <= c.max_speed_um_per_us * 1.001, f"move {k}: speed {v.max()}"
                assert a.max() <= c.max_accel_um_per_us2 * 1.01, f"move {k}: accel {a.max()}"
        # pick-up: every atom on an intersection is carried
        carried: dict[int, tuple[int, int]] = {}
        for i in range(len(x0)):
            for j in range(len(y0)):
                d = np.hypot(coords[:, 0] - x0[i], coords[:, 1] - y0[j])
                t = int(np.argmin(d))
                if d[t] < 1e-6 and t in occ:
                    carried[t] = (i, j)
        assert {f for f, _ in mv.carries} == set(carried), f"move {k}: carried set"
        stationary = np.array(sorted(occ - set(carried)), dtype=int)
        if not c.allow_pass_through and stationary.size:
            for i in range(len(x0)):
                for j in range(len(y0)):
                    px = xt[:, i][:, None] - coords[stationary, 0][None, :]
                    py = yt[:, j][:, None] - coords[stationary, 1][None, :]
                    near = np.hypot(px, py).min()
                    assert near >= c.clearance_um - 1e-6, f"move {k}: passes an atom ({near})"
        ends = {}
        for f, (i, j) in carried.items():
            d = np.hypot(coords[:, 0] - x1[i], coords[:, 1] - y1[j])
            t = int(np.argmin(d))
            assert d[t] < 1e-6, f"move {k}: dropped off a trap"
            assert t not in stationary, f"move {k}: dropped on an occupied trap"
            ends[f] = t
        assert len(set(ends.values())) == len(ends), f"move {k}: two atoms in one trap"
        assert set(ends.items()) == set(mv.carries), f"move {k}: carries mismatch"
        occ = (occ - set(ends)) | set(ends.values())
    return occ


def _lsa_l1(layout: RegisterLayout, occ: np.ndarray, target: list[int]) -> float:
    cost = cdist(layout.coords[occ], layout.coords[target], metric="cityblock")
    r, c = linear_sum_assignment(cost)
    return float(cost[r, c].sum())


# -- reaching the target -------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_target_site_is_filled_from_random_loading(seed: int) -> None:
    layout = RegisterLayout.square(16, PITCH)
    target = _centred_target(16, 10)
    occ = _fill(layout.n_traps, 0.5, seed)
    result = plan(occ, target, layout)
    assert result.defect_free and result.missing_sites == ()
    assert {t for _, t in result.assignment} == set(target)
    assert {f for f, _ in result.assignment} <= set(occ.tolist())
    assert set(target) <= set(result.final_sites)


def test_independent_replay_ends_where_the_plan_says() -> None:
    layout = RegisterLayout.square(16, PITCH)
    target = _centred_target(16, 10)
    occ = _fill(layout.n_traps, 0.5, 7)
    result = plan(occ, target, layout)
    final = _simulate(layout, occ, result.moves, result.constraints)
    assert final == set(result.final_sites)
    assert final >= set(target)


@pytest.mark.parametrize(
    "layout",
    [
        RegisterLayout.triangular(40, PITCH),
        RegisterLayout(
            np.random.default_rng(3).uniform(-1, 1, (30, 2))
            + np.stack(np.meshgrid(np.arange(6), np.arange(5)), -1).reshape(-1, 2) * 7.0
        ),
    ],
    ids=["triangular", "jittered"],
)
def test_off_grid_layouts_are_filled_without_collisions(layout: RegisterLayout) -> None:
    occ = _fill(layout.n_traps, 0.6, 4)
    target = list(range(0, layout.n_traps, 2))[: len(occ)]
    result = plan(occ, target, layout)
    assert result.defect_free
    assert _simulate(layout, occ, result.moves, result.constraints) >= set(target)


def test_target_register_uses_its_trap_ids() -> None:
    layout = RegisterLayout.square(8, PITCH)
    ids = _centred_target(8, 4)
    occ = _fill(layout.n_traps, 0.5, 5)
    by_register = plan(occ, layout.define_register(*ids), layout)
    by_ids = plan(occ, ids, layout)
    assert by_register == by_ids
    assert by_register.target_sites == tuple(ids)


def test_boolean_occupancy_mask_is_accepted() -> None:
    layout = RegisterLayout.square(8, PITCH)
    occ = _fill(layout.n_traps, 0.5, 5)
    mask = np.zeros(layout.n_traps, dtype=bool)
    mask[occ] = True
    target = _centred_target(8, 4)
    assert plan(mask, target, layout) == plan(occ, target, layout)


# -- collisions and the AOD model ----------------------------------------------------------


def test_grid_plans_use_row_and_column_moves() -> None:
    layout = RegisterLayout.square(16, PITCH)
    result = plan(_fill(layout.n_traps, 0.5, 11), _centred_target(16, 10), layout)
    for mv in result.moves:
        nx, ny = mv.n_tones
        assert nx == 1 or ny == 1
        if nx > 1:  # row move: the y tone stays put
            assert mv.y_start_um == mv.y_end_um
        if ny > 1:
            assert mv.x_start_um == mv.x_end_um


def test_few_tones_split_moves_and_still_fill() -> None:
    c = AODConstraints(max_tones_x=2, max_tones_y=3)
    layout = RegisterLayout.square(12, PITCH)
    occ = _fill(layout.n_traps, 0.5, 2)
    target = _centred_target(12, 8)
    result = plan(occ, target, layout, c)
    assert result.defect_free
    assert max(m.n_tones[0] for m in result.moves) <= 2
    assert max(m.n_tones[1] for m in result.moves) <= 3
    assert any(m.n_tones[0] == 2 for m in result.moves)  # the limit is actually reached
    _simulate(layout, occ, result.moves, c)


def test_tones_stay_inside_the_aod_range_and_unreachable_atoms_stay() -> None:
    layout = RegisterLayout.rectangle(3, 30, PITCH)  # x from -72.5 to 72.5 µm
    c = AODConstraints(x_range_um=(-40.0, 40.0))
    reach = np.abs(layout.coords[:, 0]) <= 40.0
    occ = _fill(layout.n_traps, 0.5, 9)
    target = [int(t) for t in np.flatnonzero(reach & (np.abs(layout.coords[:, 1]) < 1))][:20]
    result = plan(occ, target, layout, c)
    for mv in result.moves:
        assert min(mv.x_start_um + mv.x_end_um) >= -40.0
        assert max(mv.x_start_um + mv.x_end_um) <= 40.0
    outside = set(np.flatnonzero(~reach).tolist()) & set(occ.tolist())
    assert outside <= set(result.final_sites)
    assert not outside & {f for m in result.moves for f, _ in m.carries}
    _simulate(layout, occ, result.moves, c)


def test_tones_never_cross_and_keep_the_minimum_separation() -> None:
    c = AODConstraints(min_tone_separation_um=4.5)
    layout = RegisterLayout.square(14, PITCH)
    result = plan(_fill(layout.n_traps, 0.55, 6), _centred_target(14, 9), layout, c)
    for mv in result.moves:
        for arr in (mv.x_start_um, mv.x_end_um, mv.y_start_um, mv.y_end_um):
            assert np.all(np.diff(arr) >= 4.5)


def test_durations_meet_speed_and_acceleration_limits_tightly() -> None:
    c = AODConstraints(max_speed_um_per_us=0.3, max_accel_um_per_us2=5e-3)
    layout = RegisterLayout.square(12, PITCH)
    result = plan(_fill(layout.n_traps, 0.5, 3), _centred_target(12, 8), layout, c)
    for mv in result.moves:
        d = mv.max_displacement_um
        speed = 15 / 8 * d / mv.duration_us  # peak speed of s(u), 1.875
        accel = 10 / math.sqrt(3) * d / mv.duration_us**2  # peak acceleration, 5.774
        assert speed <= 0.3 * (1 + 1e-9) and accel <= 5e-3 * (1 + 1e-9)
        assert math.isclose(speed, 0.3, rel_tol=1e-9) or math.isclose(accel, 5e-3, rel_tol=1e-9)
    total = sum(m.duration_us + 2 * c.pickup_time_us for m in result.moves)
    assert result.total_time_us == pytest.approx(total)


def test_default_plan_never_passes_over_an_atom() -> None:
    layout = RegisterLayout.square(16, PITCH)
    occ = _fill(layout.n_traps, 0.5, 21)
    result = plan(occ, _centred_target(16, 10), layout)
    c = result.constraints
    assert not c.allow_pass_through
    _simulate(layout, occ, result.moves, c)  # checks the clearance at every sampled instant


def test_replay_rejects_a_move_over_an_occupied_trap_unless_allowed() -> None:
    layout = RegisterLayout.rectangle(1, 3, PITCH)  # traps at x = -5, 0, 5
    move = ParallelMove(
        x_start_um=(-5.0,),
        x_end_um=(5.0,),
        y_start_um=(0.0,),
        y_end_um=(0.0,),
        carries=((0, 2),),
        duration_us=AODConstraints().move_duration_us(10.0),
    )
    strict = RearrangementPlan(
        initial_sites=(0, 1),
        target_sites=(1, 2),
        assignment=((0, 2), (1, 1)),
        moves=(move,),
        final_sites=(1, 2),
        missing_sites=(),
        total_path_um=10.0,
        longest_move_um=10.0,
        total_time_us=move.duration_us + 200.0,
        defect_free=True,
        constraints=AODConstraints(),
    )
    with pytest.raises(OpticsError, match="occupied trap 1"):
        strict.replay(layout)
    relaxed = strict.model_copy(update={"constraints": AODConstraints(allow_pass_through=True)})
    assert relaxed.replay(layout)[-1] == frozenset({1, 2})


def test_replay_rejects_an_atom_carried_but_not_listed() -> None:
    layout = RegisterLayout.rectangle(2, 3, PITCH)  # rows y=-2.5, 2.5; x = -5, 0, 5
    result = plan([0, 3], [1], layout)  # the planner moves one atom only
    assert result.defect_free
    ghost = ParallelMove(
        x_start_um=(-5.0,),
        x_end_um=(0.0,),
        y_start_um=(-2.5, 2.5),  # two y tones: the atom of trap 3 is carried too
        y_end_um=(-2.5, 2.5),
        carries=((0, 1),),
        duration_us=AODConstraints().move_duration_us(5.0),
    )
    bad = result.model_copy(update={"moves": (ghost,)})
    with pytest.raises(OpticsError, match="not listed in carries"):
        bad.replay(layout)


def test_replay_rejects_more_tones_than_allowed() -> None:
    layout = RegisterLayout.square(10, PITCH)
    result = plan(_fill(100, 0.5, 1), _centred_target(10, 6), layout)
    widest = max(m.n_tones[0] for m in result.moves)
    assert widest > 1
    tight = result.model_copy(update={"constraints": AODConstraints(max_tones_x=widest - 1)})
    with pytest.raises(OpticsError, match=f"more than max_tones_x={widest - 1}"):
        tight.replay(layout)


def test_replay_rejects_a_too_short_duration() -> None:
    layout = RegisterLayout.square(10, PITCH)
    result = plan(_fill(100, 0.5, 1), _centred_target(10, 6), layout)
    first = result.moves[0]
    fast = first.model_copy(update={"duration_us": first.duration_us / 2})
    bad = result.model_copy(update={"moves": (fast, *result.moves[1:])})
    with pytest.raises(OpticsError, match="move 0: peak"):
        bad.replay(layout)


def test_parallel_move_rejects_crossing_tones() -> None:
    with pytest.raises(ValidationError, match="strictly increasing"):
        ParallelMove(
            x_start_um=(0.0, 5.0),
            x_end_um=(10.0, 5.0),
            y_start_um=(0.0,),
            y_end_um=(0.0,),
            carries=(),
            duration_us=100.0,
        )


# -- cost against the optimum ----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_total_path_within_ten_percent_of_the_optimal_assignment(seed: int) -> None:
    layout = RegisterLayout.square(20, PITCH)
    target = _centred_target(20, 14)
    occ = _fill(layout.n_traps, 0.55, 101 + seed)
    assert len(occ) >= len(target)
    result = plan(occ, target, layout)
    assert result.defect_free
    # row/column moves: every path is axis-aligned, so the L1 optimum is the bound
    assert result.total_path_um <= 1.1 * _lsa_l1(layout, occ, target)


def test_longest_move_is_the_longest_atom_path() -> None:
    layout = RegisterLayout.square(12, PITCH)
    occ = _fill(layout.n_traps, 0.5, 8)
    result = plan(occ, _centred_target(12, 8), layout)
    where = {int(i): int(i) for i in occ}  # atom (by initial trap) -> current trap
    travelled = dict.fromkeys(where, 0.0)
    for mv in result.moves:
        here = {v: k for k, v in where.items()}
        for f, t in mv.carries:
            atom = here[f]
            travelled[atom] += float(np.linalg.norm(layout.coords[t] - layout.coords[f]))
            where[atom] = t
    assert result.longest_move_um == pytest.approx(max(travelled.values()))
    assert result.total_path_um == pytest.approx(sum(travelled.values()))


# -- fewer atoms than targets --------------------------------------------------------------


def test_fewer_atoms_than_targets_fill_the_centre_without_raising() -> None:
    layout = RegisterLayout.square(12, PITCH)
    target = _centred_target(12, 8)  # 64 sites
    occ = _fill(layout.n_traps, 0.4, 12)[:50]
    result = plan(occ, target, layout)
    assert not result.defect_free
    assert len(result.assignment) == 50 and len(result.missing_sites) == 14
    centre = layout.coords[target].mean(axis=0)
    r = {t: float(np.linalg.norm(layout.coords[t] - centre)) for t in target}
    assert max(r[t] for _, t in result.assignment) <= min(r[t] for t in result.missing_sites)
    _simulate(layout, occ, result.moves, result.constraints)


def test_no_atoms_gives_an_empty_plan() -> None:
    layout = RegisterLayout.square(4, PITCH)
    result = plan([], [5, 6], layout)
    assert result.moves == () and not result.defect_free
    assert result.missing_sites == (5, 6)


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("occupied", "target", "match"),
    [
        ([0, 16], [5], r"occupied_sites \[16\] not in the layout"),
        ([-1, 2], [5], r"occupied_sites \[-1\] not in the layout"),
        ([3, 3, 4], [5], r"occupied_sites lists traps more than once: \[3\]"),
        ([1.5], [5], r"occupied_sites must be integer trap indices; got \[1.5\]"),
        ("012", [5], r"occupied_sites must be trap indices; got '012'"),
        ([0, 1], [5, 99], r"target \[99\] not in the layout: trap indices run 0..15"),
        ([0, 1], [5, 5], r"target lists traps more than once: \[5\]"),
        ([0, 1], [], r"target must hold at least one trap"),
    ],
)
def test_bad_sites_raise_naming_the_value(occupied: object, target: object, match: str) -> None:
    layout = RegisterLayout.square(4, PITCH)
    with pytest.raises(OpticsError, match=match):
        plan(occupied, target, layout)  # type: ignore[arg-type]


def test_target_outside_the_aod_range_raises() -> None:
    layout = RegisterLayout.rectangle(1, 8, PITCH)
    with pytest.raises(OpticsError, match=r"target trap 7 at \[17.5, 0.0\] µm is outside"):
        plan([0, 1], [7], layout, AODConstraints(x_range_um=(-15.0, 15.0)))


def test_target_register_of_another_layout_raises() -> None:
    other = RegisterLayout.square(5, PITCH)
    with pytest.raises(OpticsError, match="not to the planned"):
        plan([0], other.define_register(1, 2), RegisterLayout.square(4, PITCH))


def test_target_register_without_trap_ids_raises() -> None:
    with pytest.raises(OpticsError, match="not defined from a layout"):
        plan([0], Register.square(2, PITCH), RegisterLayout.square(4, PITCH))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_tones_x", 0),
        ("min_tone_separation_um", 0.0),
        ("max_speed_um_per_us", -1.0),
        ("x_range_um", (5.0, -5.0)),
        ("pickup_time_us", -1.0),
    ],
)
def test_bad_constraints_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        AODConstraints(**{field: value})  # type: ignore[arg-type]


# -- the minimum-jerk profile --------------------------------------------------------------


def test_min_jerk_profile_and_duration() -> None:
    u = np.linspace(0, 1, 1001)
    s = min_jerk(u)
    assert s[0] == 0.0 and s[-1] == pytest.approx(1.0) and np.all(np.diff(s) >= 0)
    du = u[1] - u[0]
    assert np.max(np.gradient(s, du)) == pytest.approx(1.875, rel=1e-4)
    assert np.max(np.gradient(np.gradient(s, du), du)) == pytest.approx(5.774, rel=1e-3)
    assert min_jerk_duration_us(0.0, 1.0, 1.0) == 0.0
    assert min_jerk_duration_us(100.0, 0.5, 1.0) == pytest.approx(1.875 * 100 / 0.5)  # speed
    assert min_jerk_duration_us(100.0, 100.0, 1e-3) == pytest.approx(
        math.sqrt(5.774 * 100 / 1e-3), rel=1e-4
    )  # acceleration


# -- properties ----------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.integers(1, 7),
    cols=st.integers(1, 7),
    fill=st.floats(0.1, 0.9),
    n_target=st.integers(1, 49),
    tones=st.integers(1, 4),
    pass_through=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_problems_replay_cleanly(
    rows: int, cols: int, fill: float, n_target: int, tones: int, pass_through: bool, seed: int
) -> None:
    layout = RegisterLayout.rectangle(rows, cols, PITCH)
    rng = np.random.default_rng(seed)
    occ = np.flatnonzero(rng.random(layout.n_traps) < fill)
    target = rng.choice(layout.n_traps, min(n_target, layout.n_traps), replace=False)
    c = AODConstraints(max_tones_x=tones, max_tones_y=tones, allow_pass_through=pass_through)
    result = plan(occ, target, layout, c)
    final = _simulate(layout, occ, result.moves, c)
    assert final == set(result.final_sites)
    assert len(final) == len(occ)
    assert result.defect_free == (len(occ) >= len(target))
    assert result.replay(layout)[-1] == frozenset(final)


def test_plan_round_trips_through_json_with_validation() -> None:
    layout = RegisterLayout.square(10, PITCH)
    result = plan(_fill(100, 0.5, 4), _centred_target(10, 6), layout)
    again = RearrangementPlan.model_validate_json(result.model_dump_json())  # runs validators
    assert again == result
    assert again.replay(layout)[-1] == frozenset(result.final_sites)
