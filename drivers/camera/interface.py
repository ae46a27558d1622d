"""The camera interface (pylablib's shape) and the frame-source interface.

:class:`Camera` follows the names users know from pylablib's camera classes: detector
size, exposure, ROI with binning, trigger mode, acquisition start/stop and a frame
buffer read with ``wait_for_frame`` / ``read_newest_image`` / ``read_multiple_images``.

A camera's control link (serial, SDK) and its pixel path are separate: :class:`FrameSource`
delivers frames (a frame grabber in a real lab; :class:`~drivers.camera.TCPFrameSource`
reads the emulator's TCP frame stream here).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["Camera", "Frame", "FrameSource", "Roi", "TriggerMode"]

TriggerMode = Literal["int", "ext"]


@dataclass(frozen=True)
class Roi:
    """A region of interest in detector pixels: ``[hstart, hend) × [vstart, vend)``, binning."""

    hstart: int
    hend: int
    vstart: int
    vend: int
    hbin: int = 1
    vbin: int = 1


@dataclass(frozen=True, eq=False)
class Frame:
    """One frame: its index in the camera's stream and the image (rows × columns)."""

    index: int
    image: npt.NDArray[np.generic]


class FrameSource(ABC):
    """Where frames come from: buffered as they arrive, read by index."""

    @abstractmethod
    def start(self) -> None:
        """Start receiving frames into the buffer (the buffer is emptied)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop receiving; buffered frames stay readable."""

    @property
    @abstractmethod
    def running(self) -> bool:
        """Whether frames are being received."""

    @abstractmethod
    def wait_for_frames(self, count: int, timeout_s: float) -> None:
        """Block until ``count`` unread frames are buffered (or raise ``InstrumentTimeout``)."""

    @abstractmethod
    def read_unread(self) -> list[Frame]:
        """Every buffered frame not read yet, oldest first (marks them read)."""

    @abstractmethod
    def read_newest(self) -> Frame | None:
        """The newest frame (marks every frame up to it read), or ``None``."""

    @property
    @abstractmethod
    def frames_received(self) -> int:
        """Frames received since :meth:`start`."""


class Camera(ABC):
    """A scientific camera: configuration plus a frame buffer (pylablib-style names)."""

    @abstractmethod
    def get_detector_size(self) -> tuple[int, int]:
        """``(width, height)`` of the sensor in pixels."""

    @abstractmethod
    def get_exposure(self) -> float:
        """Exposure time in s."""

    @abstractmethod
    def set_exposure(self, exposure_s: float) -> float:
        """Set the exposure time in s; returns the value the camera took, in s."""

    @abstractmethod
    def get_roi(self) -> Roi:
        """The region read out, in detector pixels, with binning."""

    @abstractmethod
    def set_roi(
        self,
        hstart: int = 0,
        hend: int | None = None,
        vstart: int = 0,
        vend: int | None = None,
        hbin: int = 1,
        vbin: int = 1,
    ) -> Roi:
        """Set the region (``None``: to the sensor edge) and binning; returns what was set."""

    @abstractmethod
    def get_trigger_mode(self) -> TriggerMode:
        """``"int"`` (free run) or ``"ext"`` (one frame per external trigger)."""

    @abstractmethod
    def set_trigger_mode(self, mode: TriggerMode) -> None:
        """Set ``"int"`` or ``"ext"``."""

    @abstractmethod
    def start_acquisition(self) -> None:
        """Start acquiring into the frame buffer (emptied first)."""

    @abstractmethod
    def stop_acquisition(self) -> None:
        """Stop acquiring; frames already buffered stay readable."""

    @abstractmethod
    def acquisition_in_progress(self) -> bool:
        """Whether an acquisition runs."""

    @abstractmethod
    def wait_for_frame(self, nframes: int = 1, timeout_s: float = 5.0) -> None:
        """Block until ``nframes`` unread frames are in the buffer."""

    @abstractmethod
    def read_newest_image(self) -> npt.NDArray[np.generic] | None:
        """The newest image (older unread ones are skipped), or ``None`` if none is new."""

    @abstractmethod
    def read_multiple_images(self) -> list[npt.NDArray[np.generic]]:
        """Every unread image, oldest first."""

    def snap(self, timeout_s: float = 5.0) -> npt.NDArray[np.generic]:
        """Acquire and return one image (starting and stopping the acquisition if needed)."""
        running = self.acquisition_in_progress()
        if not running:
            self.start_acquisition()
        try:
            self.read_multiple_images()  # only a frame exposed after this call counts
            self.wait_for_frame(1, timeout_s)
            images = self.read_multiple_images()
        finally:
            if not running:
                self.stop_acquisition()
        return images[0]
