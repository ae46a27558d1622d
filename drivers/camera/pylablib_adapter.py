"""Adapters between atomstack's :class:`~drivers.camera.Camera` and pylablib's cameras.

Two directions, both optional (pylablib is imported only when they are used; install
``pylablib`` or ``pylablib-lightweight``):

* :class:`PylablibCamera` wraps any pylablib camera (``pylablib.devices.Andor``,
  ``DCAM``, ``Thorlabs``, …) so code written against :class:`~drivers.camera.Camera`
  (the virtual lab, calibration routines) drives it.
* :func:`as_pylablib_camera` exposes one of ours (e.g. the ORCA driver talking to the
  emulator) as a pylablib ``ICamera``, so existing pylablib scripts — ``snap``,
  ``grab``, ``wait_for_frame(since=...)``, ``read_multiple_images(rng=...)``,
  ``get_frames_status`` — run against atomstack cameras and the virtual device.

Images are rows × columns (pylablib's ``"rct"`` indexing) in both directions.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from drivers.camera.interface import Camera, Roi, TriggerMode
from drivers.errors import InstrumentError, InstrumentTimeout

__all__ = ["PylablibCamera", "as_pylablib_camera"]

_TRIGGER_MODES: tuple[TriggerMode, ...] = ("int", "ext")


class PylablibCamera(Camera):
    """Our :class:`Camera` interface over a pylablib camera object.

    ``camera`` is an opened pylablib camera (any ``pylablib.devices.interface.camera.ICamera``
    with exposure and ROI support). Its image indexing is set to ``"rct"`` (rows ×
    columns, top row first), the convention of every atomstack camera. Timeouts of
    pylablib's ``wait_for_frame`` raise :class:`~drivers.errors.InstrumentTimeout`; other
    pylablib device errors pass through unchanged.
    """

    def __init__(self, camera: Any) -> None:
        for name in ("get_detector_size", "wait_for_frame", "read_multiple_images"):
            if not callable(getattr(camera, name, None)):
                raise TypeError(
                    f"{type(camera).__name__} is not a pylablib camera: it has no {name}()"
                )
        self.camera = camera
        if callable(getattr(camera, "set_image_indexing", None)):
            camera.set_image_indexing("rct")

    def get_detector_size(self) -> tuple[int, int]:
        """``(width, height)`` of the sensor in pixels."""
        width, height = self.camera.get_detector_size()
        return int(width), int(height)

    def get_exposure(self) -> float:
        """Exposure time in s."""
        return float(self.camera.get_exposure())

    def set_exposure(self, exposure_s: float) -> float:
        """Set the exposure in s; returns what the camera took, in s."""
        self.camera.set_exposure(exposure_s)
        return self.get_exposure()

    def get_roi(self) -> Roi:
        """The region read out, detector pixels, with binning (1 where the camera has none)."""
        values = tuple(int(v) for v in self.camera.get_roi())
        if len(values) == 4:
            values = (*values, 1, 1)
        return Roi(*values[:6])

    def set_roi(
        self,
        hstart: int = 0,
        hend: int | None = None,
        vstart: int = 0,
        vend: int | None = None,
        hbin: int = 1,
        vbin: int = 1,
    ) -> Roi:
        """Set the region and binning; returns what the camera set (it may round)."""
        if (hbin, vbin) == (1, 1):
            self.camera.set_roi(hstart, hend, vstart, vend)
        else:
            try:
                self.camera.set_roi(hstart, hend, vstart, vend, hbin, vbin)
            except TypeError as exc:  # an IROICamera: no binning arguments
                raise InstrumentError(
                    f"{type(self.camera).__name__} does not bin: hbin={hbin}, vbin={vbin} "
                    "(allowed: 1, 1)"
                ) from exc
        return self.get_roi()

    def get_trigger_mode(self) -> TriggerMode:
        """``"int"`` or ``"ext"``; another pylablib mode raises :class:`InstrumentError`."""
        mode = self.camera.get_trigger_mode()
        if mode not in _TRIGGER_MODES:
            raise InstrumentError(
                f"the camera is in trigger mode {mode!r}, which atomstack does not use "
                f"(allowed: {', '.join(_TRIGGER_MODES)})"
            )
        return cast(TriggerMode, mode)

    def set_trigger_mode(self, mode: TriggerMode) -> None:
        """Set ``"int"`` (free run) or ``"ext"`` (one frame per external trigger)."""
        if mode not in _TRIGGER_MODES:
            raise InstrumentError(
                f"trigger mode {mode!r} is not allowed (allowed: {', '.join(_TRIGGER_MODES)})"
            )
        self.camera.set_trigger_mode(mode)

    def start_acquisition(self) -> None:
        """Start acquiring into pylablib's frame buffer (emptied first)."""
        self.camera.start_acquisition()

    def stop_acquisition(self) -> None:
        """Stop acquiring."""
        self.camera.stop_acquisition()

    def acquisition_in_progress(self) -> bool:
        """Whether an acquisition runs."""
        return bool(self.camera.acquisition_in_progress())

    def wait_for_frame(self, nframes: int = 1, timeout_s: float = 5.0) -> None:
        """Block until ``nframes`` unread frames are buffered; ``InstrumentTimeout`` after s."""
        # pylablib raises the same DeviceError class for "stopped" and for a timeout
        # (ICamera.Error is ICamera.TimeoutError), so "stopped" is checked first.
        if not self.camera.acquisition_in_progress():
            raise InstrumentError("waiting for frames while the acquisition is stopped")
        timeout_error = getattr(self.camera, "TimeoutError", TimeoutError)
        try:
            done = self.camera.wait_for_frame(
                since="lastread", nframes=nframes, timeout=timeout_s, error_on_stopped=False
            )
        except timeout_error as exc:
            raise InstrumentTimeout(
                f"no {nframes} unread frame(s) within {timeout_s} s from "
                f"{type(self.camera).__name__}"
            ) from exc
        if done is False:
            raise InstrumentError("the acquisition stopped while waiting for frames")

    def read_newest_image(self) -> npt.NDArray[np.generic] | None:
        """The newest unread image (older ones are skipped), or ``None``."""
        return cast("npt.NDArray[np.generic] | None", self.camera.read_newest_image())

    def read_multiple_images(self) -> list[npt.NDArray[np.generic]]:
        """Every unread image, oldest first (empty when none, or when not acquiring)."""
        images = self.camera.read_multiple_images()
        return [] if images is None else list(images)


