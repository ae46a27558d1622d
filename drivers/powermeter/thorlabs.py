r"""Thorlabs PM100D / PM100USB optical power meter (SCPI).

In a lab the meter is a USB-TMC device, ``USB0::0x1313::0x8078::<serial>::INSTR`` (needs
PyUSB + libusb for pyvisa-py, and a udev rule on Linux); the emulator serves the same
SCPI on ``TCPIP::127.0.0.1::<port>::SOCKET`` with ``\\n`` termination. Commands follow the
PM100D SCPI list (the vendor example's ``SENS:AVER:1000`` and ``SENS:RANGE:AUTO`` are
typos; the list has ``SENS:AVER:COUN`` and ``SENS:POW:RANG:AUTO``).

On every (re)connect the power unit is set to W (``SENS:POW:UNIT W``), so every reading
this driver returns is in watts.
"""

from __future__ import annotations

import time
from typing import ClassVar

from drivers.base import (
    Choice,
    Parameter,
    Range,
    SCPIInstrument,
    format_bool_on_off,
    parse_bool,
)
from drivers.errors import InstrumentTimeout, ParameterValidationError

__all__ = ["ThorlabsPM100D"]


def _number(value: float) -> str:
    return f"{value:.10g}"


class ThorlabsPM100D(SCPIInstrument):
    """Thorlabs PM100D / PM100USB power meter with a photodiode or thermal head.

    ``min_wavelength_nm`` / ``max_wavelength_nm``: the sensor head's correction range
    (default 400 … 1100 nm, an S120C photodiode); the meter also refuses values outside
    its head's range (error queue).
    """

    emulator_name: ClassVar[str] = "thorlabs_pm100d"

    wavelength_nm = Parameter(
        "SENS:CORR:WAV?",
        "SENS:CORR:WAV {}",
        parser=float,
        formatter=_number,
        validator=Range("min_wavelength_nm", "max_wavelength_nm", "nm"),
        unit="nm",
        doc="Wavelength for the responsivity correction, in nm (within the head's range).",
    )
    averaging_count = Parameter(
        "SENS:AVER:COUN?",
        "SENS:AVER:COUN {}",
        parser=lambda r: int(float(r)),
        formatter=lambda v: str(int(v)),
        validator=Range(1, 10_000, "samples", integer=True),
        unit="samples",
        doc="Number of raw samples averaged per reading, in samples (1 … 10 000; ≈0.3 ms each).",
    )
    auto_range = Parameter(
        "SENS:POW:RANG:AUTO?",
        "SENS:POW:RANG:AUTO {}",
        parser=parse_bool,
        formatter=format_bool_on_off,
        validator=Choice((True, False)),
        doc="Whether the meter picks its range itself (True/False); no unit.",
    )
    range_w = Parameter(
        "SENS:POW:RANG:UPP?",
        "SENS:POW:RANG:UPP {}",
        parser=float,
        formatter=_number,
        validator=Range(0.0, 100.0, "W"),
        unit="W",
        doc="Upper end of the measurement range in W (setting it turns auto-range off).",
    )
    zeroing_in_progress = Parameter(
        "SENS:CORR:COLL:ZERO:STAT?",
        None,
        parser=parse_bool,
        doc="Whether dark zeroing is still running (True/False); no unit.",
    )
    zero_offset_w = Parameter(
        "SENS:CORR:COLL:ZERO:MAGN?",
        None,
        parser=float,
        unit="W",
        doc="Dark offset found by the last zeroing, in W.",
    )

    def __init__(
        self,
        resource: str,
        *,
        min_wavelength_nm: float = 400.0,
        max_wavelength_nm: float = 1100.0,
        timeout_s: float = 2.0,
        retries: int = 1,
        name: str | None = None,
        safe_state_on_exit: bool = False,
    ) -> None:
        super().__init__(
            resource,
            timeout_s=timeout_s,
            retries=retries,
            name=name,
            safe_state_on_exit=safe_state_on_exit,
        )
        if not 0 < min_wavelength_nm < max_wavelength_nm:
            raise ValueError(
                f"need 0 < min_wavelength_nm < max_wavelength_nm, got "
                f"{min_wavelength_nm} nm, {max_wavelength_nm} nm"
            )
        self.min_wavelength_nm = min_wavelength_nm
        self.max_wavelength_nm = max_wavelength_nm

    def _on_connect(self) -> None:
        self.write("SENS:POW:UNIT W")

    def sensor_identity(self) -> str:
        """The sensor head's identity (``SYST:SENS:IDN?``), as the meter reports it."""
        return self.query("SYST:SENS:IDN?").strip()

    def measure_power_w(self) -> float:
        """One reading (``MEAS:POW?``), in W, averaged over ``averaging_count`` samples."""
        return self.query("MEAS:POW?", parser=float)

    def start_measurement(self) -> None:
        """``CONF:POW`` then ``INIT``: start one power measurement (read it with fetch)."""
        with self.same_connection():
            self.write("CONF:POW")
            self.write("INIT")
            self.check_errors("starting a measurement")

    def fetch_power_w(self) -> float:
        """``FETC?``: the result of the measurement started last, in W."""
        return self.query("FETC?", parser=float)

    def read_power_w(self) -> float:
        """``READ?``: start a measurement with the current configuration and return it, in W."""
        return self.query("READ?", parser=float)

    def zero(self, *, timeout_s: float = 10.0, poll_s: float = 0.05) -> float:
        """Dark zeroing (block the light first); waits for it and returns the offset in W."""
        if timeout_s <= 0 or poll_s <= 0:
            raise ParameterValidationError(
                f"timeout_s and poll_s must be > 0 s, got {timeout_s} s, {poll_s} s"
            )
        self.write_checked("SENS:CORR:COLL:ZERO:INIT")
        deadline = time.monotonic() + timeout_s
        while self.zeroing_in_progress:
            if time.monotonic() > deadline:
                self.write("SENS:CORR:COLL:ZERO:ABOR", idempotent=True)
                raise InstrumentTimeout(f"{self.name}: zeroing still running after {timeout_s} s")
            time.sleep(poll_s)
        return self.zero_offset_w

    def safe_state(self) -> None:
        """A meter drives nothing; auto-range on so the next reading cannot saturate."""
        self.auto_range = True
