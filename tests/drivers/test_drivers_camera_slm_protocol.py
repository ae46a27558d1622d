"""Layer 1: ORCA camera control (pty), its TCP frame stream, and the SLM bridge (TCP)."""

from __future__ import annotations

import socket
import struct
import threading

import numpy as np
import pytest
from drivers_scripted_peer import PtyPeer, Step, TCPPeer, steps

from drivers.camera import FRAME_HEADER, HamamatsuOrcaFlash4, TCPFrameSource
from drivers.errors import (
    InstrumentCommandError,
    InstrumentTimeout,
    ParameterValidationError,
)
from drivers.slm import SLMBridge

ORCA_HELLO = (b"RES Y\r", b"RES Y\r")
SIZE = [Step(b"?CAI H\r", b"CAI H 2048\r"), Step(b"?CAI V\r", b"CAI V 2048\r")]


class FramePusher:
    """A real TCP frame server: pushes the given frames (raw bytes) to each connection."""

    def __init__(self, per_connection: list[list[bytes]]) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.address = f"tcp://127.0.0.1:{self._server.getsockname()[1]}"
        self._plan = per_connection
        self._release = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self._server.settimeout(10)
        conns = []
        for frames in self._plan:
            conn, _ = self._server.accept()
            conns.append(conn)
            for data in frames:
                conn.sendall(data)
        self._release.wait(10)
        for conn in conns:
            conn.close()
        self._server.close()

    def __enter__(self) -> FramePusher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._thread.join(10)


def frame_bytes(index: int, image: np.ndarray, magic: bytes = b"ASFR") -> bytes:
    data = np.ascontiguousarray(image, dtype="<u2").tobytes()
    header = FRAME_HEADER.pack(magic, 1, index, image.shape[0], image.shape[1], 1, len(data))
    return header + data


def test_frame_header_layout_is_the_agreed_one() -> None:
    assert FRAME_HEADER.size == 32
    assert FRAME_HEADER.format == struct.Struct("<4sIQIIII").format


def test_orca_exposure_is_echoed_and_parsed() -> None:
    script = steps(
        ORCA_HELLO, (b"AET 0.020000\r", b"AET 0.020000\r"), (b"?AET\r", b"AET 0.020000\r")
    )
    with PtyPeer(script) as peer:
        with HamamatsuOrcaFlash4(peer.resource, "tcp://127.0.0.1:9") as cam:
            assert cam.set_exposure(0.02) == pytest.approx(0.02)


def test_orca_error_reply_raises_with_its_code() -> None:
    script = steps(ORCA_HELLO, (b"SPX 2\r", b"E6\r"))
    with PtyPeer(script) as peer:
        with HamamatsuOrcaFlash4(peer.resource, "tcp://127.0.0.1:9") as cam:
            with pytest.raises(InstrumentCommandError, match="E6") as info:
                cam.binning = 2
    assert info.value.errors[0][0] == 6


def test_orca_centred_band_roi_uses_subarray_mode() -> None:
    script = [
        Step(*ORCA_HELLO),
        *SIZE,
        Step(b"SDV 924,0,100\r", b"SDV 924,0,100\r"),
        Step(b"SMD W\r", b"SMD W\r"),
        Step(b"SPX 1\r", b"SPX 1\r"),
        Step(b"?SPX\r", b"SPX 1\r"),
        Step(b"?SMD\r", b"SMD W\r"),
        Step(b"?SDV\r", b"SDV 924,0,100\r"),
    ]
    with PtyPeer(script) as peer:
        with HamamatsuOrcaFlash4(peer.resource, "tcp://127.0.0.1:9") as cam:
            roi = cam.set_roi(vstart=924, vend=1124)
    assert (roi.vstart, roi.vend, roi.hstart, roi.hend) == (924, 1124, 0, 2048)


def test_orca_roi_it_cannot_read_is_refused() -> None:
    with PtyPeer([Step(*ORCA_HELLO), *SIZE]) as peer:
        with HamamatsuOrcaFlash4(peer.resource, "tcp://127.0.0.1:9") as cam:
            with pytest.raises(ParameterValidationError, match="full rows"):
                cam.set_roi(hstart=10)
            with pytest.raises(ParameterValidationError, match="centred"):
                cam.set_roi(vstart=0, vend=100)


def test_orca_external_trigger_mode_sets_amd_and_emd() -> None:
    script = steps(
        ORCA_HELLO, (b"AMD E\r", b"AMD E\r"), (b"EMD E\r", b"EMD E\r"), (b"?AMD\r", b"AMD E\r")
    )
    with PtyPeer(script) as peer:
        with HamamatsuOrcaFlash4(peer.resource, "tcp://127.0.0.1:9") as cam:
            cam.set_trigger_mode("ext")
            assert cam.get_trigger_mode() == "ext"


