r"""Keysight (Agilent) 33500B / 33600A Trueform waveform generators, SCPI over LAN.

In a lab: ``TCPIP::<ip>::5025::SOCKET`` (raw SCPI socket; 5024 is telnet) or VXI-11
``TCPIP::<ip>::INSTR``. Commands and replies end with ``\\n``.

Choices where the reference left details open (Keysight 33500/33600 Operating and
Service Guide):

* ``FORM:BORD SWAP`` is sent on every (re)connect, so binary blocks are little-endian
  as numpy holds them and the upload needs no byte swap.
* Arbitrary waveforms go up as int16 DAC codes with ``SOUR<ch>:DATA:ARB:DAC
  <name>,#<n><len><bytes>``; then ``*OPC?`` and the error queue are read. Names are
  1–12 characters, a letter first, then letters, digits or ``_``.
* Sequences (the manual spells the play control ``repeatTilTrig``, one l):
  ``SOUR<ch>:DATA:SEQ #<n><len>"<seq>","<arb>",<repeat>,<play>,<marker
  mode>,<marker point>,…`` with play control ``once | onceWaitTrig | repeat | repeatInf
  | repeatTilTrig`` and marker mode ``maintain | lowAtStart | highAtStart |
  highAtStartGoLow``; then ``SOUR<ch>:FUNC:ARB <seq>`` selects it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy.typing as npt

from drivers.awg.sequence import (
    Segment,
    SequenceAWG,
    SequenceProgram,
    as_dac_codes,
)
from drivers.base import (
    Choice,
    InstrumentChannel,
    Parameter,
    Range,
    SCPIInstrument,
    format_bool_on_off,
    parse_bool,
)
from drivers.errors import InstrumentProtocolError, ParameterValidationError

__all__ = ["Keysight33600A", "Keysight33600AChannel", "SequenceEntry"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,11}$")

PlayControl = Literal["once", "onceWaitTrig", "repeat", "repeatInf", "repeatTilTrig"]
MarkerMode = Literal["maintain", "lowAtStart", "highAtStart", "highAtStartGoLow"]


def _number(value: float) -> str:
    return f"{value:.12g}"


def _upper(reply: str) -> str:
    return reply.strip().upper()


def _unquote(reply: str) -> str:
    return reply.strip().strip('"')


def check_arb_name(name: str) -> str:
    """Return ``name`` if it is a valid arb/sequence name, else raise."""
    if not _NAME.match(name):
        raise ParameterValidationError(
            f"arb name {name!r}: allowed 1–12 characters, a letter first, then letters, "
            "digits or '_'"
        )
    return name


@dataclass(frozen=True)
class SequenceEntry:
    """One ``DATA:SEQ`` entry: an arb, its repeat count, play control and marker.

    ``marker_point`` (sample index) defaults to 4, inside every legal arb (≥ 8 points)
    whether the instrument counts the marker window from 0 or from 4.
    """

    arb_name: str
    repeat_count: int = 1
    play_control: PlayControl = "once"
    marker_mode: MarkerMode = "maintain"
    marker_point: int = 4

    def encode(self) -> str:
        """The entry as it appears inside the ``DATA:SEQ`` block."""
        return (
            f'"{self.arb_name}",{self.repeat_count},{self.play_control},'
            f"{self.marker_mode},{self.marker_point}"
        )


class Keysight33600AChannel(InstrumentChannel, SequenceAWG):
    """One output of a 33600A; also the :class:`SequenceAWG` for that output."""

    parent: Keysight33600A

    function = Parameter(
        "SOUR{ch}:FUNC?",
        "SOUR{ch}:FUNC {}",
        parser=_upper,
        validator=Choice(
            ("SIN", "SQU", "TRI", "RAMP", "PULS", "PRBS", "NOIS", "ARB", "DC"),
            normalise=lambda v: str(v).upper(),
        ),
        doc="Output function (SIN, SQU, TRI, RAMP, PULS, PRBS, NOIS, ARB, DC); no unit.",
    )
    arb_sample_rate_hz = Parameter(
        "SOUR{ch}:FUNC:ARB:SRAT?",
        "SOUR{ch}:FUNC:ARB:SRAT {}",
        parser=float,
        formatter=_number,
        validator=Range(1e-6, "max_sample_rate_hz", "Sa/s"),
        unit="Sa/s",
        doc="Arbitrary-waveform sample rate in Sa/s (1 µSa/s … max_sample_rate_hz).",
    )
    amplitude_vpp = Parameter(
        "SOUR{ch}:VOLT?",
        "SOUR{ch}:VOLT {}",
        parser=float,
        formatter=_number,
        validator=Range(1e-3, "max_amplitude_vpp", "Vpp"),
        unit="Vpp",
        doc="Amplitude in Vpp into the configured load (1 mVpp … max_amplitude_vpp).",
    )
    offset_v = Parameter(
        "SOUR{ch}:VOLT:OFFS?",
        "SOUR{ch}:VOLT:OFFS {}",
        parser=float,
        formatter=_number,
        validator=Range(-5.0, 5.0, "V"),
        unit="V",
        doc="DC offset in V (−5 … +5 V into 50 Ω; the instrument checks amplitude + offset).",
    )
    output_enabled = Parameter(
        "OUTP{ch}?",
        "OUTP{ch} {}",
        parser=parse_bool,
        formatter=format_bool_on_off,
        validator=Choice((True, False)),
        doc="Whether the output relay is closed (True/False); no unit.",
    )
    output_load_ohm = Parameter(
        "OUTP{ch}:LOAD?",
        "OUTP{ch}:LOAD {}",
        parser=float,
        formatter=_number,
        validator=Range(1.0, 10e3, "ohm"),
        unit="ohm",
        doc="Expected load in ohm (1 … 10 000 ohm; the instrument reports 9.9E37 for INF).",
    )
    arb_filter = Parameter(
        "SOUR{ch}:FUNC:ARB:FILT?",
        "SOUR{ch}:FUNC:ARB:FILT {}",
        parser=_upper,
        validator=Choice(("NORM", "STEP", "OFF"), normalise=lambda v: str(v).upper()),
        doc="Arb interpolation filter: NORM, STEP or OFF; no unit.",
    )
    arb_advance = Parameter(
        "SOUR{ch}:FUNC:ARB:ADV?",
        "SOUR{ch}:FUNC:ARB:ADV {}",
        parser=_upper,
        validator=Choice(("SRAT", "TRIG"), normalise=lambda v: str(v).upper()),
        doc="Arb point advance: SRAT (sample clock) or TRIG (one point per trigger); no unit.",
    )
    selected_arb = Parameter(
        "SOUR{ch}:FUNC:ARB?",
        "SOUR{ch}:FUNC:ARB {}",
        parser=_unquote,
        formatter=str,
        doc="Name of the arb or sequence the ARB function plays (text); no unit.",
    )
    burst_enabled = Parameter(
        "SOUR{ch}:BURS:STAT?",
        "SOUR{ch}:BURS:STAT {}",
        parser=parse_bool,
        formatter=format_bool_on_off,
        validator=Choice((True, False)),
        doc="Burst mode on/off (True/False); no unit.",
    )
    burst_mode = Parameter(
        "SOUR{ch}:BURS:MODE?",
        "SOUR{ch}:BURS:MODE {}",
        parser=_upper,
        validator=Choice(("TRIG", "GAT"), normalise=lambda v: str(v).upper()),
        doc="Burst mode: TRIG (N cycles per trigger) or GAT (gated); no unit.",
    )
    burst_cycles = Parameter(
        "SOUR{ch}:BURS:NCYC?",
        "SOUR{ch}:BURS:NCYC {}",
        parser=lambda r: int(float(r)),
        formatter=lambda v: str(int(v)),
        validator=Range(1, 100_000_000, "cycles", integer=True),
        unit="cycles",
        doc="Cycles per burst, in cycles (1 … 100 000 000).",
    )
    trigger_source = Parameter(
        "TRIG{ch}:SOUR?",
        "TRIG{ch}:SOUR {}",
        parser=_upper,
        validator=Choice(("IMM", "EXT", "TIM", "BUS"), normalise=lambda v: str(v).upper()),
        doc="Trigger source: IMM, EXT, TIM or BUS (*TRG); no unit.",
    )

    def __init__(self, parent: Keysight33600A, number: int) -> None:
        InstrumentChannel.__init__(self, parent, number)
        self.max_segments = parent.max_sequence_entries
        self.max_steps = parent.max_sequence_entries
        self.min_segment_samples = 8

    # -- arbitrary waveforms -------------------------------------------------------

    def upload_arb(self, name: str, samples: npt.ArrayLike) -> None:
        """Load int16 DAC codes (−32767…+32767, 8 … max_arb_points samples) as ``name``.

        Sent as one little-endian binary block; then ``*OPC?`` and the error queue are
        read, so an instrument-side refusal (memory full, name in use) raises
        :class:`~drivers.errors.InstrumentCommandError`. Never retried.
        """
        check_arb_name(name)
        codes = as_dac_codes(samples, name=name)
        limit = self.parent.max_arb_points
        if not 8 <= codes.size <= limit:
            raise ParameterValidationError(
                f"arb {name!r}: {codes.size} samples, allowed 8 … {limit}"
            )
        if codes.dtype.byteorder == ">":  # pragma: no cover - only on big-endian hosts
            codes = codes.astype("<i2")
        self.parent.write_block(f"SOUR{self.number}:DATA:ARB:DAC {name},", codes.data)

    def play_arb(self, name: str) -> None:
        """Select ``name`` (already in volatile memory) and switch the function to ARB."""
        check_arb_name(name)
        self.selected_arb = name
        self.function = "ARB"

    def define_sequence(self, name: str, entries: Sequence[SequenceEntry]) -> None:
        """Define the sequence ``name`` from arbs already in volatile memory (``DATA:SEQ``)."""
        check_arb_name(name)
        if not entries:
            raise ParameterValidationError("a sequence needs at least one entry")
        if len(entries) > self.parent.max_sequence_entries:
            raise ParameterValidationError(
                f"{len(entries)} sequence entries, allowed at most "
                f"{self.parent.max_sequence_entries}"
            )
        for entry in entries:
            check_arb_name(entry.arb_name)
            if not 1 <= entry.repeat_count <= 1_000_000:
                raise ParameterValidationError(
                    f"entry {entry.arb_name!r}: repeat_count={entry.repeat_count}, "
                    "allowed 1 … 1 000 000"
                )
        body = ",".join([f'"{name}"', *(e.encode() for e in entries)]).encode("ascii")
        self.parent.write_block(f"SOUR{self.number}:DATA:SEQ ", body)

    # -- SequenceAWG ----------------------------------------------------------------

    def load_program(
        self, program: SequenceProgram, *, changed: Sequence[str] | None = None
    ) -> None:
        """Upload the segments that are new or ``changed``, write the step table.

        The 33600A cannot replace one arb in volatile memory (loading a name that exists
        fails with -221; only ``DATA:VOL:CLE`` frees names, all at once). So when a
        segment to upload already exists there, the channel's volatile memory is cleared
        and every segment of ``program`` is uploaded again; segments that are neither new
        nor changed are otherwise left alone.
        """
        self.check_program(program)
        existing = set(self.parent.volatile_catalog(self.number))
        upload = [
            segment
            for segment in program.segments
            if changed is None or segment.name in changed or segment.name not in existing
        ]
        if any(segment.name in existing for segment in upload):
            self.parent.clear_volatile(self.number)
            upload = list(program.segments)
        for segment in upload:
            self.upload_segment(segment)
        self.write_step_table(program)

    def set_output_scale(self, sample_rate_hz: float, full_scale_v: float) -> None:
        """Arb sample rate in Sa/s; 2 × ``full_scale_v`` Vpp (code 32767 = peak); 0 V offset."""
        with self.parent.lock:
            self.arb_sample_rate_hz = sample_rate_hz
            self.offset_v = 0.0
            self.amplitude_vpp = 2.0 * full_scale_v

    def upload_segment(self, segment: Segment) -> None:
        """A segment is an arb of the same name in volatile memory."""
        self.check_segment(segment)
        self.upload_arb(segment.name, segment.samples)

    def write_step_table(self, program: SequenceProgram) -> None:
        """Map the step table onto ``DATA:SEQ`` and select the sequence.

        The 33600A plays entries in order and starts over after the last, so every step
        must go on to the next row (the last one back to the first). ``advance="auto"``
        becomes ``repeat`` × loops (``once`` for one loop); ``advance="trigger"`` becomes
        ``repeatTilTrig``.
        """
        for index in range(len(program.steps)):
            if program.next_of(index) != (index + 1) % len(program.steps):
                raise ParameterValidationError(
                    f"step {index} jumps to step {program.next_of(index)}: the 33600A plays "
                    "sequence entries in order only"
                )
        entries = []
        for step in program.steps:
            if step.advance == "trigger":
                entries.append(SequenceEntry(step.segment, 1, "repeatTilTrig"))
            elif step.loops == 1:
                entries.append(SequenceEntry(step.segment, 1, "once"))
            else:
                entries.append(SequenceEntry(step.segment, step.loops, "repeat"))
        self.define_sequence(program.name, entries)
        self.play_arb(program.name)


class Keysight33600A(SCPIInstrument):
    """Keysight 33600A (and 33500B) Trueform waveform generator.

    ``channels``: 1 or 2 outputs (``awg.ch1``, ``awg.ch2``). Limits are per model and
    memory option: ``max_arb_points`` samples per arb (33600A: 4 MSa standard, 64 MSa
    with option MEM; 33500B: 1 / 16 MSa), ``max_sample_rate_hz`` (1 GSa/s on the 33600A,
    250 MSa/s on the 33500B), ``max_amplitude_vpp`` (10 Vpp into 50 ohm).
    """

    emulator_name: ClassVar[str] = "keysight33600a"

    def __init__(
        self,
        resource: str,
        *,
        channels: int = 2,
        max_arb_points: int = 4_000_000,
        max_sample_rate_hz: float = 1e9,
        max_amplitude_vpp: float = 10.0,
        max_sequence_entries: int = 512,
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
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, got {channels}")
        self.max_arb_points = max_arb_points
        self.max_sample_rate_hz = max_sample_rate_hz
        self.max_amplitude_vpp = max_amplitude_vpp
        self.max_sequence_entries = max_sequence_entries
        self.channels = tuple(Keysight33600AChannel(self, n) for n in range(1, channels + 1))

    @property
    def ch1(self) -> Keysight33600AChannel:
        """Output 1."""
        return self.channels[0]

    @property
    def ch2(self) -> Keysight33600AChannel:
        """Output 2 (two-channel models)."""
        if len(self.channels) < 2:
            raise AttributeError(f"{self.name} has one channel")
        return self.channels[1]

    def _on_connect(self) -> None:
        # Little-endian blocks, as numpy holds int16 on every PC.
        self.write("FORM:BORD SWAP")

    def safe_state(self) -> None:
        """Open every output relay (``OUTP<n> OFF``)."""
        for channel in self.channels:
            channel.output_enabled = False

    def trigger(self) -> None:
        """``*TRG``: a bus trigger (for trigger source BUS). Never retried."""
        self.write("*TRG")

    def clear_volatile(self, channel: int = 1) -> None:
        """``SOUR<ch>:DATA:VOL:CLE``: delete every arb in the channel's volatile memory."""
        self.write_checked(f"SOUR{channel}:DATA:VOL:CLE", idempotent=True)

    def volatile_catalog(self, channel: int = 1) -> list[str]:
        """Names of the arbs and sequences in volatile memory (``DATA:VOL:CAT?``)."""

        def parse(reply: str) -> list[str]:
            if not reply.strip():
                return []
            names = [item.strip() for item in reply.split(",")]
            if any(not (n.startswith('"') and n.endswith('"')) for n in names):
                raise InstrumentProtocolError(f"catalog reply {reply!r} is not quoted names")
            return [n.strip('"') for n in names if n.strip('"')]

        return self.query(f"SOUR{channel}:DATA:VOL:CAT?", parser=parse)
