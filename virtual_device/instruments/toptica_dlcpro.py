r"""Emulated Toptica DLC pro laser controller: the DeCoF command line (TCP port 1998 in a lab).

Protocol per INSTRUMENTS.md A3 and Toptica's ``toptica-lasersdk`` 1.4.0 (``client.py``,
``async/connection.py``): on connect the device sends a banner ending in the prompt
``"\n> "``; each command is one newline-terminated s-expression and every reply ends with
``"\n> "`` (the SDK reads until ``b"\n> "``).

- ``(param-ref 'name)`` → the value: ``#t``/``#f``, a number, ``"string"``.
- ``(param-set! 'name value)`` → ``0`` (the SDK raises on a non-zero status).
- ``(exec 'name args…)`` → the command's output lines, then its return value.
- ``(param-disp 'prefix)`` → ``name = value`` lines for every parameter under ``prefix``.

Errors are replies starting ``Error:`` (the SDK's ``decode_value`` raises ``DecofError`` on
them). The real firmware's error numbers are not in the sources; this emulator uses
``Error: -1 syntax error``, ``-2 unknown parameter``, ``-3 parameter is read-only``,
``-4 wrong type``, ``-5 value out of range`` and ``-6 unknown command``, followed by the
details. The command line over TCP (no echo, banner on every connection), the monitoring
line, and the command line over serial (``transport="pty"``) are emulated. On serial, as
the SDK's ``SerialConnection`` expects: the banner goes out once at power-on; the device
echoes every byte (CR/LF as CR LF) until it receives Ctrl-R (``\x12``, echo off); Ctrl-C
(``\x03``) cancels a partial command and sends a fresh prompt; replies end ``\r\n> ``.

Monitoring line (port 1999 in a lab; :attr:`TopticaDLCProEmulator.monitoring_resource`
here): no banner; a client sends ``(add 'name)\r\n`` or ``(remove 'name)\r\n`` and the
device pushes ``(<ISO timestamp> 'name value)\r\n`` at once and on every change, or
``(Error: -2 (<timestamp> 'name) unknown parameter)\r\n`` (the formats the SDK's
``parse_monitoring_line`` reads).

Physics hooks: :attr:`interlock_closed` and :attr:`key_switch_on` gate emission
(``laser1:emission``); the actual current, voltage and temperature follow the set values.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from virtual_device.errors import EmulatorError
from virtual_device.instruments._framework import (
    Emulator,
    Link,
    Session,
    StateChange,
    _TcpServer,
    ascii_text,
)

__all__ = ["DecofParameter", "TopticaDLCProEmulator", "TopticaDLCProState"]

_TOKEN = re.compile(r'\s*(?:(\()|(\))|(\')|("(?:\\.|[^"\\])*")|([^\s()\'"]+))')


@dataclass
class DecofParameter:
    """One DeCoF parameter: its value, type, whether writable, and its range."""

    value: Any
    kind: type
    writable: bool = True
    low: float | None = None
    high: float | None = None
    unit: str = ""


def _default_parameters(serial: str) -> dict[str, DecofParameter]:
    p = DecofParameter
    return {
        "system-type": p("DLCpro", str, writable=False),
        "serial-number": p(serial, str, writable=False),
        "fw-ver": p("2.6.1", str, writable=False),
        "ul": p(1, int, writable=False),
        "emission": p(False, bool, writable=False),
        "laser1:type": p("DL pro", str, writable=False),
        "laser1:emission": p(False, bool, writable=False),
        "laser1:dl:cc:enabled": p(False, bool),
        "laser1:dl:cc:current-set": p(0.0, float, low=0.0, high=250.0, unit="mA"),
        "laser1:dl:cc:current-act": p(0.0, float, writable=False, unit="mA"),
        "laser1:dl:cc:current-clip": p(180.0, float, low=0.0, high=250.0, unit="mA"),
        "laser1:dl:pc:enabled": p(True, bool),
        "laser1:dl:pc:voltage-set": p(70.0, float, low=-1.0, high=140.0, unit="V"),
        "laser1:dl:pc:voltage-act": p(70.0, float, writable=False, unit="V"),
        "laser1:dl:tc:temp-set": p(20.0, float, low=15.0, high=40.0, unit="°C"),
        "laser1:dl:tc:temp-act": p(20.0, float, writable=False, unit="°C"),
        "laser1:dl:tc:ready": p(True, bool, writable=False),
        "laser1:scan:enabled": p(False, bool),
        "laser1:scan:frequency": p(10.0, float, low=0.02, high=400.0, unit="Hz"),
        "laser1:scan:amplitude": p(1.0, float, low=0.0, high=140.0, unit="V"),
        "laser1:scan:offset": p(70.0, float, low=-1.0, high=140.0, unit="V"),
        "laser1:dl:lock:lock-enabled": p(False, bool),
    }


@dataclass
class TopticaDLCProState:
    """Every parameter by its DeCoF name."""

    parameters: dict[str, DecofParameter] = field(default_factory=dict)

    def value(self, name: str) -> Any:
        """The value of parameter ``name``."""
        return self.parameters[name].value


class _DecofError(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"Error: {code} {text}")


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        return "#t" if value else "#f"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return repr(round(value, 9))
    if isinstance(value, tuple | list):
        return "'(" + " ".join(_encode(v) for v in value) + ")"
    return str(value)


def _parse(text: str) -> Any:
    """Parse one s-expression into lists, ``("quote", x)``, strings and atoms."""
    tokens: list[tuple[str, str]] = []
    at = 0
    text = text.strip()
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            raise _DecofError(-1, f"syntax error at {text[at : at + 20]!r}")
        at = match.end()
        kinds = ("(", ")", "'", "str", "atom")
        for kind, group in zip(kinds, match.groups()):
            if group is not None:
                tokens.append((kind, group))
                break
    position = 0

    def read() -> Any:
        nonlocal position
        if position >= len(tokens):
            raise _DecofError(-1, "syntax error: unexpected end of expression")
        kind, token = tokens[position]
        position += 1
        if kind == "(":
            items = []
            while position < len(tokens) and tokens[position][0] != ")":
                items.append(read())
            if position >= len(tokens):
                raise _DecofError(-1, "syntax error: missing ')'")
            position += 1
            return items
        if kind == ")":
            raise _DecofError(-1, "syntax error: unexpected ')'")
        if kind == "'":
            return ("quote", read())
        if kind == "str":
            return bytes(token[1:-1], "latin-1").decode("unicode_escape")
        return _atom(token)

    result = read()
    if position != len(tokens):
        raise _DecofError(-1, "syntax error: text after the expression")
    return result


def _atom(token: str) -> Any:
    if token in ("#t", "#T"):
        return True
    if token in ("#f", "#F"):
        return False
    try:
        return int(token)
    except ValueError:
        pass
    try:
        return float(token)
    except ValueError:
        return ("symbol", token)


def _name(form: Any, what: str) -> str:
    if isinstance(form, tuple) and form[0] == "quote":
        inner = form[1]
        if isinstance(inner, tuple) and inner[0] == "symbol":
            return str(inner[1])
    raise _DecofError(-1, f"syntax error: {what} must be a quoted name like 'laser1:emission")


class _DecofSession(Session):
    def opened(self) -> None:
        emulator = self.emulator
        assert isinstance(emulator, TopticaDLCProEmulator)
        self.link.send(emulator.banner().encode() + emulator.reply_terminator)


class _DecofSerialSession(Session):
    r"""The serial command line: echo (off with Ctrl-R), Ctrl-C cancels, ``\r\n> `` prompts."""

    def __init__(self, emulator: TopticaDLCProEmulator, link: Link) -> None:
        super().__init__(emulator, link)
        self.dlc = emulator

    def feed(self, data: bytes) -> None:
        generation = self._generation
        for index, byte in enumerate(data):
            if generation != self._generation:
                return
            if byte == 0x12:  # Ctrl-R: echo off
                self.dlc.serial_echo = False
                continue
            if byte == 0x03:  # Ctrl-C: cancel the interpreter state, new prompt
                self.splitter.reset()
                self.link.send(b"\r\n> ")
                continue
            if self.dlc.serial_echo:
                self.link.send(b"\r\n" if byte in (0x0A, 0x0D) else bytes([byte]))
            for message in self.splitter.feed(data[index : index + 1]):
                self.emulator.process(self, message)


class _MonitoringSession(Session):
    """The monitoring line: ``(add 'name)`` / ``(remove 'name)``; values are pushed."""

    def __init__(self, emulator: TopticaDLCProEmulator, link: Link) -> None:
        super().__init__(emulator, link)
        self.dlc = emulator
        self.names: set[str] = set()

    def feed(self, data: bytes) -> None:
        for message in self.splitter.feed(data):
            text = message.decode("latin-1").strip()
            with self.dlc.lock:
                self.dlc.monitor_command(self, text)


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class TopticaDLCProEmulator(Emulator):
    r"""A Toptica DLC pro command line on TCP (``TCPIP::127.0.0.1::<port>::SOCKET``).

    Clients read until ``"\n> "``; write ``(…)\n``.
    """

    name = "toptica_dlcpro"
    default_transport = "tcp"
    terminators = b"\r\n"
    reply_terminator = b"\n> "

    def __init__(
        self, *, serial_number: str = "DLCpro_000123", monitoring_port: int = 0, **kwargs: Any
    ) -> None:
        self.serial_number = serial_number
        self.state = TopticaDLCProState()
        self._monitoring_port_requested = monitoring_port
        self._monitoring: _TcpServer | None = None
        self._monitors: list[_MonitoringSession] = []
        self._monitors_lock = threading.Lock()
        #: Physics/safety hooks: emission needs both.
        self.interlock_closed = True
        self.key_switch_on = True
        super().__init__(**kwargs)
        self.on_change(self._push)
        self.faults.add_drop_target(self._drop_monitors)

    def _drop_monitors(self) -> None:
        if self._monitoring is not None:
            self._monitoring.drop_all()

    def power_cycle(self) -> None:
        """Power off and on: the monitoring line drops too; serial echo is back on."""
        self._drop_monitors()
        super().power_cycle()
        self._serial_banner()

    def reset_state(self) -> None:
        """Power-on parameters (emission off, current 0 mA); serial echo on."""
        self.state = TopticaDLCProState(_default_parameters(self.serial_number))
        #: Serial line only: the device echoes what it receives until Ctrl-R (0x12).
        self.serial_echo = True

    # -- monitoring line (port 1999 in a lab) ---------------------------------------------------

    def started(self) -> None:
        """Open the monitoring line on its own TCP port; on a serial line, greet once."""
        server = _TcpServer(self, self.host, self._monitoring_port_requested, self._new_monitor)
        server.start(f"{self.name}-monitoring")
        self._monitoring = server
        self._serial_banner()

    def _serial_banner(self) -> None:
        # A serial line has no connection: the banner goes out once at power-on and waits
        # in the line's buffer for whoever opens the port.
        link = self._serial_link()
        if link is not None:
            link.send(self.banner().replace("\n", "\r\n").encode() + b"\r\n> ")

    def _serial_link(self) -> Link | None:
        server = self._server
        session = getattr(server, "_session", None)
        return session.link if session is not None and self.transport == "pty" else None

    def stopped(self) -> None:
        """Close the monitoring line."""
        server, self._monitoring = self._monitoring, None
        if server is not None:
            server.stop()

    @property
    def monitoring_resource(self) -> str:
        """The monitoring line's resource string (``TCPIP::127.0.0.1::<port>::SOCKET``)."""
        if self._monitoring is None:
            raise EmulatorError(f"{self.name}: not started; call start() first")
        return f"TCPIP::{self.host}::{self._monitoring.port}::SOCKET"

    @property
    def endpoints(self) -> dict[str, str]:
        """The command line and the monitoring line."""
        return {**super().endpoints, "monitoring": self.monitoring_resource}

    def _new_monitor(self, link: Link) -> Session:
        session = _MonitoringSession(self, link)
        with self._monitors_lock:
            self._monitors = [m for m in self._monitors if m.link.alive]
            self._monitors.append(session)
        return session

    def monitor_command(self, session: _MonitoringSession, text: str) -> None:
        """Handle ``(add 'name)`` / ``(remove 'name)`` from a monitoring client."""
        try:
            form = _parse(text)
            if not isinstance(form, list) or len(form) != 2 or not isinstance(form[0], tuple):
                raise _DecofError(-1, "syntax error: expected (add 'name) or (remove 'name)")
            head = form[0][1]
            name = _name(form[1], f"{head}'s argument")
        except _DecofError as error:
            session.link.send(f"({error} ({_timestamp()} '?) )\r\n".encode())
            return
        if name not in self.state.parameters:
            line = f"(Error: -2 ({_timestamp()} '{name}) unknown parameter)\r\n"
            session.link.send(ascii_text(line).encode())
            return
        if head == "add":
            session.names.add(name)
            self._send_value(session, name, self.state.parameters[name].value)
        elif head == "remove":
            session.names.discard(name)

    def _send_value(self, session: _MonitoringSession, name: str, value: Any) -> None:
        line = f"({_timestamp()} '{name} {_encode(value)})\r\n"
        session.link.send(ascii_text(line).encode())

    def _push(self, change: StateChange) -> None:
        with self._monitors_lock:
            monitors = [m for m in self._monitors if m.link.alive]
        for session in monitors:
            if change.path == "*":
                for name in sorted(session.names):
                    self._send_value(session, name, self.state.parameters[name].value)
            elif change.path in session.names:
                self._send_value(session, change.path, change.new)

    def banner(self) -> str:
        """The greeting sent on connect (ends with the prompt once sent)."""
        return (
            "DeCoF Command Line\n"
            f"{self.state.value('system-type')} {self.serial_number} "
            f"firmware {self.state.value('fw-ver')}\n"
            "Type '(help)' for help."
        )

    def new_session(self, link: Any) -> Session:
        """A command-line session: TCP greets each client; serial echoes (see the module)."""
        if self.transport == "pty":
            return _DecofSerialSession(self, link)
        return _DecofSession(self, link)

    def _update_derived(self) -> None:
        params = self.state.parameters
        enabled = bool(params["laser1:dl:cc:enabled"].value)
        emission = enabled and self.interlock_closed and self.key_switch_on
        self._assign("laser1:emission", emission)
        self._assign("emission", emission)
        current = min(
            params["laser1:dl:cc:current-set"].value, params["laser1:dl:cc:current-clip"].value
        )
        self._assign("laser1:dl:cc:current-act", float(current) if emission else 0.0)
        self._assign("laser1:dl:pc:voltage-act", float(params["laser1:dl:pc:voltage-set"].value))
        self._assign("laser1:dl:tc:temp-act", float(params["laser1:dl:tc:temp-set"].value))

    def _assign(self, name: str, value: Any) -> None:
        param = self.state.parameters[name]
        old = param.value
        if old != value:
            param.value = value
            self.notify(name, old, value)

    def set_interlock(self, closed: bool) -> None:
        """Open or close the interlock (hook for the virtual lab's safety chain)."""
        with self.lock:
            self.interlock_closed = closed
            self._update_derived()

    def execute(self, session: Session, message: bytes) -> bytes | None:
        """Evaluate one s-expression; every reply ends with the prompt."""
        text = message.decode("latin-1").strip()
        try:
            reply = self._evaluate(_parse(text))
        except _DecofError as error:
            self.record_error(str(error))
            reply = str(error)
        if self.transport == "pty":
            return ascii_text(reply).replace("\n", "\r\n").encode() + b"\r\n> "
        return ascii_text(reply).encode() + self.reply_terminator

    def _evaluate(self, form: Any) -> str:
        if not isinstance(form, list) or not form or not isinstance(form[0], tuple):
            raise _DecofError(-1, "syntax error: expected (command 'name …)")
        head = form[0][1] if form[0][0] == "symbol" else ""
        if head == "param-ref" and len(form) == 2:
            name = _name(form[1], "param-ref's argument")
            return _encode(self._param(name).value)
        if head == "param-set!" and len(form) == 3:
            return self._param_set(_name(form[1], "param-set!'s first argument"), form[2])
        if head == "param-disp" and len(form) == 2:
            prefix = _name(form[1], "param-disp's argument")
            lines = [
                f"{n} = {_encode(p.value)}"
                for n, p in self.state.parameters.items()
                if n == prefix or n.startswith(prefix + ":")
            ]
            if not lines:
                raise _DecofError(-2, f"unknown parameter {prefix}")
            return "\n".join(lines)
        if head == "exec" and len(form) >= 2:
            return self._exec(_name(form[1], "exec's argument"), form[2:])
        raise _DecofError(-6, f"unknown command {head or form[0]!r} with {len(form) - 1} arguments")

    def _param(self, name: str) -> DecofParameter:
        try:
            return self.state.parameters[name]
        except KeyError:
            raise _DecofError(-2, f"unknown parameter {name}") from None

    def _param_set(self, name: str, raw: Any) -> str:
        param = self._param(name)
        if not param.writable:
            raise _DecofError(-3, f"parameter is read-only: {name}")
        value = raw
        if param.kind is float and isinstance(raw, int | float) and not isinstance(raw, bool):
            value = float(raw)
        if not isinstance(value, param.kind) or (
            param.kind is not bool and isinstance(value, bool)
        ):
            raise _DecofError(
                -4,
                f"wrong type for {name}: expected {param.kind.__name__}, "
                f"got {_encode(raw) if not isinstance(raw, tuple) else raw}",
            )
        if (
            param.low is not None
            and param.high is not None
            and isinstance(value, int | float)
            and not (param.low <= value <= param.high)
        ):
            raise _DecofError(
                -5,
                f"value out of range: {name} = {value} outside "
                f"{param.low}…{param.high} {param.unit}".rstrip(),
            )
        self._assign(name, value)
        self._update_derived()
        return "0"

    def _exec(self, name: str, args: list[Any]) -> str:
        if name == "change-ul":
            if len(args) < 1 or not isinstance(args[0], int):
                raise _DecofError(-4, "change-ul needs a user level (integer)")
            level = args[0]
            if not 0 <= level <= 4:
                raise _DecofError(-5, f"user level {level} outside 0…4")
            self._assign("ul", level)
            return "0"
        if name == "laser1:dl:cc:reset-clip":
            self._assign("laser1:dl:cc:current-clip", 180.0)
            self._update_derived()
            return "0"
        raise _DecofError(-6, f"unknown command {name}")
