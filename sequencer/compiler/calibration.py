"""Calibration inputs of the compiler: AOM response curves, Ω per √P, light shifts, delays.

These are plain pydantic models loaded from TOML or JSON for now; the calibration store will
produce the same models later (the sequencer never imports the calibration package).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sequencer.compiler.errors import HardwareConfigError, HardwareLimitError
from sequencer.compiler.hardware import HardwareConfig

__all__ = [
    "AOMResponse",
    "ChannelCalibration",
    "CompilerCalibration",
    "load_calibration",
]


class AOMResponse(BaseModel):
    """RF amplitude (V peak at the AWG output) → relative optical power η in the used order.

    ``model = "sin2"``: η = peak_efficiency · sin²(π/2 · V / saturation_v) for
    0 ≤ V ≤ saturation_v (the Bragg saturation curve; over-drive beyond it is refused).
    ``model = "table"``: a measured, strictly increasing table (``rf_amplitude_v``,
    ``relative_power``) starting at (0, 0), linearly interpolated.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: Literal["sin2", "table"] = "sin2"
    saturation_v: float | None = Field(None, gt=0, description="RF amplitude of peak η, V.")
    peak_efficiency: float = Field(1.0, gt=0, le=1, description="η at saturation (sin2).")
    rf_amplitude_v: tuple[float, ...] = ()
    relative_power: tuple[float, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> AOMResponse:
        if self.model == "sin2":
            if self.saturation_v is None:
                raise ValueError("sin2 AOM response needs saturation_v (V)")
            return self
        v = np.asarray(self.rf_amplitude_v)
        p = np.asarray(self.relative_power)
        if len(v) < 2 or len(v) != len(p):
            raise ValueError("table AOM response needs >= 2 (rf_amplitude_v, relative_power) pairs")
        if v[0] != 0 or p[0] != 0:
            raise ValueError("table AOM response must start at (0 V, 0)")
        if np.any(np.diff(v) <= 0) or np.any(np.diff(p) <= 0):
            raise ValueError("table AOM response must be strictly increasing in V and in power")
        if p[-1] > 1:
            raise ValueError(f"relative_power must be <= 1; got {p[-1]}")
        return self

    @property
    def max_efficiency(self) -> float:
        """Largest η the response reaches (at :attr:`max_amplitude_v`)."""
        return self.peak_efficiency if self.model == "sin2" else self.relative_power[-1]

    @property
    def max_amplitude_v(self) -> float:
        """RF amplitude of the largest η (saturation), V."""
        if self.model == "sin2":
            assert self.saturation_v is not None
            return self.saturation_v
        return self.rf_amplitude_v[-1]

    def efficiency(self, amplitude_v: ArrayLike) -> NDArray[np.float64]:
        """η for RF amplitudes in V (clipped at 0 and at saturation)."""
        v = np.clip(np.abs(np.asarray(amplitude_v, dtype=np.float64)), 0, self.max_amplitude_v)
        if self.model == "sin2":
            out = self.peak_efficiency * np.sin(0.5 * np.pi * v / self.max_amplitude_v) ** 2
            return np.asarray(out)
        return np.interp(v, self.rf_amplitude_v, self.relative_power)

    def amplitude_for(self, efficiency: ArrayLike, *, what: str = "AOM") -> NDArray[np.float64]:
        """Inverse response: RF amplitude (V) that gives ``efficiency``.

        Raises :class:`HardwareLimitError` if any η exceeds what the AOM can reach.
        """
        eta = np.asarray(efficiency, dtype=np.float64)
        top = float(np.max(eta)) if eta.size else 0.0
        if top > self.max_efficiency * (1 + 1e-12):
            raise HardwareLimitError(
                f"{what}: requested relative optical power {top:.6g} is beyond the AOM's "
                f"saturation (max {self.max_efficiency:.6g}); lower Ω or raise the beam power"
            )
        eta = np.clip(eta, 0.0, self.max_efficiency)
        if self.model == "sin2":
            ratio = np.sqrt(eta / self.peak_efficiency)
            return np.asarray(2.0 / np.pi * self.max_amplitude_v * np.arcsin(np.clip(ratio, 0, 1)))
        return np.interp(eta, self.relative_power, self.rf_amplitude_v)


class ChannelCalibration(BaseModel):
    """Per pulse-level channel: Ω per √P override, light shift and extra delay."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rabi_per_sqrt_w: float | None = Field(
        None, gt=0, description="Ω at beam centre per √W, rad/µs/√W (None: hardware nominal)."
    )
    light_shift_rad_per_us_per_w: float = Field(
        0.0, description="Detuning added by the beam's own light, rad/µs per W at the atoms."
    )
    delay_ns: float = Field(0.0, description="Measured delay on top of the AOM latency, ns.")


class CompilerCalibration(BaseModel):
    """Everything measured that the compiler needs, keyed by AOM and by pulse channel."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = "nominal"
    aoms: Mapping[str, AOMResponse] = Field(default_factory=dict)
    channels: Mapping[str, ChannelCalibration] = Field(default_factory=dict)

    @classmethod
    def nominal(cls, hardware: HardwareConfig) -> CompilerCalibration:
        """Ideal sin² AOMs saturating at each AOM's ``rf_amplitude_max_v``; no shifts."""
        return cls(
            version="nominal",
            aoms={a.name: AOMResponse(saturation_v=a.rf_amplitude_max_v) for a in hardware.aoms},
        )

    def aom_response(self, aom: str) -> AOMResponse:
        """Response of AOM ``aom``; raises if it is not calibrated."""
        try:
            return self.aoms[aom]
        except KeyError:
            raise HardwareConfigError(
                f"calibration {self.version!r} has no response for AOM {aom!r}; "
                f"have {sorted(self.aoms)}"
            ) from None

    def channel(self, channel: str) -> ChannelCalibration:
        """Calibration of pulse-level ``channel`` (defaults when absent)."""
        return self.channels.get(channel, ChannelCalibration())


def load_calibration(path: str | Path) -> CompilerCalibration:
    """Read a :class:`CompilerCalibration` from TOML or JSON."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise HardwareConfigError(f"{path}: unknown format; use .toml or .json")
        return CompilerCalibration.model_validate(data)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, ValidationError) as exc:
        raise HardwareConfigError(f"{path}: invalid compiler calibration:\n{exc}") from exc
