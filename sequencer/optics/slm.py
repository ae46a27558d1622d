"""Hardware description of the spatial light modulator (SLM) that makes the trap array."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from sequencer.optics.errors import OpticsError


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

    @property
    def grid(self) -> int:
        """Side of the square FFT grid in pixels."""
        return self.grid_size if self.grid_size is not None else max(self.resolution)

    @property
    def phase_levels(self) -> int:
        """Number of distinct phase values the SLM can show."""
        return int(2**self.bit_depth)

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