def test_orca_safe_state_stops_capture_and_returns_to_free_run() -> None:
    script = steps(ORCA_HELLO, (b"AMD N\r", b"AMD N\r"))
    image = np.arange(12, dtype=np.uint16).reshape(3, 4)
    with FramePusher([[frame_bytes(0, image)]]) as pusher, PtyPeer(script) as peer:
        with HamamatsuOrcaFlash4(peer.resource, pusher.address) as cam:
            cam.start_acquisition()
            cam.wait_for_frame(1, timeout_s=5)
            cam.safe_state()
            assert not cam.acquisition_in_progress()


def test_frame_source_buffers_frames_in_order() -> None:
    images = [np.full((2, 3), i, dtype=np.uint16) for i in range(5)]
    with FramePusher([[frame_bytes(i, im) for i, im in enumerate(images)]]) as pusher:
        source = TCPFrameSource(pusher.address)
        source.start()
        try:
            source.wait_for_frames(5, timeout_s=5)
            frames = source.read_unread()
        finally:
            source.stop()
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    for frame, image in zip(frames, images):
        np.testing.assert_array_equal(frame.image, image)
    assert frames[0].image.dtype == np.uint16


def test_frame_source_survives_a_corrupt_header_by_reconnecting() -> None:
    good = np.ones((2, 2), dtype=np.uint16)
    plan = [
        [frame_bytes(0, good), frame_bytes(1, good, magic=b"\xde\xad\xbe\xef")],
        [frame_bytes(7, good * 7)],
    ]
    with FramePusher(plan) as pusher:
        source = TCPFrameSource(pusher.address)
        source.start()
        try:
            source.wait_for_frames(2, timeout_s=5)
            frames = source.read_unread()
        finally:
            source.stop()
    assert [f.index for f in frames] == [0, 7]
    assert source.stream_errors == 1
    assert "magic" in (source.last_error or "")


def test_frame_wait_times_out_with_the_package_exception() -> None:
    with FramePusher([[]]) as pusher:
        source = TCPFrameSource(pusher.address)
        source.start()
        try:
            with pytest.raises(InstrumentTimeout, match="0 of 1 frames"):
                source.wait_for_frames(1, timeout_s=0.2)
        finally:
            source.stop()


SLM_HELLO = [Step(b"SLM:SHAPE?\n", b"2,3\n"), Step(b"SLM:BITS?\n", b"8\n")]
NO_ERROR = Step(b"SYST:ERR?\n", b'0,"No error"\n')


def test_slm_mask_goes_up_as_little_endian_uint16_block() -> None:
    mask = np.array([[0, 1, 2], [10, 255, 128]], dtype=np.uint16)
    payload = mask.astype("<u2").tobytes()
    script = [
        *SLM_HELLO,
        Step(b"SLM:MASK #212" + payload + b"\n"),
        Step(b"*OPC?\n", b"1\n"),
        NO_ERROR,
        Step(b"SLM:MASK?\n", b"#212" + payload + b"\n"),
    ]
    with TCPPeer(script) as peer, SLMBridge(peer.resource) as slm:
        assert slm.shape == (2, 3) and slm.bit_depth == 8
        slm.write_mask(mask)
        np.testing.assert_array_equal(slm.read_mask(), mask)


def test_slm_phase_in_radians_is_quantised_and_wrapped() -> None:
    phase = np.array([[0.0, np.pi, 2 * np.pi], [-np.pi / 2, 3 * np.pi, 0.01]])
    levels = np.array([[0, 128, 0], [192, 128, 0]], dtype=np.uint16)
    script = [
        *SLM_HELLO,
        Step(b"SLM:MASK #212" + levels.astype("<u2").tobytes() + b"\n"),
        Step(b"*OPC?\n", b"1\n"),
        NO_ERROR,
    ]
    with TCPPeer(script) as peer, SLMBridge(peer.resource) as slm:
        slm.write_phase(phase)


def test_slm_refuses_wrong_shape_and_levels() -> None:
    with TCPPeer(SLM_HELLO) as peer, SLMBridge(peer.resource) as slm:
        with pytest.raises(ParameterValidationError, match="shape"):
            slm.write_mask(np.zeros((3, 2), dtype=np.uint16))
        with pytest.raises(ParameterValidationError, match=r"allowed \[0, 255\]"):
            slm.write_mask(np.full((2, 3), 256))


def test_slm_corrupt_readback_block_is_retried_on_a_new_connection() -> None:
    mask = np.arange(6, dtype=np.uint16).reshape(2, 3)
    script = [
        *SLM_HELLO,
        Step(b"SLM:MASK?\n", b"#7XXXXXXX\n", then="await_close"),
        *SLM_HELLO,
        Step(b"SLM:MASK?\n", b"#212" + mask.tobytes() + b"\n"),
    ]
    with TCPPeer(script) as peer, SLMBridge(peer.resource) as slm:
        np.testing.assert_array_equal(slm.read_mask(), mask)


def test_slm_safe_state_shows_a_flat_mask() -> None:
    script = [
        *SLM_HELLO,
        Step(b"SLM:MASK #212" + bytes(12) + b"\n"),
        Step(b"*OPC?\n", b"1\n"),
        NO_ERROR,
    ]
    with TCPPeer(script) as peer, SLMBridge(peer.resource) as slm:
        slm.safe_state()
