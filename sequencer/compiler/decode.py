"""``decode``: demodulate programmed RF back into the Ω, Δ, φ the atoms see.

The DAC codes are all it reads of the program (plus when each AWG starts): each channel's
codes are mixed down by the AOM centre frequency, low-pass filtered (removing the 2 f_c image),
passed through the AOM's first-order rise (on the RF amplitude) and its response curve, then
resampled at the centres of the 1 ns grid at the atoms (latencies from the hardware and
calibration given here, which may differ from those the program was compiled with).

Δ and φ are not separately observable (a phase ramp is a detuning): the decoder reads Δ
from the instantaneous frequency, median-filtered so that a phase step (a short frequency
spike) stays a phase step, and φ as ∫Δ minus the optical phase (the light realises φ as
the optical phase offset −φ, see :class:`~sequencer.compiler.synth.ChannelDrive`). Where
the light is off the phase is unobservable; there Δ holds the nearest lit value.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, signal

from sequencer.compiler.addressing import expand_addressed, split_stream
from sequencer.compiler.calibration import CompilerCalibration
from sequencer.compiler.hardware import BeamConfig, HardwareConfig
from sequencer.compiler.program import AWGProgram, HardwareProgram
from sequencer.compiler.synth import TWO_PI, ChannelDrive
from sequencer.compiler.timeline import Block, ChannelInfo, CompactSequence
from sequencer.register import Register
from sequencer.sampled import AtomDrives, Basis, SampledSequence

__all__ = [
    "RoundTripError",
    "atom_rabi_factors",
    "decode",
    "demodulation_filter",
    "profiled_atom_drives",
    "round_trip_error",
]


def demodulation_filter(carrier_hz: float, sample_rate_hz: float) -> NDArray[np.float64]:
    """Low-pass FIR (odd length) that keeps the baseband and removes the 2 f_c image."""
    image = min(2 * carrier_hz, sample_rate_hz - 2 * carrier_hz)
    cutoff = 0.35 * image
    transition = 0.45 * image
    taps = math.ceil(3.3 * sample_rate_hz / transition) | 1
    return np.asarray(signal.firwin(taps, cutoff, fs=sample_rate_hz, window="hamming"))


@dataclass
class _Stream:
    """A channel's codes with long loops cut short; ``index[i]`` is the real sample number."""

    volts: NDArray[np.float64]
    index: NDArray[np.int64]
    cuts: list[int]  # positions i where index[i] - index[i-1] > 1
    # each cut loop's exact tone (Hz) and amplitude (V), if its segment is a pure tone
    cut_tones: list[tuple[float, float] | None]


