"""Tests for the AOD move waveforms (multi-tone synthesis, phase continuity, decode)."""

from __future__ import annotations

import numpy as np
import pytest

from sequencer.errors import SequenceError
from sequencer.optics import (
    AODAxisSpec,
    AODSpec,
    crest_factor,
    decode_move,
    hold_waveform,
    min_jerk,
    min_jerk_integral,
    move_waveform,
    schroeder_phases,
)
from sequencer.optics.errors import OpticsError

# a non-flat efficiency (table on x, smooth model on y) so equalisation is exercised
AOD = AODSpec(
    x=AODAxisSpec(
        name="x",
        efficiency_table_hz=(70e6, 80e6, 90e6, 105e6),
        efficiency_table=(0.45, 0.7, 0.8, 0.5),
    ),
    y=AODAxisSpec(name="y", efficiency_width_hz=20e6, position_um_per_mhz=-4.0),
)
X0 = np.arange(6) * 8.0 - 20.0
X1 = X0 + np.array([-4.0, 1.0, 3.0, 3.0, 2.0, 6.0])  # columns stay ≥ 7 µm (1.4 MHz) apart
Y0 = np.array([-10.0, 0.0, 12.0])
Y1 = Y0 + np.array([3.0, -1.0, 1.0])  # rows stay ≥ 6 µm (1.5 MHz) apart
DURATION_US = 40.0
H0_US = 7.3  # not a whole number of cycles of the tones: the phases move on


def _reference_axis(
    axis: AODAxisSpec,
    start: np.ndarray,
    end: np.ndarray,
    n_samples: int,
    phases: np.ndarray,
) -> np.ndarray:
    """Independent float64 synthesis (codes, before rounding), exact amplitude per sample."""
    fs = axis.sample_rate_hz
    t_s = n_samples / fs
    u = np.arange(n_samples) / n_samples
    t = np.arange(n_samples) / fs
    f0 = axis.freq_hz(start)[:, None]
    df = axis.freq_hz(end)[:, None] - f0
    inst = f0 + df * (10 * u**3 - 15 * u**4 + 6 * u**5)
    eff = axis.efficiency(inst)
    amp = axis.tone_amplitude_v / axis.lsb_v * np.sqrt(axis.reference_efficiency / eff)
    big_s = 2.5 * u**4 - 3 * u**5 + u**6
    phase = phases[:, None] + 2 * np.pi * (f0 * t + df * t_s * big_s)
    return np.asarray(np.sum(amp * np.cos(phase), axis=0))


@pytest.fixture(scope="module")
def move():  # type: ignore[no-untyped-def]
    return move_waveform(AOD, X0, X1, Y0, Y1, DURATION_US)


@pytest.fixture(scope="module")
def sequence():  # type: ignore[no-untyped-def]
    """Hold (7.3 µs) → move → hold (10 µs), phases chained."""
    h0 = hold_waveform(AOD, X0, Y0, H0_US)
    mv = move_waveform(
        AOD,
        X0,
        X1,
        Y0,
        Y1,
        DURATION_US,
        x_phases_rad=h0.x.phases_end_rad,
        y_phases_rad=h0.y.phases_end_rad,
    )
    h1 = hold_waveform(
        AOD, X1, Y1, 10.0, x_phases_rad=mv.x.phases_end_rad, y_phases_rad=mv.y.phases_end_rad
    )
    return h0, mv, h1


def test_codes_are_int16_and_in_range(move) -> None:  # type: ignore[no-untyped-def]
    for ax, spec in ((move.x, AOD.x), (move.y, AOD.y)):
        assert ax.codes.dtype == np.int16
        assert ax.codes.shape == (round(DURATION_US * 1e-6 * spec.sample_rate_hz),)
        assert int(np.max(np.abs(ax.codes.astype(np.int32)))) == ax.peak_code <= spec.max_code


