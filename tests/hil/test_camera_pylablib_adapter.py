"""The pylablib adapters over the ORCA driver and its emulator (real pylablib, real pty/TCP).

Chain: ORCA emulator → HamamatsuOrcaFlash4 (our Camera) → as_pylablib_camera (a real
pylablib ICamera: its frame counter, waits, ranges and grab/snap) → PylablibCamera (our
Camera again). Frames carry their index in one pixel so order and loss are checked.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from pylablib.devices.interface.camera import ICamera

from drivers.camera import HamamatsuOrcaFlash4, PylablibCamera, as_pylablib_camera
from drivers.errors import InstrumentError, InstrumentTimeout
from virtual_device.instruments import FrameRequest, HamamatsuOrcaEmulator, OrcaConfig

pytestmark = pytest.mark.timeout(60)

TIMEOUT_S = 0.5


def _numbered(request: FrameRequest) -> np.ndarray:
    image = np.full(request.shape, 100, np.uint16)
    image[0, 0] = request.frame_index % 60000
    return image


@pytest.fixture
def orca_emu():
    with HamamatsuOrcaEmulator(config=OrcaConfig(width=64, height=64)) as emu:
        emu.frame_producer = _numbered
        yield emu


@pytest.fixture
def orca(orca_emu):
    with HamamatsuOrcaFlash4(
        orca_emu.resource, orca_emu.frame_address, timeout_s=TIMEOUT_S
    ) as driver:
        driver.set_exposure(0.001)
        yield driver


@pytest.fixture
def pll(orca):
    cam = as_pylablib_camera(orca)
    yield cam
    cam.stop_acquisition()


def _indices(images: list[np.ndarray]) -> list[int]:
    return [int(image[0, 0]) for image in images]


def test_the_view_is_a_pylablib_camera_with_our_settings(pll, orca_emu):
    assert isinstance(pll, ICamera)
    assert pll.get_detector_size() == (64, 64)
    assert pll.set_exposure(0.002) == pytest.approx(0.002)
    assert orca_emu.state.exposure_s == pytest.approx(0.002)
    assert pll.get_settings()["exposure"] == pytest.approx(0.002)
    assert pll.set_roi(vstart=24, vend=40, hbin=2, vbin=2) == (0, 64, 24, 40, 2, 2)
    assert pll.get_data_dimensions() == (8, 32)  # rows × columns


def test_pylablib_snap_and_grab_read_consecutive_frames(pll):
    assert pll.snap().shape == (64, 64)
    frames = pll.grab(5)
    assert len(frames) == 5 and all(f.dtype == np.uint16 for f in frames)
    numbers = _indices(frames)
    assert numbers == list(range(numbers[0], numbers[0] + 5))  # in order, none lost


def test_pylablib_waits_ranges_and_status(pll):
    pll.setup_acquisition(nframes=50)
    pll.start_acquisition()
    assert pll.wait_for_frame(since="start", nframes=3, timeout=10.0)
    first = pll.read_multiple_images(rng=(0, 2))
    assert len(first) == 2
    status = pll.get_frames_status()
    assert status.acquired >= 3 and status.buffer_size == 50
    rest = pll.read_multiple_images()
    assert _indices(first + rest) == list(
        range(_indices(first)[0], _indices(first)[0] + 2 + len(rest))
    )
    pll.stop_acquisition()
    assert not pll.acquisition_in_progress()


def test_a_small_pylablib_buffer_counts_overwritten_frames_as_skipped(pll):
    pll.setup_acquisition(nframes=2)
    pll.start_acquisition()
    pll.wait_for_frame(since="start", nframes=6, timeout=10.0)
    pll.stop_acquisition()
    status = pll.get_frames_status()
    assert status.acquired >= 6 and status.unread == 2 and status.skipped >= 4
    assert len(pll.read_multiple_images()) == 2


def test_pylablib_timeout_is_pylablibs_error_without_frames(pll, orca):
    orca.set_trigger_mode("ext")
    pll.start_acquisition()
    with pytest.raises(pll.TimeoutError):
        pll.wait_for_frame(timeout=0.3)


def test_round_trip_through_pylablib_is_our_camera_again(pll, orca_emu):
    cam = PylablibCamera(pll)
    assert cam.get_detector_size() == (64, 64)
    assert cam.set_exposure(0.003) == pytest.approx(0.003)
    assert cam.set_roi(vstart=16, vend=48) == cam.get_roi()
    assert (cam.get_roi().vstart, cam.get_roi().vend) == (16, 48)
    assert cam.snap().shape == (32, 64)
    cam.set_roi()
    cam.start_acquisition()
    cam.wait_for_frame(3, timeout_s=10.0)
    images = cam.read_multiple_images()
    numbers = _indices(images)
    assert len(images) >= 3 and numbers == list(range(numbers[0], numbers[0] + len(images)))
    cam.stop_acquisition()


def test_round_trip_external_trigger_and_timeout(pll, orca_emu):
    cam = PylablibCamera(pll)
    cam.set_trigger_mode("ext")
    assert cam.get_trigger_mode() == "ext" and orca_emu.state.trigger_mode == "E"
    cam.start_acquisition()
    with pytest.raises(InstrumentTimeout):
        cam.wait_for_frame(1, timeout_s=0.3)
    _wait_for_client(orca_emu)
    orca_emu.trigger()
    cam.wait_for_frame(1, timeout_s=10.0)
    assert cam.read_newest_image() is not None
    cam.stop_acquisition()
    with pytest.raises(InstrumentError, match="stopped"):
        cam.wait_for_frame(1, timeout_s=0.1)


def test_wrapping_something_else_is_refused():
    with pytest.raises(TypeError, match="not a pylablib camera"):
        PylablibCamera(object())


def test_unknown_trigger_mode_is_refused_naming_the_allowed_ones(pll):
    with pytest.raises(InstrumentError, match="allowed: int, ext"):
        PylablibCamera(pll).set_trigger_mode("software")  # type: ignore[arg-type]


def _wait_for_client(emu: HamamatsuOrcaEmulator) -> None:
    done = threading.Event()
    for _ in range(500):
        if emu.frame_clients:
            return
        done.wait(0.01)
    raise AssertionError("the frame source never connected")
