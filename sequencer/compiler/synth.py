"""Sample-level synthesis: pulse-level Ω, Δ, φ → RF amplitude, frequency and phase → DAC codes.

The mapping of a channel (:class:`ChannelDrive`) and the numpy formulation of the codes
(:func:`pre_emphasize`, :func:`rf_codes`: used for looped hold segments, and the reference of
the fused kernel). Explicit stretches are synthesised by the fused numba kernel of
:mod:`sequencer.compiler._kernels` (:func:`synthesis_threads` controls its threads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sequencer.compiler import _kernels
from sequencer.compiler.addressing import GLOBAL_IDS as _GLOBAL_IDS
from sequencer.compiler.calibration import AOMResponse, CompilerCalibration
from sequencer.compiler.errors import HardwareLimitError
from sequencer.compiler.hardware import AOMConfig, BeamConfig, HardwareConfig

__all__ = [
    "ChannelDrive",
    "choose_loop_length",
    "pre_emphasize",
    "rf_codes",
    "synthesis_threads",
]

TWO_PI = 2.0 * math.pi


@dataclass(frozen=True)
class ChannelDrive:
    """How one pulse-level channel maps onto its AOM's RF (and back).

    Ω (rad/µs) at the beam centre = κ √(P_max η(A)); the laser detuning is
    Δ_laser = Δ - k_LS P; RF frequency f = f_c + Δ_laser / (2π · order · passes) (Δ in rad/µs,
    so ×10⁶ for Hz); RF phase offset = −φ / (order · passes).

    The sign of the phase: a laser's phase is the integral of its frequency, so a detuning
    raised by δ for τ advances the light's phase by δτ; Pulser's Hamiltonian H = Ω/2 (cos φ σˣ
    − sin φ σʸ) − Δ n is invariant under (φ, Δ) → (φ + θ(t), Δ + θ'(t)), i.e. the same δτ of
    detuning is φ *lowered* by δτ. The gauge-invariant phase of the drive is φ − ∫Δ, and the
    light realises φ as the optical phase offset −φ (optical phase = ∫Δ − φ).
    """

    channel: str
    beam: BeamConfig
    aom: AOMConfig
    response: AOMResponse
    rabi_per_sqrt_w: float
    light_shift_per_w: float
    latency_ns: float

    @classmethod
    def build(
        cls,
        channel: str,
        hardware: HardwareConfig,
        calibration: CompilerCalibration,
        *,
        basis: str = "ground-rydberg",
        beam_name: str | None = None,
    ) -> ChannelDrive:
        """Assemble the mapping of ``channel`` from the hardware and calibration.

        The beam is the one named ``beam_name``, else the one that makes ``channel``, else
        (a user-named global channel, as Pulser's ``declare_channel("ising",
        "rydberg_global")``) the one making the device channel of ``basis``:
        ``rydberg_global`` or ``raman_global``. Calibration is looked up under the beam's
        name (each addressing beam of a local channel has its own power and delay), else
        under its channel id.
        """
        beam = None
        if beam_name is not None:
            beam = hardware.beam(beam_name)
        if beam is None:
            beam = hardware.beam_for_channel(channel)
        if beam is None and basis in _GLOBAL_IDS:
            beam = hardware.beam_for_channel(_GLOBAL_IDS[basis])
        if beam is None:
            raise HardwareLimitError(
                f"channel {channel!r}: no beam in hardware {hardware.name!r} makes it; "
                f"beams make {sorted(b.channel for b in hardware.beams)}"
            )
        aom = hardware.aom(beam.aom)
        key = beam.name if beam.name in calibration.channels else beam.channel
        cal = calibration.channel(key)
        return cls(
            channel=channel,
            beam=beam,
            aom=aom,
            response=calibration.aom_response(aom.name),
            rabi_per_sqrt_w=cal.rabi_per_sqrt_w or beam.rabi_per_sqrt_w,
            light_shift_per_w=cal.light_shift_rad_per_us_per_w,
            latency_ns=aom.latency_ns + cal.delay_ns,
        )

    @property
    def max_rabi(self) -> float:
        """Largest Ω at the beam centre the AOM can make, rad/µs."""
        return self.rabi_per_sqrt_w * math.sqrt(
            self.beam.max_power_w * self.response.max_efficiency
        )

    def optical_power_w(self, rabi: NDArray[np.float64]) -> NDArray[np.float64]:
        """Optical power at the atoms for Ω at the beam centre, W."""
        return np.asarray((rabi / self.rabi_per_sqrt_w) ** 2)

    def amplitude_v(self, rabi: NDArray[np.float64], *, check: bool = True) -> NDArray[np.float64]:
        """RF amplitude (V peak) for Ω; refuses Ω beyond the AOM's saturation or the RF limit.

        ``check=False`` skips the range checks (for samples already checked).
        """
        if check and rabi.size and float(np.min(rabi)) < 0:
            raise HardwareLimitError(f"channel {self.channel!r}: Ω must be >= 0 rad/µs")
        if check and rabi.size and float(np.max(rabi)) > self.max_rabi * (1 + 1e-12):
            raise HardwareLimitError(
                f"channel {self.channel!r}: Ω = {float(np.max(rabi)):.6g} rad/µs is beyond the "
                f"saturation of AOM {self.aom.name!r} (max {self.max_rabi:.6g} rad/µs with "
                f"{self.beam.max_power_w} W)"
            )
        if self.response.model == "sin2":
            # √(η/η_peak) = Ω/Ω_max, so A = (2/π) A_sat arcsin(Ω/Ω_max): one pass fewer
            ratio = np.minimum(rabi * (1.0 / self.max_rabi), 1.0)
            amp = np.asarray((2.0 / np.pi * self.response.max_amplitude_v) * np.arcsin(ratio))
        else:
            eta = self.optical_power_w(rabi) / self.beam.max_power_w
            amp = self.response.amplitude_for(eta, what=f"AOM {self.aom.name!r}")
        if check and amp.size and float(np.max(amp)) > self.aom.rf_amplitude_max_v * (1 + 1e-12):
            raise HardwareLimitError(
                f"channel {self.channel!r}: RF amplitude {float(np.max(amp)):.6g} V exceeds the "
                f"limit of AOM {self.aom.name!r} (0..{self.aom.rf_amplitude_max_v} V)"
            )
        return amp

    def rabi_from_amplitude(self, amplitude_v: NDArray[np.float64]) -> NDArray[np.float64]:
        """Ω at the beam centre (rad/µs) made by RF amplitude ``amplitude_v`` (V)."""
        eta = self.response.efficiency(amplitude_v)
        return np.asarray(self.rabi_per_sqrt_w * np.sqrt(self.beam.max_power_w * eta))

    def rf_offset_hz(
        self, rabi: NDArray[np.float64], detuning: NDArray[np.float64], *, check: bool = True
    ) -> NDArray[np.float64]:
        """RF frequency minus the AOM centre, Hz, for Δ (rad/µs) net of the light shift.

        ``check=False`` skips the band check (for samples already checked).
        """
        scale = self.offset_scale
        if self.light_shift_per_w:
            laser = detuning - self.light_shift_per_w * self.optical_power_w(rabi)
            offset = laser * scale
        else:
            offset = detuning * scale
        if check and offset.size:
            self.check_band(float(np.min(offset)), float(np.max(offset)))
        return np.asarray(offset)

    @property
    def rf_phase_per_rad(self) -> float:
        """RF phase offset (rad) per rad of pulse-level φ: −1/(order · passes) (see above)."""
        return -1.0 / self.aom.optical_factor

    @property
    def offset_scale(self) -> float:
        """RF offset (Hz) per rad/µs of laser detuning: 10⁶ / (2π · order · passes)."""
        return 1e6 / (TWO_PI * self.aom.optical_factor)

    def check_band(self, offset_min_hz: float, offset_max_hz: float) -> None:
        """Refuse RF offsets (from the AOM centre) that leave the AOM's band."""
        lo, hi = self.aom.rf_band_hz
        f_lo = self.aom.rf_center_hz + offset_min_hz
        f_hi = self.aom.rf_center_hz + offset_max_hz
        if f_lo < lo or f_hi > hi:
            raise HardwareLimitError(
                f"channel {self.channel!r}: RF frequency {f_lo:.6g}..{f_hi:.6g} Hz leaves "
                f"the band of AOM {self.aom.name!r} ({lo:.6g}..{hi:.6g} Hz); |Δ| too large"
            )


