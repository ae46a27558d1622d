"""A rearrangement plan as AOD RF: pick-up, transport and drop segments per parallel move.

:func:`aod_constraints` derives the planner's limits from the AOD hardware (reach from the
band, tones per axis, speed and acceleration), so a plan made with them always synthesises.
:func:`rearrangement_waveforms` turns every :class:`~sequencer.optics.ParallelMove` into
three phase-continuous segments on both axes: the tweezers ramp on at the start positions
(depth 0 → 1 over ``pickup_time_us``), move along the minimum-jerk trajectory, and ramp off at
the end positions. Between moves the AOD is dark, so each move starts from Schroeder phases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sequencer.optics.aod import AODMoveWaveform, AODSpec, move_waveform
from sequencer.optics.rearrange import AODConstraints, ParallelMove, RearrangementPlan

__all__ = ["MoveSegments", "aod_constraints", "rearrangement_waveforms"]


def aod_constraints(aod: AODSpec, **overrides: Any) -> AODConstraints:
    """Planner constraints that ``aod`` can play.

    Reach = each axis's band in µm, its ``max_tones``, and the AOD's ``max_speed_um_per_us``
    / ``max_accel_um_per_us2``; ``overrides`` set any other :class:`AODConstraints` field
    (e.g. ``pickup_time_us``, ``min_tone_separation_um``).
    """
    fields: dict[str, Any] = {
        "max_tones_x": aod.x.max_tones,
        "max_tones_y": aod.y.max_tones,
        "x_range_um": tuple(sorted(aod.x.band_um)),
        "y_range_um": tuple(sorted(aod.y.band_um)),
        "max_speed_um_per_us": aod.max_speed_um_per_us,
        "max_accel_um_per_us2": aod.max_accel_um_per_us2,
    }
    fields.update(overrides)
    return AODConstraints(**fields)


@dataclass(frozen=True, eq=False)
class MoveSegments:
    """One parallel move as AOD RF: ``pickup`` → ``transport`` → ``drop`` (phase-continuous)."""

    move: ParallelMove
    pickup: AODMoveWaveform
    transport: AODMoveWaveform
    drop: AODMoveWaveform

    @property
    def duration_us(self) -> float:
        """Length of the three segments together (whole samples), µs."""
        return self.pickup.duration_us + self.transport.duration_us + self.drop.duration_us

    def codes(self) -> tuple[NDArray[np.int16], NDArray[np.int16]]:
        """The (x, y) int16 DAC streams of the whole move, segments joined."""
        parts = (self.pickup, self.transport, self.drop)
        return (
            np.concatenate([p.x.codes for p in parts]),
            np.concatenate([p.y.codes for p in parts]),
        )


def rearrangement_waveforms(
    plan: RearrangementPlan, aod: AODSpec, *, threads: int | None = None
) -> list[MoveSegments]:
    """Every move of ``plan`` as :class:`MoveSegments` for ``aod``, in execution order.

    The pick-up and drop ramps last the plan's ``constraints.pickup_time_us`` (µs) each (a
    zero pick-up time is refused by the synthesiser: the tweezers must be switched on).
    Raises :class:`~sequencer.optics.OpticsError` if a tone leaves the AOD's band, there are
    more tones than it carries, or the sum does not fit the DAC — make the plan with
    :func:`aod_constraints` to rule out the first two.
    """
    ramp_us = plan.constraints.pickup_time_us
    out = []
    for move in plan.moves:
        x0, x1, y0, y1 = move.x_start_um, move.x_end_um, move.y_start_um, move.y_end_um
        pickup = move_waveform(
            aod, x0, x0, y0, y0, ramp_us, depth_start=0.0, depth_end=1.0, threads=threads
        )
        x_phase, y_phase = pickup.phases_end_rad
        transport = move_waveform(
            aod,
            x0,
            x1,
            y0,
            y1,
            move.duration_us,
            x_phases_rad=x_phase,
            y_phases_rad=y_phase,
            threads=threads,
        )
        x_phase, y_phase = transport.phases_end_rad
        drop = move_waveform(
            aod,
            x1,
            x1,
            y1,
            y1,
            ramp_us,
            x_phases_rad=x_phase,
            y_phases_rad=y_phase,
            depth_start=1.0,
            depth_end=0.0,
            threads=threads,
        )
        out.append(MoveSegments(move, pickup, transport, drop))
    return out
