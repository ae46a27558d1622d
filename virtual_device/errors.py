"""The virtual device's exceptions: one hierarchy, messages that name the value and the limit."""

from __future__ import annotations


class VirtualDeviceError(Exception):
    """Base of every error the virtual device raises."""


class EmulatorError(VirtualDeviceError):
    """An emulated instrument cannot start, is misconfigured, or is used in the wrong state."""


class SimulationError(VirtualDeviceError, ValueError):
    """The Rydberg simulator was given inputs it cannot evolve (bad shapes, sizes, settings)."""


class NoiseModelError(SimulationError):
    """A noise setting is outside its allowed range."""
