"""Emulated Keysight 33600A Trueform AWG (SCPI over a raw TCP socket, port 5025 in a lab).

Command set per INSTRUMENTS.md A5 and the 33500/33600 Operating and Service Guide:
``FORM:BORD NORM|SWAP`` (block byte order; ``NORM`` = big-endian, the power-on value),
``[SOUR#]:DATA:ARB:DAC <name>,<block or comma list>`` (int16 codes −32767…+32767),
``[SOUR#]:DATA:ARB <name>,<block of float32 or comma list>`` (−1…+1),
``[SOUR#]:DATA:SEQ <block>`` (``"seq","arb",count,play,marker,point,…``),
``DATA:VOL:CLE``, ``DATA:VOL:CAT?``, ``DATA:VOL:FREE?``, ``DATA:ATTR:POIN? [<name>]``,
``FUNC``, ``FUNC:ARB``, ``FUNC:ARB:SRAT|FILT|ADV``, ``FREQ``, ``VOLT``, ``VOLT:OFFS``,
``VOLT:HIGH|LOW``, ``OUTP[:STAT]``, ``OUTP:LOAD``, ``BURS:STAT|MODE|NCYC``, ``TRIG:SOUR``,
``TRIG``, ``*TRG``, ``*IDN?``, ``*RST``, ``*CLS``, ``*OPC?``, ``SYST:ERR?``, and the
internal file system with blocks both ways: ``MMEM:STOR:DATA<ch> "<file>"`` (the selected
arb as a text ``.arb`` file: ``File Format:1.10`` header lines, ``Data:``, one code per
line, CR LF), ``MMEM:UPL? "<file>"`` (the file as a definite-length block),
``MMEM:DOWN:FNAM "<file>"`` + ``MMEM:DOWN:DATA <block>``, ``MMEM:LOAD:DATA<ch> "<file>"``
(into volatile memory under the file's stem), ``MMEM:DEL``; a missing file is
``-256,"File name not found"``. Files survive a power cycle.

Errors follow the instrument: a bad command queues ``-113,"Undefined header"``, a value out
of range is clipped to the limit with ``-222,"Data out of range; value clipped to …"`` (what
the 33500/33600 do for VOLT, FREQ, SRAT), an amplitude/offset pair outside the output
window reduces the amplitude with ``-221,"Settings conflict; …"``. A failed query sends no
reply. Loading an arb under a name already in volatile memory fails (``-221``), as the
manual says; ``DATA:VOL:CLE`` first.

Faults: :meth:`~Faults.corrupt_next_block` damages the next block either way: a received
one arrives damaged (the instrument rejects it with ``-161,"Invalid block data"`` and loads
nothing); a sent one (``MMEM:UPL?``) has a length field 16 bytes longer than its payload,
so a client waiting for the rest times out.

Limits are configurable through :class:`Keysight33600ALimits` (defaults: 33622A with the
standard 4 MSa memory per channel).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from virtual_device.errors import EmulatorError
from virtual_device.instruments._framework import Session
from virtual_device.instruments._scpi import (
    ScpiEmulator,
    ScpiError,
    compile_header,
    format_block,
    parse_block,
    parse_bool,
    parse_choice,
    parse_float,
    parse_int,
    split_args,
    unquote,
)

__all__ = [
    "ArbSequenceStep",
    "AwgChannelState",
    "Keysight33600AEmulator",
    "Keysight33600ALimits",
    "Keysight33600AState",
]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,11}$")
_SEQ_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,11}(\.seq)?$", re.IGNORECASE)
_FUNCTIONS = {
    "SIN": "SIN",
    "SINUSOID": "SIN",
    "SQU": "SQU",
    "SQUARE": "SQU",
    "RAMP": "RAMP",
    "PULS": "PULS",
    "PULSE": "PULS",
    "NOIS": "NOIS",
    "NOISE": "NOIS",
    "PRBS": "PRBS",
    "DC": "DC",
    "ARB": "ARB",
    "TRI": "TRI",
    "TRIANGLE": "TRI",
}
_PLAY = {"once", "oncewaittrig", "repeat", "repeatinf", "repeattiltrig"}
_MARKER = {"maintain", "lowatstart", "highatstart", "highatstartgolow"}


@dataclass(frozen=True)
class Keysight33600ALimits:
    """The instrument's limits (SI units); defaults are a 33622A with standard memory."""

    model: str = "33622A"
    serial: str = "MY59001234"
    firmware: str = "A.03.03-3.15-2.00-58-00"
    channels: int = 2
    min_sample_rate_hz: float = 1e-6
    max_sample_rate_hz: float = 1e9
    min_arb_points: int = 8
    max_points_per_channel: int = 4_000_000
    min_amplitude_vpp_50ohm: float = 1e-3
    max_amplitude_vpp_50ohm: float = 10.0
    max_output_v_50ohm: float = 5.0
    max_frequency_hz: float = 120e6
    max_burst_cycles: int = 100_000_000
    max_sequence_steps: int = 512
    max_step_repeat: int = 1_000_000
    error_queue_capacity: int = 20


