r"""Emulated Coherent OBIS LX/LS laser (USB virtual COM or RS-232; a pty here).

Protocol per INSTRUMENTS.md A2 (qudi, micro-manager, PYME drivers): SCPI-like commands;
input lines end with CR, LF or CR LF (micro-manager sends CR alone), replies end with
``\r\n``.

**Handshaking** (``SYST:COMM:HAND ON|OFF``; power-on value :attr:`OBISConfig.handshake`,
default ON as the OBIS manual ships it): with it ON every command is answered with
``OK\r\n`` and a query with ``<value>\r\nOK\r\n``; with it OFF a setter answers
nothing and a query only ``<value>\r\n``. The reply to ``SYST:COMM:HAND`` itself follows
the *new* setting (the firmware answers after executing). A command that fails is answered
``ERR-xxx\r\n`` in both modes (instead of the value and ``OK``) and queued for
``SYST:ERR:NEX?`` (``<code>,"<message>"``) and ``SYST:ERR:COUN?``; ``SYST:ERR:CLE`` empties
the queue. Error codes from the OBIS manual: ``-100`` unrecognised command, ``-102`` syntax
error, ``-109`` parameter missing, ``-220`` invalid parameter (e.g. out of range), ``-221``
settings conflict (emission with the interlock open), ``-400`` query unavailable.
``SYST:COMM:PROM`` is stored but no prompt is emitted.

Power is in watts (``SOUR:POW:LEV:IMM:AMPL 0.025`` = 25 mW). With ``SYST:CDRH ON`` (the
power-on value) emission starts :attr:`OBISConfig.cdrh_delay_s` after ``SOUR:AM:STAT ON``
(5 s on the real laser; shorter here by configuration). Heads behind a Remote are addressed
``SOUR1:``/``SYST1:``; this emulates head 1.

Hooks: :meth:`set_interlock` (``SYST:LOCK?``), :meth:`output_power_w` for the virtual lab.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from virtual_device.instruments._framework import Emulator, Session, ascii_text
from virtual_device.instruments._scpi import (
    ErrorQueue,
    ScpiCommandSet,
    ScpiError,
    parse_bool,
    parse_choice,
    parse_float,
)

__all__ = ["CoherentOBISEmulator", "OBISConfig", "OBISState"]

_OBIS_MESSAGES = {
    -100: "Unrecognized command/query",
    -102: "Syntax error",
    -109: "Parameter missing",
    -203: "Command protected",
    -220: "Invalid parameter",
    -221: "Settings conflict",
    -400: "Query unavailable",
}
# SCPI codes raised by the shared parsers, mapped onto the OBIS list.
_TO_OBIS = {-113: -100, -104: -220, -114: -100, -222: -220, -224: -220}


@dataclass(frozen=True)
class OBISConfig:
    """The head's identity and limits (defaults: OBIS 637 nm LX 100 mW)."""

    wavelength_nm: int = 637
    nominal_power_w: float = 0.100
    min_power_w: float = 0.0
    max_power_w: float = 0.110
    serial_number: str = "123456"
    firmware: str = "V3.1.1"
    part_number: str = "1178767"
    handshake: bool = True
    cdrh: bool = True
    cdrh_delay_s: float = 5.0
    base_temperature_c: float = 25.1
    diode_temperature_c: float = 24.9


@dataclass
class OBISState:
    """Settings of the head (power in W)."""

    power_setpoint_w: float = 0.0
    emission: bool = False
    emission_requested_at: float = 0.0
    source: str = "CWP"
    handshake: bool = True
    prompt: bool = False
    cdrh: bool = True
    autostart: bool = False


