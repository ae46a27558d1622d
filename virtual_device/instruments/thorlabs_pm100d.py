"""Emulated Thorlabs PM100D optical power meter (SCPI; USB-TMC in a lab, TCP SOCKET here).

Command set per INSTRUMENTS.md A4 and Thorlabs' PM100D SCPI list: ``*IDN?``,
``SYST:SENS:IDN?``, ``SENS:CORR:WAV <nm>``, ``SENS:POW:UNIT W|DBM``,
``SENS:POW:RANG:AUTO ON|OFF``, ``SENS:POW:RANG[:UPP] <W>``, ``SENS:AVER[:COUN] <n>``,
``MEAS[:SCAL]:POW?``, ``CONF[:SCAL]:POW``, ``INIT``, ``FETC?``, ``READ?``,
``SENS:CORR:COLL:ZERO[:INIT]``, ``…:ZERO:STAT?``, ``…:ZERO:MAGN?``, ``…:ZERO:ABOR``,
``SYST:ERR?`` (``0,"No error"``, unsigned as Thorlabs prints it), ``*RST``, ``*CLS``,
``*OPC?``. The vendor example's typos (``SENS:AVER:1000``, ``SENS:RANGE:AUTO``) are
rejected with ``-113,"Undefined header"``, as on the instrument.

Physics hooks: the light on the sensor is :attr:`incident_power_w` at
:attr:`light_wavelength_nm` (set them, or pass ``power_source``, a callable returning watts
that the virtual lab couples to its optics). The meter divides the photodiode current by
its responsivity at the *set* wavelength, so a wrong ``SENS:CORR:WAV`` gives a wrong
reading, as in a lab. Readings carry a dark offset (removed by zeroing) and Gaussian
noise that falls with averaging (seeded).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from virtual_device.instruments._scpi import (
    ScpiEmulator,
    ScpiError,
    parse_bool,
    parse_choice,
    parse_float,
    parse_int,
)

__all__ = ["PM100DConfig", "PM100DState", "ThorlabsPM100DEmulator", "silicon_responsivity"]


def silicon_responsivity(wavelength_nm: float) -> float:
    """A silicon photodiode's responsivity (A/W) vs wavelength (nm), a smooth approximation.

    Rises roughly linearly to 0.5 A/W near 960 nm and falls to zero at 1150 nm.
    """
    if wavelength_nm <= 300.0 or wavelength_nm >= 1150.0:
        return 1e-3
    if wavelength_nm <= 960.0:
        return 0.05 + 0.45 * (wavelength_nm - 300.0) / 660.0
    return max(1e-3, 0.5 * (1150.0 - wavelength_nm) / 190.0)


@dataclass(frozen=True)
class PM100DConfig:
    """Meter and sensor (defaults: PM100D with an S120C photodiode head)."""

    serial: str = "P0012345"
    firmware: str = "2.8.0"
    sensor: str = "S120C"
    sensor_serial: str = "18012345"
    min_wavelength_nm: float = 400.0
    max_wavelength_nm: float = 1100.0
    max_power_w: float = 0.05
    min_range_w: float = 5e-8
    max_averaging: int = 10_000
    dark_power_w: float = 2e-9
    relative_noise: float = 1e-3
    absolute_noise_w: float = 1e-10
    zero_duration_s: float = 0.2
    responsivity: Callable[[float], float] = field(default=silicon_responsivity)


@dataclass
class PM100DState:
    """Settings of the meter (SI units; wavelength in nm)."""

    wavelength_nm: float = 780.0
    unit: str = "W"
    auto_range: bool = True
    range_w: float = 0.05
    averaging: int = 1
    zero_offset_w: float = 0.0
    zero_done_at: float = 0.0
    configured: str = "POW"
    fetched_value_w: float | None = None


class ThorlabsPM100DEmulator(ScpiEmulator):
    """A Thorlabs PM100D on TCP (``TCPIP::127.0.0.1::<port>::SOCKET``, LF terminated)."""

    name = "thorlabs_pm100d"
    default_transport = "tcp"
    signed_error_codes = False
    binary_blocks = False

    def __init__(
        self,
        *,
        config: PM100DConfig | None = None,
        power_source: Callable[[], float] | None = None,
        **kwargs: object,
    ) -> None:
        self.config = config or PM100DConfig()
        self.state = PM100DState()
        #: Power of the light on the sensor (W) when no ``power_source`` is given.
        self.incident_power_w = 0.0
        #: Wavelength of the light on the sensor (nm).
        self.light_wavelength_nm = 780.0
        self.power_source = power_source
        super().__init__(**kwargs)

    def reset_state(self) -> None:
        """Power-on settings; the zero offset is lost."""
        self.state = PM100DState(range_w=self.config.max_power_w)
        self.errors.clear()

    # -- physics ------------------------------------------------------------------------------

    def true_power_w(self) -> float:
        """The light power on the sensor now (W)."""
        return float(self.power_source() if self.power_source else self.incident_power_w)

    def _raw_reading_w(self) -> float:
        """One averaged reading before zeroing (W), as the meter computes it."""
        cfg = self.config
        current = self.true_power_w() * cfg.responsivity(
            self.light_wavelength_nm
        ) + cfg.dark_power_w * cfg.responsivity(self.state.wavelength_nm)
        power = current / cfg.responsivity(self.state.wavelength_nm)
        sigma = math.hypot(cfg.relative_noise * power, cfg.absolute_noise_w)
        sigma /= math.sqrt(self.state.averaging)
        return float(power + self.rng.normal(0.0, sigma))

    def _reading_w(self) -> float:
        if self._zeroing():
            raise ScpiError(-221, "zeroing in progress")
        value = self._raw_reading_w() - self.state.zero_offset_w
        if not self.state.auto_range and value > self.state.range_w * 1.1:
            return 9.9e37  # over range, as SCPI instruments report it
        return value

    def _format(self, watts: float) -> str:
        if self.state.unit == "DBM":
            return f"{10.0 * math.log10(max(watts, 1e-15) / 1e-3):.6E}"
        return f"{watts:.6E}"

    def _zeroing(self) -> bool:
        return time.monotonic() < self.state.zero_done_at

    # -- commands -----------------------------------------------------------------------------

    def build_commands(self) -> None:
        """The PM100D command subset (see the module docstring)."""
        super().build_commands()
        add = self.commands.add
        add(
            "*IDN",
            query=lambda a, s: f"Thorlabs,PM100D,{self.config.serial},{self.config.firmware}",
        )
        add("*RST", set=lambda a, s: self._rst())
        add(
            "SYSTem:SENSor:IDN",
            query=lambda a, s: (
                f"{self.config.sensor},{self.config.sensor_serial},01-JAN-2020,1,18,289"
            ),
        )
        add(
            "[SENSe#]:CORRection:WAVelength",
            set=self._set_wavelength,
            query=lambda a, s: f"{self.state.wavelength_nm:.6E}",
        )
        add("[SENSe#]:POWer[:DC]:UNIT", set=self._set_unit, query=lambda a, s: self.state.unit)
        add(
            "[SENSe#]:POWer[:DC]:RANGe:AUTO",
            set=self._set_auto,
            query=lambda a, s: "1" if self.state.auto_range else "0",
        )
        add(
            "[SENSe#]:POWer[:DC]:RANGe[:UPPer]",
            set=self._set_range,
            query=lambda a, s: f"{self.state.range_w:.6E}",
        )
        add(
            "[SENSe#]:AVERage[:COUNt]",
            set=self._set_averaging,
            query=lambda a, s: str(self.state.averaging),
        )
        add("MEASure[:SCALar]:POWer", query=lambda a, s: self._format(self._reading_w()))
        add("CONFigure[:SCALar]:POWer", set=lambda a, s: self._configure())
        add("CONFigure", query=lambda a, s: self.state.configured)
        add("INITiate[:IMMediate]", set=lambda a, s: self._initiate())
        add("FETCh", query=lambda a, s: self._fetch())
        add("READ", query=lambda a, s: self._read())
        add("[SENSe#]:CORRection:COLLect:ZERO[:INITiate]", set=lambda a, s: self._zero())
        add("[SENSe#]:CORRection:COLLect:ZERO:ABORt", set=lambda a, s: self._zero_abort())
        add(
            "[SENSe#]:CORRection:COLLect:ZERO:STATe",
            query=lambda a, s: "1" if self._zeroing() else "0",
        )
        add(
            "[SENSe#]:CORRection:COLLect:ZERO:MAGNitude",
            query=lambda a, s: f"{self.state.zero_offset_w:.6E}",
        )

    def _rst(self) -> None:
        zero = self.state.zero_offset_w
        self.state = PM100DState(range_w=self.config.max_power_w, zero_offset_w=zero)
        self.notify("*", None, None)

    def _set(self, attr: str, value: object) -> None:
        old = getattr(self.state, attr)
        setattr(self.state, attr, value)
        self.notify(attr, old, value)

    def _set_wavelength(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        cfg = self.config
        value = parse_float(
            args, "wavelength", cfg.min_wavelength_nm, cfg.max_wavelength_nm, unit=" nm"
        )
        self._set("wavelength_nm", value)

    def _set_unit(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        self._set("unit", parse_choice(args, "power unit", {"W": "W", "DBM": "DBM"}))

    def _set_auto(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        self._set("auto_range", parse_bool(args, "auto range"))

    def _set_range(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        cfg = self.config
        value = parse_float(args, "power range", cfg.min_range_w, cfg.max_power_w, unit=" W")
        self._set("range_w", value)
        self._set("auto_range", False)

    def _set_averaging(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        self._set("averaging", parse_int(args, "averaging count", 1, self.config.max_averaging))

    def _configure(self) -> None:
        self._set("configured", "POW")

    def _initiate(self) -> None:
        self._set("fetched_value_w", self._reading_w())

    def _fetch(self) -> str:
        if self.state.fetched_value_w is None:
            raise ScpiError(-230, "no measurement; send INIT first")
        return self._format(self.state.fetched_value_w)

    def _read(self) -> str:
        self._initiate()
        return self._fetch()

    def _zero(self) -> None:
        self.state.zero_offset_w = 0.0
        offset = float(np.mean([self._raw_reading_w() for _ in range(4)]))
        self._set("zero_offset_w", offset)
        self._set("zero_done_at", time.monotonic() + self.config.zero_duration_s)

    def _zero_abort(self) -> None:
        if self._zeroing():
            self._set("zero_done_at", 0.0)
            self._set("zero_offset_w", 0.0)
