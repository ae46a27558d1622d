"""AOD move waveforms: multi-tone RF for the two crossed acousto-optic deflectors.

Each axis (x, y) is one AWG channel playing one tone per tweezer column (x) or row (y). A tone
at frequency f deflects the beam to ``position_offset_um + position_um_per_mhz · (f - f_c) /
1 MHz`` in the atom plane (calibrated affine map).

Depth model (small-signal Bragg regime, RF power per tone well below saturation, so the
diffracted power is linear in RF power): the optical power diffracted into tone k is
``η(f_k) · (a_k / a_ref)²`` relative to a tone of the reference amplitude ``a_ref =
tone_amplitude_v`` at the best efficiency ``η_ref`` of the band, where η(f) is the power
diffraction efficiency per unit RF power at f (the field efficiency is √η). The tweezer made by
column i and row j has depth

    depth_ij ∝ w_x,i · w_y,j,   w_k = (a_k / a_ref)² · η(f_k) / η_ref

(the field is ∝ a_x,i √η_x · a_y,j √η_y, the depth is its square). Equalisation sets
``a_k(t) = a_ref √(η_ref / η(f_k(t)))`` at the tone's instantaneous frequency, so w_k = 1
for every tone at every instant: all tweezers have the nominal depth (1). A depth ramp d(t)
scales every amplitude of both axes by d^¼.

Moves follow the minimum-jerk profile s(u) = 10u³ - 15u⁴ + 6u⁵ (u = t / T): tone k's frequency
is ``f_k0 + Δf_k s(u)`` and its phase ``φ_k + 2π (f_k0 t + Δf_k T S(u))`` with
S(u) = ∫₀ᵘ s = u⁴ (5/2 - 3u + u²), S(1) = ½. Sample m is at t = m / fs; the phases returned
as ``phases_end_rad`` are those at t = T (sample M), where the next segment starts.

Not modelled: the acoustic transit time across the optical aperture (the light sees the RF
with a delay of ~µs and a chirp across the aperture acts as a cylindrical lens),
intermodulation between tones, and saturation of the Bragg response.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import signal

from sequencer.optics._aod_kernels import chunk_length, synthesize
from sequencer.optics._profile import min_jerk, min_jerk_duration_us, min_jerk_integral
from sequencer.optics.errors import OpticsError

__all__ = [
    "AODAxisSpec",
    "AODAxisWaveform",
    "AODDecodedMove",
    "AODMoveWaveform",
    "AODSpec",
    "crest_factor",
    "decode_move",
    "hold_waveform",
    "min_jerk",
    "min_jerk_integral",
    "move_waveform",
    "schroeder_phases",
]

TWO_PI = 2.0 * math.pi


class AODAxisSpec(BaseModel):
    """One AOD axis and the AWG channel that drives it (instrument level, SI units).

    The band is ``center_freq_hz ± bandwidth_hz / 2``; frequency f ↔ position
    ``position_offset_um + position_um_per_mhz · (f - center_freq_hz) / 1e6`` (µm, atom
    plane). The diffraction efficiency η(f) is either the table (``efficiency_table_hz``,
    ``efficiency_table``; linear interpolation) or, when the table is empty, the smooth model
    ``efficiency_peak · exp(-2 ((f - efficiency_peak_hz) / efficiency_width_hz)²)``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(default="x", description="Axis label used in messages ('x' or 'y').")
    center_freq_hz: float = Field(
        default=87.5e6, gt=0.0, description="Centre RF frequency, Hz (e.g. 75e6..100e6)."
    )
    bandwidth_hz: float = Field(
        default=25e6, gt=0.0, description="Usable RF band, centred on center_freq_hz, Hz (> 0)."
    )
    position_um_per_mhz: float = Field(
        default=5.0,
        description="Atom-plane displacement per MHz of RF, µm/MHz (non-zero; sign = direction).",
    )
    position_offset_um: float = Field(
        default=0.0, description="Atom-plane position of a tone at center_freq_hz, µm."
    )
    max_tones: int = Field(default=128, ge=1, le=4096, description="Most tones at once, 1..4096.")
    efficiency_peak: float = Field(
        default=0.8, gt=0.0, le=1.0, description="Smooth model: peak power efficiency, (0, 1]."
    )
    efficiency_peak_hz: float | None = Field(
        default=None, gt=0.0, description="Smooth model: frequency of the peak, Hz (None = centre)."
    )
    efficiency_width_hz: float = Field(
        default=30e6, gt=0.0, description="Smooth model: 1/e² half-width of η(f), Hz (> 0)."
    )
    efficiency_table_hz: tuple[float, ...] = Field(
        default=(), description="Table: strictly increasing RF frequencies covering the band, Hz."
    )
    efficiency_table: tuple[float, ...] = Field(
        default=(), description="Table: power efficiency at each frequency, (0, 1]."
    )
    sample_rate_hz: float = Field(
        default=625e6, gt=0.0, description="AWG sample rate, S/s (Nyquist above the band)."
    )
    dac_bits: int = Field(
        default=16, ge=2, le=16, description="DAC bits, 2..16 (codes ±2^(b-1)-1)."
    )
    full_scale_v: float = Field(
        default=1.0, gt=0.0, description="Output voltage at the largest code, V peak (> 0)."
    )
    tone_amplitude_v: float = Field(
        default=0.02,
        gt=0.0,
        description="RF amplitude of one tone at the best efficiency η_ref, V peak: depth 1.",
    )

    @model_validator(mode="after")
    def _check(self) -> AODAxisSpec:
        lo, hi = self.band_hz
        nyquist = self.sample_rate_hz / 2
        if lo <= 0 or hi >= nyquist:
            raise ValueError(
                f"AOD axis {self.name!r}: band {lo:.6g}..{hi:.6g} Hz must lie in (0, {nyquist:.6g})"
                " Hz (Nyquist of the AWG)"
            )
        if self.position_um_per_mhz == 0 or not math.isfinite(self.position_um_per_mhz):
            raise ValueError(
                f"AOD axis {self.name!r}: position_um_per_mhz={self.position_um_per_mhz} must be "
                "finite and non-zero"
            )
        if self.tone_amplitude_v > self.full_scale_v:
            raise ValueError(
                f"AOD axis {self.name!r}: tone_amplitude_v={self.tone_amplitude_v} V exceeds "
                f"full_scale_v={self.full_scale_v} V"
            )
        ft, et = self.efficiency_table_hz, self.efficiency_table
        if len(ft) != len(et):
            raise ValueError(
                f"AOD axis {self.name!r}: efficiency_table_hz has {len(ft)} entries, "
                f"efficiency_table {len(et)}; they must match"
            )
        if ft:
            if len(ft) < 2 or any(b <= a for a, b in itertools.pairwise(ft)):
                raise ValueError(
                    f"AOD axis {self.name!r}: efficiency_table_hz must have ≥ 2 strictly "
                    f"increasing frequencies, got {ft}"
                )
            if ft[0] > lo or ft[-1] < hi:
                raise ValueError(
                    f"AOD axis {self.name!r}: efficiency table {ft[0]:.6g}..{ft[-1]:.6g} Hz must "
                    f"cover the band {lo:.6g}..{hi:.6g} Hz"
                )
            bad = [e for e in et if not 0.0 < e <= 1.0]
            if bad:
                raise ValueError(
                    f"AOD axis {self.name!r}: efficiencies {bad} outside (0, 1] in efficiency_table"
                )
        return self

    @property
    def band_hz(self) -> tuple[float, float]:
        """(lowest, highest) allowed RF frequency, Hz."""
        half = self.bandwidth_hz / 2
        return (self.center_freq_hz - half, self.center_freq_hz + half)

    @property
    def band_um(self) -> tuple[float, float]:
        """(lowest, highest) reachable position, µm."""
        a, b = (float(p) for p in self.position_um(np.asarray(self.band_hz)))
        return (min(a, b), max(a, b))

    @property
    def max_code(self) -> int:
        """Largest DAC code (symmetric range ±max_code)."""
        return int(2 ** (self.dac_bits - 1) - 1)

    @property
    def lsb_v(self) -> float:
        """Voltage of one DAC code, V."""
        return self.full_scale_v / self.max_code

    def freq_hz(self, position_um: ArrayLike) -> NDArray[np.float64]:
        """RF frequency (Hz) that puts a tone at ``position_um`` (µm)."""
        p = np.asarray(position_um, dtype=np.float64)
        return np.asarray(
            self.center_freq_hz + (p - self.position_offset_um) / self.position_um_per_mhz * 1e6
        )

    def position_um(self, freq_hz: ArrayLike) -> NDArray[np.float64]:
        """Atom-plane position (µm) of a tone at ``freq_hz`` (Hz)."""
        f = np.asarray(freq_hz, dtype=np.float64)
        return np.asarray(
            self.position_offset_um + self.position_um_per_mhz * (f - self.center_freq_hz) * 1e-6
        )

    def efficiency(self, freq_hz: ArrayLike) -> NDArray[np.float64]:
        """Power diffraction efficiency η per unit RF power (small signal) at ``freq_hz``."""
        f = np.asarray(freq_hz, dtype=np.float64)
        if self.efficiency_table_hz:
            return np.asarray(np.interp(f, self.efficiency_table_hz, self.efficiency_table))
        peak = self.center_freq_hz if self.efficiency_peak_hz is None else self.efficiency_peak_hz
        z = (f - peak) / self.efficiency_width_hz
        return np.asarray(self.efficiency_peak * np.exp(-2.0 * z * z))

    def equalisation(self, freq_hz: ArrayLike) -> NDArray[np.float64]:
        """Amplitude factor √(η_ref / η(f)) that gives a tone at ``freq_hz`` the nominal depth."""
        f = np.asarray(freq_hz, dtype=np.float64)
        if self.efficiency_table_hz:
            return np.asarray(np.sqrt(self.reference_efficiency / self.efficiency(f)))
        peak = self.center_freq_hz if self.efficiency_peak_hz is None else self.efficiency_peak_hz
        z = (f - peak) * (1.0 / self.efficiency_width_hz)
        ratio = self.reference_efficiency / self.efficiency_peak
        return np.asarray(math.sqrt(ratio) * np.exp(z * z))

    @property
    def reference_efficiency(self) -> float:
        """η_ref: the best efficiency in the band (a tone there needs tone_amplitude_v)."""
        lo, hi = self.band_hz
        if self.efficiency_table_hz:
            inside = [f for f in self.efficiency_table_hz if lo <= f <= hi]
            return float(np.max(self.efficiency(np.asarray([lo, hi, *inside]))))
        peak = self.center_freq_hz if self.efficiency_peak_hz is None else self.efficiency_peak_hz
        return float(self.efficiency(min(max(peak, lo), hi)))


