"""compile_sequence: memory layout, limits, phase continuity, latency alignment, TTL, export."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer import ChannelSamples, Register, SampledSequence, TargetSlot
from sequencer.compiler import (
    CompactSequence,
    CompileError,
    HardwareConfig,
    HardwareLimitError,
    HardwareProgram,
    compile_sequence,
    decode,
    load_calibration,
    load_hardware,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HW = load_hardware(EXAMPLES / "hardware.toml")
CAL = load_calibration(EXAMPLES / "calibration.toml")
REG = Register.square(2, 6.0)


def _seq(**channels: tuple[np.ndarray, np.ndarray, np.ndarray]) -> SampledSequence:
    out = {}
    for name, (a, d, p) in channels.items():
        n = len(a)
        basis = "digital" if name.startswith("raman") else "ground-rydberg"
        slot = (TargetSlot(0, n, frozenset(REG.ids)),)
        out[name] = ChannelSamples(name, basis, "Global", a, d, p, slot)
    return SampledSequence(REG, out)


def _pulse(n: int, peak: float, det: float = 0.0, phase: float = 0.0):
    t = np.arange(n)
    return peak * np.sin(np.pi * t / n) ** 2, np.full(n, det), np.full(n, phase)


def _hw(**awg_changes: object) -> HardwareConfig:
    data = HW.model_dump(mode="json")
    data["awgs"][0].update(awg_changes)
    return HardwareConfig.model_validate(data)


def test_dac_codes_stay_in_range_at_full_power() -> None:
    cal_max = 24.0 * np.sqrt(1.0 * 0.85)
    prog = compile_sequence(_seq(rydberg_global=_pulse(2000, cal_max)), HW, CAL)
    awg = prog.awgs["awg_rydberg"]
    codes = np.concatenate([s.ravel() for s in awg.segments])
    assert np.max(np.abs(codes)) <= HW.awg("awg_rydberg").max_code
    assert prog.budget.channels[0].max_quantisation_codes <= 0.5
    assert prog.budget.channels[0].peak_rf_amplitude_v == pytest.approx(0.42, rel=1e-6)


def test_segments_and_steps_respect_the_awg_limits() -> None:
    amp, det, ph = _pulse(3000, 8.0, 5.0)
    compact = CompactSequence.from_sampled(_seq(rydberg_global=(amp, det, ph)))
    compact = compact.with_hold(5_000_000).with_hold(20_000, amplitude_zero=True)
    prog = compile_sequence(compact, HW, CAL)
    cfg = HW.awg("awg_rydberg")
    awg = prog.awgs["awg_rydberg"]
    for seg in awg.segments:
        assert seg.shape == (cfg.channels, seg.shape[1])
        assert seg.shape[1] % cfg.segment_granularity == 0
        assert seg.shape[1] >= cfg.min_segment_samples
    assert len(awg.segments) <= cfg.max_segments
    assert len(awg.steps) <= cfg.max_steps
    assert all(1 <= s.loops <= cfg.max_loops for s in awg.steps)
    assert awg.played_samples >= compact.duration_ns * cfg.sample_rate_hz / 1e9


def test_a_100_ms_hold_is_a_loop_not_samples() -> None:
    compact = CompactSequence.from_sampled(_seq(rydberg_global=_pulse(1000, 5.0)))
    compact = compact.with_hold(100_000_000, amplitude_zero=True)
    prog = compile_sequence(compact, HW, CAL)
    awg = prog.awgs["awg_rydberg"]
    assert awg.played_samples >= 125_000_000
    assert awg.segment_samples < 100_000
    assert max(s.loops for s in awg.steps) > 1000


def test_sampled_holds_are_found_without_a_compact_input() -> None:
    amp, det, ph = _pulse(1000, 5.0)
    hold = 50_000
    seq = _seq(
        rydberg_global=(
            np.concatenate([amp, np.full(hold, 3.0), amp]),
            np.concatenate([det, np.full(hold, 1.0), det]),
            np.concatenate([ph, np.zeros(hold), ph]),
        )
    )
    compact = CompactSequence.from_sampled(seq, min_hold_ns=2000)
    assert [b.hold for b in compact.blocks] == [False, True, False]
    assert compact.to_sampled() == seq
    prog = compile_sequence(seq, HW, CAL)
    assert prog.awgs["awg_rydberg"].segment_samples < 40_000


def test_held_tone_makes_whole_cycles_in_its_loop_segment() -> None:
    ramp = np.linspace(0.0, 5.0, 1000)
    seq = _seq(rydberg_global=(ramp, np.full(1000, 7.3), np.zeros(1000)))
    compact = CompactSequence.from_sampled(seq).with_hold(200_000)
    prog = compile_sequence(compact, HW, CAL)
    awg = prog.awgs["awg_rydberg"]
    looped = {s.segment for s in awg.steps if s.loops > 1}
    assert looped
    for i in looped:
        spectrum = np.abs(np.fft.rfft(awg.segments[i][0].astype(float))) ** 2
        # a whole number of cycles: all power in one bin (no leakage at the loop seam)
        assert np.max(spectrum) / np.sum(spectrum) > 0.999
    assert prog.budget.channels[0].hold_frequency_error_hz < 1e3


def test_phase_is_continuous_across_frequency_changes() -> None:
    n = 40_000  # 50 000 AWG samples: spans several synthesis chunks
    amp = np.full(n, 6.0)
    amp[:200] = np.linspace(0, 6, 200)
    amp[-200:] = np.linspace(6, 0, 200)
    amp[1000:1500] += np.linspace(0, 1, 500)  # not constant: no looped hold
    amp[1500:] += 1.0
    amp[-200:] = np.linspace(7, 0, 200)
    # steps in Δ, φ constant; one step inside the second chunk
    det = np.where(np.arange(n) < 2000, -15.0, np.where(np.arange(n) < 30_000, 12.0, -3.0))
    prog = compile_sequence(_seq(rydberg_global=(amp, det, np.zeros(n))), HW, CAL)
    codes = prog.awgs["awg_rydberg"].expand(0).astype(float)
    fs = HW.awg("awg_rydberg").sample_rate_hz
    # analytic signal; the phase step per sample is the RF frequency, never a jump
    spec = np.fft.fft(codes)
    spec[len(codes) // 2 + 1 :] = 0
    spec[1 : len(codes) // 2] *= 2
    z = np.fft.ifft(spec)
    lit = np.abs(z) > 0.5 * np.max(np.abs(z))
    lit[:-1] &= lit[1:]
    step = np.angle(z[1:] * np.conj(z[:-1]))[lit[:-1]]
    f = step * fs / (2 * np.pi)
    f_lo = 80e6 + (-15.0 - (-2.0) * (7.0 / 24.0) ** 2) * 1e6 / (2 * np.pi * 2)
    f_hi = 80e6 + (12.0 - (-2.0) * (7.0 / 24.0) ** 2) * 1e6 / (2 * np.pi * 2)
    assert np.min(f) > f_lo - 1e6
    assert np.max(f) < f_hi + 1e6


def test_too_long_for_memory_is_refused_before_upload() -> None:
    hw = _hw(memory_samples=4096)
    amp, det, ph = _pulse(5000, 5.0)
    with pytest.raises(HardwareLimitError, match="memory"):
        compile_sequence(_seq(rydberg_global=(amp, det, ph)), hw, CAL)


def test_too_many_steps_is_refused() -> None:
    hw = _hw(max_steps=2)
    compact = CompactSequence.from_sampled(_seq(rydberg_global=_pulse(1000, 5.0)))
    compact = compact.with_hold(100_000, amplitude_zero=True)
    with pytest.raises(HardwareLimitError, match="sequence steps"):
        compile_sequence(compact, hw, CAL)


def test_amplitude_beyond_saturation_is_refused() -> None:
    with pytest.raises(HardwareLimitError, match="beyond the saturation of AOM 'aom_rydberg'"):
        compile_sequence(_seq(rydberg_global=_pulse(1000, 30.0)), HW, CAL)


def test_frequency_outside_the_aom_band_is_refused() -> None:
    with pytest.raises(HardwareLimitError, match="leaves the band of AOM 'aom_rydberg'"):
        compile_sequence(_seq(rydberg_global=_pulse(1000, 5.0, 300.0)), HW, CAL)


def test_unrouted_channel_is_refused() -> None:
    data = HW.model_dump(mode="json")
    data["beams"] = [b for b in data["beams"] if b["channel"] != "raman_global"]
    hw = HardwareConfig.model_validate(data)
    with pytest.raises(HardwareLimitError, match="no beam"):
        compile_sequence(_seq(raman_global=_pulse(1000, 5.0)), hw, CAL)


def test_a_user_named_global_channel_goes_to_its_basis_beam() -> None:
    seq = _seq(ising=_pulse(1000, 5.0))
    prog = compile_sequence(seq, HW, CAL)
    assert prog.channels["ising"]["beam"] == "rydberg_420"
    seen = decode(prog, HW, CAL, rise_time=False).to_sampled()
    assert np.max(seen.channels["ising"].amplitude) == pytest.approx(5.0, rel=0.02)


def test_two_channels_on_one_beam_are_refused() -> None:
    seq = _seq(ising=_pulse(1000, 5.0), rydberg_global=_pulse(1000, 5.0))
    with pytest.raises(CompileError, match="same beam"):
        compile_sequence(seq, HW, CAL)


def test_pre_emphasis_overshoot_beyond_rf_limit_is_refused() -> None:
    n = 1000
    amp = np.full(n, 20.0)  # a hard step to near saturation cannot be pre-emphasised
    with pytest.raises(HardwareLimitError, match="pre-emphasis"):
        compile_sequence(
            _seq(rydberg_global=(amp, np.zeros(n), np.zeros(n))), HW, CAL, pre_emphasis=True
        )


def test_channels_with_different_latencies_arrive_together() -> None:
    n = 2000
    seq = _seq(rydberg_global=_pulse(n, 8.0), raman_global=_pulse(n, 4.0))
    prog = compile_sequence(seq, HW, CAL)
    # the slower path starts earlier on the shot timeline
    lat_ryd = 450.0 + 12.0
    lat_ram = 320.0 - 5.0
    assert prog.awgs["awg_rydberg"].start_ns == pytest.approx(-lat_ryd)
    assert prog.awgs["awg_raman"].start_ns == pytest.approx(-lat_ram)
    dec = decode(prog, HW, CAL, rise_time=False).to_sampled()
    for name, peak in (("rydberg_global", 8.0), ("raman_global", 4.0)):
        got = dec.channels[name].amplitude
        centre = np.sum(np.arange(len(got)) * got) / np.sum(got)
        assert centre == pytest.approx((n - 1) / 2, abs=1.0)
        assert np.max(got) == pytest.approx(peak, rel=0.02)


def test_ttl_table_triggers_awgs_shutters_and_camera() -> None:
    n = 2000
    prog = compile_sequence(_seq(rydberg_global=_pulse(n, 8.0)), HW, CAL)
    events = {(e.line, e.high): e.time_ns for e in prog.ttl}
    start = prog.awgs["awg_rydberg"].start_ns
    assert events[("awg_rydberg_trigger", True)] == pytest.approx(round(start - 80.0))
    # the shutter is open (after its latency) before the first light and until after the last
    assert events[("rydberg_shutter", True)] + 2e6 <= 1.0
    assert events[("rydberg_shutter", False)] + 2e6 >= n
    assert events[("camera_trigger", True)] + 1e4 >= n
    times = [e.time_ns for e in prog.ttl]
    assert times == sorted(times)


def test_program_round_trips_through_npz_and_payloads() -> None:
    compact = CompactSequence.from_sampled(_seq(rydberg_global=_pulse(1500, 8.0, 3.0, 0.5)))
    prog = compile_sequence(compact.with_hold(50_000), HW, CAL)
    buf = io.BytesIO()
    prog.save_npz(buf)
    buf.seek(0)
    back = HardwareProgram.load_npz(buf)
    awg = prog.awgs["awg_rydberg"]
    awg2 = back.awgs["awg_rydberg"]
    assert awg2.steps == awg.steps
    assert all(np.array_equal(a, b) for a, b in zip(awg.segments, awg2.segments))
    assert back.ttl == prog.ttl
    assert back.budget == prog.budget
    payload = prog.payloads()["awg_rydberg"]
    assert all(seg.dtype == np.int16 for seg in payload["segments"])
    words = payload["step_words"]
    assert int(words[-1]) >> 63 == 1  # SPCSEQ_END on the last step
    assert [int(w) & 0xFFFF for w in words] == [s.segment for s in awg.steps]
    assert [(int(w) >> 32) & 0xFFFFF for w in words] == [s.loops for s in awg.steps]
    per_channel = payload["channels"][0]
    stream = np.concatenate(
        [np.tile(per_channel["segments"][name], loops) for name, loops in per_channel["steps"]]
    )
    np.testing.assert_array_equal(stream, awg.expand(0))


@settings(max_examples=25, deadline=None)
@given(
    granularity=st.sampled_from([1, 16, 32, 64]),
    min_blocks=st.integers(1, 12),
    hold_max_blocks=st.integers(12, 200),
    holds=st.lists(st.integers(2_000, 300_000), min_size=1, max_size=4),
    lit=st.lists(st.booleans(), min_size=4, max_size=4),
    rate=st.sampled_from([625e6, 1.0e9, 1.25e9]),
)
def test_layout_respects_random_awg_limits(
    granularity: int,
    min_blocks: int,
    hold_max_blocks: int,
    holds: list[int],
    lit: list[bool],
    rate: float,
) -> None:
    hw = _hw(
        segment_granularity=granularity,
        min_segment_samples=granularity * min_blocks,
        hold_segment_max_samples=granularity * hold_max_blocks,
        sample_rate_hz=rate,
    )
    cfg = hw.awg("awg_rydberg")
    ramp = np.linspace(0.0, 5.0, 700)
    part = CompactSequence.from_sampled(
        _seq(rydberg_global=(ramp, np.full(700, 3.0), np.zeros(700)))
    )
    parts = []
    for hold, on in zip(holds, lit):
        parts.append(part.with_hold(hold, amplitude_zero=not on))
    compact = CompactSequence.concatenate(parts)
    prog = compile_sequence(compact, hw, CAL)
    awg = prog.awgs["awg_rydberg"]
    for seg in awg.segments:
        assert seg.shape[1] % cfg.segment_granularity == 0
        assert seg.shape[1] >= cfg.min_segment_samples
        assert np.max(np.abs(seg)) <= cfg.max_code
    assert awg.segment_samples <= cfg.memory_samples
    assert len(awg.segments) <= cfg.max_segments
    assert len(awg.steps) <= cfg.max_steps
    assert all(1 <= s.loops <= cfg.max_loops for s in awg.steps)
    needed = compact.duration_ns * rate / 1e9
    assert needed <= awg.played_samples < needed + 2 * cfg.min_segment_samples + 1000
    # looped segments hold whole cycles of their tone
    for s in awg.steps:
        if s.loops > 1 and np.any(awg.segments[s.segment][0]):
            spec = np.abs(np.fft.rfft(awg.segments[s.segment][0].astype(float))) ** 2
            assert np.max(spec) / np.sum(spec) > 0.999


def test_a_wrong_delay_in_the_lab_shows_up_as_a_shifted_pulse() -> None:
    n = 2000
    prog = compile_sequence(_seq(rydberg_global=_pulse(n, 8.0)), HW, CAL)
    data = CAL.model_dump()
    data["channels"]["rydberg_global"]["delay_ns"] += 40.0  # the real path is 40 ns slower
    truth = CAL.model_validate(data)
    seen = decode(prog, HW, truth, rise_time=False).to_sampled().channels["rydberg_global"]
    got = seen.amplitude
    centre = np.sum(np.arange(len(got)) * got) / np.sum(got)
    assert centre == pytest.approx((n - 1) / 2 + 40.0, abs=1.0)


def test_decode_needs_only_what_was_uploaded() -> None:
    from sequencer.compiler import AWGProgram, Step

    compact = CompactSequence.from_sampled(_seq(rydberg_global=_pulse(1500, 8.0, 3.0, 0.5)))
    prog = compile_sequence(compact.with_hold(30_000), HW, CAL)
    up = prog.payloads()["awg_rydberg"]
    awg = prog.awgs["awg_rydberg"]
    rebuilt = HardwareProgram(
        awgs={
            "awg_rydberg": AWGProgram(
                "awg_rydberg",
                up["sample_rate_hz"],
                awg.start_ns,
                awg.channel_aoms,
                tuple(s.astype(np.int32) for s in up["segments"]),
                tuple(Step(s, n) for s, n in up["steps"]),
            )
        },
        ttl=(),
        duration_ns=prog.duration_ns,
        channels={"rydberg_global": {"basis": "ground-rydberg"}},
        register=prog.register,
    )
    a = decode(prog, HW, CAL)
    b = decode(rebuilt, HW, CAL)
    t = np.arange(0, prog.duration_ns, 7)
    for x, y in zip(a.values_at("rydberg_global", t), b.values_at("rydberg_global", t)):
        np.testing.assert_array_equal(x, y)
