"""Tweezer optics: SLM holograms, rearrangement planning and AOD move waveforms.

* :func:`hologram` — weighted Gerchberg–Saxton phase masks for a :class:`SLMSpec`;
* :func:`plan` — assignment of loaded atoms to target traps and parallel 2D-AOD moves;
* :func:`move_waveform`, :func:`hold_waveform`, :func:`decode_move` — multi-tone AOD RF;
* :func:`rearrangement_waveforms` — a whole :class:`RearrangementPlan` as AOD RF segments.
"""

from __future__ import annotations

from sequencer.optics._profile import min_jerk, min_jerk_duration_us, min_jerk_integral
from sequencer.optics.aod import (
    AODAxisSpec,
    AODAxisWaveform,
    AODDecodedMove,
    AODMoveWaveform,
    AODSpec,
    crest_factor,
    decode_move,
    hold_waveform,
    move_waveform,
    schroeder_phases,
)
from sequencer.optics.errors import OpticsError
from sequencer.optics.hologram import Hologram, HologramCache, HologramGenerator, hologram
from sequencer.optics.moves import MoveSegments, aod_constraints, rearrangement_waveforms
from sequencer.optics.rearrange import AODConstraints, ParallelMove, RearrangementPlan, plan
from sequencer.optics.slm import SLMSpec

__all__ = [
    "AODAxisSpec",
    "AODAxisWaveform",
    "AODConstraints",
    "AODDecodedMove",
    "AODMoveWaveform",
    "AODSpec",
    "Hologram",
    "HologramCache",
    "HologramGenerator",
    "MoveSegments",
    "OpticsError",
    "ParallelMove",
    "RearrangementPlan",
    "SLMSpec",
    "aod_constraints",
    "crest_factor",
    "decode_move",
    "hold_waveform",
    "hologram",
    "min_jerk",
    "min_jerk_duration_us",
    "min_jerk_integral",
    "move_waveform",
    "plan",
    "rearrangement_waveforms",
    "schroeder_phases",
]