def _condensed(prog: AWGProgram, channel: int, lsb_v: float, keep: int) -> _Stream:
    parts: list[NDArray[np.int32]] = []
    idx: list[NDArray[np.int64]] = []
    cuts: list[int] = []
    tones: list[tuple[float, float] | None] = []
    pos = 0
    n = 0
    for st in prog.steps:
        seg = prog.segments[st.segment][channel]
        length = seg.shape[0]
        copies = max(1, -(-keep // length))
        if st.loops <= 2 * copies + 1:
            parts.append(np.tile(seg, st.loops))
            idx.append(np.arange(pos, pos + length * st.loops, dtype=np.int64))
            n += length * st.loops
        else:
            head = np.tile(seg, copies)
            parts += [head, head]
            idx.append(np.arange(pos, pos + length * copies, dtype=np.int64))
            tail0 = pos + length * (st.loops - copies)
            idx.append(np.arange(tail0, tail0 + length * copies, dtype=np.int64))
            cuts.append(n + length * copies)
            tone = _loop_tone(seg, prog.sample_rate_hz)
            tones.append(None if tone is None else (tone[0], tone[1] * lsb_v))
            n += 2 * length * copies
        pos += length * st.loops
    volts = np.concatenate(parts).astype(np.float64) * lsb_v
    return _Stream(volts, np.concatenate(idx), cuts, tones)


def _loop_tone(segment: NDArray[np.int32], sample_rate_hz: float) -> tuple[float, float] | None:
    """(frequency Hz, amplitude in codes) of a looped segment holding whole cycles of one tone.

    Its spectrum is then one DFT bin m: the frequency is m · f_s / L exactly and the
    amplitude 2|X_m|/L (the rounding noise of the codes spreads over the other bins); None
    if the segment is dark or not a pure tone.
    """
    if not np.any(segment):
        return None
    spectrum = np.fft.rfft(segment.astype(np.float64))
    power = np.abs(spectrum) ** 2
    peak = int(np.argmax(power))
    if power[peak] < 0.99 * float(np.sum(power)) or peak == 0 or 2 * peak == len(segment):
        return None
    return peak * sample_rate_hz / len(segment), 2.0 * float(np.abs(spectrum[peak])) / len(segment)


def _decode_channel(
    prog: AWGProgram,
    drive: ChannelDrive,
    lsb_v: float,
    rise_time: bool,
    t_ns: NDArray[np.float64],
) -> tuple[
    NDArray[np.float64], NDArray[np.float64], NDArray[np.complex128], list[tuple[float, float]]
]:
    """Ω and Δ_laser (rad/µs) and the unit optical phasor at atom times ``t_ns``.

    Also returns the atom-time intervals (ns) covered by long loops (held values).
    """
    fs = prog.sample_rate_hz
    aom = drive.aom
    fir = demodulation_filter(aom.rf_center_hz, fs)
    tau_samples = aom.time_constant_ns * 1e-9 * fs if rise_time else 0.0
    keep = len(fir) + math.ceil(10 * tau_samples) + 64
    stream = _condensed(prog, aom.awg_channel, lsb_v, keep)
    n = len(stream.volts)
    i = np.arange(n, dtype=np.int64)
    t0_ns = prog.start_ns + drive.latency_ns  # atom time of sample 0
    ratio = aom.rf_center_hz / fs
    ref0 = aom.rf_center_hz * t0_ns * 1e-9
    mix = np.exp(-1j * TWO_PI * np.mod(ref0 + ratio * i, 1.0))
    base = 2.0 * signal.fftconvolve(stream.volts * mix, fir, mode="same")
    # undo the continuous carrier across cut-out loops
    base *= np.exp(-1j * TWO_PI * np.mod(ratio * (stream.index - i), 1.0))
    amp = np.abs(base)
    if tau_samples > 0:
        a = 1.0 - math.exp(-1.0 / tau_samples)
        amp = signal.lfilter([a], [1.0, -(1.0 - a)], amp)
    # a long loop's amplitude is known exactly from its segment (the demodulated one carries
    # the FIR's finite rejection of the 2 f_c image, ≈ 1e-4 relative at one instant): use it
    # for the held value, as for the tone below (the rise has settled within ``keep``)
    for c, tone in zip(stream.cuts, stream.cut_tones):
        if tone is not None:
            amp[c - 1] = amp[c] = tone[1]
    # per-sample phase step (rad), averaged over about one filter length as the angle of the
    # summed products z_k z*_{k-1}: weighted by |z|², so phase steps made while the light is
    # nearly off barely count, and the quantisation noise of the phase telescopes away
    prod = np.zeros(n, dtype=np.complex128)
    prod[1:] = base[1:] * np.conj(base[:-1])
    for c in stream.cuts:
        prod[c] = prod[c - 1]
    span = len(fir) | 1
    smooth = ndimage.uniform_filter1d(prod.real, span, mode="nearest") + 1j * (
        ndimage.uniform_filter1d(prod.imag, span, mode="nearest")
    )
    step = np.angle(smooth)
    # a long loop's tone is known exactly from its segment: use it for the held value
    for c, tone in zip(stream.cuts, stream.cut_tones):
        if tone is not None:
            step[c - 1] = step[c] = TWO_PI * (tone[0] - aom.rf_center_hz) / fs
    # map atom times to stream positions
    real = (t_ns - t0_ns) * fs * 1e-9
    pos = np.searchsorted(stream.index, real, side="right") - 1
    pos = np.clip(pos, 0, n - 1)
    frac = real - stream.index[pos]
    nxt = np.minimum(pos + 1, n - 1)
    contiguous = (stream.index[nxt] - stream.index[pos]) == 1
    w = np.where(contiguous, np.clip(frac, 0.0, 1.0), 0.0)
    amp_t = amp[pos] * (1 - w) + amp[nxt] * w
    step_t = step[pos] * (1 - w) + step[nxt] * w
    # phasor: interpolate inside contiguous runs, rotate at the held rate inside a cut
    phase_t = np.angle(base[pos]) + np.where(contiguous, w * step[nxt], frac * step[pos])
    outside = (real < 0) | (real > stream.index[-1])
    amp_t[outside] = 0.0
    rabi = drive.rabi_from_amplitude(amp_t)
    laser = step_t * fs * 1e-6 * aom.optical_factor
    phasor = np.exp(1j * aom.optical_factor * phase_t)
    holds = []
    for c in stream.cuts:
        lo = t0_ns + stream.index[c - 1] * 1e9 / fs
        hi = t0_ns + stream.index[c] * 1e9 / fs
        holds.append((lo, hi))
    return rabi, laser, phasor, holds


def decode(
    program: HardwareProgram,
    hardware: HardwareConfig,
    calibration: CompilerCalibration | None = None,
    *,
    rise_time: bool = True,
    median_window_ns: int | None = None,
) -> CompactSequence:
    """The Ω (beam centre), Δ and φ each channel of ``program`` makes at the atoms.

    Returns the run-length form (loops of a segment come back as holds); expand short ones
    with :meth:`CompactSequence.to_sampled`. A local channel comes back as its per-beam
    streams ``C@beam`` (local, targeting the atoms of that beam): their
    :meth:`~sequencer.sampled.SampledSequence.atom_drives` are the per-atom drives at the
    beam centres, :func:`profiled_atom_drives` adds every beam's profile and crosstalk.
    ``rise_time=False`` leaves out the AOM's rise (the RF itself, demodulated).
    ``median_window_ns`` sets the window that separates phase steps from detuning (default:
    four demodulation-filter lengths).
    """
    calibration = calibration or CompilerCalibration.nominal(hardware)
    duration = program.duration_ns
    drives = {
        nm: ChannelDrive.build(
            nm,
            hardware,
            calibration,
            basis=info.get("basis", "ground-rydberg"),
            beam_name=info.get("beam"),
        )
        for nm, info in program.channels.items()
    }
    # First pass on a coarse grid just to learn where every channel holds.
    hold_sets: list[list[tuple[float, float]]] = []
    for d in drives.values():
        prog = program.awgs[d.aom.awg]
        awg = hardware.awg(prog.awg)
        stream = _condensed(prog, d.aom.awg_channel, awg.lsb_v, _keep(d, prog, rise_time))
        t0 = prog.start_ns + d.latency_ns
        fs = prog.sample_rate_hz
        hold_sets.append(
            [
                (t0 + stream.index[c - 1] * 1e9 / fs, t0 + stream.index[c] * 1e9 / fs)
                for c in stream.cuts
            ]
        )
    holds = _intersect_all(hold_sets, duration)
    # explicit ns samples: everything outside the holds
    edges = [0]
    for lo, hi in holds:
        edges += [lo, hi]
    edges.append(duration)
    explicit = [
        (edges[k], edges[k + 1]) for k in range(0, len(edges), 2) if edges[k + 1] > edges[k]
    ]
    t_expl = (
        np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in explicit])
        if explicit
        else np.zeros(0, dtype=np.int64)
    )
    t_hold = np.array([lo for lo, _ in holds], dtype=np.int64)
    t_all = np.concatenate([t_expl, t_hold]).astype(np.float64) + 0.5
    results = {}
    for nm, d in drives.items():
        prog = program.awgs[d.aom.awg]
        awg = hardware.awg(prog.awg)
        rabi, laser, phasor, _ = _decode_channel(prog, d, awg.lsb_v, rise_time, t_all)
        results[nm] = (d, rabi, laser, phasor)
    lsb = {nm: hardware.awg(d.aom.awg).lsb_v for nm, d in drives.items()}
    blocks = _assemble(
        results, explicit, holds, len(t_expl), duration, median_window_ns, program, lsb
    )
    reg = Register.from_dict(program.register)
    info = {}
    for nm in drives:
        meta = program.channels[nm]
        basis = meta.get("basis", "ground-rydberg")
        if meta.get("addressing", "Global") == "Global":
            info[nm] = ChannelInfo(nm, basis)
        else:  # a beam's stream of a local channel: what that beam's atoms see
            info[nm] = ChannelInfo(
                nm,
                basis,
                meta["addressing"],
                tuple(meta.get("targets", ())),
                meta.get("beam"),
                meta.get("source"),
            )
    return CompactSequence(reg, info, tuple(blocks), str(program.metadata.get("device_name", "")))


