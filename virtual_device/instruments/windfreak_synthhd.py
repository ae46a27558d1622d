r"""Emulated Windfreak SynthHD / SynthHD PRO two-channel RF synthesiser (USB serial; a pty here).

Protocol per INSTRUMENTS.md A1 (Windfreak "SynthHD & HD PRO API Guide v1.0b",
``windfreak-python``, ``oxart-devices``): single-letter commands, each followed by its data
characters, with **no terminator**; a query is the letter and ``?``, answered with the
value and ``\n``; setters answer nothing.

Framing (INSTRUMENTS.md C6). A setter's data ends when the next command letter arrives or
after an idle gap with no input (:attr:`WindfreakConfig.idle_gap_s`, default 50 ms), so a
setter sent last is applied only after that gap. Data characters are digits, ``.`` and a
leading ``-``; anything else ends the command. Exponents therefore break it as on the
device: ``f1e3`` sets 1 MHz and then runs ``e`` (save to EEPROM). CR, LF and blanks end a
command too (lenient, as some drivers send a newline).

Commands: ``C`` channel (0 = A, 1 = B), ``f`` frequency (MHz), ``W`` power (dBm), ``E`` PLL
power, ``r`` PA power, ``h`` output/mute bit, ``l``/``u``/``s``/``t`` sweep lower/upper/step
(MHz) and step time (ms, 4…10000), ``[``/``]`` sweep power low/high (dBm), ``^`` direction,
``g`` run sweep, ``c`` continuous sweep, ``X`` sweep type, ``x`` reference (0 external, 1
internal 27 MHz, 2 internal 10 MHz), ``*`` reference frequency (MHz), ``+`` model, ``-``
serial number, ``v0``/``v1``/``v2`` firmware/hardware/sub-version, ``p`` PLL lock, ``z``
temperature (°C), ``e`` save settings to EEPROM (restored by :meth:`power_cycle`).

The sources disagree on the ``h`` polarity; :attr:`WindfreakConfig.h_one_means_output_on`
picks it (default ``True``, as ``windfreak-python``). The device reports no errors: a value
outside the range is ignored (the state keeps its old value; the log records why), so a
driver must read back.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from virtual_device.instruments._framework import Emulator, Link, Session

__all__ = [
    "SynthChannelState",
    "WindfreakConfig",
    "WindfreakSynthHDEmulator",
    "WindfreakSynthHDState",
]

_DATA = frozenset(b"0123456789.")
_LETTERS = frozenset(b"CfWErhlust[]^gcXx*+-vpze")
_NO_DATA = frozenset(b"+-pze")


@dataclass(frozen=True)
class WindfreakConfig:
    """Model and limits (defaults: SynthHD v2, 10 MHz–15 GHz, −70…+20 dBm)."""

    model: str = "SynthHD"
    serial_number: int = 1234
    firmware: str = "3.22"
    hardware: str = "2.06"
    min_frequency_mhz: float = 10.0
    max_frequency_mhz: float = 15_000.0
    min_power_dbm: float = -70.0
    max_power_dbm: float = 20.0
    idle_gap_s: float = 0.05
    h_one_means_output_on: bool = True
    temperature_c: float = 32.5


@dataclass
class SynthChannelState:
    """One RF channel (frequency in MHz, power in dBm)."""

    frequency_mhz: float = 1000.0
    power_dbm: float = -10.0
    pll_on: bool = True
    pa_on: bool = True
    h_bit: int = 1
    sweep_low_mhz: float = 100.0
    sweep_high_mhz: float = 200.0
    sweep_step_mhz: float = 1.0
    sweep_step_time_ms: float = 10.0
    sweep_power_low_dbm: float = -10.0
    sweep_power_high_dbm: float = -10.0


@dataclass
class WindfreakSynthHDState:
    """Both channels and the global settings."""

    channel: int = 0
    channels: list[SynthChannelState] = field(
        default_factory=lambda: [SynthChannelState(), SynthChannelState()]
    )
    sweep_running: bool = False
    sweep_direction: int = 1
    sweep_continuous: bool = False
    sweep_type: int = 0
    reference: int = 1
    reference_mhz: float = 27.0


class _WindfreakSession(Session):
    """Byte-by-byte framing: a command ends at the next letter or after the idle gap."""

    def __init__(self, emulator: WindfreakSynthHDEmulator, link: Link) -> None:
        super().__init__(emulator, link)
        self.idle_gap_s = emulator.config.idle_gap_s
        self._letter: int | None = None
        self._data = bytearray()

    def reset(self) -> None:
        super().reset()
        self._letter = None
        self._data.clear()

    def _finish(self) -> None:
        if self._letter is not None:
            message = bytes([self._letter]) + bytes(self._data)
            self._letter = None
            self._data.clear()
            self.emulator.process(self, message)

    def feed(self, data: bytes) -> None:
        generation = self._generation
        for byte in data:
            if generation != self._generation:
                return
            letter = self._letter
            if letter is not None and (
                byte in _DATA or (byte == 0x2D and not self._data and letter not in _NO_DATA)
            ):
                if letter == 0x76 and self._data:  # v takes one digit
                    self._finish()
                    continue
                self._data.append(byte)
                if letter == 0x76:
                    self._finish()
                continue
            if byte == 0x3F:  # '?'
                if letter is not None and not self._data:
                    self._data.append(byte)
                self._finish()
                continue
            self._finish()
            if byte in _LETTERS:
                self._letter = byte
                if byte in _NO_DATA:
                    # Queries without '?' (+, -, p, z) and the EEPROM save act at once; a
                    # following '?' is swallowed by the branch above (no letter pending).
                    self._finish()

    def idle(self) -> None:
        self._finish()


class WindfreakSynthHDEmulator(Emulator):
    """A Windfreak SynthHD on a pty (``ASRL/dev/pts/N::INSTR``); see the module docstring."""

    name = "windfreak_synthhd"
    default_transport = "pty"
    reply_terminator = b"\n"

    def __init__(self, *, config: WindfreakConfig | None = None, **kwargs: Any) -> None:
        self.config = config or WindfreakConfig()
        self.state = WindfreakSynthHDState()
        self._eeprom: WindfreakSynthHDState | None = None
        super().__init__(**kwargs)

    def reset_state(self) -> None:
        """Power-on state: the settings saved with ``e``, else the factory defaults."""
        saved = getattr(self, "_eeprom", None)
        self.state = copy.deepcopy(saved) if saved is not None else WindfreakSynthHDState()

    def new_session(self, link: Link) -> Session:
        """A session with the SynthHD's terminator-free framing."""
        return _WindfreakSession(self, link)

    def output_on(self, channel: int) -> bool:
        """Whether channel ``channel`` (0 = A, 1 = B) emits RF, given the ``h`` polarity."""
        ch = self.state.channels[channel]
        h_on = ch.h_bit == (1 if self.config.h_one_means_output_on else 0)
        return ch.pll_on and ch.pa_on and h_on

    def execute(self, session: Session, message: bytes) -> bytes | None:
        """Apply one command (letter + data) or answer one query."""
        letter = chr(message[0])
        data = message[1:].decode("latin-1")
        if data == "?" or letter in "+-pz" or letter == "v":
            reply = self._query(letter, data)
            return None if reply is None else reply.encode() + self.reply_terminator
        if letter == "e":
            self._eeprom = copy.deepcopy(self.state)
            return None
        if not data:
            self.record_error(f"{letter}: no value")
            return None
        try:
            value = float(data)
        except ValueError:
            self.record_error(f"{letter}{data}: not a number")
            return None
        self._apply(letter, value)
        return None

    def _channel(self) -> SynthChannelState:
        return self.state.channels[self.state.channel]

    def _query(self, letter: str, data: str) -> str | None:
        ch = self._channel()
        st = self.state
        cfg = self.config
        answers: dict[str, Any] = {
            "C": st.channel,
            "f": f"{ch.frequency_mhz:.8f}",
            "W": f"{ch.power_dbm:.3f}",
            "E": int(ch.pll_on),
            "r": int(ch.pa_on),
            "h": ch.h_bit,
            "l": f"{ch.sweep_low_mhz:.8f}",
            "u": f"{ch.sweep_high_mhz:.8f}",
            "s": f"{ch.sweep_step_mhz:.8f}",
            "t": f"{ch.sweep_step_time_ms:.3f}",
            "[": f"{ch.sweep_power_low_dbm:.3f}",
            "]": f"{ch.sweep_power_high_dbm:.3f}",
            "^": st.sweep_direction,
            "g": int(st.sweep_running),
            "c": int(st.sweep_continuous),
            "X": st.sweep_type,
            "x": st.reference,
            "*": f"{st.reference_mhz:.8f}",
            "+": cfg.model,
            "-": cfg.serial_number,
            "p": int(ch.pll_on),
            "z": f"{cfg.temperature_c:.2f}",
        }
        if letter == "v":
            versions = {
                "0": cfg.firmware,
                "1": cfg.hardware,
                "2": "HDPRO" if "PRO" in cfg.model.upper() else "HD",
            }
            if data not in versions:
                self.record_error(f"v{data}: allowed v0, v1, v2")
                return None
            return versions[data]
        return str(answers[letter])

    def _apply(self, letter: str, value: float) -> None:
        ch = self._channel()
        cfg = self.config
        number = self.state.channel
        ranges: dict[str, tuple[object, str, float, float]] = {
            "f": (ch, "frequency_mhz", cfg.min_frequency_mhz, cfg.max_frequency_mhz),
            "W": (ch, "power_dbm", cfg.min_power_dbm, cfg.max_power_dbm),
            "l": (ch, "sweep_low_mhz", cfg.min_frequency_mhz, cfg.max_frequency_mhz),
            "u": (ch, "sweep_high_mhz", cfg.min_frequency_mhz, cfg.max_frequency_mhz),
            "s": (ch, "sweep_step_mhz", 0.0, cfg.max_frequency_mhz),
            "t": (ch, "sweep_step_time_ms", 4.0, 10_000.0),
            "[": (ch, "sweep_power_low_dbm", cfg.min_power_dbm, cfg.max_power_dbm),
            "]": (ch, "sweep_power_high_dbm", cfg.min_power_dbm, cfg.max_power_dbm),
            "*": (self.state, "reference_mhz", 10.0, 100.0),
        }
        switches: dict[str, tuple[object, str, tuple[int, ...], type]] = {
            "C": (self.state, "channel", (0, 1), int),
            "E": (ch, "pll_on", (0, 1), bool),
            "r": (ch, "pa_on", (0, 1), bool),
            "h": (ch, "h_bit", (0, 1), int),
            "^": (self.state, "sweep_direction", (0, 1), int),
            "g": (self.state, "sweep_running", (0, 1), bool),
            "c": (self.state, "sweep_continuous", (0, 1), bool),
            "X": (self.state, "sweep_type", (0, 1), int),
            "x": (self.state, "reference", (0, 1, 2), int),
        }
        prefix = "" if ch is None else f"channel{number}."
        if letter in ranges:
            target, attr, low, high = ranges[letter]
            if not low <= value <= high:
                self.record_error(f"{letter}{value:g}: outside {low:g}…{high:g}; ignored")
                return
            self._assign(target, attr, float(value), prefix if target is ch else "")
        elif letter in switches:
            target, attr, allowed, kind = switches[letter]
            if value not in allowed:
                self.record_error(f"{letter}{value:g}: allowed {allowed}; ignored")
                return
            self._assign(target, attr, kind(int(value)), prefix if target is ch else "")

    def _assign(self, target: object, attr: str, value: object, prefix: str) -> None:
        old = getattr(target, attr)
        if old != value:
            setattr(target, attr, value)
            self.notify(prefix + attr, old, value)
