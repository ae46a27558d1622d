"""Spatial light modulators: the :class:`SLM` interface and the bridge driver."""

from drivers.slm.bridge import SLM, SLMBridge

__all__ = ["SLM", "SLMBridge"]