@dataclass(frozen=True)
class ArbSequenceStep:
    """One step of a ``DATA:SEQ`` sequence."""

    arb: str
    repeat: int
    play: str
    marker: str
    marker_point: int


@dataclass
class AwgChannelState:
    """One output channel (SI units)."""

    function: str = "SIN"
    frequency_hz: float = 1000.0
    amplitude_vpp: float = 0.1
    offset_v: float = 0.0
    load_ohm: float = 50.0
    output: bool = False
    arb: str = "INT:\\BUILTIN\\EXP_RISE.ARB"
    sample_rate_hz: float = 40_000.0
    arb_filter: str = "NORM"
    arb_advance: str = "SRAT"
    burst: bool = False
    burst_mode: str = "TRIG"
    burst_cycles: int = 1
    trigger_source: str = "IMM"
    triggers: int = 0
    waveforms: dict[str, np.ndarray] = field(default_factory=dict)
    sequences: dict[str, tuple[ArbSequenceStep, ...]] = field(default_factory=dict)


@dataclass
class Keysight33600AState:
    """The whole instrument: byte order and both channels."""

    byte_order: str = "NORM"
    channels: list[AwgChannelState] = field(default_factory=list)
    #: Non-volatile files by upper-cased name (``INT:/NAME.ARB``); they survive power cycles.
    files: dict[str, bytes] = field(default_factory=dict)


