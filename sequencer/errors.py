"""The sequencer's exceptions: one hierarchy, messages that name the value and the limit."""

from __future__ import annotations


class SequenceError(Exception):
    """Base of every error the sequencer raises."""


class RegisterError(SequenceError, ValueError):
    """A register or layout is invalid (duplicate ids, atoms too close, outside the device)."""


class DeviceConstraintError(SequenceError, ValueError):
    """A value is outside what the device or one of its channels allows."""


class ChannelError(SequenceError, ValueError):
    """A channel is unknown, already declared, or used in a way its addressing forbids."""


class WaveformError(SequenceError, ValueError):
    """A waveform's parameters are invalid (negative duration, mismatched lengths, ...)."""


class SerializationError(SequenceError, ValueError):
    """A JSON document cannot be read or written (schema mismatch, unsupported feature)."""


class ParameterError(SequenceError, ValueError):
    """A variable of a parametrised sequence is missing, unknown or of the wrong size."""
