r"""Toptica DLC pro diode-laser controller: the DeCoF command line (TCP port 1998).

Framing (``toptica-lasersdk`` 1.4.0): on connect the device sends a banner ending with
the prompt ``"\\n> "``; each command is one newline-terminated s-expression and every
reply ends with ``"\\n> "``. ``(param-ref 'name)`` answers the value (``#t``/``#f``, a
number, ``"string"``); ``(param-set! 'name value)`` answers an integer status, ``0`` on
success; ``(exec 'name args…)`` answers optional output lines, then a value. A reply
starting ``Error:`` is an error (``Error: <code> <text>``), raised here as
:class:`~drivers.errors.InstrumentCommandError`.

Only the TCP command line is supported: the serial variant echoes commands and ends
replies with ``"\\r\\n> "``, and the monitoring line (port 1999) pushes values; neither is
implemented.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from drivers.base import Choice, Instrument, Parameter, Range
from drivers.errors import InstrumentCommandError, InstrumentProtocolError

__all__ = ["TopticaDLCPro", "decode_decof", "encode_decof"]

_ERROR = re.compile(r"^\s*Error:\s*(-?\d+)?\s*(.*)$", re.DOTALL)


def encode_decof(value: Any) -> str:
    """A Python value as a DeCoF literal: ``#t``/``#f``, numbers, quoted strings."""
    if isinstance(value, bool):
        return "#t" if value else "#f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"cannot encode {value!r} as a DeCoF value")


def decode_decof(text: str) -> bool | int | float | str:
    """A DeCoF reply value: ``#t`` → True, ``12`` → 12, ``1.5`` → 1.5, ``"x"`` → ``x``."""
    text = text.strip()
    if text == "#t":
        return True
    if text == "#f":
        return False
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise InstrumentProtocolError(f"{text!r} is not a DeCoF value") from None


def _as_bool(text: str) -> bool:
    value = decode_decof(text)
    if not isinstance(value, bool):
        raise InstrumentProtocolError(f"expected #t/#f, got {text!r}")
    return value


def _as_float(text: str) -> float:
    value = decode_decof(text)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InstrumentProtocolError(f"expected a number, got {text!r}")
    return float(value)


def _as_str(text: str) -> str:
    value = decode_decof(text)
    if not isinstance(value, str):
        raise InstrumentProtocolError(f"expected a quoted string, got {text!r}")
    return value


class DecofParameter(Parameter[Any]):
    """A DeCoF parameter by its dotted name (``laser1:dl:cc:current-set``)."""

    def __init__(self, decof_name: str, *, writable: bool = True, **kwargs: Any) -> None:
        super().__init__(
            f"(param-ref '{decof_name})",
            f"(param-set! '{decof_name} {{}})" if writable else None,
            formatter=encode_decof,
            **kwargs,
        )
        self.decof_name = decof_name


