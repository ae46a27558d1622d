"""A rearrangement plan compiled to AOD RF decodes, from the samples alone, to the plan."""

from __future__ import annotations

import numpy as np
import pytest

from sequencer.optics import (
    AODAxisSpec,
    AODSpec,
    OpticsError,
    aod_constraints,
    decode_move,
    plan,
    rearrangement_waveforms,
)
from sequencer.register import RegisterLayout

# 2.5 µm/MHz: the 5 µm pitch is 2 MHz between tones, well resolved by decode_move.
AOD = AODSpec(
    x=AODAxisSpec(name="x", position_um_per_mhz=2.5),
    y=AODAxisSpec(name="y", position_um_per_mhz=2.5),
)
LAYOUT = RegisterLayout.square(6, 5.0)
TARGET = [r * 6 + c for r in (2, 3) for c in (1, 2, 3, 4)]  # the two middle rows' centre


def _plan(seed: int):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    occupied = np.flatnonzero(rng.random(LAYOUT.n_traps) < 0.5)
    constraints = aod_constraints(AOD, pickup_time_us=4.0, min_tone_separation_um=4.5)
    return plan(occupied, TARGET, LAYOUT, constraints), occupied


def test_constraints_follow_the_aod_band_tones_and_limits() -> None:
    c = aod_constraints(AOD, pickup_time_us=7.0)
    assert c.x_range_um == pytest.approx((-31.25, 31.25))
    assert (c.max_tones_x, c.max_tones_y) == (AOD.x.max_tones, AOD.y.max_tones)
    assert c.max_speed_um_per_us == AOD.max_speed_um_per_us
    assert c.max_accel_um_per_us2 == AOD.max_accel_um_per_us2
    assert c.pickup_time_us == 7.0


def test_segments_join_and_ramp_the_tweezers_on_and_off() -> None:
    result, _ = _plan(3)
    segments = rearrangement_waveforms(result, AOD)
    assert len(segments) == result.n_moves > 0
    for seg in segments:
        np.testing.assert_allclose(seg.transport.x.phases_start_rad, seg.pickup.x.phases_end_rad)
        np.testing.assert_allclose(seg.drop.y.phases_start_rad, seg.transport.y.phases_end_rad)
        x, y = seg.codes()
        assert x.dtype == np.int16 and x.size == y.size
        peak = int(np.abs(x).max())
        assert abs(int(x[0])) <= 0.01 * peak and abs(int(x[-1])) <= 0.01 * peak  # dark ends
    total = sum(s.duration_us for s in segments)
    assert total == pytest.approx(result.total_time_us, abs=1e-3 * len(segments))


@pytest.mark.parametrize("seed", [3, 11])
def test_decoded_tweezers_follow_the_planned_trajectories(seed: int) -> None:
    result, _ = _plan(seed)
    for seg in rearrangement_waveforms(result, AOD)[:3]:
        move = seg.move
        nx, ny = len(move.x_start_um), len(move.y_start_um)
        seen = decode_move(seg.codes(), AOD, n_tones=(nx, ny), time_step_us=1.0)
        t0 = seg.pickup.duration_us
        inside = (seen.times_us > t0 + 2.0) & (seen.times_us < t0 + move.duration_us - 2.0)
        assert inside.sum() >= 3
        for k in np.flatnonzero(inside):
            x_plan, y_plan = move.tone_positions(float(seen.times_us[k] - t0))
            np.testing.assert_allclose(seen.x_um[k], x_plan, atol=0.05)
            np.testing.assert_allclose(seen.y_um[k], y_plan, atol=0.05)
            np.testing.assert_allclose(seen.depth[k], 1.0, atol=0.01)


def test_a_plan_beyond_the_aod_band_is_refused_by_the_synthesiser() -> None:
    narrow = AODSpec(
        x=AODAxisSpec(name="x", position_um_per_mhz=0.5),
        y=AODAxisSpec(name="y", position_um_per_mhz=2.5),
    )
    result, _ = _plan(3)  # planned for the wide AOD: x tones out to ±12.5 µm
    with pytest.raises(OpticsError, match="band"):
        rearrangement_waveforms(result, narrow)
