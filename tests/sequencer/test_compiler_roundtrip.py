"""compile → decode reproduces Ω, Δ, φ within the bounds of DAC, sample rate and rise time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sequencer import ChannelSamples, Register, SampledSequence, TargetSlot
from sequencer.compiler import (
    CompactSequence,
    compile_sequence,
    decode,
    demodulation_filter,
    load_calibration,
    load_hardware,
    round_trip_error,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HW = load_hardware(EXAMPLES / "hardware.toml")
CAL = load_calibration(EXAMPLES / "calibration.toml")
REG = Register.square(2, 6.0)
AOM = HW.aom("aom_rydberg")
FS = HW.awg("awg_rydberg").sample_rate_hz


@st.composite
def pulses(draw: st.DrawFn) -> SampledSequence:
    """1-3 smooth pulses (sin² Ω, linear Δ ramp, constant φ) separated by dark gaps."""
    amp, det, ph = [], [], []
    for _ in range(draw(st.integers(1, 3))):
        gap = draw(st.integers(50, 600))
        amp.append(np.zeros(gap))
        det.append(np.zeros(gap))
        ph.append(np.zeros(gap))
        n = draw(st.integers(400, 2500))
        peak = draw(st.floats(1.0, 18.0))
        d0, d1 = draw(st.floats(-40, 40)), draw(st.floats(-40, 40))
        t = np.arange(n)
        amp.append(peak * np.sin(np.pi * t / n) ** 2)
        det.append(np.linspace(d0, d1, n))
        ph.append(np.full(n, draw(st.floats(-np.pi, np.pi))))
    a, d, p = (np.concatenate(x) for x in (amp, det, ph))
    slot = (TargetSlot(0, len(a), frozenset(REG.ids)),)
    ch = ChannelSamples("rydberg_global", "ground-rydberg", "Global", a, d, p, slot)
    return SampledSequence(REG, {"rydberg_global": ch})


def _filter_variance_ns2() -> float:
    h = demodulation_filter(AOM.rf_center_hz, FS)
    t = (np.arange(len(h)) - len(h) // 2) * 1e9 / FS
    return float(np.sum(h * t**2) / np.sum(h))


def _bounds(seq: SampledSequence, quant: float) -> tuple[float, float]:
    """|ΔΩ| and |ΔΔ| allowed.

    Ω: quantisation + slope × one AWG sample + curvature × the demodulation filter's variance
    + 1 % of the peak. Δ (Ω >= 25 % of its peak): 0.2 rad/µs + 1 % of the largest |Δ| (the
    step from the dark Δ = 0 leaks in through the |z|²-weighted frequency average) + slope ×
    one filter length, since the instantaneous frequency is resolved over that long.
    """
    ch = seq.channels["rydberg_global"]
    d1 = np.max(np.abs(np.diff(ch.amplitude)))
    d2 = np.max(np.abs(np.diff(ch.amplitude, 2)))
    var = _filter_variance_ns2()
    rabi = 2 * quant + d1 * 1e9 / FS + d2 * var + 0.01 * np.max(ch.amplitude)
    lit = ch.amplitude >= 0.25 * np.max(ch.amplitude)
    # the laser detuning the RF carries: Δ minus the light shift of the beam's own power
    cal = CAL.channel("rydberg_global")
    assert cal.rabi_per_sqrt_w is not None
    power = (ch.amplitude / cal.rabi_per_sqrt_w) ** 2
    laser = ch.detuning - cal.light_shift_rad_per_us_per_w * power
    slope = np.max(np.abs(np.diff(laser))[lit[1:] & lit[:-1]])
    span_ns = len(demodulation_filter(AOM.rf_center_hz, FS)) * 1e9 / FS
    return float(rabi), float(0.2 + 0.01 * np.max(np.abs(ch.detuning)) + slope * span_ns)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seq=pulses())
def test_round_trip_through_the_aom_with_pre_emphasis(seq: SampledSequence) -> None:
    prog = compile_sequence(seq, HW, CAL, pre_emphasis=True)
    dec = decode(prog, HW, CAL)
    err = round_trip_error(CompactSequence.from_sampled(seq), dec, lit_fraction=0.25)
    rabi_tol, det_tol = _bounds(seq, prog.budget.channels[0].rabi_quantisation_rad_per_us)
    assert err.rabi_rad_per_us <= rabi_tol
    assert err.detuning_rad_per_us <= det_tol
    assert err.phase_rad <= 0.05


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seq=pulses())
def test_round_trip_of_the_rf_itself(seq: SampledSequence) -> None:
    prog = compile_sequence(seq, HW, CAL)
    dec = decode(prog, HW, CAL, rise_time=False)
    err = round_trip_error(CompactSequence.from_sampled(seq), dec, lit_fraction=0.25)
    rabi_tol, det_tol = _bounds(seq, prog.budget.channels[0].rabi_quantisation_rad_per_us)
    assert err.rabi_rad_per_us <= rabi_tol
    assert err.detuning_rad_per_us <= det_tol
    assert err.phase_rad <= 0.05


def test_without_pre_emphasis_the_rise_time_shows() -> None:
    n = 600
    t = np.arange(n)
    amp = 15.0 * np.sin(np.pi * t / n) ** 2
    slot = (TargetSlot(0, n, frozenset(REG.ids)),)
    ch = ChannelSamples(
        "rydberg_global", "ground-rydberg", "Global", amp, np.zeros(n), np.zeros(n), slot
    )
    seq = SampledSequence(REG, {"rydberg_global": ch})
    compact = CompactSequence.from_sampled(seq)
    plain = round_trip_error(compact, decode(compile_sequence(seq, HW, CAL), HW, CAL))
    emph = round_trip_error(
        compact, decode(compile_sequence(seq, HW, CAL, pre_emphasis=True), HW, CAL)
    )
    # a first-order lag of τ = t_r / ln 9 on a slope s is s τ at the atoms
    lag = np.max(np.abs(np.diff(amp))) * AOM.time_constant_ns
    assert plain.rabi_rad_per_us > 0.5 * lag
    assert emph.rabi_rad_per_us < 0.2 * plain.rabi_rad_per_us


def test_long_holds_decode_as_holds() -> None:
    n = 1000
    ramp = np.linspace(0.0, 6.0, n)
    slot = (TargetSlot(0, n, frozenset(REG.ids)),)
    ch = ChannelSamples(
        "rydberg_global", "ground-rydberg", "Global", ramp, np.full(n, 4.0), np.full(n, 0.3), slot
    )
    up = CompactSequence.from_sampled(SampledSequence(REG, {"rydberg_global": ch}))
    ch_down = ChannelSamples(
        "rydberg_global",
        "ground-rydberg",
        "Global",
        ramp[::-1].copy(),
        np.full(n, 4.0),
        np.full(n, 0.3),
        slot,
    )
    down = CompactSequence.from_sampled(SampledSequence(REG, {"rydberg_global": ch_down}))
    compact = CompactSequence.concatenate([up.with_hold(10_000_000), down])
    prog = compile_sequence(compact, HW, CAL, pre_emphasis=True)
    dec = decode(prog, HW, CAL)
    assert dec.explicit_samples < 200_000
    held = [b for b in dec.blocks if b.hold]
    assert held
    a, d, _p = held[0].values["rydberg_global"]
    budget = prog.budget.channels[0]
    # the held tone is read exactly from its loop segment: only the compiler's rounding remains
    assert abs(d[0] - 4.0) <= budget.hold_detuning_error_rad_per_us + 1e-3
    # the held amplitude is read exactly from its loop segment too (not from the demodulated
    # stream, whose FIR leaves ≈ 1e-4 of the 2 f_c image): otherwise its error, through the
    # light shift, would drift the phase by ≈ 0.4 rad over the 10 ms
    assert abs(a[0] - 6.0) < 1e-5
    # the light's phase at the end of the hold is off by at most the budgeted drift
    err = round_trip_error(compact, dec, lit_fraction=0.25)
    assert err.phase_rad <= budget.hold_phase_drift_rad + 0.02