class TopticaDLCPro(Instrument):
    """Toptica DLC pro (one laser head, ``laser1``) over its TCP command line.

    ``max_current_ma``: soft limit on the diode current set-point (set it to the diode's
    data-sheet maximum; the controller also clips at ``laser1:dl:cc:current-clip``).
    """

    emulator_name: ClassVar[str] = "toptica_dlcpro"
    write_termination: ClassVar[bytes] = b"\n"
    read_termination: ClassVar[bytes] = b"\n> "

    emission = DecofParameter(
        "laser1:emission",
        writable=False,
        parser=_as_bool,
        doc="Whether the laser emits (key switch, interlock and current on); no unit.",
    )
    current_enabled = DecofParameter(
        "laser1:dl:cc:enabled",
        parser=_as_bool,
        validator=Choice((True, False)),
        doc="Whether the diode current driver is on (True/False); no unit.",
    )
    current_set_ma = DecofParameter(
        "laser1:dl:cc:current-set",
        parser=_as_float,
        validator=Range(0.0, "max_current_ma", "mA"),
        unit="mA",
        doc="Diode current set-point in mA (0 … max_current_ma).",
    )
    current_act_ma = DecofParameter(
        "laser1:dl:cc:current-act",
        writable=False,
        parser=_as_float,
        unit="mA",
        doc="Measured diode current in mA.",
    )
    piezo_voltage_set_v = DecofParameter(
        "laser1:dl:pc:voltage-set",
        parser=_as_float,
        validator=Range(-1.0, 140.0, "V"),
        unit="V",
        doc="Piezo voltage set-point in V (−1 … 140 V).",
    )
    piezo_voltage_act_v = DecofParameter(
        "laser1:dl:pc:voltage-act",
        writable=False,
        parser=_as_float,
        unit="V",
        doc="Measured piezo voltage in V.",
    )
    temperature_set_c = DecofParameter(
        "laser1:dl:tc:temp-set",
        parser=_as_float,
        validator=Range(15.0, 40.0, "°C"),
        unit="°C",
        doc="Diode temperature set-point in °C (15 … 40 °C).",
    )
    temperature_act_c = DecofParameter(
        "laser1:dl:tc:temp-act",
        writable=False,
        parser=_as_float,
        unit="°C",
        doc="Measured diode temperature in °C.",
    )
    scan_enabled = DecofParameter(
        "laser1:scan:enabled",
        parser=_as_bool,
        validator=Choice((True, False)),
        doc="Whether the piezo scan runs (True/False); no unit.",
    )
    scan_frequency_hz = DecofParameter(
        "laser1:scan:frequency",
        parser=_as_float,
        validator=Range(0.02, 400.0, "Hz"),
        unit="Hz",
        doc="Scan frequency in Hz (0.02 … 400 Hz).",
    )
    scan_amplitude_v = DecofParameter(
        "laser1:scan:amplitude",
        parser=_as_float,
        validator=Range(0.0, 140.0, "V"),
        unit="V",
        doc="Scan amplitude (peak to peak) in V (0 … 140 V).",
    )
    lock_enabled = DecofParameter(
        "laser1:dl:lock:lock-enabled",
        parser=_as_bool,
        validator=Choice((True, False)),
        doc="Whether the frequency lock is engaged (True/False); no unit.",
    )

    def __init__(
        self,
        resource: str,
        *,
        max_current_ma: float = 250.0,
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
        if not max_current_ma > 0:
            raise ValueError(f"max_current_ma must be > 0 mA, got {max_current_ma}")
        self.max_current_ma = max_current_ma
        self.banner = ""

    def _on_connect(self) -> None:
        # The greeting ends with the prompt; read past it so replies line up.
        self.banner = self.read_reply(self._transport)

    def _check_reply(self, reply: str) -> str:
        match = _ERROR.match(reply)
        if match:
            code = int(match.group(1)) if match.group(1) else 0
            raise InstrumentCommandError(
                f"{self.name}: {reply.strip()}", ((code, match.group(2).strip()),)
            )
        return reply

    def _apply_set(self, command: str, parameter: Parameter[Any], value: Any) -> None:
        status = self.query(command, parser=_as_int_status, idempotent=parameter.idempotent_set)
        if status != 0:
            raise InstrumentCommandError(
                f"{self.name}: {command} returned status {status}", ((status, command),)
            )

    def param_ref(self, decof_name: str) -> bool | int | float | str:
        """Read any parameter by name (decoded DeCoF value)."""
        return self.query(f"(param-ref '{decof_name})", parser=decode_decof)

    def param_set(self, decof_name: str, value: bool | int | float | str) -> None:
        """Set any parameter by name (absolute value: retried after a dropped link)."""
        command = f"(param-set! '{decof_name} {encode_decof(value)})"
        status = self.query(command, parser=_as_int_status)
        if status != 0:
            raise InstrumentCommandError(f"{self.name}: {command} returned status {status}")

    def exec(self, command: str, *args: bool | int | float | str) -> str:
        """``(exec 'command args…)``: returns the whole reply text. Never retried."""
        arguments = "".join(" " + encode_decof(a) for a in args)
        return self.query(f"(exec '{command}{arguments})", idempotent=False)

    def safe_state(self) -> None:
        """Standby: scan off, diode current driver off (emission stops)."""
        self.scan_enabled = False
        self.current_enabled = False


def _as_int_status(text: str) -> int:
    value = decode_decof(text.strip().splitlines()[-1] if text.strip() else text)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InstrumentProtocolError(f"expected an integer status, got {text!r}")
    return value