class AODSpec(BaseModel):
    """The crossed AOD pair and the kinematic limits of a move.

    ``max_speed_um_per_us`` and ``max_accel_um_per_us2`` are advisory: the planner checks
    them (see :meth:`min_move_duration_us`); :func:`move_waveform` does not.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    x: AODAxisSpec = Field(default_factory=lambda: AODAxisSpec(name="x"))
    y: AODAxisSpec = Field(default_factory=lambda: AODAxisSpec(name="y"))
    max_speed_um_per_us: float = Field(
        default=0.6, gt=0.0, description="Peak tweezer speed allowed, µm/µs (> 0)."
    )
    max_accel_um_per_us2: float = Field(
        default=0.02, gt=0.0, description="Peak tweezer acceleration allowed, µm/µs² (> 0)."
    )

    def min_move_duration_us(self, distance_um: float) -> float:
        """Shortest minimum-jerk move over ``distance_um`` within the speed and accel limits, µs.

        Peak speed 15/8 · d / T, peak acceleration 10/√3 · d / T².
        """
        return float(
            min_jerk_duration_us(distance_um, self.max_speed_um_per_us, self.max_accel_um_per_us2)
        )


def schroeder_phases(n: int) -> NDArray[np.float64]:
    """Schroeder phases φ_k = -π k (k - 1) / n (k = 0..n-1), rad, in [0, 2π).

    For equally spaced, equal-amplitude tones they give a crest factor ≈ 1.8–1.9 (equal
    phases: √(2n)).
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise OpticsError(f"schroeder_phases: n={n!r} must be an integer ≥ 1")
    k = np.arange(int(n), dtype=np.float64)
    return np.asarray(np.mod(-np.pi * k * (k - 1.0) / n, TWO_PI))


