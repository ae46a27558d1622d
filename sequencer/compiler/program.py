"""What the instruments play: AWG segments and step tables, a TTL table, and the error budget.

:class:`HardwareProgram` is instrument level (SI units, DAC codes); times on the shot's
timeline are in ns with 0 = the moment the sequence starts at the atoms.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

__all__ = [
    "AWGProgram",
    "ChannelBudget",
    "ErrorBudget",
    "HardwareProgram",
    "Step",
    "TTLEvent",
]


@dataclass(frozen=True)
class Step:
    """One entry of an AWG's sequence-step table: play ``segment`` ``loops`` times."""

    segment: int
    loops: int


@dataclass(frozen=True, eq=False)
class AWGProgram:
    """Segments (int16/int32 DAC codes, shape (channels, length)) and the step table of one AWG.

    Steps play in order, then the AWG stops at the last one. ``start_ns`` is when its first
    sample leaves the output, on the shot timeline (0 = sequence start at the atoms).
    ``channel_aoms[i]`` names the AOM on output channel ``i`` ("" when unused).
    """

    awg: str
    sample_rate_hz: float
    start_ns: float
    channel_aoms: tuple[str, ...]
    segments: tuple[NDArray[np.int32], ...]
    steps: tuple[Step, ...]

    @property
    def segment_samples(self) -> int:
        """Samples per channel stored in memory (sum of segment lengths)."""
        return int(sum(s.shape[1] for s in self.segments))

    @property
    def played_samples(self) -> int:
        """Samples per channel played by the whole step table."""
        return int(sum(self.segments[s.segment].shape[1] * s.loops for s in self.steps))

    def expand(self, channel: int, max_samples: int = 100_000_000) -> NDArray[np.int32]:
        """The full stream of codes of ``channel`` (refused beyond ``max_samples``)."""
        if self.played_samples > max_samples:
            raise ValueError(f"{self.played_samples} samples exceed max_samples={max_samples}")
        parts = [np.tile(self.segments[s.segment][channel], s.loops) for s in self.steps]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)

    def channel_payload(self, channel: int) -> dict[str, Any]:
        """One output channel as a per-channel sequence AWG takes it (e.g. a 33600A channel).

        ``segments``: ``{"seg<i>": int16 codes}``; ``steps``: ``[("seg<i>", loops), ...]`` in
        play order. After the last step the AWG must stop (Spectrum: ``SPCSEQ_END``); a driver
        whose table wraps to the first step must end on a dark wait instead.
        """
        return {
            "segments": {
                f"seg{i}": seg[channel].astype(np.int16) for i, seg in enumerate(self.segments)
            },
            "steps": [(f"seg{st.segment}", st.loops) for st in self.steps],
        }

    def spectrum_step_words(self) -> NDArray[np.uint64]:
        """Step table as Spectrum sequence-mode words ``((flags|loops)<<32)|(next<<16)|segment``.

        Flags: ``SPCSEQ_ENDLOOPALWAYS`` (0x40000000) on every step but the last, which has
        ``SPCSEQ_END`` (0x80000000).
        """
        words = np.zeros(len(self.steps), dtype=np.uint64)
        for i, st in enumerate(self.steps):
            last = i == len(self.steps) - 1
            flags = 0x80000000 if last else 0x40000000
            nxt = 0 if last else i + 1
            words[i] = np.uint64(((flags | st.loops) << 32) | (nxt << 16) | st.segment)
        return words

    def scpi_sequence(self, name: str = "shot") -> str:
        """The ``DATA:SEQ`` descriptor (Keysight 33600A) naming segments ``seg<i>``.

        Each step is ``"seg<i>",<loops>,repeat,maintain,4``: play the segment ``loops``
        times, keep the marker, marker point 4.
        """
        items = [f'"{name}"']
        for st in self.steps:
            items.append(f'"seg{st.segment}",{st.loops},repeat,maintain,4')
        return ",".join(items)


@dataclass(frozen=True)
class TTLEvent:
    """A digital edge on ``line`` at ``time_ns`` (shot timeline); ``purpose`` says why."""

    line: str
    time_ns: float
    high: bool
    purpose: str


class ChannelBudget(BaseModel):
    """Errors the compiler commits on one AOM channel, with their bounds."""

    model_config = ConfigDict(frozen=True)

    aom: str
    channel: str
    peak_rf_amplitude_v: float
    rf_amplitude_limit_v: float
    max_code: int
    code_limit: int
    max_quantisation_codes: float
    rabi_quantisation_rad_per_us: float
    latency_rounding_ns: float
    hold_frequency_error_hz: float
    hold_detuning_error_rad_per_us: float
    pre_emphasis_clipped_samples: int = 0
    hold_phase_drift_rad: float = 0.0


class ErrorBudget(BaseModel):
    """Size of the program and every bounded error, per channel."""

    model_config = ConfigDict(frozen=True)

    total_segment_samples: int
    total_played_samples: int
    segments: int
    steps: int
    channels: tuple[ChannelBudget, ...]
    ttl_rounding_ns: float


_EMPTY_BUDGET = ErrorBudget(
    total_segment_samples=0,
    total_played_samples=0,
    segments=0,
    steps=0,
    channels=(),
    ttl_rounding_ns=0.0,
)