def _keep(d: ChannelDrive, prog: AWGProgram, rise_time: bool) -> int:
    fir = demodulation_filter(d.aom.rf_center_hz, prog.sample_rate_hz)
    tau = d.aom.time_constant_ns * 1e-9 * prog.sample_rate_hz if rise_time else 0.0
    return len(fir) + math.ceil(10 * tau) + 64


def _intersect_all(sets: list[list[tuple[float, float]]], duration: int) -> list[tuple[int, int]]:
    """Integer ns intervals inside a hold of every channel."""
    current = [(0.0, float(duration))]
    for s in sets:
        nxt = []
        for a, b in current:
            for c, d in s:
                lo, hi = max(a, c), min(b, d)
                if hi > lo:
                    nxt.append((lo, hi))
        current = nxt
    out = []
    for lo, hi in sorted(current):
        a, b = math.ceil(lo), math.floor(hi) - 1
        if b - a >= 2:
            out.append((a, b))
    return out


def _assemble(
    results: dict[
        str, tuple[ChannelDrive, NDArray[np.float64], NDArray[np.float64], NDArray[np.complex128]]
    ],
    explicit: list[tuple[int, int]],
    holds: list[tuple[int, int]],
    n_expl: int,
    duration: int,
    median_window_ns: int | None,
    program: HardwareProgram,
    hardware_lsb: dict[str, float],
) -> list[Block]:
    # per channel, full values on the explicit samples, and one value per hold
    per_channel: dict[str, tuple[NDArray[np.float64], ...]] = {}
    spans = sorted([(a, b, False) for a, b in explicit] + [(a, b, True) for a, b in holds])
    for nm, (d, rabi, laser, phasor) in results.items():
        prog = program.awgs[d.aom.awg]
        if median_window_ns is None:
            window = 4 * len(demodulation_filter(d.aom.rf_center_hz, prog.sample_rate_hz))
            window = math.ceil(window * 1e9 / prog.sample_rate_hz) | 1
        else:
            window = median_window_ns | 1
        # ns-ordered arrays over every span (a hold contributes one sample, weight = its length)
        order_vals = []
        k_expl = 0
        k_hold = n_expl
        for a, b, is_hold in spans:
            if is_hold:
                order_vals.append((k_hold, k_hold + 1, b - a, True))
                k_hold += 1
            else:
                order_vals.append((k_expl, k_expl + (b - a), 1, False))
                k_expl += b - a
        sel = np.concatenate([np.arange(i0, i1) for i0, i1, _, _ in order_vals])
        weight = np.concatenate(
            [np.full(i1 - i0, wt, dtype=np.float64) for i0, i1, wt, _ in order_vals]
        )
        r, lz, ph = rabi[sel], laser[sel], phasor[sel]
        # Δ is observable where the RF is well above the DAC's resolution
        lsb = hardware_lsb[nm]
        lit = r > max(float(d.rabi_from_amplitude(np.array([32 * lsb]))[0]), 1e-9)
        # where the light is off Δ is not observable: take Pulser's convention Δ = 0 there
        # (the phase the dark time accumulated shows up in φ when the light returns)
        lz = np.where(lit, lz, 0.0)
        raw = lz.copy()
        held = np.concatenate(
            [np.full(i1 - i0, is_hold, dtype=bool) for i0, i1, _, is_hold in order_vals]
        )
        # median within each lit run: a phase step (a short frequency spike) is removed,
        # steps and ramps of Δ are kept, also at the run's ends ("nearest" padding)
        edges = np.flatnonzero(np.diff(lit.astype(np.int8))) + 1
        bounds = np.concatenate([[0], edges, [len(lit)]])
        for lo, hi in itertools.pairwise(bounds):
            if lit[lo] and hi - lo > 2:
                lz[lo:hi] = ndimage.median_filter(lz[lo:hi], size=window, mode="nearest")
        lz[held] = raw[held]  # a hold's Δ is measured over the whole loop: keep it
        power = (r / d.rabi_per_sqrt_w) ** 2
        detuning = lz + d.light_shift_per_w * power
        integral = (np.cumsum(lz * weight) - lz * weight + 0.5 * lz) * 1e-3
        phi = np.angle(np.conj(ph) * np.exp(1j * integral))  # φ = ∫Δ − optical phase
        per_channel[nm] = (r, detuning, phi, weight)
    blocks = []
    pos = 0
    for a, b, is_hold in spans:
        vals = {}
        n = 1 if is_hold else b - a
        for nm, (r, det, phi, _) in per_channel.items():
            vals[nm] = (
                r[pos : pos + n].copy(),
                det[pos : pos + n].copy(),
                phi[pos : pos + n].copy(),
            )
        blocks.append(Block(a, b, is_hold, vals))
        pos += n
    return blocks


