"""The fused synthesis kernel against the numpy formulation it replaced.

The reference below is the compiler's previous explicit-stretch synthesis (numpy, chunks of
32 Ki samples, float32 cos). The kernel must give the same codes within ±1 LSB (the two differ
only where the ideal code sits within float32 rounding of a half-integer), be bit-identical
serial and parallel, and keep the phase continuous across chunk boundaries.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from sequencer import ChannelSamples, Register, SampledSequence, TargetSlot
from sequencer.compiler import (
    AWGConfig,
    CompactSequence,
    HardwareConfig,
    HardwareLimitError,
    _kernels,
    compile_sequence,
    load_calibration,
    load_hardware,
)
from sequencer.compiler.compile import _ChannelState, _Region, _synth_explicit
from sequencer.compiler.synth import (
    TWO_PI,
    ChannelDrive,
    pre_emphasize,
    rf_codes,
    synthesis_threads,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HW = load_hardware(EXAMPLES / "hardware.toml")
CAL = load_calibration(EXAMPLES / "calibration.toml")
REG = Register.square(2, 6.0)
CHUNK = _kernels.CHUNK_SAMPLES


def _hw(rate: float) -> HardwareConfig:
    data = HW.model_dump(mode="json")
    data["awgs"][0]["sample_rate_hz"] = rate
    return HardwareConfig.model_validate(data)


def _random_drive(n: int, seed: int) -> CompactSequence:
    """Ω, Δ, φ that change every ns, with Δ steps (frequency changes) and φ jumps."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    amp = 5.0 + 3.0 * np.sin(TWO_PI * t / rng.uniform(500, 3000)) + rng.uniform(0, 0.05, n)
    amp *= np.clip((t - n // 20) / 2000.0, 0.0, 1.0)  # dark start (Ω = 0 exactly), a ramp up
    det = np.repeat(rng.uniform(-30, 30, 16), -(-n // 16))[:n] + rng.normal(0, 0.2, n)
    phase = np.repeat(rng.uniform(-3, 3, 11), -(-n // 11))[:n]  # phase jumps
    slot = (TargetSlot(0, n, frozenset(REG.ids)),)
    ch = ChannelSamples("rydberg_global", "ground-rydberg", "Global", amp, det, phase, slot)
    return CompactSequence.from_sampled(SampledSequence(REG, {"rydberg_global": ch}))


def _reference(
    st: _ChannelState,
    reg: _Region,
    compact: CompactSequence,
    awg: AWGConfig,
    alpha: float,
    phase_rad: float,
) -> tuple[np.ndarray, float, float, int]:
    """The previous numpy synthesis of an explicit region: (codes, end phase, quant, clipped)."""
    d = st.drive
    fs = awg.sample_rate_hz
    rate = fs / 1e9
    out = np.zeros(reg.length, dtype=np.int32)
    quant, clipped = 0.0, 0
    for c0 in range(0, reg.length, CHUNK):
        j = np.arange(reg.start + c0, reg.start + min(c0 + CHUNK, reg.length), dtype=np.int64)
        t_ns = np.floor((j - st.offset) / rate + 1e-9).astype(np.int64)
        k0 = int(t_ns[0])
        kk = np.arange(k0, int(t_ns[-1]) + 1, dtype=np.int64)
        rabi_ns, det_ns, phi_ns = compact.values_at(d.channel, kk)
        gather = t_ns - k0
        amp = d.amplitude_v(rabi_ns, check=False)[gather]
        offsets_hz = d.rf_offset_hz(rabi_ns, det_ns, check=False)[gather]
        phi = phi_ns[gather]
        if alpha < 1.0:
            t_prev = np.floor((j[0] - 1 - st.offset) / rate + 1e-9)
            r_prev, _, _ = compact.values_at(d.channel, np.array([int(t_prev)]))
            prev_amp = float(d.amplitude_v(r_prev)[0]) if j[0] > 0 else 0.0
            amp = pre_emphasize(amp, prev_amp, alpha)
            clipped += int(np.count_nonzero(amp < 0.0))
            amp = np.maximum(amp, 0.0)
        steps_phase = offsets_hz * (TWO_PI / fs)
        baseband = np.cumsum(steps_phase)
        total = float(baseband[-1])
        baseband -= steps_phase
        baseband += phase_rad
        turns = (j - st.offset) * (d.aom.rf_center_hz / fs)
        turns -= np.floor(turns)
        rf_phase = turns * TWO_PI + baseband + phi * d.rf_phase_per_rad
        codes, q = rf_codes(amp, rf_phase, awg.lsb_v, awg.max_code)
        out[c0 : c0 + len(j)] = codes
        quant = max(quant, q)
        phase_rad = math.fmod(phase_rad + total, TWO_PI)
    return out, phase_rad, quant, clipped


def _kernel(
    compact: CompactSequence,
    hw: HardwareConfig,
    reg: _Region,
    offset: int,
    alpha: float,
    phase_cyc: float,
) -> tuple[np.ndarray, _ChannelState]:
    awg = hw.awgs[0]
    drive = ChannelDrive.build("rydberg_global", hw, CAL)
    st = _ChannelState(drive, offset, phase_cyc)
    seg = np.zeros((awg.channels, reg.length), dtype=np.int32)
    _synth_explicit([st], seg, reg, compact, awg, {id(st): alpha})
    return seg[drive.aom.awg_channel], st


@pytest.mark.parametrize("rate", [625e6, 1.25e9])
@pytest.mark.parametrize("pre", [False, True])
@pytest.mark.parametrize("seed", [1, 2])
def test_kernel_codes_match_the_numpy_formulation(rate: float, pre: bool, seed: int) -> None:
    n_ns = 3 * CHUNK + 777  # several chunks and a ragged end
    compact = _random_drive(n_ns, seed)
    hw = _hw(rate)
    awg = hw.awgs[0]
    drive = ChannelDrive.build("rydberg_global", hw, CAL)
    fs = awg.sample_rate_hz
    alpha = 1.0 - math.exp(-1.0 / (fs * drive.aom.time_constant_ns * 1e-9)) if pre else 1.0
    offset = 3
    # the region runs past both ends of the sequence (Ω = 0 there, Δ and φ hold)
    reg = _Region(1, int(n_ns * fs / 1e9) + 40, 1)
    phase0 = 0.3712
    codes, st = _kernel(compact, hw, reg, offset, alpha, phase0)
    ref_st = _ChannelState(drive, offset, 0.0)
    ref, ref_phase, ref_q, ref_clip = _reference(ref_st, reg, compact, awg, alpha, TWO_PI * phase0)
    diff = np.abs(codes.astype(np.int64) - ref)
    assert diff.max() <= 1
    assert np.count_nonzero(diff) <= 1e-3 * codes.size  # off by one only at float32 ties
    assert np.max(np.abs(ref)) > 5_000  # a real test: large codes
    # the end phase agrees with the numpy accumulation (mod one cycle)
    d_phase = (st.phase_cyc - ref_phase / TWO_PI) % 1.0
    assert min(d_phase, 1.0 - d_phase) < 1e-9
    assert st.clipped == ref_clip
    assert abs(st.max_quant - ref_q) < 1e-3
    assert st.max_code == int(np.max(np.abs(codes)))


def test_serial_and_parallel_are_bit_identical_and_chunks_join_continuously() -> None:
    compact = _random_drive(5 * CHUNK, 7)
    hw = _hw(1.25e9)
    n = int(5 * CHUNK * 1.25)
    reg = _Region(0, n, 1)
    before = synthesis_threads()
    try:
        synthesis_threads(1)
        serial, st1 = _kernel(compact, hw, reg, 0, 1.0, 0.25)
        synthesis_threads(2)
        parallel, st2 = _kernel(compact, hw, reg, 0, 1.0, 0.25)
    finally:
        synthesis_threads(before)
    assert np.array_equal(serial, parallel)
    assert st1.phase_cyc == st2.phase_cyc
    # split at a chunk boundary, carrying the phase: the same samples to the last bit
    cut = 2 * CHUNK
    first, st_a = _kernel(compact, hw, _Region(0, cut, 1), 0, 1.0, 0.25)
    second, st_b = _kernel(compact, hw, _Region(cut, n - cut, 1), 0, 1.0, st_a.phase_cyc)
    assert np.array_equal(np.concatenate([first, second]), serial)
    assert st_b.phase_cyc == st1.phase_cyc


def test_every_parallel_driver_equals_the_serial_one_to_the_last_bit() -> None:
    """Two-pass (≥ 3 threads) and split (2 threads, any split point) drivers vs serial."""
    import numba as nb

    n_chunks = 7
    compact = _random_drive(int(n_chunks * CHUNK / 1.25), 11)
    hw = _hw(1.25e9)
    captured: list[tuple[object, ...]] = []
    real = _kernels.synth_explicit

    def grab(*args: object) -> tuple[float, np.ndarray]:
        captured.append(args)
        return real(*args)  # type: ignore[arg-type]

    _kernels.synth_explicit = grab  # type: ignore[assignment]
    try:
        _kernel(compact, hw, _Region(0, n_chunks * CHUNK - 100, 1), 3, 0.6, 0.4)
    finally:
        _kernels.synth_explicit = real  # type: ignore[assignment]
    out0, *rest = captured[0]
    stats_ref = np.zeros((n_chunks, 5))
    ref = np.zeros_like(out0)
    phase_ref = _kernels._explicit_serial(ref, *rest, stats_ref)
    before = nb.get_num_threads()
    runs = [("two-pass", None)] + [("split", b) for b in (1, 3, 6)]
    try:
        nb.set_num_threads(min(2, nb.config.NUMBA_NUM_THREADS))
        for name, b in runs:
            out = np.zeros_like(out0)
            stats = np.zeros((n_chunks, 5))
            if b is None:
                phase = _kernels._explicit_parallel(out, *rest, stats)
            else:
                bounds = np.array([0, b, n_chunks], dtype=np.int64)
                phase = _kernels._explicit_split(out, *rest, stats, bounds)
            assert np.array_equal(out, ref), name
            assert np.array_equal(stats, stats_ref), name
            assert phase == phase_ref, name
    finally:
        nb.set_num_threads(before)


def test_phase_is_continuous_across_chunk_boundaries() -> None:
    """A lit, constant-Ω chirp: the instantaneous RF phase advances by f/fs at every sample."""
    n_ns = 3 * CHUNK
    t = np.arange(n_ns)
    amp = np.full(n_ns, 8.0) + 1e-6 * t  # never constant: all explicit
    det = 25.0 * np.sin(TWO_PI * t / 20_000.0)
    slot = (TargetSlot(0, n_ns, frozenset(REG.ids)),)
    ch = ChannelSamples(
        "rydberg_global", "ground-rydberg", "Global", amp, det, np.zeros(n_ns), slot
    )
    seq = SampledSequence(REG, {"rydberg_global": ch})
    hw = _hw(1.25e9)
    prog = compile_sequence(seq, hw, CAL)
    x = prog.awgs["awg_rydberg"].expand(0).astype(float)
    # the codes a perfect synthesis would make (float64 throughout, one cumulative sum)
    drive = ChannelDrive.build("rydberg_global", hw, CAL)
    fs = hw.awgs[0].sample_rate_hz
    j = np.arange(x.size)
    t_ns = np.clip(np.floor(j / 1.25 + 1e-9).astype(np.int64), 0, n_ns - 1)  # one channel
    lit = (j / 1.25) < n_ns
    f_off = drive.rf_offset_hz(amp, det, check=False)[t_ns]
    base = np.concatenate([[0.0], np.cumsum(f_off[:-1] / fs)])
    psi = TWO_PI * ((j * (drive.aom.rf_center_hz / fs)) % 1.0 + base)
    a = drive.amplitude_v(amp, check=False)[t_ns] * lit
    ideal = a / hw.awgs[0].lsb_v * np.cos(psi)
    assert np.max(np.abs(x - ideal)) <= 0.5 + 1e-5  # rounding only, across every boundary


def test_polynomials_are_far_below_one_lsb() -> None:
    r = np.linspace(0.0, 1.0, 200_001)
    err_asin = max(abs(_kernels._asin01(float(x)) - math.asin(x)) for x in r[::50])
    assert err_asin < 7e-11
    psi = np.linspace(-3.0, 3.0, 100_001)
    err_cos = max(abs(_kernels._cos_cycles(float(p)) - math.cos(TWO_PI * p)) for p in psi[::25])
    assert err_cos < 3e-11  # × 32767 codes: < 1e-6 LSB


def test_out_of_range_codes_are_reported_not_wrapped() -> None:
    n = 2 * CHUNK
    rabi = np.full(n, 10.0)
    zero = np.zeros(n)
    fpar = np.array(
        [1.0, 10.0, 0.0, 0.0, 1.0, 0.1, 1 / TWO_PI, 1.0, 1 / 10.0, 1.0, 40_000.0, 0, 1, -1, 1]
    )
    ipar = np.array([0, 0, 0, n - 1, 0, n, 0, 0, 32767, 0, -1], dtype=np.int64)
    out = np.empty(n, dtype=np.int32)
    _, stats = _kernels.synth_explicit(out, 0, 0.0, 0.0, rabi, zero, zero, zero, fpar, ipar)
    assert stats[:, 2].max() > 32767  # the caller refuses this (HardwareLimitError)
    assert np.abs(out).max() == 32768  # stored codes are clamped, never wrapped


def _expected_refusal(compact: CompactSequence, hw: HardwareConfig) -> str:
    """The message of the up-front range check (the compiler's before the kernel took it)."""
    from sequencer.compiler.compile import _check_limits

    drives = {"rydberg_global": ChannelDrive.build("rydberg_global", hw, CAL)}
    with pytest.raises(HardwareLimitError) as info:
        _check_limits(compact, drives)
    return str(info.value)


@pytest.mark.parametrize("rate", [625e6, 1.25e9])
@pytest.mark.parametrize("where", [2, 5, 77_777, -1])
@pytest.mark.parametrize("what", ["saturation", "band", "negative"])
def test_range_refusals_inside_long_blocks_are_the_up_front_ones(
    rate: float, where: int, what: str
) -> None:
    """The kernel checks long explicit blocks as it reads them: same refusal, same message.

    At 625 MS/s ns 2 is played by no sample (0 → 0, 1 → 1, 2 → 3): it must still be checked.
    """
    from sequencer.compiler.compile import _DEFER_MIN_NS

    n = 2 * _DEFER_MIN_NS + 321
    rng = np.random.default_rng(3)
    amp = 4.0 + rng.uniform(0, 1, n)
    det = rng.uniform(-5, 5, n)
    if what == "saturation":
        amp[where] = 1e4
    elif what == "band":
        det[where] = 1e5
    else:
        amp[where] = -1.0
    slot = (TargetSlot(0, n, frozenset(REG.ids)),)
    ch = ChannelSamples("rydberg_global", "ground-rydberg", "Global", amp, det, np.zeros(n), slot)
    compact = CompactSequence.from_sampled(SampledSequence(REG, {"rydberg_global": ch}))
    assert any(not b.hold and b.stop_ns - b.start_ns >= _DEFER_MIN_NS for b in compact.blocks)
    hw = _hw(rate)
    expected = _expected_refusal(compact, hw)
    with pytest.raises(HardwareLimitError) as info:
        compile_sequence(compact, hw, CAL)
    assert str(info.value) == expected
    # a refusal that comes later (memory) never hides it; nor does pre-emphasis
    data = hw.model_dump(mode="json")
    data["awgs"][0]["memory_samples"] = 1024
    small = HardwareConfig.model_validate(data)
    with pytest.raises(HardwareLimitError) as info:
        compile_sequence(compact, small, CAL, pre_emphasis=True)
    assert str(info.value) == expected


def test_in_range_long_blocks_compile_as_before() -> None:
    """Near (not beyond) the limits: no refusal, and the kernel's flags do not fire."""
    from sequencer.compiler.compile import _DEFER_MIN_NS

    hw = _hw(1.25e9)
    drive = ChannelDrive.build("rydberg_global", hw, CAL)
    n = _DEFER_MIN_NS + 5000
    amp = np.full(n, 0.999 * drive.max_rabi) - 1e-3 * np.arange(n) / n
    det = np.linspace(-20.0, 20.0, n)
    slot = (TargetSlot(0, n, frozenset(REG.ids)),)
    ch = ChannelSamples("rydberg_global", "ground-rydberg", "Global", amp, det, np.zeros(n), slot)
    prog = compile_sequence(SampledSequence(REG, {"rydberg_global": ch}), hw, CAL)
    assert prog.budget.channels[0].max_code > 10_000


@pytest.mark.parametrize(
    ("rate", "p", "q"), [(1.25, 5, 4), (0.625, 5, 8), (1.0, 1, 1), (2.5, 5, 2)]
)
def test_integer_requests_equal_the_float_formula(rate: float, p: int, q: int) -> None:
    """⌊x/rate + 10⁻⁹⌋ = ⌊x·Q/P⌋ for rate = P/Q (Q a power of two) and 0 ≤ x < 2⁴⁰."""
    rng = np.random.default_rng(7)
    x = np.concatenate(
        [np.arange(100_000), rng.integers(0, 1 << 40, 200_000), (1 << 40) - 1 - np.arange(1000)]
    )
    np.testing.assert_array_equal(np.floor(x / rate + 1e-9).astype(np.int64), (x * q) // p)
    fpar = np.zeros(len(_kernels.FPAR))
    fpar[0] = rate
    ipar = np.array([3, 0, 0, 1 << 45, 0, 1 << 45, 0, 0, 32767, 0, -1], dtype=np.int64)
    t0, r0, pp, qq = _kernels._periodic_block(1003, 4096, rate, ipar)
    assert (pp, qq) == (p, q) and t0 == (1000 * q) // p and r0 == (1000 * q) % p
    assert _kernels._periodic_block(1003, 4096, 1.2, ipar)[0] == -1  # 6/5: not exact in binary
    ipar[6] = 1  # a measured table response keeps the general path
    assert _kernels._periodic_block(1003, 4096, rate, ipar)[0] == -1


@pytest.mark.parametrize("rate", [1.25, 0.625, 1.0])
@pytest.mark.parametrize("j0", [4, 5, 7, 4097, 1_000_003])
def test_periodic_fill_is_bit_identical_to_the_general_loop(rate: float, j0: int) -> None:
    """The integer-request path against the general loop's float operations, in Python."""
    rng = np.random.default_rng(j0)
    n_ns = 2_000_000
    rabi, det, phi = rng.uniform(0, 20, n_ns), rng.normal(0, 30, n_ns), rng.normal(0, 3, n_ns)
    # rate, κ, k_LS, offset scale, 1/f_s, f_c/f_s, φ→cycles, amp scale, 1/Ω_max, α, 1/LSB, flags
    fpar = np.array(
        [rate, 24, -2, 7.9e4, 8e-10, 0.064, -0.08, 0.27, 1 / 22.1, 1, 65534, 0, 22, 0, 0]
    )
    base = 1 if j0 < 10 else 5  # input element 0 is ns `base`; sample j plays ns ⌊(j − 2)/rate⌋
    hi = n_ns + base - 1
    ipar = np.array([2, base, base, hi, base, hi + 1, 0, 0, 32767, 0, -1], dtype=np.int64)
    m = 4096
    assert _kernels._periodic_block(j0, m, rate, ipar)[0] >= 0
    tix, car, loc, tgt = np.full(m, -1.0), np.empty(m), np.empty(m), np.zeros(m + 1)
    acc = _kernels._fill_block(
        j0, m, 0.123, rabi, det, phi, np.empty(0), fpar, ipar, tix, car, loc, tgt
    )
    # the general loop, operation by operation (Python floats are IEEE doubles)
    h2c = float(fpar[3] * fpar[4])
    ls = float(fpar[2]) * h2c / float(fpar[1] * fpar[1])
    ref_acc = 0.123
    ref_loc, ref_tgt = np.empty(m), np.empty(m)
    c = np.floor((j0 - 2 + np.arange(m)) / rate + 1e-9).astype(np.int64) - base
    for i in range(m):
        om = float(rabi[c[i]])
        ref_loc[i] = ref_acc + float(phi[c[i]]) * float(fpar[6])
        ref_acc += float(det[c[i]]) * h2c - (om * om) * ls
        ref_tgt[i] = min(om * float(fpar[8]), 1.0)
    assert acc == ref_acc
    assert tix[m - 1] == c[-1]
    np.testing.assert_array_equal(loc, ref_loc)
    np.testing.assert_array_equal(tgt[1:], ref_tgt)
    # the parallel drivers' chunk sums take the integer path too: the same running sum
    n = 3 * m + 5
    total = _kernels._chunk_total(j0, n, rabi, det, phi, np.empty(0), fpar, ipar)
    c = np.floor((j0 - 2 + np.arange(n)) / rate + 1e-9).astype(np.int64) - base
    ref_total = 0.0
    for i in range(n):
        om = float(rabi[c[i]])
        ref_total += float(det[c[i]]) * h2c - (om * om) * ls
    assert total == ref_total