def test_codes_equal_float64_reference_within_quantisation(move) -> None:  # type: ignore[no-untyped-def]
    n = move.x.codes.shape[0]
    for ax, spec, a, b in ((move.x, AOD.x, X0, X1), (move.y, AOD.y, Y0, Y1)):
        ref = _reference_axis(spec, a, b, n, schroeder_phases(len(a)))
        assert np.max(np.abs(ax.codes - ref)) <= 0.5 + 1e-3


def test_phase_continuity_into_following_segment(sequence) -> None:  # type: ignore[no-untyped-def]
    h0, mv, h1 = sequence
    spec = AOD.x
    n = mv.x.codes.shape[0]
    # the move's tone phases continue the hold's: the move segment equals the reference
    # started at the hold's end phases, and the hold after it starts at the move's end phases
    ref_move = _reference_axis(spec, X0, X1, n, h0.x.phases_end_rad)
    assert np.max(np.abs(mv.x.codes - ref_move)) <= 0.5 + 1e-3
    np.testing.assert_allclose(h1.x.phases_start_rad, mv.x.phases_end_rad, atol=1e-12)
    # the end phases are the integral of the instantaneous frequency over the move
    t_s = n / spec.sample_rate_hz
    f0, f1 = spec.freq_hz(X0), spec.freq_hz(X1)
    expected = h0.x.phases_end_rad + 2 * np.pi * (f0 * t_s + (f1 - f0) * t_s / 2)
    np.testing.assert_allclose(
        np.angle(np.exp(1j * (mv.x.phases_end_rad - expected))), 0, atol=1e-8
    )


def test_no_jump_at_segment_joins(sequence) -> None:  # type: ignore[no-untyped-def]
    # a jump shows up as a sample-to-sample step larger than the continuous signal allows:
    # |x[k+1] - x[k]| ≤ Σ_k a_k · 2π f_k / fs (+ quantisation) everywhere, joins included
    h0, mv, h1 = sequence
    codes = np.concatenate([h0.x.codes, mv.x.codes, h1.x.codes]).astype(np.float64)
    steps = np.abs(np.diff(codes))
    spec = AOD.x
    amp = spec.tone_amplitude_v / spec.lsb_v * spec.equalisation(spec.band_hz[1])
    bound = len(X0) * amp * 2 * np.pi * spec.band_hz[1] / spec.sample_rate_hz + 1.0
    joins = [h0.x.codes.shape[0] - 1, h0.x.codes.shape[0] + mv.x.codes.shape[0] - 1]
    assert np.max(steps[joins]) <= bound
    # and, stronger, the joined stream equals one continuous reference across the first join
    n0 = h0.x.codes.shape[0]
    ref = _reference_axis(spec, X0, X0, n0 + 1, schroeder_phases(len(X0)))
    assert abs(codes[n0] - ref[n0]) <= 0.5 + 1e-3


def test_a_phase_jump_would_be_detected(sequence) -> None:  # type: ignore[no-untyped-def]
    # negative control for the continuity test: restarting at Schroeder phases breaks it
    h0, _, _ = sequence
    bad = move_waveform(AOD, X0, X1, Y0, Y1, DURATION_US)  # phases not chained
    ref = _reference_axis(AOD.x, X0, X1, bad.x.codes.shape[0], h0.x.phases_end_rad)
    assert np.max(np.abs(bad.x.codes - ref)) > 10.0


def test_frequency_trajectory_min_jerk_in_band(move) -> None:  # type: ignore[no-untyped-def]
    np.testing.assert_allclose(move.x.freq_start_hz, AOD.x.freq_hz(X0))
    np.testing.assert_allclose(move.x.freq_end_hz, AOD.x.freq_hz(X1))
    u = np.linspace(0, 1, 201)
    s = min_jerk(u)
    assert s[0] == 0 and s[-1] == pytest.approx(1.0)
    assert np.all(np.diff(s) >= 0)
    np.testing.assert_allclose(np.gradient(min_jerk_integral(u), u), s, atol=2e-4)
    lo, hi = AOD.x.band_hz
    traj = (
        move.x.freq_start_hz[:, None]
        + (move.x.freq_end_hz - move.x.freq_start_hz)[:, None] * s[None, :]
    )
    assert np.all((traj >= lo) & (traj <= hi))


