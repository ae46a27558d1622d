"""Pulses: shortcuts, phases modulo 2π, refusal of negative amplitude."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sequencer import BlackmanWaveform, ConstantWaveform, Pulse, RampWaveform
from sequencer.errors import WaveformError


def test_constant_shortcuts_build_constant_waveforms() -> None:
    p = Pulse.ConstantAmplitude(3.0, RampWaveform(100, -1, 1), 0.5)
    np.testing.assert_array_equal(p.amplitude.samples, np.full(100, 3.0))
    q = Pulse.ConstantDetuning(BlackmanWaveform(100, 1.0), -2.0, 0.5)
    np.testing.assert_array_equal(q.detuning.samples, np.full(100, -2.0))
    r = Pulse.ConstantPulse(40, 1.0, 2.0, 3.0, post_phase_shift=1.0)
    assert (r.duration, r.phase, r.post_phase_shift) == (40, 3.0, 1.0)


def test_phases_are_stored_modulo_two_pi() -> None:
    p = Pulse.ConstantPulse(20, 1.0, 0.0, 2 * math.pi + 0.25, post_phase_shift=-0.5)
    assert p.phase == pytest.approx(0.25)
    assert p.post_phase_shift == pytest.approx(2 * math.pi - 0.5)


def test_negative_amplitude_and_mismatched_durations_are_refused() -> None:
    with pytest.raises(WaveformError, match="amplitude"):
        Pulse(RampWaveform(10, -1, 1), ConstantWaveform(10, 0), 0)
    with pytest.raises(WaveformError, match="same duration"):
        Pulse(ConstantWaveform(10, 1), ConstantWaveform(12, 0), 0)
    with pytest.raises(WaveformError):
        Pulse(ConstantWaveform(10, 1), 0.0, 0)  # type: ignore[arg-type]