def pre_emphasize(
    target: NDArray[np.float64], previous: float, alpha: float
) -> NDArray[np.float64]:
    """Invert a first-order response ``y_k = y_{k-1} + α (x_k - y_{k-1})`` exactly.

    Returns x with ``x_k = y_{k-1} + (y_k - y_{k-1}) / α`` for the wanted ``target`` y,
    where ``previous`` is y just before the first sample.
    """
    prev = np.empty_like(target)
    prev[0] = previous
    prev[1:] = target[:-1]
    return np.asarray(prev + (target - prev) / alpha)


def rf_codes(
    amplitude_v: NDArray[np.float64],
    phase_rad: NDArray[np.float64],
    lsb_v: float,
    max_code: int,
) -> tuple[NDArray[np.int32], float]:
    """DAC codes ``round(A cos Ψ / lsb)`` and the largest rounding error in codes (≤ 0.5).

    Raises :class:`HardwareLimitError` if any code would leave ``±max_code``.
    """
    # cos in float32 after wrapping: 1e-7 rad is far below one 16-bit LSB (3e-5)
    turns = phase_rad * (1.0 / TWO_PI)
    wrapped = (TWO_PI * (turns - np.floor(turns))).astype(np.float32)  # np.mod is ~8x slower
    ideal = (amplitude_v / lsb_v) * np.cos(wrapped)
    codes = np.rint(ideal)
    if codes.size and float(np.max(np.abs(codes))) > max_code:
        raise HardwareLimitError(
            f"DAC code {float(np.max(np.abs(codes))):.0f} outside ±{max_code}; "
            "RF amplitude exceeds the AWG full scale"
        )
    err = float(np.max(np.abs(ideal - codes))) if codes.size else 0.0
    return codes.astype(np.int32), err


