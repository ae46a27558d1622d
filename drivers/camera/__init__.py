"""Cameras: the :class:`Camera` interface, the ORCA-Flash4.0 driver and frame sources."""

from drivers.camera.frames import FRAME_HEADER, TCPFrameSource
from drivers.camera.hamamatsu import HamamatsuOrcaFlash4
from drivers.camera.interface import Camera, Frame, FrameSource, Roi, TriggerMode

__all__ = [
    "FRAME_HEADER",
    "Camera",
    "Frame",
    "FrameSource",
    "HamamatsuOrcaFlash4",
    "Roi",
    "TCPFrameSource",
    "TriggerMode",
]
