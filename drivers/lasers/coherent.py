r"""Coherent OBIS LX/LS laser over its USB virtual COM port or RS-232 (SCPI-like).

Commands and replies end with ``\\r\\n``. The baud rate depends on the unit or Remote
(115200 per qudi and the Scientific Remote; 9600 or 19200 elsewhere): pass ``baud_rate``.

Handshaking (``SYST:COMM:HAND``): with it ON every command is answered ``OK`` and a query
``<value>`` then ``OK``; a failed command is answered ``ERR-<code>``. A driver that does
not know the mode falls one reply behind for ever. This driver forces handshaking ON on
every (re)connect (as micro-manager does), so every command is acknowledged, and
confirms it with ``SYST:COMM:HAND?`` in a way that works whatever the mode was and
whether the device acknowledges the switch itself in the old or the new mode.

Power is in watts on the wire (``SOUR:POW:LEV:IMM:AMPL 0.025`` = 25 mW); the allowed
set-point range is read from the head (``SOUR:POW:LIM:LOW?`` / ``HIGH?``) at connect and
narrowed by the soft limit ``max_power_w``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from drivers.base import (
    Choice,
    Instrument,
    Parameter,
    Range,
    format_bool_on_off,
    parse_bool,
)
from drivers.errors import (
    InstrumentCommandError,
    InstrumentProtocolError,
    ParameterValidationError,
)
from drivers.transport import Transport

__all__ = ["CoherentOBIS"]

_ERR = re.compile(r"^ERR(-?\d+)$")


def _power(value: float) -> str:
    return f"{value:.6f}"


def _celsius(reply: str) -> float:
    return float(reply.strip().rstrip("Cc"))


def _hex_word(reply: str) -> int:
    return int(reply.strip(), 16)


class CoherentOBIS(Instrument):
    """Coherent OBIS LX/LS laser head (head 1 when behind a Remote).

    ``max_power_w``: soft limit on the power set-point in W (default: none beyond the
    head's own ``SOUR:POW:LIM:HIGH?``).
    """

    emulator_name: ClassVar[str] = "coherent_obis"
    write_termination: ClassVar[bytes] = b"\r\n"
    read_termination: ClassVar[bytes] = b"\r\n"
    default_baud_rate: ClassVar[int] = 115200

    power_setpoint_w = Parameter(
        "SOUR:POW:LEV:IMM:AMPL?",
        "SOUR:POW:LEV:IMM:AMPL {}",
        parser=float,
        formatter=_power,
        validator=Range("min_power_w", "max_power_w", "W"),
        unit="W",
        doc="Power set-point in W (the head's limits, narrowed by max_power_w).",
    )
    output_power_w = Parameter(
        "SOUR:POW:LEV?",
        None,
        parser=float,
        unit="W",
        doc="Output power measured by the head, in W.",
    )
    emission = Parameter(
        "SOUR:AM:STAT?",
        "SOUR:AM:STAT {}",
        parser=parse_bool,
        formatter=format_bool_on_off,
        validator=Choice((True, False)),
        doc="Whether the laser emits (True/False); no unit. CDRH adds a 5 s delay.",
    )
    operating_mode = Parameter(
        "SOUR:AM:SOUR?",
        None,
        parser=lambda r: r.strip().upper(),
        doc="Operating mode as reported (CWP, CWC, DIGITAL, ANALOG, MIXED); no unit.",
    )
    cdrh_delay = Parameter(
        "SYST:CDRH?",
        "SYST:CDRH {}",
        parser=parse_bool,
        formatter=format_bool_on_off,
        validator=Choice((True, False)),
        doc="Whether emission starts 5 s after it is switched on (True/False); no unit.",
    )
    autostart = Parameter(
        "SYST:AUT?",
        "SYST:AUT {}",
        parser=parse_bool,
        formatter=format_bool_on_off,
        validator=Choice((True, False)),
        doc="Whether the laser emits at power-on (True/False); no unit.",
    )
    interlock_closed = Parameter(
        "SYST:LOCK?",
        None,
        parser=parse_bool,
        doc="Whether the interlock loop is closed (True/False); no unit.",
    )
    wavelength_nm = Parameter(
        "SYST:INF:WAV?",
        None,
        parser=float,
        unit="nm",
        doc="Nominal wavelength in nm.",
    )
    base_temperature_c = Parameter(
        "SOUR:TEMP:BAS?",
        None,
        parser=_celsius,
        unit="°C",
        doc="Baseplate temperature in °C.",
    )
    diode_temperature_c = Parameter(
        "SOUR:TEMP:DIOD?",
        None,
        parser=_celsius,
        unit="°C",
        doc="Diode temperature in °C.",
    )
    status_word = Parameter(
        "SYST:STAT?",
        None,
        parser=_hex_word,
        doc="Status bits (hex word from SYST:STAT?) as an integer; no unit.",
    )
    fault_word = Parameter(
        "SYST:FAUL?",
        None,
        parser=_hex_word,
        doc="Fault bits (hex word from SYST:FAUL?) as an integer; no unit.",
    )

    def __init__(
        self,
        resource: str,
        *,
        max_power_w: float = float("inf"),
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
        if not max_power_w > 0:
            raise ValueError(f"max_power_w must be > 0 W, got {max_power_w}")
        self.soft_max_power_w = max_power_w
        self.head_min_power_w = 0.0
        self.head_max_power_w = 0.0

    @property
    def min_power_w(self) -> float:
        """Lowest allowed set-point in W (the head's limit, read at connect)."""
        return self.head_min_power_w

    @property
    def max_power_w(self) -> float:
        """Highest allowed set-point in W (head limit and soft limit, whichever is lower)."""
        return min(self.head_max_power_w, self.soft_max_power_w)

    # -- framing --------------------------------------------------------------------

    def _line(self, transport: Transport) -> str:
        line = self.read_reply(transport).strip()
        match = _ERR.match(line)
        if match:
            code = int(match.group(1))
            raise InstrumentCommandError(f"{self.name} answered {line}", ((code, line),))
        return line

    def _expect_ok(self, transport: Transport, command: str) -> None:
        line = self._line(transport)
        if line != "OK":
            raise InstrumentProtocolError(
                f"{self.name}: expected OK after {command!r}, got {line!r}"
            )

    def write(self, command: str, *, idempotent: bool = False) -> None:
        """Send a command and wait for its ``OK`` (``ERR-xxx`` raises)."""
        data = self._encode(command)
        self._log_debug("write", data)
        self._exchange(
            (data,),
            lambda t: self._expect_ok(t, command),
            idempotent=idempotent,
            what=command,
        )

    def query(self, command: str, parser: Any = None, *, idempotent: bool = True) -> Any:
        """Send a query, read ``<value>`` then ``OK``, parse the value."""
        data = self._encode(command)

        def read(transport: Transport) -> Any:
            value = self._line(transport)
            self._expect_ok(transport, command)
            self._log_debug("query", data, value)
            return self._parse_reply(value, parser)

        return self._exchange((data,), read, idempotent=idempotent, what=command)

    def _log_debug(self, kind: str, data: bytes, reply: str | None = None) -> None:
        if self._log.isEnabledFor(10):
            if reply is None:
                self._log.debug("%s %s %r", self.name, kind, data)
            else:
                self._log.debug("%s %s %r -> %r", self.name, kind, data, reply)

    def _on_connect(self) -> None:
        transport = self._transport
        transport.write(self._encode("SYST:COMM:HAND ON"))
        transport.write(self._encode("SYST:COMM:HAND?"))
        # The switch itself may or may not be acknowledged; the query answers ON, OK.
        # Lines before that (a late reply from before a reconnect) are stale: skip them.
        for _ in range(16):
            line = self._line(transport)
            if line == "ON":
                self._expect_ok(transport, "SYST:COMM:HAND?")
                break
            if line != "OK":
                self._log.warning("%s: skipped stale line %r at connect", self.name, line)
        else:
            raise InstrumentProtocolError(f"{self.name}: handshaking did not switch on")
        self.head_min_power_w = self.query("SOUR:POW:LIM:LOW?", parser=float)
        self.head_max_power_w = self.query("SOUR:POW:LIM:HIGH?", parser=float)

    # -- commands -------------------------------------------------------------------

    def identify(self) -> str:
        """The ``*IDN?`` text."""
        return self.query("*IDN?").strip()

    def set_mode(self, mode: str) -> None:
        """CWP / CWC (internal) or DIG / ANAL / MIX (external modulation)."""
        upper = mode.upper()
        if upper in ("CWP", "CWC"):
            self.write(f"SOUR:AM:INT {upper}", idempotent=True)
        elif upper in ("DIG", "ANAL", "MIX"):
            self.write(f"SOUR:AM:EXT {upper}", idempotent=True)
        else:
            raise ParameterValidationError(f"mode {mode!r}: allowed CWP, CWC, DIG, ANAL, MIX")

    def errors(self) -> list[tuple[int, str]]:
        """Drain the error queue (``SYST:ERR:COUN?`` then ``SYST:ERR:NEX?``)."""
        count = self.query("SYST:ERR:COUN?", parser=lambda r: int(float(r)))
        found = []
        for _ in range(count):
            reply = self.query("SYST:ERR:NEX?")
            code_text, _, message = reply.partition(",")
            found.append((int(code_text), message.strip().strip('"')))
        return found

    def safe_state(self) -> None:
        """Emission off (``SOUR:AM:STAT OFF``)."""
        self.emission = False