def test_decode_recovers_trajectories(sequence) -> None:  # type: ignore[no-untyped-def]
    h0, mv, h1 = sequence
    cx = np.concatenate([h0.x.codes, mv.x.codes, h1.x.codes])
    cy = np.concatenate([h0.y.codes, mv.y.codes, h1.y.codes])
    dec = decode_move((cx, cy), AOD, n_tones=(len(X0), len(Y0)), time_step_us=1.0)
    u = np.clip((dec.times_us - H0_US) / DURATION_US, 0.0, 1.0)[:, None]
    x_plan = X0 + (X1 - X0) * min_jerk(u)
    order = np.argsort(AOD.y.freq_hz(Y0))  # decode sorts by frequency (y map is reversed)
    y_plan = (Y0 + (Y1 - Y0) * min_jerk(u))[:, order]
    # bound: 0.02 µm, < 0.3 % of the smallest tone spacing here (6 µm, 1.4 MHz)
    assert np.max(np.abs(dec.x_um - x_plan)) <= 0.02
    assert np.max(np.abs(dec.y_um - y_plan)) <= 0.02
    assert dec.times_us[0] < 3.0 and dec.times_us[-1] > H0_US + DURATION_US + 5.0


def test_decode_recovers_equal_depths(sequence) -> None:  # type: ignore[no-untyped-def]
    h0, mv, h1 = sequence
    cx = np.concatenate([h0.x.codes, mv.x.codes, h1.x.codes])
    cy = np.concatenate([h0.y.codes, mv.y.codes, h1.y.codes])
    dec = decode_move((cx, cy), AOD, n_tones=(len(X0), len(Y0)), time_step_us=1.0)
    assert dec.depth.shape == (dec.times_us.shape[0], len(X0), len(Y0))
    np.testing.assert_allclose(dec.depth, 1.0, atol=5e-3)


def test_equalisation_compensates_the_efficiency_response(move) -> None:  # type: ignore[no-untyped-def]
    # per tone RF amplitude ∝ 1/√η(f), so a² η is the same for every tone: the static hold's
    # spectrum shows it directly (amplitude at each tone's bin, whole number of cycles)
    spec = AOD.x
    fs = spec.sample_rate_hz
    n = 62500  # 100 µs: each tone on a 10 kHz grid is an exact bin
    xs = spec.position_um(np.array([76e6, 80e6, 88e6, 96e6, 99e6]))
    hold = hold_waveform(AOD, xs, [0.0], n / fs * 1e6)
    spectrum = np.abs(np.fft.rfft(hold.x.codes.astype(np.float64))) * 2 / n
    bins = np.rint(spec.freq_hz(xs) * n / fs).astype(int)
    amp = spectrum[bins] * spec.lsb_v
    depth = amp**2 * spec.efficiency(spec.freq_hz(xs))
    np.testing.assert_allclose(depth / depth[0], 1.0, rtol=1e-3)
    assert amp.max() / amp.min() > 1.1  # the response is not flat: amplitudes differ


def test_schroeder_crest_factor_low_and_far_below_equal_phases() -> None:
    fs, n = 625e6, 62500
    t = np.arange(n) / fs
    for tones in (10, 40, 100):
        f = np.linspace(75e6, 100e6, tones)
        sch = np.sum(np.cos(2 * np.pi * f[:, None] * t + schroeder_phases(tones)[:, None]), 0)
        equal = np.sum(np.cos(2 * np.pi * f[:, None] * t), 0)
        assert 1.6 <= crest_factor(sch) <= 2.1
        assert crest_factor(equal) > 2 * crest_factor(sch)


def test_hold_waveform_crest_factor_with_schroeder_phases() -> None:
    xs = np.linspace(-50, 50, 21)
    hold = hold_waveform(AODSpec(), xs, [0.0], 100.0)
    assert hold.x.crest_factor < 2.1


