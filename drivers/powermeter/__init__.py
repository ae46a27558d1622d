"""Optical power meters."""

from drivers.powermeter.thorlabs import ThorlabsPM100D

__all__ = ["ThorlabsPM100D"]
