"""Hardware description of the spatial light modulator (SLM) that makes the trap array."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sequencer.optics.errors import OpticsError

_LUT_BINS = 4096  # resolution of the phase → grey-level table built from a measured LUT


def noll_to_nm(j: int) -> tuple[int, int]:
    """Radial order n and azimuthal frequency m of the Zernike polynomial of Noll index j ≥ 1.

    j = 1 piston, 2 tip (x), 3 tilt (y), 4 defocus, 5–6 astigmatism, 7–8 coma, 11 spherical.
    """
    if j < 1:
        raise OpticsError(f"Noll indices start at 1, got {j}")
    n, rest = 0, j - 1
    while rest > n:
        n += 1
        rest -= n
    m = (n % 2) + 2 * ((rest + ((n + 1) % 2)) // 2)
    return n, (m if j % 2 == 0 else -m)


def zernike(j: int, x: ArrayLike, y: ArrayLike) -> NDArray[np.float64]:
    """Noll-normalised Zernike polynomial Z_j at (x, y) in units of the pupil radius.

    Normalised so that its mean square over the unit disc is 1 (piston: 1); evaluated as a
    polynomial outside the disc too (a rectangular SLM's corners).
    """
    n, m = noll_to_nm(j)
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    r, theta = np.hypot(xa, ya), np.arctan2(ya, xa)
    ma = abs(m)
    radial = np.zeros_like(r)
    for k in range((n - ma) // 2 + 1):
        c = (-1) ** k * math.factorial(n - k)
        c /= math.factorial(k) * math.factorial((n + ma) // 2 - k)
        c /= math.factorial((n - ma) // 2 - k)
        radial += c * r ** (n - 2 * k)
    if m == 0:
        return np.asarray(math.sqrt(n + 1) * radial)
    angular = np.cos(ma * theta) if m > 0 else np.sin(ma * theta)
    return np.asarray(math.sqrt(2 * (n + 1)) * radial * angular)


class SLMSpec(BaseModel):
    """Phase-only SLM in the Fourier plane of a lens imaged onto the atoms.

    The trap position ``r_um`` (atom plane, µm) maps to the focal plane of the
    lens as ``affine_matrix @ r_um * magnification + affine_offset_um`` and from
    there to the k-space pixel ``x_f * n * pixel_pitch / (wavelength * focal_length)``
    of the (zero-padded) FFT grid of size ``grid_size``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    resolution: tuple[int, int] = Field(default=(512, 512), description="SLM pixels (ny, nx).")
    pixel_pitch_um: float = Field(default=8.0, gt=0.0, description="Pixel pitch, µm.")
    bit_depth: int = Field(default=8, ge=1, le=16, description="Phase levels are 2**bit_depth.")
    wavelength_nm: float = Field(default=852.0, gt=0.0, description="Trap laser wavelength, nm.")
    focal_length_mm: float = Field(
        default=200.0, gt=0.0, description="Fourier lens focal length, mm."
    )
    magnification: float = Field(
        default=40.0,
        gt=0.0,
        description="Focal-plane size / atom-plane size (demagnification onto the atoms).",
    )
    affine_matrix: tuple[tuple[float, float], tuple[float, float]] = Field(
        default=((1.0, 0.0), (0.0, 1.0)), description="Calibrated 2x2 map, dimensionless."
    )
    affine_offset_um: tuple[float, float] = Field(
        default=(0.0, 0.0),
        description="Offset of the array centre from the zeroth order, µm (focal plane).",
    )
    grid_size: int | None = Field(
        default=None, ge=16, description="FFT grid side (pixels); None = max(resolution)."
    )
    zernike_rad: dict[int, float] = Field(
        default_factory=dict,
        description=(
            "Aberration of the optical train seen at the SLM: Noll index (≥ 1) → coefficient "
            "in rad of the Noll-normalised Zernike polynomial over the disc inscribed in the "
            "SLM. Holograms subtract it (aberration correction)."
        ),
    )
    phase_lut_rad: tuple[float, ...] | None = Field(
        default=None,
        description=(
            "Measured phase (rad, at wavelength_nm) shown for each grey level 0 … "
            "2**bit_depth − 1; None = linear, level k shows 2πk / 2**bit_depth."
        ),
    )

    @model_validator(mode="after")
    def _check_optics(self) -> SLMSpec:
        bad = [j for j in self.zernike_rad if j < 1]
        if bad:
            raise ValueError(f"zernike_rad: Noll indices start at 1, got {bad}")
        if any(not math.isfinite(v) for v in self.zernike_rad.values()):
            raise ValueError(f"zernike_rad: coefficients must be finite, got {self.zernike_rad}")
        if self.phase_lut_rad is not None:
            lut = np.asarray(self.phase_lut_rad)
            if lut.size != self.phase_levels or not np.all(np.isfinite(lut)):
                raise ValueError(
                    f"phase_lut_rad: need {self.phase_levels} finite phases (one per grey "
                    f"level of a {self.bit_depth}-bit SLM), got {lut.size}"
                )
        return self

    @property
    def grid(self) -> int:
        """Side of the square FFT grid in pixels."""
        return self.grid_size if self.grid_size is not None else max(self.resolution)

    @property
    def phase_levels(self) -> int:
        """Number of distinct phase values the SLM can show."""
        return int(2**self.bit_depth)

    def aberration_phase(self) -> NDArray[np.float64]:
        """The aberration Σ c_j Z_j (rad) on the SLM's (ny, nx) pixels (zeros without any)."""
        ny, nx = self.resolution
        radius = min(ny, nx) / 2.0
        y = (np.arange(ny) - (ny - 1) / 2.0)[:, None] / radius
        x = (np.arange(nx) - (nx - 1) / 2.0)[None, :] / radius
        out = np.zeros((ny, nx))
        for j, c in sorted(self.zernike_rad.items()):
            out += c * zernike(j, x, y)
        return out

    def level_phase(self, levels: ArrayLike) -> NDArray[np.float64]:
        """Phase (rad) the SLM shows at grey ``levels`` (through the LUT if one is given)."""
        lv = np.asarray(levels, dtype=np.int64)
        if self.phase_lut_rad is None:
            return np.asarray(lv * (2 * np.pi / self.phase_levels))
        return np.asarray(np.asarray(self.phase_lut_rad)[lv])

    def quantise(self, phase_rad: ArrayLike) -> NDArray[np.int64]:
        """Grey levels whose shown phase is nearest (mod 2π) to ``phase_rad``."""
        p = np.mod(np.asarray(phase_rad, dtype=np.float64), 2 * np.pi)
        n = self.phase_levels
        if self.phase_lut_rad is None:
            return np.asarray(np.mod(np.rint(p / (2 * np.pi) * n), n).astype(np.int64))
        # A table over _LUT_BINS desired phases: the level nearest each bin centre (mod 2π).
        lut = np.asarray(self.phase_lut_rad)
        centres = (np.arange(_LUT_BINS) + 0.5) * (2 * np.pi / _LUT_BINS)
        dist = np.abs(np.angle(np.exp(1j * (centres[:, None] - lut[None, :]))))
        table = np.argmin(dist, axis=1).astype(np.int64)
        bins = np.minimum((p / (2 * np.pi) * _LUT_BINS).astype(np.int64), _LUT_BINS - 1)
        return np.asarray(table[bins])

    def focal_plane_um_per_pixel(self) -> float:
        """Focal-plane distance between adjacent k-space pixels, µm."""
        lam_um = self.wavelength_nm * 1e-3
        f_um = self.focal_length_mm * 1e3
        return lam_um * f_um / (self.grid * self.pixel_pitch_um)

    def trap_to_kspace(self, coords_um: NDArray[np.float64]) -> NDArray[np.float64]:
        """Map trap coordinates (atom plane, µm, shape (n, 2)) to fractional k-space pixels."""
        coords = np.asarray(coords_um, dtype=np.float64)
        if coords.ndim != 2 or coords.shape[1] != 2:
            raise OpticsError(f"trap coordinates must have shape (n, 2), got {coords.shape}")
        m = np.asarray(self.affine_matrix, dtype=np.float64)
        focal = coords @ m.T * self.magnification + np.asarray(self.affine_offset_um)
        return focal / self.focal_plane_um_per_pixel()