def crest_factor(signal: ArrayLike) -> float:
    """Peak over RMS, max|x| / √mean(x²) (√2 for one tone)."""
    x = np.asarray(signal, dtype=np.float64)
    if x.size == 0:
        raise OpticsError("crest_factor: empty signal")
    rms = math.sqrt(float(np.mean(x * x)))
    if rms == 0.0:
        raise OpticsError("crest_factor: signal is all zero (RMS = 0)")
    return float(np.max(np.abs(x))) / rms


@dataclass(frozen=True)
class AODAxisWaveform:
    """One axis of a segment: the int16 DAC codes and what continues into the next segment.

    ``freq_start_hz`` / ``freq_end_hz`` and the phases are per tone, in the caller's tone order;
    ``phases_end_rad`` are the phases at the end of the segment (t = T), in [0, 2π), to pass as
    the next segment's phases. ``peak_code`` is max |code|.
    """

    axis: str
    codes: NDArray[np.int16]
    sample_rate_hz: float
    freq_start_hz: NDArray[np.float64]
    freq_end_hz: NDArray[np.float64]
    phases_start_rad: NDArray[np.float64]
    phases_end_rad: NDArray[np.float64]
    peak_code: int

    @property
    def n_tones(self) -> int:
        """Number of tones."""
        return int(self.freq_start_hz.shape[0])

    @property
    def duration_us(self) -> float:
        """Length of the segment, µs."""
        return self.codes.shape[0] / self.sample_rate_hz * 1e6

    @property
    def crest_factor(self) -> float:
        """Peak / RMS of the codes."""
        return crest_factor(self.codes)