@dataclass(frozen=True, eq=False)
class HardwareProgram:
    """Everything the instruments play for one shot.

    ``channels`` maps each pulse-level channel to ``{"aom", "awg", "awg_channel", "basis",
    "beam"}``; ``register`` is the register's dict form; ``duration_ns`` is the length of the
    sequence at the atoms.

    A virtual instrument that only knows what was uploaded (segments, steps, start time) can
    build one without a budget and hand it to :func:`sequencer.compiler.decode`, which reads
    nothing but ``awgs``, ``channels`` (names and ``basis``), ``register`` and ``duration_ns``.
    """

    awgs: dict[str, AWGProgram]
    ttl: tuple[TTLEvent, ...]
    duration_ns: int
    channels: dict[str, dict[str, Any]]
    register: dict[str, Any]
    budget: ErrorBudget = field(default_factory=lambda: _EMPTY_BUDGET)
    hardware_name: str = ""
    calibration_version: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    # -- payloads ------------------------------------------------------------------------
    def payloads(self) -> dict[str, dict[str, Any]]:
        """Per instrument, what its driver uploads.

        AWGs: ``segments`` (list of int16 arrays, shape (channels, length)), ``steps``
        (list of (segment, loops)), ``step_words`` (Spectrum encoding), ``scpi_sequence``
        (Keysight ``DATA:SEQ``), ``sample_rate_hz``, and ``channels`` (per used output
        channel, :meth:`AWGProgram.channel_payload`). The TTL generator: ``events`` as
        (line, time_ns, high) sorted by time.
        """
        out: dict[str, dict[str, Any]] = {}
        for name, prog in self.awgs.items():
            out[name] = {
                "kind": "awg",
                "sample_rate_hz": prog.sample_rate_hz,
                "segments": [s.astype(np.int16) for s in prog.segments],
                "steps": [(s.segment, s.loops) for s in prog.steps],
                "step_words": prog.spectrum_step_words(),
                "scpi_sequence": prog.scpi_sequence(),
                "channels": {
                    i: prog.channel_payload(i) for i, aom in enumerate(prog.channel_aoms) if aom
                },
            }
        out["ttl"] = {
            "kind": "ttl",
            "events": [(e.line, e.time_ns, e.high) for e in self.ttl],
        }
        return out

    # -- storage -------------------------------------------------------------------------
    def to_npz_dict(self) -> dict[str, NDArray[Any]]:
        """Arrays of the program keyed for ``np.savez``.

        ``{awg}/segment{i}`` (codes), ``{awg}/steps`` ((n, 2) segment, loops),
        ``{awg}/step_words``, and ``__meta__`` (JSON of everything else).
        """
        out: dict[str, NDArray[Any]] = {}
        meta: dict[str, Any] = {
            "format": "atomstack.HardwareProgram/1",
            "duration_ns": self.duration_ns,
            "channels": self.channels,
            "register": self.register,
            "budget": self.budget.model_dump(),
            "hardware_name": self.hardware_name,
            "calibration_version": self.calibration_version,
            "metadata": self.metadata,
            "ttl": [[e.line, e.time_ns, e.high, e.purpose] for e in self.ttl],
            "awgs": {},
        }
        for name, prog in self.awgs.items():
            for i, seg in enumerate(prog.segments):
                out[f"{name}/segment{i}"] = seg
            out[f"{name}/steps"] = np.array(
                [[s.segment, s.loops] for s in prog.steps], dtype=np.int64
            ).reshape(-1, 2)
            out[f"{name}/step_words"] = prog.spectrum_step_words()
            meta["awgs"][name] = {
                "sample_rate_hz": prog.sample_rate_hz,
                "start_ns": prog.start_ns,
                "channel_aoms": list(prog.channel_aoms),
                "segments": len(prog.segments),
                "scpi_sequence": prog.scpi_sequence(),
            }
        out["__meta__"] = np.array(json.dumps(meta))
        return out

    def save_npz(self, path: str | Path) -> None:
        """Write :meth:`to_npz_dict` to ``path`` (compressed)."""
        np.savez_compressed(path, **self.to_npz_dict())  # type: ignore[arg-type]

    @classmethod
    def load_npz(cls, source: str | Path | io.BytesIO) -> HardwareProgram:
        """Read a file written by :meth:`save_npz`."""
        with np.load(source, allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"]))
            awgs = {}
            for name, info in meta["awgs"].items():
                segs = tuple(
                    np.asarray(data[f"{name}/segment{i}"], dtype=np.int32)
                    for i in range(info["segments"])
                )
                steps = tuple(Step(int(s), int(n)) for s, n in data[f"{name}/steps"])
                awgs[name] = AWGProgram(
                    name,
                    float(info["sample_rate_hz"]),
                    float(info["start_ns"]),
                    tuple(info["channel_aoms"]),
                    segs,
                    steps,
                )
        return cls(
            awgs=awgs,
            ttl=tuple(TTLEvent(str(a), float(b), bool(c), str(d)) for a, b, c, d in meta["ttl"]),
            duration_ns=int(meta["duration_ns"]),
            channels=meta["channels"],
            register=meta["register"],
            budget=ErrorBudget.model_validate(meta["budget"]),
            hardware_name=meta["hardware_name"],
            calibration_version=meta["calibration_version"],
            metadata=meta["metadata"],
        )
