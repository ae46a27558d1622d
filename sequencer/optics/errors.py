"""Errors raised by the tweezer-optics compiler."""

from __future__ import annotations

from sequencer.errors import SequenceError


class OpticsError(SequenceError, ValueError):
    """An optics description or request is invalid (names the value and the allowed range)."""