@dataclass(frozen=True)
class AODMoveWaveform:
    """Both axes of a move (or hold) segment; ``duration_us`` is the x axis's actual length."""

    x: AODAxisWaveform
    y: AODAxisWaveform

    @property
    def duration_us(self) -> float:
        """Actual length (whole samples), µs."""
        return self.x.duration_us

    @property
    def phases_end_rad(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(x, y) phases to start the following segment with."""
        return (self.x.phases_end_rad, self.y.phases_end_rad)


def _positions(values: ArrayLike, what: str) -> NDArray[np.float64]:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise OpticsError(f"{what}: not a float array ({exc})") from exc
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise OpticsError(f"{what}: must be 1-D (one entry per tone), got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise OpticsError(f"{what}[{int(bad[0])}] = {arr[bad[0]]} is not finite")
    return arr


def _tone_frequencies(
    axis: AODAxisSpec, start: NDArray[np.float64], end: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    name = axis.name
    n = start.shape[0]
    if end.shape[0] != n:
        raise OpticsError(
            f"{name} axis: {n} start positions but {end.shape[0]} end positions; they must match"
        )
    if n < 1:
        raise OpticsError(f"{name} axis: needs at least 1 tone, got 0")
    if n > axis.max_tones:
        raise OpticsError(f"{name} axis: {n} tones exceed max_tones={axis.max_tones}")
    lo, hi = axis.band_hz
    p_lo, p_hi = axis.band_um
    f_start, f_end = axis.freq_hz(start), axis.freq_hz(end)
    for label, pos, f in (("start", start, f_start), ("end", end, f_end)):
        out = np.flatnonzero((f < lo) | (f > hi))
        if out.size:
            k = int(out[0])
            raise OpticsError(
                f"{name} tone {k}: {label} position {pos[k]:.6g} µm → {f[k]:.6g} Hz is outside "
                f"the band {lo:.6g}..{hi:.6g} Hz (positions {p_lo:.6g}..{p_hi:.6g} µm)"
            )
    order = np.argsort(f_start, kind="stable")
    for label, f in (("start", f_start), ("end", f_end)):
        gaps = np.diff(f[order])
        if gaps.size and float(np.min(gaps)) <= 0.0:
            i = int(np.argmin(gaps))
            a, b = int(order[i]), int(order[i + 1])
            raise OpticsError(
                f"{name} tones {a} and {b} {'coincide' if gaps[i] == 0 else 'cross'} at the "
                f"{label} ({f[a]:.6g} Hz vs {f[b]:.6g} Hz): tones must keep their order and stay "
                "distinct through a move"
            )
    return f_start, f_end


def _phases(phases: ArrayLike | None, n: int, what: str) -> NDArray[np.float64]:
    if phases is None:
        return schroeder_phases(n)
    arr = _positions(phases, what)
    if arr.shape[0] != n:
        raise OpticsError(f"{what}: {arr.shape[0]} phases for {n} tones")
    return arr


def _threads(threads: int | None, work: int) -> int:
    if threads is None:
        return 1 if work < 2_000_000 else max(1, min(2, numba.get_num_threads()))
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise OpticsError(f"threads={threads!r} must be an integer ≥ 1")
    return threads


def _axis_waveform(
    axis: AODAxisSpec,
    start_um: ArrayLike,
    end_um: ArrayLike,
    duration_us: float,
    phases_rad: ArrayLike | None,
    depth_start: float,
    depth_end: float,
    threads: int | None,
) -> AODAxisWaveform:
    name = axis.name
    start = _positions(start_um, f"{name}_start_um")
    end = _positions(end_um, f"{name}_end_um")
    f_start, f_end = _tone_frequencies(axis, start, end)
    n = f_start.shape[0]
    phases = _phases(phases_rad, n, f"{name}_phases_rad")
    fs = axis.sample_rate_hz
    m = round(duration_us * 1e-6 * fs)
    if m < 1:
        raise OpticsError(
            f"duration_us={duration_us} is shorter than one sample of the {name} AWG "
            f"({1e6 / fs:.6g} µs)"
        )
    t = m / fs
    g = chunk_length(m)
    n_chunks = -(-m // g)
    sweep = f_end - f_start
    # amplitude nodes: equalised for η at each tone's instantaneous frequency
    node_u = np.minimum(np.arange(n_chunks + 1, dtype=np.float64) * g / m, 1.0)
    a_ref = axis.tone_amplitude_v / axis.lsb_v
    if np.any(sweep):
        f_nodes = f_start[:, None] + sweep[:, None] * min_jerk(node_u)[None, :]
        amp = a_ref * axis.equalisation(f_nodes)
    else:
        amp = np.repeat((a_ref * axis.equalisation(f_start))[:, None], n_chunks + 1, axis=1)
    envelope = None
    if depth_start == depth_end:
        if depth_start != 1.0:
            amp = amp * depth_start**0.25
    else:
        u = np.arange(m, dtype=np.float64) / m
        envelope = np.sqrt(np.sqrt(depth_start + (depth_end - depth_start) * min_jerk(u)))
    codes, ideal_peak = synthesize(
        phases / TWO_PI, f_start / fs, sweep * t, amp, m, g, envelope, _threads(threads, n * m)
    )
    peak = float(np.rint(ideal_peak))
    if peak > axis.max_code:
        fit = axis.tone_amplitude_v * axis.max_code / ideal_peak
        raise OpticsError(
            f"{name} axis: the {n}-tone sum reaches {peak:.0f} codes ({peak * axis.lsb_v:.4g} V), "
            f"beyond the DAC range ±{axis.max_code} (full scale {axis.full_scale_v} V); "
            f"tone_amplitude_v={axis.tone_amplitude_v} V must be ≤ {fit:.4g} V for this segment "
            "(or use fewer tones / other phases)"
        )
    end_turns = phases / TWO_PI + f_start * (m / fs) + 0.5 * sweep * t
    end_phases = TWO_PI * (end_turns - np.floor(end_turns))
    return AODAxisWaveform(
        axis=name,
        codes=codes,
        sample_rate_hz=fs,
        freq_start_hz=f_start,
        freq_end_hz=f_end,
        phases_start_rad=np.mod(phases, TWO_PI),
        phases_end_rad=np.asarray(end_phases),
        peak_code=int(peak),
    )


def _check_depth(value: float, what: str) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0.0:
        raise OpticsError(f"{what}={value!r} must be finite and ≥ 0 (relative depth, 1 = nominal)")
    return v


def move_waveform(
    aod: AODSpec,
    x_start_um: ArrayLike,
    x_end_um: ArrayLike,
    y_start_um: ArrayLike,
    y_end_um: ArrayLike,
    duration_us: float,
    *,
    x_phases_rad: ArrayLike | None = None,
    y_phases_rad: ArrayLike | None = None,
    depth_start: float = 1.0,
    depth_end: float = 1.0,
    threads: int | None = None,
) -> AODMoveWaveform:
    """Minimum-jerk move of every x tone (column) and y tone (row) in ``duration_us``.

    Positions are µm in the atom plane, one per tone (the planner's parallel move: column
    start/end positions, row start/end positions, one duration). ``x_phases_rad`` /
    ``y_phases_rad`` are each tone's phase at the first sample — pass the previous segment's
    ``phases_end_rad`` for a seamless join; None uses Schroeder phases. The tweezer depth
    ramps min-jerk from ``depth_start`` to ``depth_end`` (relative, 1 = nominal; each axis's
    amplitude scales by depth^¼), e.g. 0 → 1 at a fixed position for a pick-up. The duration
    is rounded to whole samples (see ``duration_us`` of the result). ``threads`` caps the
    compiled kernel's threads (None: 1 for small jobs, else up to 2).

    Raises :class:`OpticsError` for frequencies outside the band, too many tones, tones that
    cross or coincide, mismatched lengths, or a sum that would not fit the DAC (nothing is
    ever clipped).
    """
    d = float(duration_us)
    if not math.isfinite(d) or d <= 0.0:
        raise OpticsError(f"duration_us={duration_us!r} must be finite and > 0")
    d0 = _check_depth(depth_start, "depth_start")
    d1 = _check_depth(depth_end, "depth_end")
    x = _axis_waveform(aod.x, x_start_um, x_end_um, d, x_phases_rad, d0, d1, threads)
    y = _axis_waveform(aod.y, y_start_um, y_end_um, d, y_phases_rad, d0, d1, threads)
    return AODMoveWaveform(x=x, y=y)


def hold_waveform(
    aod: AODSpec,
    x_um: ArrayLike,
    y_um: ArrayLike,
    duration_us: float,
    *,
    x_phases_rad: ArrayLike | None = None,
    y_phases_rad: ArrayLike | None = None,
    depth: float = 1.0,
    threads: int | None = None,
) -> AODMoveWaveform:
    """Static tones holding tweezers at columns ``x_um`` and rows ``y_um`` (µm) for a while.

    The same synthesis as :func:`move_waveform` with start = end; phases default to Schroeder
    phases (low crest factor).
    """
    return move_waveform(
        aod,
        x_um,
        x_um,
        y_um,
        y_um,
        duration_us,
        x_phases_rad=x_phases_rad,
        y_phases_rad=y_phases_rad,
        depth_start=depth,
        depth_end=depth,
        threads=threads,
    )


# ---------------------------------------------------------------------------------------------
# decode: the virtual lab's view of the RF — each tweezer's trajectory from the codes alone


@dataclass(frozen=True)
class AODDecodedMove:
    """Trajectories recovered from the DAC codes, on a coarse grid of frame centres.

    Arrays are (frames, tones) with tones sorted by frequency (tones never cross, so this is
    the tweezers' order along the axis). Positions come from the axis's frequency ↔ position
    map; ``*_weight`` is w = (a / a_ref)² η(f) / η_ref (1 = nominal). Frames where an axis is
    dark (all tones below ~4 LSB) have amplitude 0 and NaN frequency / position.
    """

    times_us: NDArray[np.float64]
    x_freq_hz: NDArray[np.float64]
    y_freq_hz: NDArray[np.float64]
    x_um: NDArray[np.float64]
    y_um: NDArray[np.float64]
    x_amplitude_v: NDArray[np.float64]
    y_amplitude_v: NDArray[np.float64]
    x_weight: NDArray[np.float64]
    y_weight: NDArray[np.float64]

    @property
    def depth(self) -> NDArray[np.float64]:
        """Relative depth of tweezer (column i, row j), shape (frames, nx, ny): w_x,i · w_y,j."""
        return np.asarray(self.x_weight[:, :, None] * self.y_weight[:, None, :])


def _frames(v: NDArray[np.float64], centres: NDArray[np.int64], half: int) -> NDArray[Any]:
    view = np.lib.stride_tricks.sliding_window_view(v, 2 * half + 1)
    return np.asarray(view[centres - half])


def _peaks(
    frames: NDArray[np.float64],
    axis: AODAxisSpec,
    n: int,
    times_us: NDArray[np.float64],
    lit: NDArray[np.bool_],
) -> NDArray[np.float64]:
    """Pass 1: the n strongest spectral peaks per frame, log-parabolic sub-bin interpolation."""
    fs = axis.sample_rate_hz
    length = frames.shape[1]
    nfft = 1 << (2 * length - 1).bit_length()
    spec = np.abs(np.fft.rfft(frames * np.hanning(length)[None, :], n=nfft, axis=1))
    bin_hz = fs / nfft
    lo, hi = axis.band_hz
    margin = 4.0 * fs / length
    k_lo = max(1, int((lo - margin) / bin_hz))
    k_hi = min(spec.shape[1] - 2, int((hi + margin) / bin_hz) + 1)
    mid = spec[:, k_lo:k_hi]
    is_peak = (mid > spec[:, k_lo - 1 : k_hi - 1]) & (mid >= spec[:, k_lo + 1 : k_hi + 1])
    height = np.where(is_peak, mid, 0.0)
    if height.shape[1] < n:
        raise OpticsError(f"{axis.name} axis: the band holds fewer than n_tones={n} bins")
    top = np.argpartition(-height, n - 1, axis=1)[:, :n]
    top_h = np.take_along_axis(height, top, axis=1)
    strongest = np.max(top_h, axis=1)
    weakest = np.min(top_h, axis=1)
    missing = lit & (weakest < 0.1 * strongest)
    if np.any(missing):
        j = int(np.flatnonzero(missing)[0])
        found = int(np.sum(height[j] >= 0.1 * strongest[j]))
        raise OpticsError(
            f"{axis.name} axis: the frame at t = {times_us[j]:.4g} µs shows {found} tones, "
            f"expected n_tones={n}; tones closer than ~{3 * fs / length:.4g} Hz are not resolved "
            "with this window (give a longer window_us)"
        )
    k = np.sort(top, axis=1) + k_lo
    rows = np.arange(spec.shape[0])[:, None]
    eps = 1e-300
    a = np.log(spec[rows, k - 1] + eps)
    b = np.log(spec[rows, k] + eps)
    c = np.log(spec[rows, k + 1] + eps)
    denom = a - 2.0 * b + c
    p = np.where(denom < 0, 0.5 * (a - c) / np.where(denom < 0, denom, -1.0), 0.0)
    return np.asarray((k + np.clip(p, -0.5, 0.5)) * bin_hz)


def _decode_axis(
    codes: NDArray[Any],
    axis: AODAxisSpec,
    n: int,
    centres: NDArray[np.int64],
    half: int,
    refine: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    fs = axis.sample_rate_hz
    v = np.asarray(codes, dtype=np.float64) * axis.lsb_v
    frames = _frames(v, centres, half)
    times_us = centres / fs * 1e6
    lit = np.max(np.abs(frames), axis=1) > 4.0 * axis.lsb_v
    freq = _peaks(frames, axis, n, times_us, lit)
    amp = np.zeros_like(freq)
    if not np.any(lit):
        return np.full_like(freq, np.nan), amp
    w = signal.windows.blackmanharris(2 * half + 1)
    w /= np.sum(w)
    m_all = np.arange(v.shape[0], dtype=np.float64)
    lit_c = centres[lit].astype(np.float64)
    dt = np.gradient(lit_c) / fs if lit_c.size > 1 else np.ones(1)
    for it in range(refine + 1):
        for k in range(n):
            track = np.interp(m_all, lit_c, freq[lit, k])
            turns = np.cumsum(track) / fs
            turns -= np.floor(turns)
            base = v * np.exp(-1j * TWO_PI * turns)
            cplx = 2.0 * (_frames(base, centres[lit], half) @ w)
            amp[lit, k] = np.abs(cplx)
            if it < refine and lit_c.size > 1:
                resid = np.unwrap(np.angle(cplx))
                freq[lit, k] += np.gradient(resid) / dt / TWO_PI
    freq[~lit] = np.nan
    return freq, amp


def decode_move(
    waveform: AODMoveWaveform | tuple[ArrayLike, ArrayLike],
    aod: AODSpec,
    *,
    n_tones: tuple[int, int],
    time_step_us: float = 0.5,
    window_us: float = 3.3,
    refine: int = 2,
) -> AODDecodedMove:
    """Recover each tweezer's position and relative depth vs time from the int16 codes alone.

    ``waveform`` is an :class:`AODMoveWaveform` (only its ``codes`` are read) or a pair
    ``(x_codes, y_codes)``, e.g. a hold, a move and a hold concatenated. ``n_tones`` = (number
    of columns, number of rows). Frames of ``window_us`` are centred every ``time_step_us``
    where they fit in the samples (so the first and last half window are not reported).

    Method, per axis: (1) STFT with a Hann window, the n strongest peaks per frame with
    log-parabolic sub-bin interpolation; (2) ``refine`` times: mix the samples down with each
    tone's phase integrated from its current frequency track, average over a Blackman-Harris window
    at each frame centre (the tone, now at DC, keeps its amplitude; its neighbours are
    rejected), and correct the track by the slope of the residual phase. Tones must be
    ≳ 4 · fs / window samples apart (1.2 MHz at the defaults) and their frequency change across
    one window small compared with that.
    """
    if isinstance(waveform, AODMoveWaveform):
        codes_x: NDArray[Any] = waveform.x.codes
        codes_y: NDArray[Any] = waveform.y.codes
    else:
        codes_x, codes_y = (np.asarray(c) for c in waveform)
    for label, c in (("x", codes_x), ("y", codes_y)):
        if c.ndim != 1 or not np.issubdtype(c.dtype, np.integer):
            raise OpticsError(
                f"{label} codes must be a 1-D integer array (DAC codes), got {c.dtype} {c.shape}"
            )
    if aod.x.sample_rate_hz != aod.y.sample_rate_hz or codes_x.shape != codes_y.shape:
        raise OpticsError(
            "decode_move needs both axes on one sample clock: x has "
            f"{codes_x.shape[0]} samples at {aod.x.sample_rate_hz} S/s, y {codes_y.shape[0]} at "
            f"{aod.y.sample_rate_hz} S/s"
        )
    nx, ny = n_tones
    for label, n, ax in (("x", nx, aod.x), ("y", ny, aod.y)):
        if not isinstance(n, int | np.integer) or not 1 <= n <= ax.max_tones:
            raise OpticsError(f"n_tones {label}={n!r} must be an integer in 1..{ax.max_tones}")
    if not (math.isfinite(time_step_us) and time_step_us > 0):
        raise OpticsError(f"time_step_us={time_step_us!r} must be finite and > 0")
    if not (math.isfinite(window_us) and window_us > 0):
        raise OpticsError(f"window_us={window_us!r} must be finite and > 0")
    if isinstance(refine, bool) or not isinstance(refine, int) or not 0 <= refine <= 10:
        raise OpticsError(f"refine={refine!r} must be an integer in 0..10")
    fs = aod.x.sample_rate_hz
    half = max(8, round(window_us * 1e-6 * fs / 2))
    hop = max(1, round(time_step_us * 1e-6 * fs))
    m = codes_x.shape[0]
    if m < 2 * half + 1:
        raise OpticsError(
            f"{m} samples ({m / fs * 1e6:.4g} µs) are shorter than one window of "
            f"{(2 * half + 1) / fs * 1e6:.4g} µs (window_us={window_us})"
        )
    centres = np.arange(half, m - half, hop, dtype=np.int64)
    fx, ax_v = _decode_axis(codes_x, aod.x, int(nx), centres, half, refine)
    fy, ay_v = _decode_axis(codes_y, aod.y, int(ny), centres, half, refine)

    def weight(axis: AODAxisSpec, f: NDArray[np.float64], a: NDArray[np.float64]) -> Any:
        eff = axis.efficiency(np.where(np.isfinite(f), f, axis.center_freq_hz))
        return np.asarray((a / axis.tone_amplitude_v) ** 2 * eff / axis.reference_efficiency)

    return AODDecodedMove(
        times_us=centres / fs * 1e6,
        x_freq_hz=fx,
        y_freq_hz=fy,
        x_um=aod.x.position_um(fx),
        y_um=aod.y.position_um(fy),
        x_amplitude_v=ax_v,
        y_amplitude_v=ay_v,
        x_weight=weight(aod.x, fx, ax_v),
        y_weight=weight(aod.y, fy, ay_v),
    )
