"""Local (addressed) channels: one addressing beam per site or group of sites.

A local pulse-level channel C (Pulser's ``rydberg_local``, ``raman_local``) holds one Ω/Δ/φ
stream and the slots saying which atoms it targets when. In the hardware, C is made by beams
B1..Bk, each with its own AOM on an AWG channel and its own atoms (``BeamConfig.targets``).
:func:`expand_addressed` turns C into one global-like stream per beam, named ``C@beam``:

- Ω: C's Ω while the beam's atoms are all among the slot's targets, 0 elsewhere;
- Δ: C's Δ while the beam is active, 0 elsewhere — an atom accumulates detuning only while it
  is addressed (Pulser's per-atom frame: what :meth:`SampledSequence.atom_drives` gives), so
  the beam's RF phase carries ∫Δ − φ over its own pulses only;
- φ: C's φ.

Each stream is then compiled like a global channel (phase-continuous RF on its beam's AOM).
A slot targeting an atom no beam of C addresses, or a beam only partly inside a slot's
targets (it would light atoms that are not targeted), raises :class:`CompileError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sequencer.compiler.errors import CompileError
from sequencer.compiler.hardware import BeamConfig, HardwareConfig
from sequencer.sampled import ChannelSamples, SampledSequence, TargetSlot

__all__ = ["GLOBAL_IDS", "LOCAL_IDS", "BeamStream", "channel_beams", "expand_addressed"]

# Pulser's ids of the device channels, by basis: where a user-named channel is routed
GLOBAL_IDS = {"ground-rydberg": "rydberg_global", "digital": "raman_global"}
LOCAL_IDS = {"ground-rydberg": "rydberg_local", "digital": "raman_local"}


@dataclass(frozen=True)
class BeamStream:
    """A per-beam stream made from pulse-level channel ``source`` on beam ``beam``.

    ``targets``: the register atoms the beam lights (sorted).
    """

    source: str
    beam: str
    targets: tuple[str, ...]


def stream_name(channel: str, beam: str) -> str:
    """Name of the stream of ``channel`` played on ``beam``: ``channel@beam``."""
    return f"{channel}@{beam}"


def split_stream(name: str) -> tuple[str, str] | None:
    """(channel, beam) of a stream name ``channel@beam``, or None (beam names have no '@')."""
    if "@" not in name:
        return None
    source, beam = name.rsplit("@", 1)
    return source, beam


def channel_beams(
    name: str, basis: str, addressing: str, hardware: HardwareConfig
) -> tuple[tuple[BeamConfig, ...], str | None]:
    """The beams that make pulse-level channel ``name``, and the source if already a stream.

    By name; a per-beam stream ``C@beam`` (as :func:`expand_addressed` and ``decode`` name
    them) goes to that beam if it is one of C's; a user-named channel falls back to the
    device channel of its basis and addressing (``rydberg_global``/``raman_global``,
    ``rydberg_local``/``raman_local``).
    """
    beams = hardware.beams_for_channel(name)
    if beams:
        return beams, None
    parts = split_stream(name)
    if parts is not None:
        source, beam_name = parts
        beam = hardware.beam(beam_name)
        if beam is not None:
            source_beams, _ = channel_beams(source, basis, addressing, hardware)
            if beam in source_beams:
                return (beam,), source
    ids = LOCAL_IDS if addressing == "Local" else GLOBAL_IDS
    if basis in ids:
        return hardware.beams_for_channel(ids[basis]), None
    return (), None


def _span(start: int, stop: int) -> str:
    return f"{start}–{stop} ns"


def expand_addressed(
    sampled: SampledSequence, hardware: HardwareConfig, *, keep_unrouted: bool = False
) -> tuple[SampledSequence, dict[str, BeamStream]]:
    """Expand every channel made by addressing beams into one stream per beam.

    Returns the sequence with those channels replaced by their streams ``C@beam`` (local,
    one slot over the whole sequence targeting the beam's atoms, so that
    :meth:`SampledSequence.atom_drives` gives the same per-atom drive as the original) and
    what each stream is. Global channels made by a global beam (and channels no beam makes)
    pass through unchanged. Streams already expanded pass through under their name. A local
    channel on a global beam is a stream that lights every atom. A local channel no beam
    makes is refused, or with ``keep_unrouted`` passed through unchanged.

    Raises :class:`CompileError`, naming the channel, the time and the atoms, when a slot
    targets an atom no beam of the channel addresses, when a beam's atoms are only partly
    among a slot's targets, or when the channel is lit outside every slot.
    """
    reg_ids = frozenset(sampled.register.ids)
    n = sampled.duration_ns
    channels: dict[str, ChannelSamples] = {}
    streams: dict[str, BeamStream] = {}
    for name, ch in sampled.channels.items():
        beams, source = channel_beams(name, ch.basis, ch.addressing, hardware)
        if ch.addressing == "Global" and not any(b.targets for b in beams):
            channels[name] = ch  # a global beam: compiled as it always was
            continue
        if not beams and keep_unrouted:
            channels[name] = ch
            continue
        if not beams:
            raise CompileError(
                f"channel {name!r} is {ch.addressing}-addressed and no beam of hardware "
                f"{hardware.name!r} makes it (nor {LOCAL_IDS.get(ch.basis, '?')!r}); beams make "
                f"{sorted({b.channel for b in hardware.beams})}"
            )
        label = source if source is not None else name
        lights = {b.name: (frozenset(b.targets) & reg_ids if b.targets else reg_ids) for b in beams}
        covered = frozenset().union(*lights.values())
        slots = ch.slots
        if not slots and ch.addressing == "Global":
            slots = (TargetSlot(0, n, reg_ids),)
        in_slot = np.zeros(n, dtype=bool)
        for slot in slots:
            in_slot[slot.start_ns : slot.stop_ns] = True
        stray = np.flatnonzero(~in_slot & (ch.amplitude != 0))
        if stray.size:
            raise CompileError(
                f"channel {label!r}: Ω = {ch.amplitude[stray[0]]:.6g} rad/µs at {int(stray[0])} "
                "ns, outside every target slot; a local channel must be dark where it targets "
                "no atom"
            )
        active = {b.name: np.zeros(n, dtype=bool) for b in beams}
        for slot in sorted(slots, key=lambda s: s.start_ns):
            missing = slot.targets - covered
            if missing:
                raise CompileError(
                    f"channel {label!r}: at {_span(slot.start_ns, slot.stop_ns)} it targets "
                    f"atoms {sorted(missing)}, which no beam of hardware {hardware.name!r} "
                    f"addresses (its beams {[b.name for b in beams]} address {sorted(covered)})"
                )
            for b in beams:
                lit = lights[b.name]
                inside = lit & slot.targets
                if not inside:
                    continue
                if inside != lit:
                    raise CompileError(
                        f"channel {label!r}: at {_span(slot.start_ns, slot.stop_ns)} it "
                        f"targets {sorted(slot.targets)}, but beam {b.name!r} lights atoms "
                        f"{sorted(lit)} together and would also light {sorted(lit - inside)}, "
                        "which are not targeted"
                    )
                active[b.name][slot.start_ns : slot.stop_ns] = True
        for b in beams:
            lit = lights[b.name]
            if not lit:
                continue  # none of its sites holds an atom of this register
            stream = name if source is not None else stream_name(name, b.name)
            if stream in channels or (stream != name and stream in sampled.channels):
                raise CompileError(f"channel {stream!r} exists twice; rename the channel")
            on = active[b.name]
            channels[stream] = ChannelSamples(
                stream,
                ch.basis,
                "Local",
                np.where(on, ch.amplitude, 0.0),
                np.where(on, ch.detuning, 0.0),
                ch.phase.copy(),
                (TargetSlot(0, n, lit),),
            )
            streams[stream] = BeamStream(label, b.name, tuple(sorted(lit)))
    out = SampledSequence(
        sampled.register,
        channels,
        sampled.device_name,
        sampled.measurement_basis,
        dict(sampled.metadata),
    )
    return out, streams
