"""Tweezer optics: SLM hardware description and weighted Gerchberg-Saxton holograms."""

from __future__ import annotations

from sequencer.optics.errors import OpticsError
from sequencer.optics.hologram import Hologram, HologramCache, HologramGenerator, hologram
from sequencer.optics.slm import SLMSpec

__all__ = ["Hologram", "HologramCache", "HologramGenerator", "OpticsError", "SLMSpec", "hologram"]
