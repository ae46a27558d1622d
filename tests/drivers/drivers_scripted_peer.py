"""A scripted instrument for layer-1 protocol tests, over a real transport.

The peer plays a script of steps: each step names the exact bytes the driver must send
and the bytes to answer with. It listens on a real TCP socket on 127.0.0.1 or owns the
master side of a real pseudo-terminal, so the driver's own pyvisa-py / pyserial / socket
code path runs. Any byte that differs from the script, a step never reached, or anything
the driver sends after the script ends fails the test when the peer is closed (after the
driver has closed its side, so "left over" is decided by end-of-file, not by a timer).
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
import tty
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

PEER_STEP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Step:
    """One exchange: the driver must send ``expect``; the peer answers ``reply``.

    ``then``: ``"drop"`` closes the connection after the reply (TCP); ``"await_close"``
    sends nothing more and waits for the driver to close the connection (it timed out);
    the next step is then played on the driver's next connection. ``delay_s`` waits
    before replying; ``on_received`` runs once ``expect`` has arrived, before the reply.
    """

    expect: bytes
    reply: bytes = b""
    then: Literal["drop", "await_close"] | None = None
    delay_s: float = 0.0
    on_received: Callable[[], None] | None = None


def steps(*pairs: tuple[bytes, bytes] | Step) -> list[Step]:
    """Build a script from ``(expect, reply)`` pairs and ready-made steps."""
    return [p if isinstance(p, Step) else Step(p[0], p[1]) for p in pairs]


class ScriptError(AssertionError):
    """The driver departed from the script."""


class _Peer:
    def __init__(self, script: Sequence[Step], banner: bytes = b"") -> None:
        self.script = list(script)
        self.banner = banner
        self.failures: list[str] = []
        self.received_after_script = b""
        self.connections = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    # subclasses: _accept(), _read(n_max) -> bytes ('' on EOF), _send(bytes), _close_conn(),
    # _finish()
    def _run(self) -> None:
        try:
            self._play()
        except Exception as exc:  # reported by close()
            self.failures.append(f"peer error: {exc!r}")
        finally:
            self._finish()

    def _read_exact(self, count: int, what: bytes) -> bytes:
        got = b""
        deadline = time.monotonic() + PEER_STEP_TIMEOUT_S
        while len(got) < count:
            if time.monotonic() > deadline:
                raise ScriptError(f"expected {what!r}, the driver sent only {got!r}")
            chunk = self._read(count - len(got))
            if chunk is None:
                continue
            if not chunk:
                raise ScriptError(f"connection closed while expecting {what!r} (got {got!r})")
            got += chunk
            if not what.startswith(got):
                raise ScriptError(f"expected {what!r}, the driver sent {got!r}…")
        return got

    def _play(self) -> None:
        connected = False
        if not self.script:  # the driver still connects (and may read a banner)
            self._accept()
            self.connections += 1
            connected = True
            if self.banner:
                self._send(self.banner)
        for index, step in enumerate(self.script):
            if not connected:
                self._accept()
                self.connections += 1
                connected = True
                if self.banner:
                    self._send(self.banner)
            if step.expect:
                self._read_exact(len(step.expect), step.expect)
            if step.on_received is not None:
                step.on_received()
            if step.delay_s:
                time.sleep(step.delay_s)
            if step.reply:
                self._send(step.reply)
            if step.then == "drop":
                self._close_conn()
                connected = False
            elif step.then == "await_close":
                rest = self._read_to_eof()
                if rest:
                    raise ScriptError(f"step {index}: unexpected bytes {rest!r} before close")
                self._close_conn()
                connected = False
        if connected:
            self.received_after_script = self._read_to_eof()
            if self.received_after_script:
                self.failures.append(
                    f"driver sent {self.received_after_script!r} after the script ended"
                )

    def _read_to_eof(self) -> bytes:
        out = b""
        deadline = time.monotonic() + PEER_STEP_TIMEOUT_S
        while time.monotonic() < deadline:
            chunk = self._read(65536)
            if chunk is None:
                continue
            if not chunk:
                return out
            out += chunk
        self.failures.append("the driver never closed its side")
        return out

    def _done_with_script(self) -> None:
        """Hook: the script has been played (pty: release our own slave fd)."""

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._thread.join(PEER_STEP_TIMEOUT_S * 2)
        if self._thread.is_alive():
            self.failures.append("peer still running: the script was not completed")
        if self.failures:
            raise ScriptError("; ".join(self.failures))

    def _accept(self) -> None:
        raise NotImplementedError

    def _read(self, n_max: int) -> bytes | None:
        raise NotImplementedError

    def _send(self, data: bytes) -> None:
        raise NotImplementedError

    def _close_conn(self) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError


class TCPPeer(_Peer):
    """The scripted peer on ``TCPIP::127.0.0.1::<port>::SOCKET``."""

    def __init__(self, script: Sequence[Step], banner: bytes = b"") -> None:
        super().__init__(script, banner)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.resource = f"TCPIP::127.0.0.1::{self.port}::SOCKET"
        self._conn: socket.socket | None = None

    def _accept(self) -> None:
        self._server.settimeout(PEER_STEP_TIMEOUT_S)
        conn, _ = self._server.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(0.2)
        self._conn = conn

    def _read(self, n_max: int) -> bytes | None:
        assert self._conn is not None
        try:
            return self._conn.recv(n_max)
        except TimeoutError:
            return None
        except ConnectionResetError:
            return b""

    def _send(self, data: bytes) -> None:
        assert self._conn is not None
        self._conn.sendall(data)

    def _close_conn(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _finish(self) -> None:
        self._close_conn()
        self._server.close()

    def __enter__(self) -> TCPPeer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PtyPeer(_Peer):
    """The scripted peer on a pseudo-terminal; ``resource`` is ``ASRL/dev/pts/N::INSTR``.

    ``path`` is the bare device path for pyserial. The master is made raw at once (a
    cooked pty echoes and translates CR). One connection only.
    """

    def __init__(self, script: Sequence[Step], banner: bytes = b"") -> None:
        super().__init__(script, banner)
        self._master, self._slave = os.openpty()
        tty.setraw(self._master)
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self.resource = f"ASRL{self.path}::INSTR"
        self._slave_open = True
        self._closing = threading.Event()

    def _accept(self) -> None:
        pass

    def _read(self, n_max: int) -> bytes | None:
        ready, _, _ = select.select([self._master], [], [], 0.02)
        if not ready:
            return None
        try:
            return os.read(self._master, n_max)
        except OSError:  # EIO: every slave fd is closed
            return b""

    def _read_to_eof(self) -> bytes:
        # Our own slave fd keeps the pty alive until the test is done with the driver
        # (close() is called after the driver's context has exited); bytes the driver
        # sends meanwhile are collected and count as left over.
        out = b""
        while not self._closing.is_set():
            chunk = self._read(65536)
            if chunk:
                out += chunk
        if self._slave_open:
            os.close(self._slave)
            self._slave_open = False
        return out + super()._read_to_eof()

    def close(self) -> None:
        self._closing.set()
        super().close()

    def _send(self, data: bytes) -> None:
        os.write(self._master, data)

    def _close_conn(self) -> None:
        pass

    def _finish(self) -> None:
        if self._slave_open:
            os.close(self._slave)
            self._slave_open = False
        os.close(self._master)

    def __enter__(self) -> PtyPeer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
