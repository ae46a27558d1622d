"""The pulse-level programming model: registers, devices, waveforms, pulses, sequences.

Units follow Pulser: time in ns, Ω and Δ in rad/µs, distances in µm, phases in rad.
"""

from sequencer.errors import (
    ChannelError,
    DeviceConstraintError,
    ParameterError,
    RegisterError,
    SequenceError,
    SerializationError,
    WaveformError,
)
from sequencer.pulser_json import dump_sequence, load_sequence
from sequencer.register import Register, RegisterLayout
from sequencer.sampled import AtomDrives, ChannelSamples, SampledSequence, TargetSlot

__all__ = [
    "AtomDrives",
    "ChannelError",
    "ChannelSamples",
    "DeviceConstraintError",
    "ParameterError",
    "Register",
    "RegisterError",
    "RegisterLayout",
    "SampledSequence",
    "SequenceError",
    "SerializationError",
    "TargetSlot",
    "WaveformError",
    "dump_sequence",
    "load_sequence",
]
