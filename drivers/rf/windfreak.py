r"""Windfreak SynthHD / SynthHD PRO two-channel RF synthesiser (USB virtual COM port).

Wire format (SynthHD & HD PRO API guide v1.0b; ``windfreak-python``): single-letter
commands followed by their data characters, with **no terminator**; a query is the
letter and ``?``, answered with the value and ``\\n``; setters answer nothing and the
device reports no errors (it ignores values it cannot take). Hence:

* every number is written in fixed-point, never with an exponent (``f1e3`` would set
  1 MHz and then run ``e``, the EEPROM save);
* every per-channel command carries its channel select in the same write (``C1f?``),
  so a power-cycled device (back on channel A) can never be addressed on the wrong
  channel;
* every set is read back (which also ends the setter's data on the device, instead of
  waiting for its idle gap) and a value the device did not take raises
  :class:`~drivers.errors.InstrumentCommandError`.

The ``h`` bit's polarity differs between public drivers (``windfreak-python``: ``h1``
enables the output; ``oxart``: ``h1`` mutes). ``h_one_means_output_on`` (default
``True``, as ``windfreak-python`` and the API guide's "RF output on/off") picks it; check
it on the unit at hand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from drivers.base import Choice, Instrument, InstrumentChannel, Parameter, Range
from drivers.errors import InstrumentCommandError, ParameterValidationError

__all__ = ["WindfreakChannel", "WindfreakSynthHD"]


def _fixed(decimals: int) -> Any:
    def format_value(value: float) -> str:
        if not math.isfinite(value):
            raise ParameterValidationError(f"{value!r} is not a finite number")
        return f"{value:.{decimals}f}"

    return format_value


def _mhz_to_hz(reply: str) -> float:
    return float(reply) * 1e6


def _hz_to_mhz(value: float) -> str:
    return _fixed(8)(value / 1e6)


def _bit(reply: str) -> bool:
    text = reply.strip()
    if text not in ("0", "1"):
        raise ValueError(f"expected 0 or 1, got {reply!r}")
    return text == "1"


class WindfreakParameter(Parameter[Any]):
    """A per-channel parameter; sets are read back and compared within ``tolerance``."""

    def __init__(
        self, letter: str, *, tolerance: float = 0.0, per_channel: bool = True, **kwargs: Any
    ) -> None:
        prefix = "C{ch}" if per_channel else ""
        super().__init__(f"{prefix}{letter}?", f"{prefix}{letter}{{}}", **kwargs)
        self.letter = letter
        self.tolerance = tolerance


def _set_and_verify(
    root: WindfreakSynthHD, host: Any, parameter: Parameter[Any], value: Any, **fields: Any
) -> None:
    """Write a setter, read the value back, raise if the device did not take it."""
    assert parameter.set_cmd is not None and parameter.get_cmd is not None
    sent = parameter.validate(host, value)
    command = parameter.set_cmd.format(parameter.formatter(sent), **fields)
    with root.lock:
        root.write(command, idempotent=True)
        readback = root.query(parameter.get_cmd.format(**fields), parser=parameter.parse)
    tolerance = parameter.tolerance if isinstance(parameter, WindfreakParameter) else 0.0
    if isinstance(sent, bool) or not isinstance(sent, int | float):
        same = readback == sent
    else:
        same = abs(float(readback) - float(sent)) <= tolerance
    if not same:
        where = f"channel {fields['ch']} " if "ch" in fields else ""
        raise InstrumentCommandError(
            f"{root.name}: {where}{parameter.name} reads {readback!r} after setting "
            f"{sent!r}: the synthesiser did not take the value"
        )


class WindfreakChannel(InstrumentChannel):
    """Channel A (``number`` 0) or B (1) of a SynthHD."""

    parent: WindfreakSynthHD

    frequency_hz = WindfreakParameter(
        "f",
        parser=_mhz_to_hz,
        formatter=_hz_to_mhz,
        validator=Range("min_frequency_hz", "max_frequency_hz", "Hz"),
        tolerance=1.0,
        unit="Hz",
        doc="Output frequency in Hz (sent in MHz with 8 decimals; 10 MHz … 15 GHz on v2).",
    )
    power_dbm = WindfreakParameter(
        "W",
        parser=float,
        formatter=_fixed(3),
        validator=Range("min_power_dbm", "max_power_dbm", "dBm"),
        tolerance=0.0015,
        unit="dBm",
        doc="Output power in dBm (−70 … +20 dBm, or the soft limit max_power_dbm).",
    )
    pll_enabled = WindfreakParameter(
        "E",
        parser=_bit,
        formatter=lambda v: "1" if v else "0",
        validator=Choice((True, False)),
        doc="Whether the PLL chip is powered (True/False); no unit.",
    )
    amplifier_enabled = WindfreakParameter(
        "r",
        parser=_bit,
        formatter=lambda v: "1" if v else "0",
        validator=Choice((True, False)),
        doc="Whether the output power amplifier is powered (True/False); no unit.",
    )

    sweep_lower_hz = WindfreakParameter(
        "l",
        parser=_mhz_to_hz,
        formatter=_hz_to_mhz,
        validator=Range("min_frequency_hz", "max_frequency_hz", "Hz"),
        tolerance=1.0,
        unit="Hz",
        doc="Sweep start frequency in Hz (sent in MHz).",
    )
    sweep_upper_hz = WindfreakParameter(
        "u",
        parser=_mhz_to_hz,
        formatter=_hz_to_mhz,
        validator=Range("min_frequency_hz", "max_frequency_hz", "Hz"),
        tolerance=1.0,
        unit="Hz",
        doc="Sweep stop frequency in Hz (sent in MHz).",
    )
    sweep_step_hz = WindfreakParameter(
        "s",
        parser=_mhz_to_hz,
        formatter=_hz_to_mhz,
        validator=Range(0.0, "max_frequency_hz", "Hz"),
        tolerance=1.0,
        unit="Hz",
        doc="Sweep frequency step in Hz (sent in MHz).",
    )
    sweep_step_time_s = WindfreakParameter(
        "t",
        parser=lambda r: float(r) / 1e3,
        formatter=lambda v: _fixed(3)(v * 1e3),
        validator=Range(4e-3, 10.0, "s"),
        tolerance=1e-6,
        unit="s",
        doc="Dwell time per sweep step in s (4 ms … 10 s; sent in ms).",
    )
    sweep_power_low_dbm = WindfreakParameter(
        "[",
        parser=float,
        formatter=_fixed(3),
        validator=Range("min_power_dbm", "max_power_dbm", "dBm"),
        tolerance=0.0015,
        unit="dBm",
        doc="Power at the sweep start in dBm.",
    )
    sweep_power_high_dbm = WindfreakParameter(
        "]",
        parser=float,
        formatter=_fixed(3),
        validator=Range("min_power_dbm", "max_power_dbm", "dBm"),
        tolerance=0.0015,
        unit="dBm",
        doc="Power at the sweep end in dBm.",
    )

    def _command_fields(self) -> Mapping[str, Any]:
        return {"ch": self.number}

    def _parameter_set(self, parameter: Parameter[Any], value: Any) -> None:
        _set_and_verify(self.parent, self, parameter, value, ch=self.number)

    @property
    def output_enabled(self) -> bool:
        """Whether RF leaves the output (the ``h`` bit, polarity per the instrument)."""
        bit = self.parent.query(f"C{self.number}h?", parser=_bit)
        return bit == self.parent.h_one_means_output_on

    @output_enabled.setter
    def output_enabled(self, enabled: bool) -> None:
        if not isinstance(enabled, bool):
            raise ParameterValidationError(f"output_enabled: {enabled!r} is not True/False")
        bit = "1" if enabled == self.parent.h_one_means_output_on else "0"
        with self.parent.lock:
            self.parent.write(f"C{self.number}h{bit}", idempotent=True)
            if self.output_enabled != enabled:
                raise InstrumentCommandError(
                    f"{self.parent.name}: channel {self.number} output did not switch "
                    f"{'on' if enabled else 'off'}"
                )


class WindfreakSynthHD(Instrument):
    """Windfreak SynthHD (v2) / SynthHD PRO: two RF channels, ``synth.channels[0|1]``.

    Limits in Hz and dBm are per model (SynthHD v2: 10 MHz … 15 GHz, PRO v2: up to
    24 GHz; −70 … +20 dBm); ``max_power_dbm`` may be lowered as a soft limit for the AOM
    driver amplifier behind the synthesiser.
    """

    emulator_name: ClassVar[str] = "windfreak_synthhd"
    write_termination: ClassVar[bytes] = b""
    read_termination: ClassVar[bytes] = b"\n"
    default_baud_rate: ClassVar[int] = 115200

    sweep_running = WindfreakParameter(
        "g",
        per_channel=False,
        parser=_bit,
        formatter=lambda v: "1" if v else "0",
        validator=Choice((True, False)),
        doc="Whether the sweep runs (g1 starts it, g0 stops it); no unit.",
    )
    sweep_continuous = WindfreakParameter(
        "c",
        per_channel=False,
        parser=_bit,
        formatter=lambda v: "1" if v else "0",
        validator=Choice((True, False)),
        doc="Whether the sweep repeats continuously (True/False); no unit.",
    )
    sweep_downward = WindfreakParameter(
        "^",
        per_channel=False,
        parser=lambda r: int(r) == 0,
        formatter=lambda v: "0" if v else "1",
        validator=Choice((True, False)),
        doc="Sweep direction: True sweeps from upper to lower (^0), False upward (^1); no unit.",
    )
    sweep_tabular = WindfreakParameter(
        "X",
        per_channel=False,
        parser=_bit,
        formatter=lambda v: "1" if v else "0",
        validator=Choice((True, False)),
        doc="Sweep type: False linear (X0), True tabular (X1); no unit.",
    )
    reference_source = WindfreakParameter(
        "x",
        per_channel=False,
        parser=int,
        formatter=lambda v: str(int(v)),
        validator=Choice((0, 1, 2)),
        doc="Reference: 0 external, 1 internal 27 MHz, 2 internal 10 MHz; no unit.",
    )
    reference_frequency_hz = WindfreakParameter(
        "*",
        per_channel=False,
        parser=_mhz_to_hz,
        formatter=_hz_to_mhz,
        validator=Range(10e6, 100e6, "Hz"),
        tolerance=1.0,
        unit="Hz",
        doc="External reference frequency in Hz (10 … 100 MHz; sent in MHz).",
    )

    def __init__(
        self,
        resource: str,
        *,
        min_frequency_hz: float = 10e6,
        max_frequency_hz: float = 15e9,
        min_power_dbm: float = -70.0,
        max_power_dbm: float = 20.0,
        h_one_means_output_on: bool = True,
        timeout_s: float = 2.0,
        retries: int = 1,
        name: str | None = None,
        baud_rate: int | None = None,
        safe_state_on_exit: bool = False,
    ) -> None:
        super().__init__(
            resource,
            timeout_s=timeout_s,
            retries=retries,
            name=name,
            baud_rate=baud_rate,
            safe_state_on_exit=safe_state_on_exit,
        )
        if not 0 < min_frequency_hz < max_frequency_hz:
            raise ValueError(
                f"need 0 < min_frequency_hz < max_frequency_hz, got {min_frequency_hz} Hz, "
                f"{max_frequency_hz} Hz"
            )
        if not min_power_dbm < max_power_dbm:
            raise ValueError(
                f"need min_power_dbm < max_power_dbm, got {min_power_dbm}, {max_power_dbm}"
            )
        self.min_frequency_hz = min_frequency_hz
        self.max_frequency_hz = max_frequency_hz
        self.min_power_dbm = min_power_dbm
        self.max_power_dbm = max_power_dbm
        self.h_one_means_output_on = h_one_means_output_on
        self.channels = (WindfreakChannel(self, 0), WindfreakChannel(self, 1))

    def _parameter_set(self, parameter: Parameter[Any], value: Any) -> None:
        _set_and_verify(self, self, parameter, value)

    def pll_locked(self, channel: int = 0) -> bool:
        """Whether channel ``channel``'s PLL is locked (``p``)."""
        if channel not in (0, 1):
            raise ParameterValidationError(f"channel {channel}: allowed 0 (A) or 1 (B)")
        return self.query(f"C{channel}p", parser=_bit)

    def save_settings(self) -> None:
        """``e``: store every setting in EEPROM (restored at power-on). Never retried."""
        self.write("e")

    def model(self) -> str:
        """The model name (``+``), e.g. ``SynthHD`` or ``SynthHD PRO``."""
        return self.query("+").strip()

    def serial_number(self) -> str:
        """The serial number (``-``)."""
        return self.query("-").strip()

    def firmware_version(self) -> str:
        """The firmware version (``v0``)."""
        return self.query("v0").strip()

    def temperature_c(self) -> float:
        """The synthesiser's internal temperature (``z``), in °C."""
        return self.query("z", parser=float)

    def safe_state(self) -> None:
        """RF off on both channels: output muted (``h``) and amplifier off (``r0``)."""
        for channel in self.channels:
            channel.output_enabled = False
            channel.amplifier_enabled = False
