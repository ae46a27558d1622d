"""``compile_sequence``: a sampled sequence → AWG segments, step tables and a TTL table."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sequencer.compiler import _kernels
from sequencer.compiler.calibration import CompilerCalibration
from sequencer.compiler.errors import CompileError, HardwareLimitError
from sequencer.compiler.hardware import AWGConfig, HardwareConfig
from sequencer.compiler.program import (
    AWGProgram,
    ChannelBudget,
    ErrorBudget,
    HardwareProgram,
    Step,
    TTLEvent,
)
from sequencer.compiler.synth import (
    TWO_PI,
    ChannelDrive,
    choose_loop_length,
    rf_codes,
)
from sequencer.compiler.timeline import Block, CompactSequence
from sequencer.sampled import SampledSequence

__all__ = ["compile_sequence"]


@dataclass
class _Region:
    """AWG samples ``[start, start + length * loops)``: explicit (loops == 1) or a held loop."""

    start: int
    length: int
    loops: int
    hold_block: int = -1  # index of the timeline block it holds, -1 if explicit


@dataclass
class _ChannelState:
    drive: ChannelDrive
    offset: int  # AWG samples by which this channel is delayed relative to the AWG start
    phase_cyc: float  # accumulated baseband RF phase (cycles, in [0, 1)) at the next region
    max_quant: float = 0.0
    peak_amp: float = 0.0
    max_code: int = 0
    hold_freq_err: float = 0.0
    clipped: int = 0
    hold_phase_err: float = 0.0


def _ceil_to(x: int, g: int) -> int:
    return -(-x // g) * g


def compile_sequence(
    sequence: SampledSequence | CompactSequence,
    hardware: HardwareConfig,
    calibration: CompilerCalibration | None = None,
    *,
    pre_emphasis: bool = False,
) -> HardwareProgram:
    """Compile ``sequence`` into what the instruments of ``hardware`` play.

    For each global channel, the AOM that makes it gets phase-continuous RF: amplitude from Ω
    through the inverse AOM response, instantaneous frequency from Δ (net of the calibrated
    light shift), phase from φ on top of the accumulated phase. Constant stretches of at least
    ``hardware.min_hold_ns`` become loops of one short segment whose length holds a whole
    number of RF cycles. Each channel is advanced by its latency so all arrive together at
    the atoms; with ``pre_emphasis`` the AOM's first-order rise is inverted in the RF
    amplitude. Everything unplayable (memory, segments, steps, saturation, band, codes) raises
    :class:`HardwareLimitError` before a program exists.

    A local channel C made by addressing beams is first expanded into one stream per beam,
    ``C@beam`` (:mod:`sequencer.compiler.addressing`), each compiled like a global channel on
    its beam's AOM; targets no beam can light as asked raise :class:`CompileError`. The
    program's ``channels`` then maps each stream to its AOM and beam, with ``"addressing":
    "Local"``, ``"source"`` (C) and ``"targets"`` (the atoms the beam lights).
    """
    calibration = calibration or CompilerCalibration.nominal(hardware)
    compact = (
        sequence
        if isinstance(sequence, CompactSequence)
        else CompactSequence.from_sampled(sequence, hardware.min_hold_ns, hardware=hardware)
    )
    if compact.duration_ns == 0:
        raise CompileError("the sequence is empty (0 ns)")
    for nm, info in compact.channels.items():
        if info.addressing != "Global" and info.beam is None:
            raise CompileError(
                f"channel {nm!r} is {info.addressing}-addressed but not expanded onto its "
                "beams; build the CompactSequence with from_sampled(..., hardware=hw)"
            )
    drives = {
        nm: ChannelDrive.build(nm, hardware, calibration, basis=info.basis, beam_name=info.beam)
        for nm, info in compact.channels.items()
    }
    beams = [d.beam.name for d in drives.values()]
    if len(set(beams)) != len(beams):
        raise CompileError(
            f"two channels would drive the same beam: {dict(zip(drives, beams))}; one beam makes "
            "one channel"
        )
    try:
        # long explicit blocks are range-checked by the synthesis kernel as it reads them
        # (one pass over the inputs instead of two); should anything refuse the sequence,
        # the full up-front check runs first, so the refusal is the one it always was
        ranges = _Ranges(_check_limits(compact, drives, defer=True))
        awgs: dict[str, AWGProgram] = {}
        budgets: list[ChannelBudget] = []
        for awg in hardware.awgs:
            mine = [d for d in drives.values() if d.aom.awg == awg.name]
            if not mine:
                continue
            prog, states = _compile_awg(compact, awg, mine, pre_emphasis, ranges)
            awgs[awg.name] = prog
            for st in states:
                budgets.append(_channel_budget(st, awg, prog, compact))
        ranges.check(compact, drives)
        ttl, ttl_rounding = _ttl_table(compact, hardware, drives, awgs)
    except Exception:
        _check_limits(compact, drives)  # a range refusal comes first, as if checked up front
        raise
    budget = ErrorBudget(
        total_segment_samples=sum(p.segment_samples for p in awgs.values()),
        total_played_samples=sum(p.played_samples for p in awgs.values()),
        segments=sum(len(p.segments) for p in awgs.values()),
        steps=sum(len(p.steps) for p in awgs.values()),
        channels=tuple(budgets),
        ttl_rounding_ns=ttl_rounding,
    )
    channels: dict[str, dict[str, Any]] = {}
    for nm, d in drives.items():
        info = compact.channels[nm]
        channels[nm] = {
            "aom": d.aom.name,
            "awg": d.aom.awg,
            "awg_channel": d.aom.awg_channel,
            "beam": d.beam.name,
            "basis": info.basis,
        }
        if info.addressing != "Global":  # a beam's stream of a local channel
            channels[nm].update(
                addressing=info.addressing, source=info.source, targets=list(info.targets)
            )
    return HardwareProgram(
        awgs=awgs,
        ttl=ttl,
        duration_ns=compact.duration_ns,
        channels=channels,
        register=compact.register.to_dict(),
        budget=budget,
        hardware_name=hardware.name,
        calibration_version=calibration.version,
        metadata={"pre_emphasis": pre_emphasis, "device_name": compact.device_name},
    )


_DEFER_MIN_NS = 1 << 16  # explicit blocks at least this long are range-checked in the kernel


def _check_limits(
    compact: CompactSequence, drives: dict[str, ChannelDrive], *, defer: bool = False
) -> dict[str, list[tuple[int, int]]]:
    """Refuse saturation and out-of-band frequencies over the whole sequence, up front.

    With ``defer``, explicit blocks of at least ``_DEFER_MIN_NS`` are skipped and returned
    (per channel, ``(start_ns, stop_ns)``): the synthesis kernel reports their extremes as it
    reads them, and :meth:`_Ranges.check` completes the check.
    """
    deferred: dict[str, list[tuple[int, int]]] = {nm: [] for nm in drives}
    for nm, drive in drives.items():
        for block in compact.blocks:
            if defer and not block.hold and block.stop_ns - block.start_ns >= _DEFER_MIN_NS:
                deferred[nm].append((block.start_ns, block.stop_ns))
                continue
            a, d, _ = block.values[nm]
            # one fused pass: Ω's extremes and the RF offset's (the response is monotonic:
            # checking the extremes checks every sample)
            a_lo, a_hi, f_lo, f_hi = _kernels.value_ranges(
                a, d, drive.rabi_per_sqrt_w, drive.light_shift_per_w, drive.offset_scale
            )
            drive.amplitude_v(np.array([a_hi, a_lo]))
            drive.check_band(f_lo, f_hi)
    return deferred


class _Ranges:
    """The range check of the deferred blocks, completed from what the kernel reports.

    Per channel: the ns the kernel scanned (absolute, inclusive intervals) and how many of
    them it found near or beyond a limit (its limits sit at or just inside the up-front
    check's, see :func:`_flag_limits`). :meth:`check` checks whatever part of a deferred block
    no kernel call covered exactly, and runs the full up-front check if anything was flagged
    — so the refusal, if any, is exactly the up-front check's.
    """

    def __init__(self, deferred: dict[str, list[tuple[int, int]]]) -> None:
        self.deferred = deferred
        self.covered: dict[str, list[tuple[int, int]]] = {nm: [] for nm in deferred}
        self.flagged = 0

    def add(self, name: str, lo: int, hi: int, flagged: int) -> None:
        """Record that the kernel scanned ns ``lo … hi`` and flagged ``flagged`` of them."""
        if hi >= lo:
            self.covered[name].append((lo, hi))
            self.flagged += flagged

    def check(self, compact: CompactSequence, drives: dict[str, ChannelDrive]) -> None:
        """Raise the up-front check's refusal if any deferred ns is out of range."""
        if self.flagged > 0 or not self._gaps_pass(compact, drives):
            _check_limits(compact, drives)

    def _gaps_pass(self, compact: CompactSequence, drives: dict[str, ChannelDrive]) -> bool:
        """Whether the deferred ns no kernel call scanned (if any) pass the up-front check."""
        starts = {b.start_ns: b for b in compact.blocks}
        for nm, blocks in self.deferred.items():
            drive = drives[nm]
            cov = sorted(self.covered[nm])
            for start, stop in blocks:
                a, d, _ = starts[start].values[nm]
                pos = start
                gaps = []
                for lo, hi in cov:
                    if hi < pos:
                        continue
                    if lo >= stop:
                        break
                    if lo > pos:
                        gaps.append((pos - start, lo - start))
                    pos = max(pos, hi + 1)
                if pos < stop:
                    gaps.append((pos - start, stop - start))
                for i0, i1 in gaps:
                    a_lo, a_hi, f_lo, f_hi = _kernels.value_ranges(
                        a[i0:i1],
                        d[i0:i1],
                        drive.rabi_per_sqrt_w,
                        drive.light_shift_per_w,
                        drive.offset_scale,
                    )
                    try:
                        drive.amplitude_v(np.array([a_hi, a_lo]))
                        drive.check_band(f_lo, f_hi)
                    except HardwareLimitError:
                        return False
        return True


def _flag_limits(d: ChannelDrive, fs: float) -> tuple[float, float, float, float]:
    """The kernel's range limits: Ω in [lo, hi], phase step (cycles/sample) in [lo, hi].

    At or just inside the up-front check's (saturation and RF amplitude through the
    monotonic response; the RF band, less a margin far above any rounding), so that every
    ns it would refuse is counted; a count > 0 makes the compiler run that check.
    """
    om_hi = d.max_rabi * (1 + 1e-12)
    try:
        top = float(d.amplitude_v(np.array([d.max_rabi]), check=False)[0])
        if top > d.aom.rf_amplitude_max_v * (1 + 1e-12):
            lim = float(d.rabi_from_amplitude(np.array([d.aom.rf_amplitude_max_v]))[0])
            om_hi = min(om_hi, lim * (1 - 1e-9))
    except Exception:  # an unusual response: flag every lit ns (the full check decides)
        om_hi = 0.0
    lo, hi = d.aom.rf_band_hz
    fc = d.aom.rf_center_hz
    margin = 1e-9 * (abs(lo) + abs(hi) + abs(fc)) + 1e-6
    return 0.0, om_hi, ((lo - fc) + margin) / fs, ((hi - fc) - margin) / fs


def _compile_awg(
    compact: CompactSequence,
    awg: AWGConfig,
    drives: list[ChannelDrive],
    pre_emph: bool,
    ranges: _Ranges,
) -> tuple[AWGProgram, list[_ChannelState]]:
    fs = awg.sample_rate_hz
    rate = fs / 1e9  # AWG samples per ns
    g, m = awg.segment_granularity, awg.min_segment_samples
    max_lat = max(d.latency_ns for d in drives)
    offsets = [round((max_lat - d.latency_ns) * rate) for d in drives]
    states = [_ChannelState(d, o, 0.0) for d, o in zip(drives, offsets)]
    n_needed = math.ceil(compact.duration_ns * rate - 1e-9) + max(offsets)

    # --- plan: explicit stretches and looped holds (loop lengths from the held tones) ----
    regions: list[_Region] = []
    pos = 0
    lo_off, hi_off = min(offsets), max(offsets)
    for bi, block in enumerate(compact.blocks):
        if not block.hold:
            continue
        h0 = math.ceil(block.start_ns * rate - 1e-9) + hi_off
        h1 = math.ceil(block.stop_ns * rate - 1e-9) + lo_off
        r0 = max(_ceil_to(h0, g), pos)
        if 0 < r0 - pos < m:
            r0 = pos + m
        avail = h1 - r0
        max_len = min(awg.hold_segment_max_samples, (avail // 2) // g * g)
        if max_len < m:
            continue
        lit = []
        for d in drives:
            a, det, _ = block.values[d.channel]
            if a[0] > 0:
                lit.append(d.aom.rf_center_hz + float(d.rf_offset_hz(a, det)[0]))
        length, _ = choose_loop_length(np.array(lit), fs, g, m, max_len)
        loops = avail // length
        if r0 > pos:
            regions.append(_Region(pos, r0 - pos, 1))
        regions.append(_Region(r0, length, loops, bi))
        pos = r0 + length * loops
    total = _ceil_to(max(n_needed, pos), g)
    if total > pos and total - pos < m:
        total = pos + m
    if total > pos:
        regions.append(_Region(pos, total - pos, 1))

    # --- limits, before any sample is made ------------------------------------------------
    stored = sum(r.length for r in regions)
    if stored > awg.memory_samples:
        raise HardwareLimitError(
            f"AWG {awg.name!r}: program needs {stored} samples per channel of memory; the AWG "
            f"has {awg.memory_samples} (the sequence has {compact.explicit_samples} ns that are "
            "not constant holds)"
        )
    n_steps = sum(-(-r.loops // awg.max_loops) for r in regions)
    if n_steps > awg.max_steps:
        raise HardwareLimitError(
            f"AWG {awg.name!r}: program needs {n_steps} sequence steps; the AWG allows "
            f"{awg.max_steps}"
        )

    # --- synthesis ------------------------------------------------------------------------
    # Phase bookkeeping starts so that the baseband phase is 0 at each channel's t = 0.
    for st in states:
        _, det0, _ = compact.values_at(st.drive.channel, np.array([0]))
        off0 = st.drive.rf_offset_hz(np.zeros(1), det0)[0]
        turns = -off0 * st.offset / fs
        # the carrier is referenced to the delay rounded to whole samples: put back the
        # carrier phase of that rounding (2π f_c δt, 0.25 rad for 0.4 ns at 100 MHz), so that
        # only the envelope moves by δt (0 when the delay is a whole number of samples)
        rounding_ns = st.offset / rate - (max_lat - st.drive.latency_ns)
        turns += st.drive.aom.rf_center_hz * rounding_ns * 1e-9
        st.phase_cyc = turns - math.floor(turns)
    alpha = {
        id(st): (1.0 - math.exp(-1.0 / (fs * st.drive.aom.time_constant_ns * 1e-9)))
        if pre_emph and st.drive.aom.time_constant_ns > 0
        else 1.0
        for st in states
    }
    segments: list[NDArray[np.int32]] = []
    seen: dict[bytes, int] = {}
    steps: list[Step] = []
    for reg in regions:
        held: Block | None = compact.blocks[reg.hold_block] if reg.hold_block >= 0 else None
        # every row a channel plays is written in full, so only idle rows are zeroed (a
        # zeroed allocation of the whole segment may be a memset of all of it: glibc hands
        # out freed heap memory for large callocs once its mmap threshold has grown)
        used = {st.drive.aom.awg_channel for st in states}
        seg = np.empty((awg.channels, reg.length), dtype=np.int32)
        for idle in sorted(set(range(awg.channels)) - used):
            _kernels.zero_fill(seg[idle])
        if held is not None:
            j = np.arange(reg.start, reg.start + reg.length, dtype=np.int64)
            for st in states:
                seg[st.drive.aom.awg_channel] = _synth_held(st, j, held, reg.loops, awg)
        else:
            _synth_explicit(states, seg, reg, compact, awg, alpha, ranges)
        # short segments (holds, dark stretches) repeat; long explicit ones practically never,
        # and hashing them would cost as much as synthesising them
        if reg.length <= _DEDUP_MAX_SAMPLES:
            key = hashlib.sha1(seg.tobytes()).digest()
        else:
            key = len(segments).to_bytes(8, "little") + b"unique"
        if key not in seen:
            seen[key] = len(segments)
            segments.append(seg)
        left = reg.loops
        while left > 0:
            n = min(left, awg.max_loops)
            steps.append(Step(seen[key], n))
            left -= n
    if len(segments) > awg.max_segments:
        raise HardwareLimitError(
            f"AWG {awg.name!r}: program needs {len(segments)} segments; the AWG allows "
            f"{awg.max_segments}"
        )
    channel_aoms = tuple(
        next((d.aom.name for d in drives if d.aom.awg_channel == i), "")
        for i in range(awg.channels)
    )
    prog = AWGProgram(awg.name, fs, -max_lat, channel_aoms, tuple(segments), tuple(steps))
    return prog, states


_DEDUP_MAX_SAMPLES = 1 << 17  # segments up to this long are stored once if repeated


def _synth_held(
    st: _ChannelState, j: NDArray[np.int64], held: Block, loops: int, awg: AWGConfig
) -> NDArray[np.int32]:
    """DAC codes of one channel's loop segment (AWG samples ``j``, played ``loops`` times).

    Numpy (a loop segment is at most ``hold_segment_max_samples`` long and made once).
    Updates the channel's phase accumulator and error bookkeeping.
    """
    d = st.drive
    fs = awg.sample_rate_hz
    n = len(j)
    a0, det0, ph0 = held.values[d.channel]
    amp = d.amplitude_v(a0)[0] * np.ones(n)
    off = float(d.rf_offset_hz(a0, det0)[0])
    if a0[0] > 0:
        f_true = d.aom.rf_center_hz + off
        _, f_q = choose_loop_length(np.array([f_true]), fs, 1, n, n)
        shift = abs(float(f_q[0]) - f_true)
        st.hold_freq_err = max(st.hold_freq_err, shift)
        # the phase the held light drifts by over the whole loop, at the atoms
        drift = TWO_PI * abs(d.aom.optical_factor) * shift * n * loops / fs
        st.hold_phase_err = max(st.hold_phase_err, drift)
        off = float(f_q[0]) - d.aom.rf_center_hz
    steps_phase = np.full(n, off * (TWO_PI / fs))
    baseband = np.cumsum(steps_phase)
    total = float(baseband[-1])
    baseband -= steps_phase
    baseband += TWO_PI * st.phase_cyc
    turns = (j - st.offset) * (d.aom.rf_center_hz / fs)
    turns -= np.floor(turns)
    rf_phase = np.asarray(turns * TWO_PI, dtype=np.float64)
    rf_phase += baseband
    rf_phase += ph0[0] * d.rf_phase_per_rad
    codes, q = rf_codes(amp, rf_phase, awg.lsb_v, awg.max_code)
    st.max_quant = max(st.max_quant, q)
    st.peak_amp = max(st.peak_amp, float(np.max(amp)))
    st.max_code = max(st.max_code, int(np.max(np.abs(codes))))
    cycles = st.phase_cyc + total * loops / TWO_PI
    st.phase_cyc = cycles - math.floor(cycles)
    return codes


def _ns_of(j: int, offset: int, rate: float) -> int:
    """The 1 ns request AWG sample ``j`` of a channel delayed by ``offset`` samples plays."""
    return math.floor((j - offset) / rate + 1e-9)


def _kernel_inputs(
    st: _ChannelState, reg: _Region, compact: CompactSequence, rate: float
) -> tuple[tuple[NDArray[np.float64], ...], tuple[int, int, int, int, int]]:
    """Per-ns inputs of an explicit region for the kernel: (Ω, Δ, φ), (base, clamp, lit).

    Views of the timeline block when one explicit block holds every ns the region plays
    (beyond the sequence's ends Ω is 0 and Δ, φ hold — the semantics of ``values_at``);
    otherwise ``values_at`` over the region's ns range (a copy). Input index i holds ns
    base + i; the real sequence ns in the arrays are [lit_lo, lit_hi) ∩ [clamp_lo, clamp_hi]
    (view) or [lit_lo, lit_hi) ∩ [0, duration) (copy).
    """
    name = st.drive.channel
    k_first = _ns_of(reg.start, st.offset, rate)
    k_last = _ns_of(reg.start + reg.length - 1, st.offset, rate)
    dur = compact.duration_ns
    c_lo, c_hi = max(k_first, 0), min(k_last, dur - 1)
    if c_lo <= c_hi:
        for block in compact.blocks:
            if block.start_ns <= c_lo < block.stop_ns:
                if not block.hold and c_hi < block.stop_ns:
                    return block.values[name], (block.start_ns, c_lo, c_hi, 0, dur)
                break
    kk = np.arange(k_first, k_last + 1, dtype=np.int64)
    return compact.values_at(name, kk), (k_first, k_first, k_last, k_first, k_last + 1)


def _synth_explicit(
    states: list[_ChannelState],
    seg: NDArray[np.int32],
    reg: _Region,
    compact: CompactSequence,
    awg: AWGConfig,
    alpha: dict[int, float],
    ranges: _Ranges | None = None,
) -> None:
    """DAC codes of every channel of an explicit region into ``seg``, by the fused kernel.

    The refusals are raised from the kernel's per-chunk reductions in the order (chunk by
    chunk, channel by channel; pre-emphasis overshoot before the code range) and with the
    messages of the numpy formulation.
    """
    fs = awg.sample_rate_hz
    rate = fs / 1e9
    all_stats = []
    for st in states:
        d = st.drive
        (rabi, det, phi), (base, clo, chi, lit_lo, lit_hi) = _kernel_inputs(st, reg, compact, rate)
        # the ns this region range-checks: after the one the sample before it plays, up to
        # the one the sample after it plays (so consecutive regions leave no gap), within
        # the real sequence ns the arrays hold
        end = reg.start + reg.length
        cov_lo = _ns_of(reg.start - 1, st.offset, rate) + 1 if reg.start > 0 else -(2**62)
        cov_hi = _ns_of(end, st.offset, rate)
        real_lo = max(lit_lo, base, 0)
        real_hi = min(lit_hi, compact.duration_ns, base + rabi.size) - 1
        cov_lo, cov_hi = max(cov_lo, real_lo), min(cov_hi, real_hi)
        if ranges is None:
            cov_lo, cov_hi = 0, -1
        table = d.response.model != "sin2"
        amp_ns = d.amplitude_v(rabi, check=False) if table else np.empty(0)
        a = alpha[id(st)]
        prev_amp = 0.0
        if a < 1.0 and reg.start > 0:
            t_prev = _ns_of(reg.start - 1, st.offset, rate)
            r_prev, _, _ = compact.values_at(d.channel, np.array([t_prev]))
            prev_amp = float(d.amplitude_v(r_prev)[0])
        fpar = np.array(
            [
                rate,
                d.rabi_per_sqrt_w,
                d.light_shift_per_w,
                d.offset_scale,
                1.0 / fs,
                d.aom.rf_center_hz / fs,
                d.rf_phase_per_rad / TWO_PI,
                2.0 / np.pi * d.response.max_amplitude_v,
                1.0 / d.max_rabi,
                a,
                1.0 / awg.lsb_v,
                *_flag_limits(d, fs),
            ]
        )
        ipar = np.array(
            [
                st.offset,
                base,
                clo,
                chi,
                lit_lo,
                lit_hi,
                int(table),
                int(a < 1.0),
                awg.max_code,
                cov_lo - base,
                cov_hi - base,
            ],
            dtype=np.int64,
        )
        st.phase_cyc, stats = _kernels.synth_explicit(
            seg[d.aom.awg_channel],
            reg.start,
            st.phase_cyc,
            prev_amp,
            rabi,
            det,
            phi,
            amp_ns,
            fpar,
            ipar,
        )
        all_stats.append(stats)
        if ranges is not None and d.channel in ranges.covered:
            ranges.add(d.channel, cov_lo, cov_hi, int(stats[:, 4].sum()))
    # refusals chunk by chunk, channel by channel (pre-emphasis overshoot before the code
    # range), as the numpy formulation raised them; walked only if some chunk calls for one
    if any(_refused(st, stats, alpha, awg) for st, stats in zip(states, all_stats)):
        for k in range(all_stats[0].shape[0]):
            for st, stats in zip(states, all_stats):
                d = st.drive
                amp_max, code_max = float(stats[k, 0]), float(stats[k, 2])
                if alpha[id(st)] < 1.0 and amp_max > d.aom.rf_amplitude_max_v:
                    raise HardwareLimitError(
                        f"channel {d.channel!r}: pre-emphasis needs RF amplitude "
                        f"{amp_max:.6g} V, above the limit of AOM {d.aom.name!r} "
                        f"(0..{d.aom.rf_amplitude_max_v} V); slow the pulse edges or turn "
                        "pre-emphasis off"
                    )
                if code_max > awg.max_code:
                    raise HardwareLimitError(
                        f"DAC code {code_max:.0f} outside ±{awg.max_code}; "
                        "RF amplitude exceeds the AWG full scale"
                    )
    for st, stats in zip(states, all_stats):
        if stats.shape[0] == 0:
            continue
        if alpha[id(st)] < 1.0:
            # undershoot below 0 V is not representable: clipped, and counted in the budget
            st.clipped += int(stats[:, 1].sum())
        st.max_quant = max(st.max_quant, float(stats[:, 3].max()))
        st.peak_amp = max(st.peak_amp, float(stats[:, 0].max()), 0.0)
        st.max_code = max(st.max_code, int(stats[:, 2].max()))


def _refused(
    st: _ChannelState, stats: NDArray[np.float64], alpha: dict[int, float], awg: AWGConfig
) -> bool:
    """Whether any chunk's statistics call for a refusal (then raised chunk by chunk, in order)."""
    if stats.shape[0] == 0:
        return False
    if alpha[id(st)] < 1.0 and float(stats[:, 0].max()) > st.drive.aom.rf_amplitude_max_v:
        return True
    return float(stats[:, 2].max()) > awg.max_code


def _channel_budget(
    st: _ChannelState, awg: AWGConfig, prog: AWGProgram, compact: CompactSequence
) -> ChannelBudget:
    d = st.drive
    fs = awg.sample_rate_hz
    # latency rounding: the channel is delayed by offset/fs instead of (max_lat - latency)
    max_lat = -prog.start_ns
    rounding = st.offset / (fs / 1e9) - (max_lat - d.latency_ns)
    # Ω error of half an LSB, worst case over the amplitudes used
    amps = np.linspace(0.0, max(st.peak_amp, awg.lsb_v), 512)
    d_rabi = np.abs(d.rabi_from_amplitude(amps + 0.5 * awg.lsb_v) - d.rabi_from_amplitude(amps))
    det_err = TWO_PI * abs(d.aom.optical_factor) * st.hold_freq_err * 1e-6
    return ChannelBudget(
        aom=d.aom.name,
        channel=d.channel,
        peak_rf_amplitude_v=st.peak_amp,
        rf_amplitude_limit_v=d.aom.rf_amplitude_max_v,
        max_code=st.max_code,
        code_limit=awg.max_code,
        max_quantisation_codes=st.max_quant,
        rabi_quantisation_rad_per_us=float(np.max(d_rabi)),
        latency_rounding_ns=float(rounding),
        hold_frequency_error_hz=st.hold_freq_err,
        hold_detuning_error_rad_per_us=det_err,
        pre_emphasis_clipped_samples=st.clipped,
        hold_phase_drift_rad=st.hold_phase_err,
    )


def _ttl_table(
    compact: CompactSequence,
    hardware: HardwareConfig,
    drives: dict[str, ChannelDrive],
    awgs: dict[str, AWGProgram],
) -> tuple[tuple[TTLEvent, ...], float]:
    res = hardware.ttl_resolution_ns
    events: list[TTLEvent] = []
    worst = 0.0

    def add(line: str, t: float, high: bool, purpose: str) -> None:
        nonlocal worst
        q = round(t / res) * res
        worst = max(worst, abs(q - t))
        events.append(TTLEvent(line, float(q), high, purpose))

    for awg in hardware.awgs:
        if awg.name in awgs and awg.trigger_line is not None:
            line = hardware.ttl_line(awg.trigger_line)
            t = awgs[awg.name].start_ns - line.latency_ns
            add(line.name, t, True, f"start {awg.name}")
            add(line.name, t + line.pulse_ns, False, f"start {awg.name} (end of pulse)")
    # one open/close per shutter line, around the first/last light of every beam behind it
    # (the addressing beams of a local channel may share one shutter)
    shutters: dict[str, tuple[list[str], int, int]] = {}
    for nm, d in drives.items():
        if d.beam.shutter_line is None:
            continue
        lit = _lit_interval(compact, nm)
        if lit is None:
            continue
        names, lo, hi = shutters.get(d.beam.shutter_line, ([], lit[0], lit[1]))
        shutters[d.beam.shutter_line] = ([*names, d.beam.name], min(lo, lit[0]), max(hi, lit[1]))
    for line_name, (names, lo, hi) in shutters.items():
        line = hardware.ttl_line(line_name)
        margin = hardware.shutter_margin_ns
        who = ", ".join(names)
        add(line.name, lo - margin - line.latency_ns, True, f"open shutter of {who}")
        add(line.name, hi + margin - line.latency_ns, False, f"close shutter of {who}")
    if hardware.camera is not None:
        cam = hardware.camera
        line = hardware.ttl_line(cam.line)
        t = compact.duration_ns + cam.delay_after_sequence_ns - line.latency_ns
        add(line.name, t, True, "camera exposure")
        add(line.name, t + cam.exposure_ns, False, "camera exposure end")
    events.sort(key=lambda e: (e.time_ns, e.line))
    return tuple(events), worst


def _lit_interval(compact: CompactSequence, name: str) -> tuple[int, int] | None:
    """First and last+1 ns where channel ``name`` has Ω > 0, or None if always dark."""
    first: int | None = None
    last = 0
    for b in compact.blocks:
        lit = _kernels.lit_span(b.values[name][0])
        if lit is None:
            continue
        if b.hold:
            lo, hi = b.start_ns, b.stop_ns
        else:
            lo, hi = b.start_ns + lit[0], b.start_ns + lit[1]
        first = lo if first is None else first
        last = hi
    return None if first is None else (first, last)