def as_pylablib_camera(camera: Camera, *, poll_s: float = 0.02) -> Any:
    """A pylablib ``ICamera`` (with exposure, ROI and binning) over one of our cameras.

    The returned object keeps its own frame buffer with absolute frame indices, as pylablib
    expects: every call that asks how many frames were acquired moves the frames our
    camera has delivered into it. Its size is ``setup_acquisition(nframes=...)`` (default
    100); older frames are counted as skipped, as in pylablib. ``poll_s`` (s) bounds each
    wait on our camera inside pylablib's waiting loop. The frame period pylablib reports
    is the exposure (our interface has no separate frame period). Closing it does not
    close ``camera``: its owner does.

    Requires pylablib (``pip install pylablib-lightweight``).
    """
    try:
        from pylablib.devices.interface import camera as pll_camera
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "as_pylablib_camera needs pylablib: pip install pylablib-lightweight"
        ) from exc

    class AtomstackPylablibCamera(pll_camera.IBinROICamera, pll_camera.IExposureCamera):
        """pylablib view of an atomstack :class:`~drivers.camera.Camera`."""

        def __init__(self) -> None:
            self._camera = camera
            self._frames: OrderedDict[int, npt.NDArray[np.generic]] = OrderedDict()
            self._acquired = 0
            super().__init__()
            self._add_settings_variable(
                "trigger_mode", self.get_trigger_mode, self.set_trigger_mode
            )

        def _get_connection_parameters(self) -> tuple[str]:
            return (type(camera).__name__,)

        # acquisition
        def setup_acquisition(self, mode: str = "sequence", nframes: int = 100) -> Any:
            """Set the buffer size in frames (``mode`` as pylablib: "sequence" or "snap")."""
            if int(nframes) < 1:
                raise ValueError(f"nframes must be at least 1, got {nframes}")
            self.clear_acquisition()
            return super().setup_acquisition(mode=mode, nframes=int(nframes))

        def clear_acquisition(self) -> None:
            if self._camera.acquisition_in_progress():
                self.stop_acquisition()
            super().clear_acquisition()

        def start_acquisition(self, *args: Any, **kwargs: Any) -> None:
            self.stop_acquisition()
            super().start_acquisition(*args, **kwargs)
            self._frames.clear()
            self._acquired = 0
            self._frame_counter.reset(self._acq_params["nframes"])
            self._camera.start_acquisition()

        def stop_acquisition(self) -> None:
            if self._camera.acquisition_in_progress():
                self._collect()
                self._camera.stop_acquisition()

        def acquisition_in_progress(self) -> bool:
            return self._camera.acquisition_in_progress()

        # frames
        def _collect(self) -> None:
            size = self._acq_params["nframes"] if self._acq_params else 1
            for image in self._camera.read_multiple_images():
                self._frames[self._acquired] = image
                self._acquired += 1
            while len(self._frames) > size:
                self._frames.popitem(last=False)

        def _get_acquired_frames(self) -> int | None:
            if self._acq_params is None:
                return None
            if self._camera.acquisition_in_progress():
                self._collect()
            return self._acquired

        def _wait_for_next_frame(self, timeout: float | None = 20.0, idx: Any = None) -> None:
            wait_s = poll_s if timeout is None else max(0.0, min(poll_s, timeout))
            try:
                self._camera.wait_for_frame(1, wait_s)
            except InstrumentTimeout:
                pass

        def _read_frames(self, rng: tuple[int, int], return_info: bool = False) -> Any:
            return [self._frames[i] for i in range(*rng)], None

        def _get_data_dimensions_rc(self) -> tuple[int, int]:
            roi = self._camera.get_roi()
            return (roi.vend - roi.vstart) // roi.vbin, (roi.hend - roi.hstart) // roi.hbin

        # settings
        def get_detector_size(self) -> tuple[int, int]:
            return self._camera.get_detector_size()

        def get_exposure(self) -> float:
            return self._camera.get_exposure()

        def set_exposure(self, exposure: float) -> float:
            return self._camera.set_exposure(exposure)

        def get_frame_timings(self) -> Any:
            exposure = self._camera.get_exposure()
            return self._TAcqTimings(exposure, exposure)

        def get_roi(self) -> tuple[int, int, int, int, int, int]:
            r = self._camera.get_roi()
            return (r.hstart, r.hend, r.vstart, r.vend, r.hbin, r.vbin)

        def set_roi(
            self,
            hstart: int = 0,
            hend: int | None = None,
            vstart: int = 0,
            vend: int | None = None,
            hbin: int = 1,
            vbin: int = 1,
        ) -> tuple[int, int, int, int, int, int]:
            self._camera.set_roi(hstart, hend, vstart, vend, hbin, vbin)
            return self.get_roi()

        def get_trigger_mode(self) -> str:
            return self._camera.get_trigger_mode()

        def set_trigger_mode(self, mode: TriggerMode) -> str:
            self._camera.set_trigger_mode(mode)
            return self.get_trigger_mode()

        def _zero_frame(self, n: int) -> npt.NDArray[np.generic]:
            return np.zeros((n, *self._get_data_dimensions_rc()), dtype=np.uint16)

    return AtomstackPylablibCamera()
