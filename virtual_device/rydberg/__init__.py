"""Rydberg dynamics: exact state-vector evolution of atoms under sampled drives.

Public API::

    from virtual_device.rydberg import simulate, NoiseModel

    result = simulate(sampled_sequence, interaction_coeff=865723.02)
    result.bitstring_probabilities()      # {"0101…": p, …}, first atom = leftmost bit
    result.sample_shots(1000, rng=1)      # Counter of bitstrings, readout errors included
"""

from virtual_device.rydberg.noise import NoiseModel
from virtual_device.rydberg.result import SimulationResult, TruncationReport
from virtual_device.rydberg.simulate import cutoff_for_distance, simulate
from virtual_device.rydberg.space import TruncationInfo
from virtual_device.rydberg.three_level import QutritSpace, ThreeLevelResult

__all__ = [
    "NoiseModel",
    "QutritSpace",
    "SimulationResult",
    "ThreeLevelResult",
    "TruncationInfo",
    "TruncationReport",
    "cutoff_for_distance",
    "simulate",
]
