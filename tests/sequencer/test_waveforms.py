"""Waveforms: samples as Pulser's, integrals, arithmetic, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer import (
    BlackmanWaveform,
    CompositeWaveform,
    ConstantWaveform,
    CustomWaveform,
    InterpolatedWaveform,
    RampWaveform,
    Waveform,
)
from sequencer.errors import WaveformError
from sequencer.waveforms import waveform_from_dict

pulser = pytest.importorskip("pulser")


def _pulser_samples(wf: object) -> np.ndarray:
    return np.asarray(wf.samples.as_array(), dtype=np.float64)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda: ConstantWaveform(100, 3.5), lambda: pulser.ConstantWaveform(100, 3.5)),
        (lambda: RampWaveform(101, -2.0, 7.0), lambda: pulser.RampWaveform(101, -2.0, 7.0)),
        (lambda: BlackmanWaveform(333, 2.1), lambda: pulser.BlackmanWaveform(333, 2.1)),
        (
            lambda: BlackmanWaveform.from_max_val(6.0, 3.0),
            lambda: pulser.BlackmanWaveform.from_max_val(6.0, 3.0),
        ),
        (
            lambda: BlackmanWaveform.from_max_val(-6.0, -3.0),
            lambda: pulser.BlackmanWaveform.from_max_val(-6.0, -3.0),
        ),
        (
            lambda: InterpolatedWaveform(777, [0, 4, 1, 9, 0]),
            lambda: pulser.InterpolatedWaveform(777, [0, 4, 1, 9, 0]),
        ),
        (
            lambda: InterpolatedWaveform(500, [1, 3, -2], times=[0.0, 0.2, 0.9]),
            lambda: pulser.InterpolatedWaveform(500, [1, 3, -2], times=[0.0, 0.2, 0.9]),
        ),
        (
            lambda: CompositeWaveform(ConstantWaveform(20, 1), RampWaveform(30, 1, 0)),
            lambda: pulser.CompositeWaveform(
                pulser.ConstantWaveform(20, 1), pulser.RampWaveform(30, 1, 0)
            ),
        ),
    ],
)
def test_samples_equal_pulsers(ours: object, theirs: object) -> None:
    a = ours()  # type: ignore[operator]
    b = theirs()  # type: ignore[operator]
    assert a.duration == b.duration
    np.testing.assert_array_equal(a.samples, _pulser_samples(b))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_interp1d_option_equals_pulsers() -> None:
    ours = InterpolatedWaveform(300, [0, 2, 1], interpolator="interp1d")
    theirs = pulser.InterpolatedWaveform(300, [0, 2, 1], interpolator="interp1d")
    np.testing.assert_array_equal(ours.samples, _pulser_samples(theirs))


def test_ramp_reaches_stop_on_last_sample() -> None:
    wf = RampWaveform(10, 0.0, 9.0)
    assert wf.first_value == 0.0 and wf.last_value == 9.0
    np.testing.assert_array_equal(wf.samples, np.arange(10.0))


def test_pchip_does_not_overshoot_and_cubic_spline_is_smooth() -> None:
    values = [0.0, 1.0, 1.0, 5.0, 5.0]
    pchip = InterpolatedWaveform(400, values)
    assert pchip.samples.min() >= 0.0 and pchip.samples.max() <= 5.0
    assert np.all(np.diff(pchip.samples) >= -1e-12)  # monotone data stays monotone
    spline = InterpolatedWaveform(400, values, interpolator="CubicSpline")
    second = np.diff(spline.samples, 2)
    assert np.max(np.abs(np.diff(second))) < 1e-3  # C²: no kinks


@settings(max_examples=50, deadline=None)
@given(duration=st.integers(3, 3000), area=st.floats(-10, 10).filter(lambda a: abs(a) > 1e-6))
def test_blackman_integral_is_its_area(duration: int, area: float) -> None:
    assert BlackmanWaveform(duration, area).integral == pytest.approx(area, rel=1e-12)


@settings(max_examples=50, deadline=None)
@given(duration=st.integers(1, 2000), value=st.floats(-100, 100))
def test_constant_integral_is_value_times_duration(duration: int, value: float) -> None:
    wf = ConstantWaveform(duration, value)
    assert len(wf.samples) == duration
    assert wf.integral == pytest.approx(value * duration * 1e-3, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    "wf",
    [
        ConstantWaveform(50, 2.0),
        RampWaveform(50, 1.0, 3.0),
        BlackmanWaveform(50, 1.0),
        InterpolatedWaveform(50, [0, 2, 1]),
        CompositeWaveform(ConstantWaveform(10, 1), RampWaveform(20, 0, 2)),
        CustomWaveform(np.linspace(0, 1, 30)),
    ],
)
def test_arithmetic_acts_on_samples_and_keeps_the_type(wf: Waveform) -> None:
    np.testing.assert_allclose((wf * 2.5).samples, wf.samples * 2.5, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose((wf / 4).samples, wf.samples / 4, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose((-wf).samples, -wf.samples, atol=1e-12)
    np.testing.assert_allclose((wf + 1.5).samples, wf.samples + 1.5, atol=1e-12)
    np.testing.assert_allclose((wf - 1.5).samples, wf.samples - 1.5, atol=1e-12)
    assert type(wf * 2.0) is type(wf)
    assert waveform_from_dict(wf.to_dict()) == wf


@pytest.mark.parametrize(
    "make",
    [
        lambda: ConstantWaveform(0, 1.0),
        lambda: ConstantWaveform(10.5, 1.0),
        lambda: ConstantWaveform(10, float("nan")),
        lambda: RampWaveform(-3, 0, 1),
        lambda: BlackmanWaveform(2, 1.0),
        lambda: BlackmanWaveform.from_max_val(1.0, -1.0),
        lambda: InterpolatedWaveform(100, [1.0]),
        lambda: InterpolatedWaveform(100, [1.0, 2.0], times=[0.0, 1.5]),
        lambda: InterpolatedWaveform(100, [1.0, 2.0], times=[0.5, 0.5]),
        lambda: InterpolatedWaveform(100, [1.0, 2.0], interpolator="nope"),
        lambda: CompositeWaveform(),
        lambda: CustomWaveform([]),
        lambda: ConstantWaveform(10, 1.0) / 0,
    ],
)
def test_invalid_parameters_raise_waveform_error(make: object) -> None:
    with pytest.raises(WaveformError):
        make()  # type: ignore[operator]


def test_samples_are_read_only() -> None:
    wf = ConstantWaveform(10, 1.0)
    with pytest.raises(ValueError):
        wf.samples[0] = 2.0
