"""Emulated instruments: each speaks its real instrument's bytes on a real transport.

``EMULATORS`` maps the registry name of each emulator to its class; a driver class names
its emulator with ``emulator_name``. Every emulator is started with ``start()`` (or as a
context manager), serves on 127.0.0.1 TCP or on a pseudo-terminal, and gives
``resource`` (the VISA resource string), ``faults`` (fault injection), ``state`` (the
instrument state), ``on_change(callback)`` (hooks for the virtual lab), ``power_cycle()``
and ``stop()``. See ``docs/emulators.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from virtual_device.instruments._framework import (
    CommandRecord,
    Emulator,
    Faults,
    StateChange,
    Transport,
)
from virtual_device.instruments.coherent_obis import CoherentOBISEmulator, OBISConfig
from virtual_device.instruments.hamamatsu_orca import (
    FRAME_HEADER,
    FrameProducer,
    FrameRequest,
    HamamatsuOrcaEmulator,
    OrcaConfig,
    PoissonBackground,
)
from virtual_device.instruments.keysight33600a import (
    Keysight33600AEmulator,
    Keysight33600ALimits,
)
from virtual_device.instruments.slm_bridge import SLMBridgeEmulator
from virtual_device.instruments.thorlabs_pm100d import PM100DConfig, ThorlabsPM100DEmulator
from virtual_device.instruments.toptica_dlcpro import TopticaDLCProEmulator
from virtual_device.instruments.windfreak_synthhd import (
    WindfreakConfig,
    WindfreakSynthHDEmulator,
)

__all__ = [
    "EMULATORS",
    "FRAME_HEADER",
    "CoherentOBISEmulator",
    "CommandRecord",
    "Emulator",
    "Faults",
    "FrameProducer",
    "FrameRequest",
    "HamamatsuOrcaEmulator",
    "Keysight33600AEmulator",
    "Keysight33600ALimits",
    "OBISConfig",
    "OrcaConfig",
    "PM100DConfig",
    "PoissonBackground",
    "SLMBridgeEmulator",
    "StateChange",
    "ThorlabsPM100DEmulator",
    "TopticaDLCProEmulator",
    "Transport",
    "WindfreakConfig",
    "WindfreakSynthHDEmulator",
]

#: Every emulator by registry name (read-only).
EMULATORS: Mapping[str, type[Emulator]] = MappingProxyType(
    {
        cls.name: cls
        for cls in (
            Keysight33600AEmulator,
            WindfreakSynthHDEmulator,
            CoherentOBISEmulator,
            TopticaDLCProEmulator,
            ThorlabsPM100DEmulator,
            HamamatsuOrcaEmulator,
            SLMBridgeEmulator,
        )
    }
)
