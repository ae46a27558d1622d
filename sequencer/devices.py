"""Device and channel specifications (frozen pydantic models), with Pulser's presets.

Units as Pulser: Ω and Δ limits in rad/µs, durations in ns, distances in µm, modulation
bandwidth in MHz, C6 in rad/µs·µm⁶.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sequencer.errors import ChannelError, DeviceConstraintError, RegisterError
from sequencer.register import Register

__all__ = [
    "AnalogDevice",
    "Channel",
    "Device",
    "DigitalAnalogDevice",
    "MockDevice",
    "Raman",
    "Rydberg",
    "get_device",
]

#: C6/ħ (rad/µs·µm⁶) per Rydberg level n, as in pulser-core 1.9.1.
C6_COEFFS: dict[int, float] = {
    50: 96120.72,
    51: 122241.6,
    52: 154693.02,
    53: 194740.36,
    54: 243973.91,
    55: 304495.01,
    56: 378305.98,
    57: 468027.05,
    58: 576714.85,
    59: 707911.38,
    60: 865723.02,
    61: 1054903.11,
    62: 1281042.11,
    63: 1550531.15,
    64: 1870621.31,
    65: 2249728.57,
    66: 2697498.69,
    67: 3224987.51,
    68: 3844734.37,
    69: 4571053.32,
    70: 5420158.53,
    71: 6410399.4,
    72: 7562637.31,
    73: 8900342.14,
    74: 10449989.62,
    75: 12241414.53,
    76: 14308028.03,
    77: 16687329.94,
    78: 19421333.62,
    79: 22557029.94,
    80: 26146720.74,
    81: 30248886.65,
    82: 34928448.69,
    83: 40257623.67,
    84: 46316557.88,
    85: 53194043.52,
    86: 60988354.64,
    87: 69808179.15,
    88: 79773468.88,
    89: 91016513.07,
    90: 103677784.57,
    91: 117933293.96,
    92: 133943541.9,
    93: 151907135.94,
    94: 172036137.34,
    95: 194562889.89,
    96: 219741590.56,
    97: 247850178.91,
    98: 279192193.77,
    99: 314098829.39,
    100: 352931119.11,
}

#: Pulser's empirical factor between modulation bandwidth (MHz) and intensity rise time (µs).
MODBW_TO_TR = 0.48


def rise_time_ns(mod_bandwidth_mhz: float) -> int:
    """Amplitude 10–90 % rise time (ns) for a modulation bandwidth, as Pulser computes it.

    Pulser: intensity rise time = 0.48 / bandwidth[MHz] µs; amplitude rise time = √2 × that,
    rounded to the nanosecond.
    """
    return round(MODBW_TO_TR / mod_bandwidth_mhz * 1e3 * float(np.sqrt(2)))


class Channel(BaseModel):
    """One laser channel: basis, addressing and its limits.

    max_amp/max_abs_detuning in rad/µs (None: unlimited); durations in ns;
    mod_bandwidth in MHz (Pulser's definition, None: ideal modulator).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    basis: Literal["ground-rydberg", "digital"]
    addressing: Literal["Global", "Local"]
    max_amp: float | None = Field(default=None, ge=0)
    max_abs_detuning: float | None = Field(default=None, ge=0)
    clock_period: int = Field(default=1, gt=0)
    min_duration: int = Field(default=1, gt=0)
    max_duration: int | None = Field(default=int(1e8), gt=0)
    min_retarget_interval: int | None = Field(default=None, ge=0)
    fixed_retarget_t: int | None = Field(default=None, ge=0)
    max_targets: int | None = Field(default=None, gt=0)
    mod_bandwidth: float | None = Field(default=None, gt=0)
    custom_phase_jump_time: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check(self) -> Channel:
        if self.addressing == "Global":
            for key in ("min_retarget_interval", "fixed_retarget_t", "max_targets"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key} must be None on a Global channel")
        else:
            for key in ("min_retarget_interval", "fixed_retarget_t"):
                if getattr(self, key) is None:
                    raise ValueError(f"{key} is required on a Local channel")
        if self.max_duration is not None and self.max_duration < self.min_duration:
            raise ValueError(
                f"max_duration ({self.max_duration} ns) < min_duration ({self.min_duration} ns)"
            )
        return self

    @property
    def id_prefix(self) -> str:
        """Rydberg or raman, as in Pulser's channel ids."""
        return "rydberg" if self.basis == "ground-rydberg" else "raman"

    @property
    def rise_time(self) -> int:
        """Amplitude rise time in ns (0 without a modulation bandwidth)."""
        return 0 if not self.mod_bandwidth else rise_time_ns(self.mod_bandwidth)

    @property
    def phase_jump_time(self) -> int:
        """Time (ns) left between pulses of different phase: 2 × rise time unless customised."""
        if self.custom_phase_jump_time is not None:
            return self.custom_phase_jump_time
        return 2 * self.rise_time

    def describe(self, name: str | None = None) -> str:
        """'rydberg_local'-style label used in error messages."""
        return name or f"{self.id_prefix}_{self.addressing.lower()}"

    def check_duration(self, duration: int, name: str, what: str = "duration") -> int:
        """Refuse a duration (ns) outside [min, max] or off the clock grid."""
        if duration < self.min_duration:
            raise DeviceConstraintError(
                f"{what} {duration} ns on channel {name!r} is below its minimum of "
                f"{self.min_duration} ns"
            )
        if self.max_duration is not None and duration > self.max_duration:
            raise DeviceConstraintError(
                f"{what} {duration} ns on channel {name!r} exceeds its maximum of "
                f"{self.max_duration} ns"
            )
        if duration % self.clock_period:
            raise DeviceConstraintError(
                f"{what} {duration} ns on channel {name!r} is not a multiple of its clock "
                f"period of {self.clock_period} ns"
            )
        return duration

    def adjust_duration(self, duration: int) -> int:
        """Pulser's internal rounding: at least min_duration, up to the clock period."""
        d = max(int(duration), self.min_duration)
        if d % self.clock_period:
            d += self.clock_period - d % self.clock_period
        return d


def _global(
    basis: str, max_abs_detuning: float | None, max_amp: float | None, **kw: Any
) -> Channel:
    return Channel(
        basis=basis,
        addressing="Global",
        max_abs_detuning=max_abs_detuning,
        max_amp=max_amp,
        **kw,
    )


def _local(basis: str, max_abs_detuning: float | None, max_amp: float | None, **kw: Any) -> Channel:
    kw.setdefault("min_retarget_interval", 0)
    kw.setdefault("fixed_retarget_t", 0)
    return Channel(
        basis=basis,
        addressing="Local",
        max_abs_detuning=max_abs_detuning,
        max_amp=max_amp,
        **kw,
    )


class Rydberg:
    """Ground–Rydberg channels: Rydberg.Global(max_abs_detuning, max_amp, ...)."""

    @staticmethod
    def Global(max_abs_detuning: float | None, max_amp: float | None, **kw: Any) -> Channel:
        """A global ground-rydberg channel."""
        return _global("ground-rydberg", max_abs_detuning, max_amp, **kw)

    @staticmethod
    def Local(max_abs_detuning: float | None, max_amp: float | None, **kw: Any) -> Channel:
        """A local ground-rydberg channel."""
        return _local("ground-rydberg", max_abs_detuning, max_amp, **kw)


class Raman:
    """Hyperfine (digital) channels: Raman.Local(max_abs_detuning, max_amp, ...)."""

    @staticmethod
    def Global(max_abs_detuning: float | None, max_amp: float | None, **kw: Any) -> Channel:
        """A global digital (Raman) channel."""
        return _global("digital", max_abs_detuning, max_amp, **kw)

    @staticmethod
    def Local(max_abs_detuning: float | None, max_amp: float | None, **kw: Any) -> Channel:
        """A local digital (Raman) channel."""
        return _local("digital", max_abs_detuning, max_amp, **kw)


class Device(BaseModel):
    """A device: geometry limits, Rydberg level and channels keyed by Pulser's channel ids."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    dimensions: Literal[2, 3] = 2
    rydberg_level: int
    max_atom_num: int | None = Field(default=None, gt=0)
    max_radial_distance: float | None = Field(default=None, gt=0)
    min_atom_distance: float = Field(default=0.0, ge=0)
    max_sequence_duration: int | None = Field(default=None, gt=0)
    channels: dict[str, Channel]

    @field_validator("rydberg_level")
    @classmethod
    def _level(cls, value: int) -> int:
        if value not in C6_COEFFS:
            raise ValueError(
                f"rydberg_level must be in {min(C6_COEFFS)}..{max(C6_COEFFS)}; got {value}"
            )
        return value

    @property
    def interaction_coeff(self) -> float:
        """C6/ħ in rad/µs·µm⁶ for the device's Rydberg level."""
        return C6_COEFFS[self.rydberg_level]

    def rydberg_blockade_radius(self, rabi_frequency: float) -> float:
        """Blockade radius (µm) for a Rabi frequency in rad/µs: (C6/Ω)^(1/6)."""
        if rabi_frequency <= 0:
            raise DeviceConstraintError(f"rabi_frequency must be > 0 rad/us; got {rabi_frequency}")
        return float((self.interaction_coeff / rabi_frequency) ** (1 / 6))

    def channel(self, channel_id: str) -> Channel:
        """The channel channel_id, or ChannelError naming the available ones."""
        try:
            return self.channels[channel_id]
        except KeyError:
            raise ChannelError(
                f"device {self.name!r} has no channel {channel_id!r}; "
                f"available: {sorted(self.channels)}"
            ) from None

    def validate_register(self, register: Register) -> None:
        """Refuse a register the device cannot hold (count, spacing, radial extent)."""
        n = len(register)
        if self.max_atom_num is not None and n > self.max_atom_num:
            raise DeviceConstraintError(
                f"register has {n} atoms; device {self.name!r} holds at most {self.max_atom_num}"
            )
        if register.coords.shape[1] > self.dimensions:
            raise RegisterError(
                f"register is {register.coords.shape[1]}-D; device {self.name!r} "
                f"supports {self.dimensions}-D"
            )
        if n > 1:
            d = register.min_distance()
            if d < self.min_atom_distance - 1e-9:
                raise DeviceConstraintError(
                    f"atoms are {d:.4g} um apart; device {self.name!r} needs at least "
                    f"{self.min_atom_distance} um"
                )
        if self.max_radial_distance is not None and n:
            r = float(np.max(np.linalg.norm(register.coords, axis=1)))
            if r > self.max_radial_distance + 1e-9:
                raise DeviceConstraintError(
                    f"an atom is {r:.4g} um from the centre; device {self.name!r} allows at "
                    f"most {self.max_radial_distance} um"
                )


_TWO_PI = 2 * math.pi

AnalogDevice = Device(
    name="AnalogDevice",
    dimensions=2,
    rydberg_level=60,
    max_atom_num=80,
    max_radial_distance=38,
    min_atom_distance=5,
    max_sequence_duration=6000,
    channels={
        "rydberg_global": Rydberg.Global(
            max_abs_detuning=_TWO_PI * 20,
            max_amp=_TWO_PI * 2,
            clock_period=4,
            min_duration=16,
            mod_bandwidth=8,
        ),
    },
)

_DA_LOCAL: dict[str, Any] = dict(
    max_abs_detuning=_TWO_PI * 20,
    max_amp=_TWO_PI * 10,
    min_retarget_interval=220,
    fixed_retarget_t=0,
    max_targets=1,
    clock_period=4,
    min_duration=16,
    max_duration=2**26,
)

DigitalAnalogDevice = Device(
    name="DigitalAnalogDevice",
    dimensions=2,
    rydberg_level=70,
    max_atom_num=100,
    max_radial_distance=50,
    min_atom_distance=4,
    channels={
        "rydberg_global": Rydberg.Global(
            max_abs_detuning=_TWO_PI * 20,
            max_amp=_TWO_PI * 2.5,
            clock_period=4,
            min_duration=16,
            max_duration=2**26,
        ),
        "rydberg_local": Rydberg.Local(**_DA_LOCAL),
        "raman_local": Raman.Local(**_DA_LOCAL),
    },
)

MockDevice = Device(
    name="MockDevice",
    dimensions=3,
    rydberg_level=70,
    max_atom_num=None,
    max_radial_distance=None,
    min_atom_distance=0.0,
    channels={
        "rydberg_global": Rydberg.Global(None, None, max_duration=None),
        "rydberg_local": Rydberg.Local(None, None, max_duration=None),
        "raman_global": Raman.Global(None, None, max_duration=None),
        "raman_local": Raman.Local(None, None, max_duration=None),
    },
)

_PRESETS = {d.name: d for d in (AnalogDevice, DigitalAnalogDevice, MockDevice)}


def get_device(name: str) -> Device:
    """A preset by name: AnalogDevice, DigitalAnalogDevice or MockDevice."""
    try:
        return _PRESETS[name]
    except KeyError:
        raise DeviceConstraintError(
            f"unknown device {name!r}; presets: {sorted(_PRESETS)}"
        ) from None
