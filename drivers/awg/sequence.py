"""The tabular sequence-mode AWG model: segments plus a step table.

This is the shape of segment/sequence AWGs such as Spectrum Instrumentation's cards
(``spcm`` ``Sequence``): card memory holds up to ``max_segments`` segments of int16
samples; a step table says which segment each step plays, how many times (``loops``),
whether it leaves after the loops or only on a trigger, and which step follows. The
compiler's ``HardwareProgram`` maps onto :class:`SequenceProgram`; each AWG driver maps a
program onto its own commands (the 33600A onto ``DATA:ARB:DAC`` + ``DATA:SEQ``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from drivers.errors import ParameterValidationError

__all__ = ["DAC_MAX", "Segment", "SequenceAWG", "SequenceProgram", "SequenceStep"]

#: Largest DAC code magnitude; −32768 is not a valid code on symmetric DACs.
DAC_MAX = 32767


def as_dac_codes(samples: npt.ArrayLike, *, name: str = "samples") -> npt.NDArray[np.int16]:
    """``samples`` as a 1-D int16 array, checked against ±32767 (no silent clipping)."""
    array = np.asarray(samples)
    if array.ndim != 1:
        raise ParameterValidationError(f"{name}: expected a 1-D array, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise ParameterValidationError(
            f"{name}: expected integer DAC codes in [-32767, 32767], got dtype {array.dtype}"
        )
    if array.size:
        low, high = int(array.min()), int(array.max())
        if low < -DAC_MAX or high > DAC_MAX:
            raise ParameterValidationError(
                f"{name}: DAC codes span [{low}, {high}], allowed [-32767, 32767]"
            )
    return np.ascontiguousarray(array, dtype=np.int16)


@dataclass(frozen=True, eq=False)
class Segment:
    """A named block of int16 DAC codes (one channel), played as a unit."""

    name: str
    samples: npt.NDArray[np.int16]

    def __post_init__(self) -> None:
        object.__setattr__(self, "samples", as_dac_codes(self.samples, name=self.name))


@dataclass(frozen=True)
class SequenceStep:
    """One row of the step table.

    ``loops``: how many times the segment plays (≥ 1). ``advance``: ``"auto"`` goes on
    after the loops; ``"trigger"`` repeats the segment until a trigger arrives, then goes
    on. ``next_step``: the index of the following step (default: the next row; after the
    last row, back to the first).
    """

    segment: str
    loops: int = 1
    advance: Literal["auto", "trigger"] = "auto"
    next_step: int | None = None

    def __post_init__(self) -> None:
        if self.loops < 1:
            raise ParameterValidationError(f"step on {self.segment!r}: loops={self.loops} < 1")
        if self.advance not in ("auto", "trigger"):
            raise ParameterValidationError(
                f"step on {self.segment!r}: advance={self.advance!r}, allowed 'auto', 'trigger'"
            )


@dataclass(frozen=True)
class SequenceProgram:
    """Segments and the step table that plays them (validated on construction)."""

    segments: tuple[Segment, ...]
    steps: tuple[SequenceStep, ...]
    name: str = "seq"
    _by_name: dict[str, Segment] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [s.name for s in self.segments]
        if len(set(names)) != len(names):
            raise ParameterValidationError(f"segment names repeat: {names}")
        if not self.steps:
            raise ParameterValidationError("a sequence needs at least one step")
        known = set(names)
        for index, step in enumerate(self.steps):
            if step.segment not in known:
                raise ParameterValidationError(
                    f"step {index} plays unknown segment {step.segment!r}; known: {sorted(known)}"
                )
            if step.next_step is not None and not 0 <= step.next_step < len(self.steps):
                raise ParameterValidationError(
                    f"step {index}: next_step={step.next_step} outside [0, {len(self.steps) - 1}]"
                )
        object.__setattr__(self, "_by_name", dict(zip(names, self.segments)))

    def segment(self, name: str) -> Segment:
        """The segment called ``name``."""
        return self._by_name[name]

    def next_of(self, index: int) -> int:
        """The step that follows step ``index``."""
        step = self.steps[index]
        return step.next_step if step.next_step is not None else (index + 1) % len(self.steps)


class SequenceAWG(ABC):
    """An AWG (channel) that plays segments from a step table.

    Limits (class or instance attributes, overridable per instrument): ``max_segments``,
    ``max_steps``, ``min_segment_samples`` and ``segment_granularity`` (sample count must
    be a multiple of it), all counts of samples or entries.
    """

    max_segments: int = 512
    max_steps: int = 512
    min_segment_samples: int = 8
    segment_granularity: int = 1

    def check_program(self, program: SequenceProgram) -> None:
        """Raise :class:`ParameterValidationError` where ``program`` exceeds the limits."""
        if len(program.segments) > self.max_segments:
            raise ParameterValidationError(
                f"{len(program.segments)} segments, allowed at most {self.max_segments}"
            )
        if len(program.steps) > self.max_steps:
            raise ParameterValidationError(
                f"{len(program.steps)} steps, allowed at most {self.max_steps}"
            )
        for segment in program.segments:
            self.check_segment(segment)

    def check_segment(self, segment: Segment) -> None:
        """Raise :class:`ParameterValidationError` if ``segment`` has a bad length."""
        n = segment.samples.size
        if n < self.min_segment_samples or n % self.segment_granularity:
            raise ParameterValidationError(
                f"segment {segment.name!r}: {n} samples; allowed ≥ {self.min_segment_samples} "
                f"and a multiple of {self.segment_granularity}"
            )

    @abstractmethod
    def set_output_scale(self, sample_rate_hz: float, full_scale_v: float) -> None:
        """Play segments at ``sample_rate_hz`` (Sa/s) with code 32767 at ``full_scale_v`` (V peak).

        Offset 0 V: code 0 is 0 V at the load, codes scale linearly to ±``full_scale_v``.
        """

    @abstractmethod
    def upload_segment(self, segment: Segment) -> None:
        """Write one segment into the instrument's memory (replacing one of that name)."""

    @abstractmethod
    def write_step_table(self, program: SequenceProgram) -> None:
        """Write the step table of ``program`` (its segments must be uploaded)."""

    def load_program(
        self, program: SequenceProgram, *, changed: Sequence[str] | None = None
    ) -> None:
        """Check, upload the segments (all, or only those named in ``changed``), write steps."""
        self.check_program(program)
        for segment in program.segments:
            if changed is None or segment.name in changed:
                self.upload_segment(segment)
        self.write_step_table(program)