def atom_rabi_factors(
    register: Register, hardware: HardwareConfig, channel: str
) -> NDArray[np.float64]:
    """Ω at each atom over Ω at the beam centre: exp(-r²/w²) of the Gaussian beam (field).

    Rows in register order; ``w`` is the 1/e² intensity radius of the beam making ``channel``
    (for a local channel's stream ``C@beam``, that beam). Every atom gets its factor, also
    those an addressing beam does not target: that is the beam's crosstalk.
    """
    beam = _beam_of(channel, hardware)
    if beam is None:
        raise KeyError(f"no beam makes channel {channel!r}")
    r2 = np.sum((register.coords - np.asarray(beam.center_um)) ** 2, axis=1)
    return np.asarray(np.exp(-r2 / beam.waist_um**2))


def _beam_of(channel: str, hardware: HardwareConfig) -> BeamConfig | None:
    """The one beam that makes ``channel`` or the stream ``channel`` (``C@beam``)."""
    beams = hardware.beams_for_channel(channel)
    if len(beams) == 1:
        return beams[0]
    parts = split_stream(channel)
    if not beams and parts is not None:
        beam = hardware.beam(parts[1])
        if beam is not None:
            return beam
    return hardware.beam_for_channel(channel)  # None, or the several-beams error


def profiled_atom_drives(
    sampled: SampledSequence, hardware: HardwareConfig, basis: Basis = "ground-rydberg"
) -> AtomDrives:
    """Per-atom Ω, Δ, φ (shape (N, T)) with each beam's Gaussian profile applied.

    Like :meth:`SampledSequence.atom_drives`, but each channel's Ω at an atom is the
    beam-centre Ω times :func:`atom_rabi_factors` (channels no beam makes count at 1, on
    the atoms their slots target).

    Local channels made by addressing beams are expanded onto their beams first
    (:func:`~sequencer.compiler.addressing.expand_addressed`; streams ``C@beam``, as
    ``decode`` returns them, are taken as they are). Each beam's light reaches every atom
    through its profile — the targets through the centre of their beam, the neighbours as
    crosstalk. An atom's detuning is that of its own beam while addressed (Pulser's per-atom
    frame); light of another beam b of the same channel arrives in that frame with phase
    φ_b − ∫Δ_b + ∫Δ_atom (the gauge-invariant φ − ∫Δ of beam b, seen in the atom's frame).
    """
    sampled, streams = expand_addressed(sampled, hardware, keep_unrouted=True)
    reg = sampled.register
    n, t = len(reg), sampled.duration_ns
    field_sum = np.zeros((n, t), dtype=np.complex128)
    detuning = np.zeros((n, t))
    by_source: dict[str, list[str]] = {}
    for ch in sampled.channels.values():
        if ch.basis != basis:
            continue
        if ch.name in streams:
            by_source.setdefault(streams[ch.name].source, []).append(ch.name)
            continue
        has_beam = hardware.beam_for_channel(ch.name) is not None
        factors = atom_rabi_factors(reg, hardware, ch.name) if has_beam else np.ones(n)
        for slot in ch.slots:
            rows = sorted(reg.ids.index(a) for a in slot.targets)
            sl = slice(slot.start_ns, slot.stop_ns)
            drive = ch.amplitude[sl] * np.exp(1j * ch.phase[sl])
            field_sum[rows, sl] += factors[rows, None] * drive[None, :]
            detuning[rows, sl] += ch.detuning[sl]
    for names in by_source.values():
        # each atom's own detuning and its integral (to the middle of each 1 ns sample)
        own = np.zeros((n, t))
        integral: dict[str, NDArray[np.float64]] = {}
        for nm in names:
            ch = sampled.channels[nm]
            integral[nm] = (np.cumsum(ch.detuning) - 0.5 * ch.detuning) * 1e-3
            rows = sorted(reg.ids.index(a) for a in streams[nm].targets)
            own[rows] += ch.detuning[None, :]
        own_integral = (np.cumsum(own, axis=1) - 0.5 * own) * 1e-3
        for nm in names:
            ch = sampled.channels[nm]
            factors = atom_rabi_factors(reg, hardware, nm)
            theta = ch.phase[None, :] - integral[nm][None, :] + own_integral
            field_sum += factors[:, None] * ch.amplitude[None, :] * np.exp(1j * theta)
        detuning += own
    amplitude = np.abs(field_sum)
    phase = np.where(amplitude > 0, np.angle(field_sum), 0.0)
    return AtomDrives(reg.ids, amplitude, detuning, phase)


