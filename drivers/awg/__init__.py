"""Arbitrary waveform generators and the tabular sequence-mode AWG interface."""

from drivers.awg.keysight import Keysight33600A, Keysight33600AChannel, SequenceEntry
from drivers.awg.sequence import (
    DAC_MAX,
    Segment,
    SequenceAWG,
    SequenceProgram,
    SequenceStep,
    as_dac_codes,
)

__all__ = [
    "DAC_MAX",
    "Keysight33600A",
    "Keysight33600AChannel",
    "Segment",
    "SequenceAWG",
    "SequenceEntry",
    "SequenceProgram",
    "SequenceStep",
    "as_dac_codes",
]
