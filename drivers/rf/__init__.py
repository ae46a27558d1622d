"""RF synthesisers (AOM drivers)."""

from drivers.rf.windfreak import WindfreakChannel, WindfreakSynthHD

__all__ = ["WindfreakChannel", "WindfreakSynthHD"]
