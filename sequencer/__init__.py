"""The pulse-level programming model: registers, devices, waveforms, pulses, sequences.

Units follow Pulser: time in ns, Ω and Δ in rad/µs, distances in µm, phases in rad.
"""

from sequencer.devices import (
    AnalogDevice,
    Channel,
    Device,
    DigitalAnalogDevice,
    MockDevice,
    Raman,
    Rydberg,
    get_device,
)
from sequencer.errors import (
    ChannelError,
    DeviceConstraintError,
    ParameterError,
    RegisterError,
    SequenceError,
    SerializationError,
    WaveformError,
)
from sequencer.parametrize import Variable
from sequencer.pulse import Pulse
from sequencer.pulser_json import dump_sequence, load_sequence
from sequencer.register import Register, RegisterLayout
from sequencer.sampled import AtomDrives, ChannelSamples, SampledSequence, TargetSlot
from sequencer.sampling import sample
from sequencer.sequence import Sequence
from sequencer.waveforms import (
    BlackmanWaveform,
    CompositeWaveform,
    ConstantWaveform,
    CustomWaveform,
    InterpolatedWaveform,
    RampWaveform,
    Waveform,
)

__all__ = [
    "AnalogDevice",
    "AtomDrives",
    "BlackmanWaveform",
    "Channel",
    "ChannelError",
    "ChannelSamples",
    "CompositeWaveform",
    "ConstantWaveform",
    "CustomWaveform",
    "Device",
    "DeviceConstraintError",
    "DigitalAnalogDevice",
    "InterpolatedWaveform",
    "MockDevice",
    "ParameterError",
    "Pulse",
    "Raman",
    "RampWaveform",
    "Register",
    "RegisterError",
    "RegisterLayout",
    "Rydberg",
    "SampledSequence",
    "Sequence",
    "SequenceError",
    "SerializationError",
    "TargetSlot",
    "Variable",
    "Waveform",
    "WaveformError",
    "dump_sequence",
    "get_device",
    "load_sequence",
    "sample",
]
