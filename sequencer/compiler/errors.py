"""The compiler's exceptions, all under :class:`sequencer.errors.SequenceError`."""

from __future__ import annotations

from sequencer.errors import SequenceError

__all__ = ["CompileError", "HardwareConfigError", "HardwareLimitError"]


class CompileError(SequenceError, ValueError):
    """A sequence cannot be compiled for the given hardware and calibration."""


class HardwareLimitError(CompileError):
    """The program would exceed an instrument limit (memory, segments, steps, amplitude, band).

    Raised before anything is uploaded; the message names the value and the allowed range.
    """


class HardwareConfigError(SequenceError, ValueError):
    """A hardware description or calibration file cannot be read or is inconsistent."""