class CoherentOBISEmulator(Emulator):
    r"""A Coherent OBIS on a pty (``ASRL/dev/pts/N::INSTR``); replies end ``\r\n``."""

    name = "coherent_obis"
    default_transport = "pty"
    terminators = b"\r\n"
    reply_terminator = b"\r\n"

    def __init__(self, *, config: OBISConfig | None = None, **kwargs: Any) -> None:
        self.config = config or OBISConfig()
        self.state = OBISState()
        self.errors = ErrorQueue(20, signed_zero=False)
        #: Interlock loop closed (``SYST:LOCK?`` → ``ON``); emission needs it.
        self.interlock_closed = True
        self.commands = ScpiCommandSet()
        self._build_commands()
        super().__init__(**kwargs)

    def reset_state(self) -> None:
        """Power-on settings: emission off, handshaking and CDRH as configured."""
        cfg = self.config
        self.state = OBISState(handshake=cfg.handshake, cdrh=cfg.cdrh)
        self.errors.clear()

    # -- physics hooks ------------------------------------------------------------------------

    def output_power_w(self) -> float:
        """The optical power leaving the head now (W)."""
        st = self.state
        if not st.emission or not self.interlock_closed:
            return 0.0
        delay = self.config.cdrh_delay_s if st.cdrh else 0.0
        if time.monotonic() - st.emission_requested_at < delay:
            return 0.0
        return st.power_setpoint_w

    def set_interlock(self, closed: bool) -> None:
        """Open or close the interlock; opening it stops emission."""
        with self.lock:
            self.interlock_closed = closed
            if not closed and self.state.emission:
                self._set("emission", False)

    # -- protocol -----------------------------------------------------------------------------

    def execute(self, session: Session, message: bytes) -> bytes | None:
        """One command; replies per the handshaking mode (see the module docstring)."""
        text = message.decode("latin-1").strip()
        header, _, args = text.partition(" ")
        try:
            value = self.commands.dispatch(header, args.strip())
        except ScpiError as error:
            code = _TO_OBIS.get(error.code, error.code)
            message_text = _OBIS_MESSAGES.get(code, error.message)
            detail = f"; {error.detail}" if error.detail else ""
            self.errors.push(code, message_text + detail)
            self.record_error(f"ERR{code} {message_text}{detail}")
            return f"ERR{code}".encode() + self.reply_terminator
        lines = []
        if header.endswith("?") and value is not None:
            lines.append(value if isinstance(value, str) else value.decode("latin-1"))
        if self.state.handshake:
            lines.append("OK")
        if not lines:
            return None
        return ascii_text("".join(line + "\r\n" for line in lines)).encode()

    def _set(self, attr: str, value: object) -> None:
        old = getattr(self.state, attr)
        setattr(self.state, attr, value)
        self.notify(attr, old, value)

    def _build_commands(self) -> None:
        add = self.commands.add
        cfg = self.config
        on_off = {"ON": "ON", "OFF": "OFF"}

        def flag(value: bool) -> str:
            return "ON" if value else "OFF"

        add(
            "*IDN",
            query=lambda a, s: (
                f"Coherent, Inc - OBIS {cfg.wavelength_nm}nm {cfg.nominal_power_w * 1e3:.0f}mW LX "
                f"- {cfg.firmware} - Jan 17 2013"
            ),
        )
        add("*RST", set=lambda a, s: self.reset_state())
        add(
            "SYSTem#:INFormation:MODel",
            query=lambda a, s: f"OBIS {cfg.wavelength_nm}nm LX {cfg.nominal_power_w * 1e3:.0f}mW",
        )
        add("SYSTem#:INFormation:SNUMber", query=lambda a, s: cfg.serial_number)
        add("SYSTem#:INFormation:WAVelength", query=lambda a, s: f"{cfg.wavelength_nm}")
        add("SYSTem#:INFormation:POWer", query=lambda a, s: f"{cfg.nominal_power_w:.3f}")
        add("SYSTem#:INFormation:FVERsion", query=lambda a, s: cfg.firmware)
        add("SYSTem#:INFormation:PNUMber", query=lambda a, s: cfg.part_number)
        add("SYSTem#:INFormation:TYPe", query=lambda a, s: "DDL")
        add(
            "SOURce#:POWer:LEVel:IMMediate:AMPLitude",
            set=self._set_power,
            query=lambda a, s: f"{self.state.power_setpoint_w:.5f}",
        )
        add("SOURce#:POWer:LEVel", query=lambda a, s: f"{self.output_power_w():.5f}")
        add("SOURce#:POWer:NOMinal", query=lambda a, s: f"{cfg.nominal_power_w:.5f}")
        add("SOURce#:POWer:LIMit:LOW", query=lambda a, s: f"{cfg.min_power_w:.5f}")
        add("SOURce#:POWer:LIMit:HIGH", query=lambda a, s: f"{cfg.max_power_w:.5f}")
        add(
            "SOURce#:AM:STATe", set=self._set_emission, query=lambda a, s: flag(self.state.emission)
        )
        add(
            "SOURce#:AM:INTernal",
            set=lambda a, s: self._set(
                "source", parse_choice(a, "internal mode", {"CWP": "CWP", "CWC": "CWC"})
            ),
        )
        add(
            "SOURce#:AM:EXTernal",
            set=lambda a, s: self._set(
                "source",
                parse_choice(
                    a,
                    "external mode",
                    {
                        "DIG": "DIGITAL",
                        "DIGITAL": "DIGITAL",
                        "ANAL": "ANALOG",
                        "ANALOG": "ANALOG",
                        "MIX": "MIXED",
                        "MIXED": "MIXED",
                    },
                ),
            ),
        )
        add("SOURce#:AM:SOURce", query=lambda a, s: self.state.source)
        add("SOURce#:TEMPerature:BASeplate", query=lambda a, s: f"{cfg.base_temperature_c:.2f}C")
        add("SOURce#:TEMPerature:DIODe", query=lambda a, s: f"{cfg.diode_temperature_c:.2f}C")
        add("SYSTem#:STATus", query=lambda a, s: self._status_word())
        add("SYSTem#:FAULt", query=lambda a, s: "00000000" if self.interlock_closed else "00000200")
        add(
            "SYSTem#:CDRH",
            set=lambda a, s: self._set("cdrh", parse_bool(a, "CDRH")),
            query=lambda a, s: flag(self.state.cdrh),
        )
        add(
            "SYSTem#:AUTostart",
            set=lambda a, s: self._set("autostart", parse_bool(a, "AUT")),
            query=lambda a, s: flag(self.state.autostart),
        )
        add("SYSTem#:LOCK", query=lambda a, s: flag(self.interlock_closed))
        add(
            "SYSTem#:COMMunicate:HANDshaking",
            set=lambda a, s: self._set("handshake", parse_choice(a, "handshaking", on_off) == "ON"),
            query=lambda a, s: flag(self.state.handshake),
        )
        add(
            "SYSTem#:COMMunicate:PROMpt",
            set=lambda a, s: self._set("prompt", parse_choice(a, "prompt", on_off) == "ON"),
            query=lambda a, s: flag(self.state.prompt),
        )
        add("SYSTem#:ERRor:COUNt", query=lambda a, s: str(len(self.errors)))
        add("SYSTem#:ERRor:NEXt", query=lambda a, s: self.errors.pop_formatted())
        add("SYSTem#:ERRor:CLEar", set=lambda a, s: self.errors.clear())

    def _status_word(self) -> str:
        bits = 0
        if self.state.emission:
            bits |= 0x1
        if not self.interlock_closed:
            bits |= 0x200
        return f"{bits:08X}"

    def _set_power(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        self._check_head(suffixes)
        cfg = self.config
        value = parse_float(args, "power set-point", cfg.min_power_w, cfg.max_power_w, unit=" W")
        self._set("power_setpoint_w", value)

    def _set_emission(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        self._check_head(suffixes)
        on = parse_bool(args, "emission")
        if on and not self.interlock_closed:
            raise ScpiError(-221, "interlock open")
        if on and not self.state.emission:
            self._set("emission_requested_at", time.monotonic())
        self._set("emission", on)

    @staticmethod
    def _check_head(suffixes: tuple[int | None, ...]) -> None:
        if suffixes and suffixes[0] not in (None, 1):
            raise ScpiError(-100, f"no head {suffixes[0]}")