def test_depth_ramp_scales_amplitude_by_fourth_root() -> None:
    ramp = move_waveform(AOD, X0, X0, Y0, Y0, 20.0, depth_start=0.0, depth_end=1.0)
    codes = ramp.x.codes.astype(np.float64)
    n = codes.shape[0]
    assert np.max(np.abs(codes[:50])) <= 60  # starts dark: depth^¼ still ≈ 0.3 at u = 1 %
    ref = _reference_axis(AOD.x, X0, X0, n, schroeder_phases(len(X0)))
    env = min_jerk(np.arange(n) / n) ** 0.25
    assert np.max(np.abs(codes - ref * env)) <= 0.5 + 1e-3


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"x_end_um": X1 + 1000.0}, "outside the band"),
        ({"x_start_um": X0[:3]}, "must match"),
        ({"x_end_um": X1[::-1].copy()}, "cross"),
        ({"duration_us": -1.0}, "duration_us=-1.0"),
        ({"depth_end": -0.5}, "depth_end=-0.5"),
        ({"x_phases_rad": [0.0, 1.0]}, "2 phases for 6 tones"),
        ({"x_start_um": [np.nan] * 6}, "not finite"),
    ],
)
def test_bad_inputs_raise_optics_error(kwargs: dict, needle: str) -> None:  # type: ignore[type-arg]
    args = {
        "x_start_um": X0,
        "x_end_um": X1,
        "y_start_um": Y0,
        "y_end_um": Y1,
        "duration_us": DURATION_US,
    }
    args.update(kwargs)
    with pytest.raises(OpticsError, match=needle) as info:
        move_waveform(AOD, **args)
    assert isinstance(info.value, SequenceError)


def test_too_many_tones_raise() -> None:
    spec = AODSpec(x=AODAxisSpec(name="x", max_tones=4))
    xs = np.linspace(-20, 20, 5)
    with pytest.raises(OpticsError, match="5 tones exceed max_tones=4"):
        hold_waveform(spec, xs, [0.0], 5.0)


def test_dac_overflow_is_refused_not_clipped() -> None:
    loud = AODSpec(x=AODAxisSpec(name="x", tone_amplitude_v=0.2))
    xs = np.linspace(-50, 50, 12)
    with pytest.raises(OpticsError, match=r"beyond the DAC range ±32767.*must be ≤ 0\.\d+ V"):
        hold_waveform(loud, xs, [0.0], 10.0, x_phases_rad=np.zeros(12))


def test_spec_validation_names_the_value() -> None:
    with pytest.raises(ValueError, match="must cover the band"):
        AODAxisSpec(efficiency_table_hz=(80e6, 90e6), efficiency_table=(0.5, 0.6))
    with pytest.raises(ValueError, match="Nyquist"):
        AODAxisSpec(sample_rate_hz=150e6)
    with pytest.raises(ValueError, match=r"position_um_per_mhz=0\.0"):
        AODAxisSpec(position_um_per_mhz=0.0)


def test_decode_refuses_unresolvable_tones() -> None:
    # two tones 0.2 MHz apart cannot be separated by a 3.3 µs window
    spec = AODSpec()
    xs = spec.x.position_um(np.array([85e6, 85.2e6, 90e6]))
    hold = hold_waveform(spec, xs, [0.0], 20.0)
    with pytest.raises(OpticsError, match="expected n_tones=3"):
        decode_move(hold, spec, n_tones=(3, 1))


def test_min_move_duration_respects_limits() -> None:
    spec = AODSpec(max_speed_um_per_us=0.5, max_accel_um_per_us2=0.01)
    d = 20.0
    t = spec.min_move_duration_us(d)
    assert 15 / 8 * d / t <= 0.5 + 1e-12
    assert 10 / np.sqrt(3) * d / t**2 <= 0.01 + 1e-12


def test_two_threads_give_identical_codes(move) -> None:  # type: ignore[no-untyped-def]
    two = move_waveform(AOD, X0, X1, Y0, Y1, DURATION_US, threads=2)
    np.testing.assert_array_equal(two.x.codes, move.x.codes)
    np.testing.assert_array_equal(two.y.codes, move.y.codes)
    assert two.x.peak_code == move.x.peak_code