class Keysight33600AEmulator(ScpiEmulator):
    r"""A Keysight 33600A on TCP (``TCPIP::127.0.0.1::<port>::SOCKET``, ``\n`` terminated).

    ``limits`` sets the instrument's ranges; the virtual lab reads waveforms from
    :attr:`state` (``state.channels[0].waveforms[name]``, int16) and subscribes with
    :meth:`on_change` (``channel1.output``, ``channel1.arb``, ``channel1.waveforms`` …).
    """

    name = "keysight33600a"
    default_transport = "tcp"

    def __init__(self, *, limits: Keysight33600ALimits | None = None, **kwargs: object) -> None:
        self.limits = limits or Keysight33600ALimits()
        self.error_queue_capacity = self.limits.error_queue_capacity
        self.state = Keysight33600AState()
        super().__init__(**kwargs)

    def reset_state(self) -> None:
        """Power-on state: default settings and empty volatile memory."""
        files = self.state.files if hasattr(self, "state") else {}
        self.state = Keysight33600AState(
            channels=[AwgChannelState() for _ in range(self.limits.channels)], files=files
        )
        self._download_name: str | None = None
        self.errors.clear()

    def _reset_settings(self) -> None:
        # *RST restores settings; volatile arbs stay loaded.
        for index, channel in enumerate(self.state.channels):
            fresh = AwgChannelState(waveforms=channel.waveforms, sequences=channel.sequences)
            self.state.channels[index] = fresh
        self.state.byte_order = "NORM"
        self.notify("*", None, None)

    # -- physics hook -------------------------------------------------------------------------

    def output_waveform_v(self, channel: int = 1) -> tuple[np.ndarray, float]:
        """What channel ``channel`` plays, in volts at its load, and the sample rate in Sa/s.

        For an arb: its DAC codes scaled by amplitude and offset; for a sequence: its steps
        in order, each ``repeat`` times for ``repeat`` steps and once otherwise (a step that
        waits for a trigger is played once). The output relay is not considered (see
        ``state.channels[n].output``). Raises :class:`EmulatorError` if the channel does not
        play an arb from volatile memory.
        """
        with self.lock:
            if not 1 <= channel <= self.limits.channels:
                raise EmulatorError(f"channel {channel}: allowed 1…{self.limits.channels}")
            ch = self.state.channels[channel - 1]
            if ch.function != "ARB":
                raise EmulatorError(f"channel {channel} plays {ch.function}, not an arb")
            if ch.arb in ch.waveforms:
                codes = ch.waveforms[ch.arb]
            elif ch.arb in ch.sequences:
                parts = [
                    np.tile(ch.waveforms[step.arb], step.repeat if step.play == "repeat" else 1)
                    for step in ch.sequences[ch.arb]
                ]
                codes = np.concatenate(parts)
            else:
                raise EmulatorError(f"channel {channel} plays {ch.arb!r}, not in volatile memory")
            volts = codes.astype(np.float64) * (ch.amplitude_vpp / 2.0 / 32767.0) + ch.offset_v
            return volts, ch.sample_rate_hz

    # -- helpers ------------------------------------------------------------------------------

    def _channel(self, suffixes: tuple[int | None, ...]) -> tuple[int, AwgChannelState]:
        number = suffixes[0] if suffixes and suffixes[0] is not None else 1
        if not 1 <= number <= self.limits.channels:
            raise ScpiError(-114, f"channel {number}: allowed 1…{self.limits.channels}")
        return number, self.state.channels[number - 1]

    def _set(self, number: int, channel: AwgChannelState, attr: str, value: object) -> None:
        old = getattr(channel, attr)
        setattr(channel, attr, value)
        self.notify(f"channel{number}.{attr}", old, value)

    def _clip(self, text: str, what: str, low: float, high: float, unit: str) -> float:
        word = text.strip().upper()
        if word in ("MIN", "MINIMUM"):
            return low
        if word in ("MAX", "MAXIMUM"):
            return high
        try:
            value = float(word)
        except ValueError:
            raise ScpiError(-104 if word else -109, f"{what} {text.strip()!r}") from None
        if value > high:
            self.push_error(ScpiError(-222, f"value clipped to upper limit ({high:g} {unit})"))
            return high
        if value < low:
            self.push_error(ScpiError(-222, f"value clipped to lower limit ({low:g} {unit})"))
            return low
        return value

    def _window(self, channel: AwgChannelState) -> tuple[float, float, float]:
        """(min amplitude Vpp, max amplitude Vpp, max |V|) for the channel's load."""
        scale = 2.0 if channel.load_ohm == float("inf") else 1.0
        lim = self.limits
        return (
            lim.min_amplitude_vpp_50ohm * scale,
            lim.max_amplitude_vpp_50ohm * scale,
            lim.max_output_v_50ohm * scale,
        )

    def _fit_amplitude(self, number: int, channel: AwgChannelState) -> None:
        low, _, vmax = self._window(channel)
        allowed = 2.0 * (vmax - abs(channel.offset_v))
        if channel.amplitude_vpp > allowed + 1e-12:
            self.push_error(ScpiError(-221, "amplitude changed due to offset"))
            self._set(number, channel, "amplitude_vpp", max(low, allowed))

    def _used_points(self, channel: AwgChannelState) -> int:
        return int(sum(w.size for w in channel.waveforms.values()))

    # -- commands -----------------------------------------------------------------------------

    def build_commands(self) -> None:
        """The 33600A command subset (see the module docstring)."""
        super().build_commands()
        add = self.commands.add
        add(
            "*IDN",
            query=lambda a, s: (
                f"Keysight Technologies,{self.limits.model},{self.limits.serial},"
                f"{self.limits.firmware}"
            ),
        )
        add("*RST", set=lambda a, s: self._reset_settings())
        add("SYSTem:VERSion", query=lambda a, s: "1999.0")
        add("FORMat:BORDer", set=self._set_border, query=lambda a, s: self.state.byte_order)
        add(
            "[SOURce#]:FUNCtion[:SHAPe]",
            set=self._set_function,
            query=lambda a, s: self._channel(s)[1].function,
        )
        add(
            "[SOURce#]:FUNCtion:ARBitrary",
            set=self._select_arb,
            query=lambda a, s: f'"{self._channel(s)[1].arb}"',
        )
        add(
            "[SOURce#]:FUNCtion:ARBitrary:SRATe",
            set=self._set_srate,
            query=lambda a, s: f"{self._channel(s)[1].sample_rate_hz:+.15E}",
        )
        add(
            "[SOURce#]:FUNCtion:ARBitrary:FILTer",
            set=self._set_filter,
            query=lambda a, s: self._channel(s)[1].arb_filter,
        )
        add(
            "[SOURce#]:FUNCtion:ARBitrary:ADVance",
            set=self._set_advance,
            query=lambda a, s: self._channel(s)[1].arb_advance,
        )
        add(
            "[SOURce#]:FREQuency",
            set=self._set_frequency,
            query=lambda a, s: f"{self._channel(s)[1].frequency_hz:+.15E}",
        )
        add(
            "[SOURce#]:VOLTage[:LEVel][:IMMediate][:AMPLitude]",
            set=self._set_amplitude,
            query=lambda a, s: f"{self._channel(s)[1].amplitude_vpp:+.15E}",
        )
        add(
            "[SOURce#]:VOLTage:OFFSet",
            set=self._set_offset,
            query=lambda a, s: f"{self._channel(s)[1].offset_v:+.15E}",
        )
        add(
            "[SOURce#]:VOLTage:HIGH",
            set=lambda a, s: self._set_high_low(a, s, high=True),
            query=lambda a, s: self._high_low(s, high=True),
        )
        add(
            "[SOURce#]:VOLTage:LOW",
            set=lambda a, s: self._set_high_low(a, s, high=False),
            query=lambda a, s: self._high_low(s, high=False),
        )
        add(
            "OUTPut#[:STATe]",
            set=self._set_output,
            query=lambda a, s: "1" if self._channel(s)[1].output else "0",
        )
        add("OUTPut#:LOAD", set=self._set_load, query=self._query_load)
        add(
            "[SOURce#]:BURSt:STATe",
            set=self._set_burst,
            query=lambda a, s: "1" if self._channel(s)[1].burst else "0",
        )
        add(
            "[SOURce#]:BURSt:MODE",
            set=self._set_burst_mode,
            query=lambda a, s: self._channel(s)[1].burst_mode,
        )
        add(
            "[SOURce#]:BURSt:NCYCles",
            set=self._set_burst_cycles,
            query=lambda a, s: f"{self._channel(s)[1].burst_cycles:+.15E}",
        )
        add(
            "TRIGger#:SOURce",
            set=self._set_trigger_source,
            query=lambda a, s: self._channel(s)[1].trigger_source,
        )
        add("TRIGger#[:IMMediate]", set=self._force_trigger)
        add("*TRG", set=self._bus_trigger)
        add("[SOURce#]:DATA:VOLatile:CLEar", set=self._clear_volatile)
        add("[SOURce#]:DATA:VOLatile:CATalog", query=self._catalog)
        add(
            "[SOURce#]:DATA:VOLatile:FREE",
            query=lambda a, s: str(
                self.limits.max_points_per_channel - self._used_points(self._channel(s)[1])
            ),
        )
        add("[SOURce#]:DATA:ATTRibute:POINts", query=self._points)
        add("[SOURce#]:DATA:ARBitrary:DAC", set=lambda a, s: self._load_arb(a.encode(), s, True))
        add("[SOURce#]:DATA:ARBitrary", set=lambda a, s: self._load_arb(a.encode(), s, False))
        add("[SOURce#]:DATA:SEQuence", set=lambda a, s: self._load_sequence(a.encode(), s))
        add("MMEMory:STORe:DATA#", set=self._store_file)
        add("MMEMory:LOAD:DATA#", set=self._load_file)
        add("MMEMory:UPLoad", query=self._upload_file)
        add("MMEMory:DOWNload:FNAMe", set=self._download_name_set)
        add("MMEMory:DOWNload:DATA", set=lambda a, s: self._download_data(a.encode("latin-1")))
        add("MMEMory:DELete", set=self._delete_file)

    def execute_binary(self, session: Session, header: str, args: bytes) -> str | bytes | None:
        """Blocks are only accepted by ``DATA:ARB``, ``DATA:ARB:DAC`` and ``DATA:SEQ``."""
        binary: dict[str, Callable[[bytes, tuple[int | None, ...]], None]] = {
            "[SOURce#]:DATA:ARBitrary:DAC": lambda a, s: self._load_arb(a, s, True),
            "[SOURce#]:DATA:ARBitrary": lambda a, s: self._load_arb(a, s, False),
            "[SOURce#]:DATA:SEQuence": self._load_sequence,
            "MMEMory:DOWNload:DATA": lambda a, s: self._download_data(a),
        }
        for spec, handler in binary.items():
            for pattern in compile_header(spec):
                match = pattern.match(header)
                if match is not None:
                    suffixes = tuple(int(g) if g else None for g in match.groups())
                    handler(args, suffixes)
                    return None
        return super().execute_binary(session, header, args)

    # -- files: binary blocks from the instrument ------------------------------------------

    def _file_key(self, args: str) -> str:
        name = unquote(args)
        if not name:
            raise ScpiError(-109, "file name")
        return name.upper()

    def _store_file(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        """``MMEM:STOR:DATA<ch> "<file>"``: the channel's arb as a text ``.arb`` file."""
        _, channel = self._channel(suffixes)
        key = self._file_key(args)
        if channel.arb not in channel.waveforms:
            raise ScpiError(-221, f"channel plays {channel.arb!r}, not a volatile arb")
        codes = channel.waveforms[channel.arb]
        high = channel.offset_v + channel.amplitude_vpp / 2.0
        low = channel.offset_v - channel.amplitude_vpp / 2.0
        header = (
            "File Format:1.10\r\nChecksum:0\r\nChannel Count:1\r\n"
            f"Sample Rate:{channel.sample_rate_hz:.6f}\r\nHigh Level:{high:.6f}\r\n"
            f"Low Level:{low:.6f}\r\nMarker Point:{max(0, codes.size // 2)}\r\n"
            'Data Type:"short"\r\nFilter:"normal"\r\n'
            f"Data Points:{codes.size}\r\nData:\r\n"
        )
        body = "\r\n".join(str(int(v)) for v in codes) + "\r\n"
        self.state.files[key] = (header + body).encode("ascii")
        self.notify("files", None, key)

    def _load_file(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        """``MMEM:LOAD:DATA<ch> "<file>"``: a text ``.arb`` file into volatile memory."""
        number, channel = self._channel(suffixes)
        key = self._file_key(args)
        if key not in self.state.files:
            raise ScpiError(-256, f"file {unquote(args)!r} not found")
        text = self.state.files[key].decode("latin-1")
        _, marker, data = text.partition("Data:")
        if not marker:
            raise ScpiError(-257, "not an arb file (no 'Data:' line)")
        try:
            codes = np.array([int(v) for v in data.split()], dtype=np.int64)
        except ValueError:
            raise ScpiError(-257, "arb file data are not integers") from None
        if codes.size and (codes.min() < -32767 or codes.max() > 32767):
            raise ScpiError(-222, "arb file codes outside -32767...+32767")
        stem = unquote(args).replace("/", "\\").rsplit("\\", 1)[-1].rsplit(".", 1)[0]
        if not _NAME.match(stem):
            raise ScpiError(-224, f"arb name {stem!r} from the file name is not valid")
        if stem in channel.waveforms:
            raise ScpiError(-221, f"arb {stem!r} already exists in volatile memory")
        waveforms = dict(channel.waveforms)
        waveforms[stem] = codes.astype(np.int16)
        self._set(number, channel, "waveforms", waveforms)

    def _upload_file(self, args: str, suffixes: tuple[int | None, ...]) -> bytes:
        """``MMEM:UPL? "<file>"``: the file as a definite-length block."""
        key = self._file_key(args)
        if key not in self.state.files:
            raise ScpiError(-256, f"file {unquote(args)!r} not found")
        block = format_block(self.state.files[key])
        if self.faults.take_corrupt_block():
            # Damaged on the way out: the length field claims more than is sent.
            n = block[1] - 0x30
            length = int(block[2 : 2 + n]) + 16
            block = b"#" + str(len(str(length))).encode() + str(length).encode() + block[2 + n :]
        return block

    def _download_name_set(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        self._download_name = self._file_key(args)

    def _download_data(self, args: bytes) -> None:
        if self._download_name is None:
            raise ScpiError(-221, "MMEM:DOWN:FNAM first")
        data = args.lstrip()
        if data.startswith(b"#"):
            if self.faults.take_corrupt_block():
                raise ScpiError(-161, "block damaged in transit")
            view, rest = parse_block(data)
            if rest.strip():
                raise ScpiError(-108, "data after the block")
            payload = bytes(view)
        else:
            payload = data
        self.state.files[self._download_name] = payload
        self.notify("files", None, self._download_name)

    def _delete_file(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        key = self._file_key(args)
        if self.state.files.pop(key, None) is None:
            raise ScpiError(-256, f"file {unquote(args)!r} not found")

    def _set_border(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        value = parse_choice(
            args, "FORM:BORD", {"NORM": "NORM", "NORMAL": "NORM", "SWAP": "SWAP", "SWAPPED": "SWAP"}
        )
        old, self.state.byte_order = self.state.byte_order, value
        self.notify("byte_order", old, value)

    def _set_function(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        number, channel = self._channel(suffixes)
        self._set(number, channel, "function", parse_choice(args, "FUNC", _FUNCTIONS))

    def _select_arb(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        number, channel = self._channel(suffixes)
        name = unquote(args)
        if not name:
            raise ScpiError(-109, "FUNC:ARB needs an arb or sequence name")
        if name not in channel.waveforms and name not in channel.sequences:
            loaded = ", ".join(sorted([*channel.waveforms, *channel.sequences])) or "none"
            raise ScpiError(-224, f"arb {name!r} is not in volatile memory (loaded: {loaded})")
        self._set(number, channel, "arb", name)

    def _set_srate(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        number, channel = self._channel(suffixes)
        lim = self.limits
        value = self._clip(args, "SRAT", lim.min_sample_rate_hz, lim.max_sample_rate_hz, "Sa/s")
        self._set(number, channel, "sample_rate_hz", value)

    def _set_filter(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        number, channel = self._channel(suffixes)
        choices = {"NORM": "NORM", "NORMAL": "NORM", "STEP": "STEP", "OFF": "OFF"}
        self._set(number, channel, "arb_filter", parse_choice(args, "FUNC:ARB:FILT", choices))

    def _set_advance(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        number, channel = self._channel(suffixes)
        choices = {"SRAT": "SRAT", "SRATE": "SRAT", "TRIG": "TRIG", "TRIGGER": "TRIG"}
        self._set(number, channel, "arb_advance", parse_choice(args, "FUNC:ARB:ADV", choices))

    def _set_frequency(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        number, channel = self._channel(suffixes)
        value = self._clip(args, "FREQ", 1e-6, self.limits.max_frequency_hz, "Hz")
        self._set(number, channel, "frequency_hz", value)

    def _set_amplitude(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        number, channel = self._channel(suffixes)
        low, high, _ = self._window(channel)
        self._set(number, channel, "amplitude_vpp", self._clip(args, "VOLT", low, high, "Vpp"))
        self._fit_amplitude(number, channel)

    def _set_offset(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        number, channel = self._channel(suffixes)
        low, _, vmax = self._window(channel)
        limit = vmax - low / 2.0
        self._set(number, channel, "offset_v", self._clip(args, "VOLT:OFFS", -limit, limit, "V"))
        self._fit_amplitude(number, channel)

    def _high_low(self, suffixes: tuple[int | None, ...], *, high: bool) -> str:
        channel = self._channel(suffixes)[1]
        sign = 1.0 if high else -1.0
        return f"{channel.offset_v + sign * channel.amplitude_vpp / 2.0:+.15E}"

    def _set_high_low(self, args: str, suffixes: tuple[int | None, ...], *, high: bool) -> None:
        number, channel = self._channel(suffixes)
        _, _, vmax = self._window(channel)
        value = self._clip(args, "VOLT:HIGH" if high else "VOLT:LOW", -vmax, vmax, "V")
        top = value if high else channel.offset_v + channel.amplitude_vpp / 2.0
        bottom = value if not high else channel.offset_v - channel.amplitude_vpp / 2.0
        if top <= bottom:
            raise ScpiError(-221, "high level must be above low level")
        self._set(number, channel, "amplitude_vpp", top - bottom)
        self._set(number, channel, "offset_v", (top + bottom) / 2.0)

    def _set_output(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        number, channel = self._channel(suffixes)
        self._set(number, channel, "output", parse_bool(args, "OUTP"))

    def _set_load(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        number, channel = self._channel(suffixes)
        word = args.strip().upper()
        if word in ("INF", "INFINITY"):
            value = float("inf")
        else:
            value = parse_float(args, "OUTP:LOAD", 1.0, 10_000.0, default=50.0, unit=" Ω")
        self._set(number, channel, "load_ohm", value)
        self._fit_amplitude(number, channel)

    def _query_load(self, args: str, suffixes: tuple[int | None, ...]) -> str:
        load = self._channel(suffixes)[1].load_ohm
        return "+9.9E+37" if load == float("inf") else f"{load:+.15E}"

    def _set_burst(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        number, channel = self._channel(suffixes)
        self._set(number, channel, "burst", parse_bool(args, "BURS:STAT"))

    def _set_burst_mode(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        number, channel = self._channel(suffixes)
        choices = {"TRIG": "TRIG", "TRIGGERED": "TRIG", "GAT": "GAT", "GATED": "GAT"}
        self._set(number, channel, "burst_mode", parse_choice(args, "BURS:MODE", choices))

    def _set_burst_cycles(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        number, channel = self._channel(suffixes)
        if args.strip().upper() in ("INF", "INFINITY"):
            value = self.limits.max_burst_cycles
        else:
            value = int(self._clip(args, "BURS:NCYC", 1, self.limits.max_burst_cycles, "cycles"))
        self._set(number, channel, "burst_cycles", value)

    def _set_trigger_source(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        number, channel = self._channel(suffixes)
        choices = {
            "IMM": "IMM",
            "IMMEDIATE": "IMM",
            "EXT": "EXT",
            "EXTERNAL": "EXT",
            "TIM": "TIM",
            "TIMER": "TIM",
            "BUS": "BUS",
        }
        self._set(number, channel, "trigger_source", parse_choice(args, "TRIG:SOUR", choices))

    def _force_trigger(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        number, channel = self._channel(suffixes)
        self._set(number, channel, "triggers", channel.triggers + 1)

    def _bus_trigger(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        fired = False
        for number, channel in enumerate(self.state.channels, start=1):
            if channel.trigger_source == "BUS":
                self._set(number, channel, "triggers", channel.triggers + 1)
                fired = True
        if not fired:
            raise ScpiError(-211, "no channel has TRIG:SOUR BUS")

    def _clear_volatile(self, args: str, suffixes: tuple[int | None, ...]) -> None:
        number, channel = self._channel(suffixes)
        self._set(number, channel, "waveforms", {})
        self._set(number, channel, "sequences", {})
        if channel.arb != AwgChannelState.arb:
            self._set(number, channel, "arb", AwgChannelState.arb)

    def _catalog(self, args: str, suffixes: tuple[int | None, ...]) -> str:
        channel = self._channel(suffixes)[1]
        names = [*channel.waveforms, *channel.sequences]
        return ",".join(f'"{n}"' for n in names) if names else '""'

    def _points(self, args: str, suffixes: tuple[int | None, ...]) -> str:
        channel = self._channel(suffixes)[1]
        name = unquote(args) or channel.arb
        if name not in channel.waveforms:
            raise ScpiError(-224, f"arb {name!r} is not in volatile memory")
        return str(channel.waveforms[name].size)

    def _load_arb(self, args: bytes, suffixes: tuple[int | None, ...], dac: bool) -> None:
        number, channel = self._channel(suffixes)
        name_part, comma, data = args.partition(b",")
        name = unquote(name_part.decode("latin-1"))
        if not comma:
            raise ScpiError(-109, "DATA:ARB needs <name>,<data>")
        if not _NAME.match(name):
            raise ScpiError(-224, f"arb name {name!r}: 1–12 letters, digits or _, letter first")
        if not data.startswith(b"#"):
            data = data.lstrip()
        little = self.state.byte_order == "SWAP"
        if data.startswith(b"#"):
            if self.faults.take_corrupt_block():
                raise ScpiError(-161, "block damaged in transit")
            payload, rest = parse_block(data)
            if rest.strip():
                raise ScpiError(-108, "data after the block")
            item = 2 if dac else 4
            if len(payload) % item:
                raise ScpiError(
                    -161,
                    f"block of {len(payload)} bytes is not whole "
                    f"{'int16' if dac else 'float32'} values",
                )
            kind = ("<" if little else ">") + ("i2" if dac else "f4")
            values = np.frombuffer(payload, dtype=kind)
        else:
            try:
                values = np.array([float(v) for v in data.split(b",")], dtype=np.float64)
            except ValueError:
                raise ScpiError(-104, "DATA:ARB values must be numbers") from None
        if dac:
            if values.size and (values.min() < -32767 or values.max() > 32767):
                raise ScpiError(-222, "DAC codes must be within -32767…+32767")
            codes = np.array(values, dtype=np.int16)  # one copy, native byte order
        else:
            if values.size and (np.abs(values).max() > 1.0 or not np.all(np.isfinite(values))):
                raise ScpiError(-222, "normalised values must be within -1.0…+1.0")
            codes = np.round(values.astype(np.float64) * 32767.0).astype(np.int16)
        lim = self.limits
        if codes.size < lim.min_arb_points:
            raise ScpiError(-222, f"arb of {codes.size} points: at least {lim.min_arb_points}")
        if name in channel.waveforms or name in channel.sequences:
            raise ScpiError(
                -221, f"arb {name!r} already exists in volatile memory; DATA:VOL:CLE first"
            )
        if self._used_points(channel) + codes.size > lim.max_points_per_channel:
            raise ScpiError(-223, f"volatile memory full ({lim.max_points_per_channel} points)")
        waveforms = dict(channel.waveforms)
        waveforms[name] = codes
        self._set(number, channel, "waveforms", waveforms)

    def _load_sequence(self, args: bytes, suffixes: tuple[int | None, ...]) -> None:
        number, channel = self._channel(suffixes)
        data = args.lstrip()
        if data.startswith(b"#"):
            if self.faults.take_corrupt_block():
                raise ScpiError(-161, "block damaged in transit")
            payload, rest = parse_block(data)
            if rest.strip():
                raise ScpiError(-108, "data after the block")
            text = bytes(payload).decode("latin-1")
        else:
            text = data.decode("latin-1")
        fields = split_args(text)
        if len(fields) < 6 or (len(fields) - 1) % 5:
            raise ScpiError(
                -109, 'DATA:SEQ needs "name" then 5 fields per step ("arb",count,play,marker,point)'
            )
        seq_name = unquote(fields[0])
        if not _SEQ_NAME.match(seq_name):
            raise ScpiError(-224, f"sequence name {seq_name!r}: 1–12 letters, digits or _")
        steps = []
        for at in range(1, len(fields), 5):
            arb, count, play, marker, point = (
                fields[at],
                fields[at + 1],
                fields[at + 2],
                fields[at + 3],
                fields[at + 4],
            )
            arb_name = unquote(arb)
            if arb_name not in channel.waveforms:
                raise ScpiError(-224, f"sequence step arb {arb_name!r} not in volatile memory")
            # The count matters for "repeat" only; Keysight's own examples send 0 otherwise.
            repeat = parse_int(count, "sequence repeat count", 0, self.limits.max_step_repeat)
            if play.strip().lower() == "repeat" and repeat < 1:
                raise ScpiError(-222, "a 'repeat' step needs a count of 1 or more")
            if play.strip().lower() not in _PLAY:
                raise ScpiError(
                    -224,
                    f"play control {play.strip()!r}: allowed "
                    "once, onceWaitTrig, repeat, repeatInf, repeatTilTrig",
                )
            if marker.strip().lower() not in _MARKER:
                raise ScpiError(
                    -224,
                    f"marker mode {marker.strip()!r}: allowed maintain, "
                    "lowAtStart, highAtStart, highAtStartGoLow",
                )
            size = channel.waveforms[arb_name].size
            marker_point = parse_int(point, "marker point", 0, max(0, size - 1))
            steps.append(
                ArbSequenceStep(arb_name, repeat, play.strip(), marker.strip(), marker_point)
            )
        if len(steps) > self.limits.max_sequence_steps:
            raise ScpiError(-223, f"{len(steps)} steps: at most {self.limits.max_sequence_steps}")
        sequences = dict(channel.sequences)
        sequences[seq_name] = tuple(steps)
        self._set(number, channel, "sequences", sequences)
