"""The hardware compiler: a sampled sequence → what the AWGs, AOMs and TTL lines play, and back.

``compile_sequence`` (alias ``compile`` inside this subpackage) turns a
:class:`~sequencer.sampled.SampledSequence` (or its run-length form
:class:`CompactSequence`) into a :class:`HardwareProgram` for a :class:`HardwareConfig` and a
:class:`CompilerCalibration`; ``decode`` demodulates the program back into the Ω, Δ, φ the
atoms see.
"""

from sequencer.compiler.addressing import expand_addressed
from sequencer.compiler.calibration import (
    AOMResponse,
    ChannelCalibration,
    CompilerCalibration,
    load_calibration,
)
from sequencer.compiler.compile import compile_sequence
from sequencer.compiler.decode import (
    RoundTripError,
    atom_rabi_factors,
    decode,
    demodulation_filter,
    profiled_atom_drives,
    round_trip_error,
)
from sequencer.compiler.errors import CompileError, HardwareConfigError, HardwareLimitError
from sequencer.compiler.hardware import (
    AOMConfig,
    AWGConfig,
    BeamConfig,
    CameraTiming,
    HardwareConfig,
    TTLLine,
    load_hardware,
)
from sequencer.compiler.program import (
    AWGProgram,
    ChannelBudget,
    ErrorBudget,
    HardwareProgram,
    Step,
    TTLEvent,
)
from sequencer.compiler.timeline import Block, ChannelInfo, CompactSequence

compile = compile_sequence

__all__ = [
    "AOMConfig",
    "AOMResponse",
    "AWGConfig",
    "AWGProgram",
    "BeamConfig",
    "Block",
    "CameraTiming",
    "ChannelBudget",
    "ChannelCalibration",
    "ChannelInfo",
    "CompactSequence",
    "CompileError",
    "CompilerCalibration",
    "ErrorBudget",
    "HardwareConfig",
    "HardwareConfigError",
    "HardwareLimitError",
    "HardwareProgram",
    "RoundTripError",
    "Step",
    "TTLEvent",
    "TTLLine",
    "atom_rabi_factors",
    "compile",
    "compile_sequence",
    "decode",
    "demodulation_filter",
    "expand_addressed",
    "load_calibration",
    "load_hardware",
    "profiled_atom_drives",
    "round_trip_error",
]
