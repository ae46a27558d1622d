"""Weighted Gerchberg-Saxton (Kim-style weighting) holograms for tweezer arrays."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numba
import numpy as np
import scipy.fft
from numpy.typing import ArrayLike, NDArray

from sequencer.optics.errors import OpticsError
from sequencer.optics.slm import SLMSpec
from sequencer.register import RegisterLayout


@dataclass(frozen=True)
class Hologram:
    """A quantised SLM phase mask and its predicted focal-plane performance.

    ``phase`` is in radians in [0, 2π) on the SLM's (ny, nx) pixels: what the SLM shows at
    ``levels`` (the integer grey levels, through its LUT), aberration correction included.
    ``spot_powers`` are the predicted relative trap powers (mean 1 after dividing by the
    target weights), ``non_uniformity`` is std/mean of the powers relative to their targets,
    ``efficiency`` the fraction of the input power landing in the spots.
    """

    phase: NDArray[np.float64]
    levels: NDArray[np.int64]
    spot_powers: NDArray[np.float64]
    non_uniformity: float
    efficiency: float
    iterations: int
    history: tuple[float, ...]


@dataclass
class HologramCache:
    """Explicit cache of holograms keyed by (layout slug, SLM JSON, weights hash, iterations)."""

    entries: dict[tuple[str, str, str, int], Hologram] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entries)


def _spot_pixels(
    layout: RegisterLayout, slm: SLMSpec
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    n = slm.grid
    k = np.rint(slm.trap_to_kspace(layout.coords)).astype(np.int64)
    half = n // 2
    if np.any(np.abs(k) >= half):
        raise OpticsError(
            f"traps map to k-space pixels up to {int(np.abs(k).max())}, "
            f"outside the grid's ±{half - 1}"
        )
    if len({(int(a), int(b)) for a, b in k}) != len(k):
        raise OpticsError("two traps map to the same k-space pixel; increase grid_size or spacing")
    return k[:, 1] % n, k[:, 0] % n


@numba.njit(cache=True, fastmath=True, nogil=True)
def _impose_aperture(near: NDArray[np.complex64], amplitude: np.float32, ny: int, nx: int) -> None:
    """In place: ``amplitude · near/|near|`` inside the SLM's ny × nx pixels, 0 outside."""
    n0, n1 = near.shape
    tiny = np.float32(1e-30)
    for i in range(n0):
        for j in range(n1):
            if i < ny and j < nx:
                v = near[i, j]
                mag = np.sqrt(v.real * v.real + v.imag * v.imag)
                near[i, j] = v * (amplitude / max(mag, tiny))
            else:
                near[i, j] = 0


@numba.njit(cache=True, nogil=True)
def _finish_linear(
    field: NDArray[np.complex64],
    aberration: NDArray[np.float64],
    n_levels: int,
    ny: int,
    nx: int,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.complex128]]:
    """Quantise the phase of ``field`` minus ``aberration`` for a linear SLM.

    Returns the levels, the shown phase, and the unit-power field the aberrated optics pass on
    (complex128, grid-sized, 0 outside the SLM).
    """
    n0, n1 = field.shape
    levels = np.empty((ny, nx), dtype=np.int64)
    shown = np.empty((ny, nx), dtype=np.float64)
    seen = np.zeros((n0, n1), dtype=np.complex128)
    two_pi = 2.0 * np.pi
    scale = 1.0 / np.sqrt(ny * nx)
    for i in range(ny):
        for j in range(nx):
            v = field[i, j]
            p = np.arctan2(np.float64(v.imag), np.float64(v.real)) - aberration[i, j]
            lv = int(np.rint(p / two_pi * n_levels)) % n_levels
            q = lv * (two_pi / n_levels)
            levels[i, j] = lv
            shown[i, j] = q
            t = q + aberration[i, j]
            seen[i, j] = complex(np.cos(t) * scale, np.sin(t) * scale)
    return levels, shown, seen


def _uniformity(power: NDArray[np.float64], target: NDArray[np.float64]) -> float:
    rel = power / target
    return float(np.std(rel) / np.mean(rel))