def synthesis_threads(n: int | None = None) -> int:
    """Set (``n``) and return the threads the fused synthesis kernel uses.

    ``n = 1`` makes it serial; ``None`` keeps the setting (default: the environment variable
    ``ATOMSTACK_SYNTH_THREADS``, else 1), capped at numba's thread count (the machine's
    cores). A compile running while another thread's parallel synthesis is in flight runs
    serially.
    """
    if n is not None:
        _kernels.set_threads(n)
    return _kernels.get_threads()


def choose_loop_length(
    frequencies_hz: NDArray[np.float64],
    sample_rate_hz: float,
    granularity: int,
    min_length: int,
    max_length: int,
) -> tuple[int, NDArray[np.float64]]:
    """Loop-segment length for held tones, and the tones rounded to whole cycles in it.

    Returns the shortest L (multiple of ``granularity``) for which every frequency fits a
    whole number of cycles as nearly as any allowed L does.

    A looped segment is phase-continuous only if each tone makes whole cycles in it, so the
    tones are moved to ``round(f L / fs) fs / L``; the shift is what the budget reports.
    """
    lo = -(-min_length // granularity)
    hi = max_length // granularity
    if hi < lo:
        raise ValueError(f"no segment length in [{min_length}, {max_length}]")
    lengths = np.arange(lo, hi + 1, dtype=np.int64) * granularity
    if frequencies_hz.size == 0:
        return int(lengths[0]), frequencies_hz.copy()
    cycles = np.outer(lengths, frequencies_hz) / sample_rate_hz
    err_hz = np.max(np.abs(cycles - np.rint(cycles)), axis=1) * sample_rate_hz / lengths
    best = float(np.min(err_hz))
    pick = int(np.flatnonzero(err_hz <= best + 1e-3)[0])
    length = int(lengths[pick])
    rounded = np.rint(frequencies_hz * length / sample_rate_hz) * sample_rate_hz / length
    return length, np.asarray(rounded)
