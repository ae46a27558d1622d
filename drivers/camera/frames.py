"""A frame source that reads atomstack's TCP frame stream.

The stream (served by the emulated ORCA, or by a small bridge beside a real frame
grabber) pushes frames to each connected client. Each frame is a 32-byte little-endian
header ``struct.pack("<4sIQIIII", b"ASFR", 1, frame_index, height, width, dtype_code,
payload_nbytes)`` (dtype_code 1 = uint16, 2 = uint8, 3 = float32) and the row-major
payload.

A header that does not parse (wrong magic or version, size mismatch) leaves no way to
find the next frame in the stream, so the source drops that connection, counts the
error (:attr:`TCPFrameSource.stream_errors`), logs it and reconnects: frames in flight
are lost, later frames arrive normally.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections import deque
from typing import Any
from urllib.parse import urlparse

import numpy as np

from drivers.camera.interface import Frame, FrameSource
from drivers.errors import (
    InstrumentConnectionError,
    InstrumentProtocolError,
    InstrumentTimeout,
    ResourceStringError,
)

__all__ = ["FRAME_HEADER", "TCPFrameSource"]

FRAME_HEADER = struct.Struct("<4sIQIIII")
_MAGIC = b"ASFR"
_DTYPES: dict[int, np.dtype[Any]] = {1: np.dtype("<u2"), 2: np.dtype("u1"), 3: np.dtype("<f4")}
_log = logging.getLogger(__name__)


def parse_frame_address(address: str) -> tuple[str, int]:
    """``tcp://host:port`` → ``(host, port)``."""
    parsed = urlparse(address)
    if parsed.scheme != "tcp" or not parsed.hostname or parsed.port is None:
        raise ResourceStringError(f"frame address {address!r}: expected 'tcp://host:port'")
    return parsed.hostname, parsed.port


class TCPFrameSource(FrameSource):
    """Receives frames from ``tcp://host:port`` into a ring buffer of ``buffer_frames``.

    When the buffer is full the oldest frame is overwritten (counted in
    :attr:`frames_overwritten`), as in a frame grabber's ring buffer.
    """

    def __init__(
        self, address: str, *, buffer_frames: int = 64, connect_timeout_s: float = 2.0
    ) -> None:
        if buffer_frames < 1:
            raise ValueError(f"buffer_frames must be >= 1, got {buffer_frames}")
        self.address = address
        self.host, self.port = parse_frame_address(address)
        self.buffer_frames = buffer_frames
        self.connect_timeout_s = connect_timeout_s
        self._frames: deque[Frame] = deque(maxlen=buffer_frames)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._received = 0
        self._unread = 0
        self.frames_overwritten = 0
        self.stream_errors = 0
        self.last_error: str | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Connect and start the receiving thread (raises if the stream cannot be reached)."""
        self.stop()
        with self._cond:
            self._frames.clear()
            self._received = 0
            self._unread = 0
        self._stop.clear()
        self._sock = self._connect()
        self._thread = threading.Thread(
            target=self._run, name=f"frames {self.address}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop receiving and close the connection."""
        self._stop.set()
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        if sock is not None:
            sock.close()
        self._sock = None
        with self._cond:
            self._cond.notify_all()

    @property
    def running(self) -> bool:
        """Whether the receiving thread runs."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def frames_received(self) -> int:
        """Frames received since :meth:`start`."""
        return self._received

    # -- receiving --------------------------------------------------------------------

    def _connect(self) -> socket.socket:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout_s)
        except OSError as exc:
            raise InstrumentConnectionError(
                f"cannot reach frame stream {self.address}: {exc}"
            ) from exc
        sock.settimeout(0.2)  # lets the thread notice stop()
        return sock

    def _recv_exact(self, sock: socket.socket, count: int) -> bytes | None:
        buf = bytearray(count)
        view = memoryview(buf)
        got = 0
        while got < count:
            if self._stop.is_set():
                return None
            try:
                n = sock.recv_into(view[got:], count - got)
            except TimeoutError:
                continue
            except OSError as exc:
                raise InstrumentConnectionError(f"frame stream {self.address}: {exc}") from exc
            if n == 0:
                raise InstrumentConnectionError(f"frame stream {self.address} closed")
            got += n
        return bytes(buf)

    def _read_frame(self, sock: socket.socket) -> Frame | None:
        header = self._recv_exact(sock, FRAME_HEADER.size)
        if header is None:
            return None
        magic, version, index, height, width, code, nbytes = FRAME_HEADER.unpack(header)
        dtype = _DTYPES.get(code)
        if magic != _MAGIC or version != 1 or dtype is None:
            raise InstrumentProtocolError(
                f"frame header {header[:8]!r}…: magic {magic!r}, version {version}, "
                f"dtype code {code}"
            )
        if nbytes != height * width * dtype.itemsize:
            raise InstrumentProtocolError(
                f"frame {index}: {nbytes} bytes for {height}×{width} of {dtype}"
            )
        payload = self._recv_exact(sock, nbytes)
        if payload is None:
            return None
        image = np.frombuffer(payload, dtype=dtype).reshape(height, width)
        return Frame(index=index, image=image.astype(dtype.newbyteorder("="), copy=False))

    def _run(self) -> None:
        sock = self._sock
        while not self._stop.is_set() and sock is not None:
            try:
                frame = self._read_frame(sock)
            except (InstrumentProtocolError, InstrumentConnectionError) as exc:
                if self._stop.is_set():
                    return
                self.stream_errors += 1
                self.last_error = str(exc)
                _log.warning("%s: %s; reconnecting", self.address, exc)
                sock.close()
                sock = self._reconnect()
                self._sock = sock
                continue
            if frame is None:
                return
            with self._cond:
                if len(self._frames) == self._frames.maxlen:
                    self.frames_overwritten += 1
                    self._unread = max(0, self._unread - 1)
                self._frames.append(frame)
                self._received += 1
                self._unread += 1
                self._cond.notify_all()

    def _reconnect(self) -> socket.socket | None:
        while not self._stop.is_set():
            try:
                return self._connect()
            except InstrumentConnectionError:
                time.sleep(0.05)
        return None

    # -- reading ------------------------------------------------------------------------

    def wait_for_frames(self, count: int, timeout_s: float) -> None:
        """Block until ``count`` unread frames are buffered."""
        if count < 1 or count > self.buffer_frames:
            raise ValueError(f"count must be in [1, {self.buffer_frames}], got {count}")
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._unread < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    detail = f"; last stream error: {self.last_error}" if self.last_error else ""
                    raise InstrumentTimeout(
                        f"{self.address}: {self._unread} of {count} frames after {timeout_s} s"
                        f"{detail}"
                    )
                if not self.running and self._unread < count:
                    raise InstrumentConnectionError(
                        f"{self.address}: not receiving (start() first)"
                    )
                self._cond.wait(min(remaining, 0.2))

    def read_unread(self) -> list[Frame]:
        """Every unread frame, oldest first."""
        with self._cond:
            frames = list(self._frames)[len(self._frames) - self._unread :] if self._unread else []
            self._unread = 0
            return frames

    def read_newest(self) -> Frame | None:
        """The newest unread frame, or ``None``."""
        with self._cond:
            if not self._unread:
                return None
            self._unread = 0
            return self._frames[-1]