def hologram(
    layout: RegisterLayout,
    slm: SLMSpec,
    weights: ArrayLike | None = None,
    *,
    iterations: int = 25,
    tolerance: float = 0.0,
    seed: int | np.random.Generator = 0,
    workers: int = 2,
    phase_fix_below: float = 0.05,
) -> Hologram:
    """Compute a phase mask whose focal plane has one spot per trap of ``layout``.

    ``weights`` are per-trap target powers (relative; e.g. calibration feedback
    from measured trap depths). The loop stops after ``iterations`` or once the
    non-uniformity is ≤ ``tolerance``. The returned mask is quantised to the
    SLM's bit depth (through its phase LUT, if measured), corrected for the SLM's Zernike
    aberrations, and its report is computed from the quantised mask as the aberrated optics
    would image it.
    Once the non-uniformity drops below ``phase_fix_below`` the focal-plane
    phases of the spots are frozen (Kim et al.'s phase-fixed WGS), after which
    only the weights change.
    """
    if iterations < 1:
        raise OpticsError(f"iterations must be ≥ 1, got {iterations}")
    n_traps = layout.n_traps
    target = np.ones(n_traps) if weights is None else np.asarray(weights, dtype=np.float64)
    if target.shape != (n_traps,) or not np.all(np.isfinite(target)) or np.any(target <= 0):
        raise OpticsError(
            f"weights must be {n_traps} positive finite numbers, got shape {target.shape}"
        )
    target = target / target.mean()
    amp_target = np.sqrt(target).astype(np.float32)
    iy, ix = _spot_pixels(layout, slm)
    n = slm.grid
    ny, nx = slm.resolution
    if ny > n or nx > n:
        raise OpticsError(f"grid_size {n} is smaller than the SLM resolution {slm.resolution}")
    rng = np.random.default_rng(seed)
    amplitude = np.float32(1.0 / np.sqrt(ny * nx))
    field_ = np.zeros((n, n), dtype=np.complex64)
    # Uniformly random phases: a complex normal sample, normalised to the aperture amplitude.
    start = rng.standard_normal((ny, nx, 2), dtype=np.float32).view(np.complex64)
    field_[:ny, :nx] = start[..., 0]
    _impose_aperture(field_, amplitude, ny, nx)
    w = amp_target.copy()
    history: list[float] = []
    far = scipy.fft.fft2(field_, norm="ortho", workers=workers, overwrite_x=False)
    # The focal-plane target is zero but at the spots: one buffer, only the spots rewritten.
    sparse = np.zeros((n, n), dtype=np.complex64)
    # Both FFTs run in place in one work buffer (fresh 2–32 MB arrays per FFT cost page
    # faults that were ~40 % of an iteration). With a tolerance the loop may stop after a
    # forward FFT and still needs the SLM-plane field, so then the forward FFT copies.
    work = np.empty((n, n), dtype=np.complex64)
    in_place = tolerance <= 0.0
    fixed_phase: NDArray[np.complex64] | None = None
    for it in range(iterations):
        spots = far[iy, ix]
        amp = np.abs(spots)
        history.append(_uniformity(amp.astype(np.float64) ** 2, target))
        if history[-1] <= tolerance:
            break
        rel = amp / amp_target
        w *= rel.mean() / rel  # Kim-style weighting: boost weak spots
        if fixed_phase is None and history[-1] <= phase_fix_below:
            fixed_phase = spots / np.maximum(amp, 1e-30)  # Kim et al.: freeze spot phases
        unit = fixed_phase if fixed_phase is not None else spots / np.maximum(amp, 1e-30)
        sparse[iy, ix] = w * unit
        np.copyto(work, sparse)
        field_ = scipy.fft.ifft2(work, norm="ortho", workers=workers, overwrite_x=True)
        _impose_aperture(field_, amplitude, ny, nx)  # keep the phase, impose the aperture
        if it + 1 < iterations:  # the last field is the answer: no focal plane needed for it
            far = scipy.fft.fft2(field_, norm="ortho", workers=workers, overwrite_x=in_place)
    # The optics add the aberration A: show φ − A so the light carries φ.
    if slm.phase_lut_rad is None:
        aberration = slm.aberration_phase() if slm.zernike_rad else np.zeros((ny, nx))
        levels, q_phase, q_field = _finish_linear(field_, aberration, slm.phase_levels, ny, nx)
    else:
        final_phase = np.angle(field_[:ny, :nx]).astype(np.float64)
        aberration = slm.aberration_phase()
        levels = slm.quantise(final_phase - aberration)
        q_phase = np.mod(slm.level_phase(levels), 2 * np.pi)
        q_field = np.zeros((n, n), dtype=np.complex128)
        q_field[:ny, :nx] = np.exp(1j * (q_phase + aberration)) / np.sqrt(ny * nx)
    q_far = scipy.fft.fft2(q_field, norm="ortho", workers=workers)
    power = np.abs(q_far[iy, ix]) ** 2
    efficiency = float(power.sum())
    rel_power = power / target
    return Hologram(
        phase=q_phase,
        levels=levels,
        spot_powers=rel_power / rel_power.mean(),
        non_uniformity=_uniformity(power, target),
        efficiency=efficiency,
        iterations=len(history),
        history=tuple(history),
    )


class HologramGenerator:
    """Computes holograms for one SLM and caches them by layout, weights and iterations."""

    def __init__(
        self, slm: SLMSpec, *, cache: HologramCache | None = None, iterations: int = 25
    ) -> None:
        self.slm = slm
        self.cache = cache if cache is not None else HologramCache()
        self.iterations = iterations

    def __call__(self, layout: RegisterLayout, weights: ArrayLike | None = None) -> Hologram:
        """Return the (cached) hologram for ``layout`` with per-trap ``weights``."""
        w = None if weights is None else np.asarray(weights, dtype=np.float64)
        w_key = "none" if w is None else hashlib.sha256(w.tobytes()).hexdigest()
        key = (layout.slug, self.slm.model_dump_json(), w_key, self.iterations)
        hit = self.cache.entries.get(key)
        if hit is None:
            hit = hologram(layout, self.slm, w, iterations=self.iterations)
            self.cache.entries[key] = hit
        return hit
