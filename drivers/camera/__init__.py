"""Cameras: the :class:`Camera` interface, the ORCA-Flash4.0 driver, frame sources, pylablib."""

from drivers.camera.frames import FRAME_HEADER, TCPFrameSource
from drivers.camera.hamamatsu import HamamatsuOrcaFlash4
from drivers.camera.interface import Camera, Frame, FrameSource, Roi, TriggerMode
from drivers.camera.pylablib_adapter import PylablibCamera, as_pylablib_camera

__all__ = [
    "FRAME_HEADER",
    "Camera",
    "Frame",
    "FrameSource",
    "HamamatsuOrcaFlash4",
    "PylablibCamera",
    "Roi",
    "TCPFrameSource",
    "TriggerMode",
    "as_pylablib_camera",
]