@dataclass(frozen=True)
class RoundTripError:
    """Largest |decoded - requested| over the lit samples (Ω above a fraction of its peak).

    Ω and Δ in rad/µs. ``phase_rad`` compares the phase the atoms see, φ − ∫Δ dt (rad,
    wrapped to (-π, π]): φ and Δ alone are not separately observable where the light is off.
    """

    rabi_rad_per_us: float
    detuning_rad_per_us: float
    phase_rad: float


def round_trip_error(
    request: CompactSequence, decoded: CompactSequence, *, lit_fraction: float = 0.05
) -> RoundTripError:
    """Compare decoded and requested Ω, Δ, φ on every explicit sample and each hold's ends.

    Δ and the phase are compared only where the requested Ω is at least ``lit_fraction`` of
    its peak (elsewhere they are not observable).
    """
    pts: list[NDArray[np.int64]] = []
    for seq in (request, decoded):
        for b in seq.blocks:
            if b.hold:
                pts.append(np.array([b.start_ns, b.stop_ns - 1], dtype=np.int64))
            else:
                pts.append(np.arange(b.start_ns, b.stop_ns, dtype=np.int64))
    t = np.unique(np.concatenate(pts))
    t = t[(t >= 0) & (t < min(request.duration_ns, decoded.duration_ns))]
    worst = [0.0, 0.0, 0.0]
    for nm in request.channels:
        ra, rd, rp = request.values_at(nm, t)
        da, dd, dp = decoded.values_at(nm, t)
        worst[0] = max(worst[0], float(np.max(np.abs(da - ra))) if t.size else 0.0)
        lit = ra >= lit_fraction * (float(np.max(ra)) if ra.size else 0.0)
        lit &= ra > 0
        if np.any(lit):
            worst[1] = max(worst[1], float(np.max(np.abs(dd[lit] - rd[lit]))))
            total_r = rp - request.detuning_integral(nm, t)
            total_d = dp - decoded.detuning_integral(nm, t)
            dphi = np.angle(np.exp(1j * (total_d[lit] - total_r[lit])))
            worst[2] = max(worst[2], float(np.max(np.abs(dphi))))
    return RoundTripError(*worst)
