"""Server framework shared by every emulated instrument.

An :class:`Emulator` owns its instrument state and serves one byte-stream protocol on a
*transport*: a threaded TCP server on 127.0.0.1 (one thread per client, free port by
default) or a pseudo-terminal (the master is put in raw mode before anything else, so no
echo or CR/LF translation can start). Each client connection gets a :class:`Session` that
splits the stream into messages and hands them to the emulator, which applies injected
faults (:class:`Faults`), executes the message under the emulator's lock, records it in
:attr:`Emulator.log` and sends the reply.

Every loop here waits with a bounded ``select`` timeout and checks the stop event, and
:meth:`Emulator.stop` joins every thread it started and closes every socket and pty.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import select
import socket
import termios
import threading
import time
import tty
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Literal, Self

import numpy as np

from virtual_device.errors import EmulatorError

__all__ = [
    "CommandRecord",
    "Emulator",
    "Faults",
    "Link",
    "MessageSplitter",
    "Session",
    "StateChange",
    "Transport",
    "ascii_text",
]

Transport = Literal["tcp", "pty"]

#: How long every blocking wait in a server loop lasts before it re-checks the stop event (s).
_POLL_S = 0.05
#: How long ``stop()`` waits for each thread to finish (s).
_JOIN_S = 5.0
_RECV_BYTES = 1 << 20


@dataclass(frozen=True)
class StateChange:
    """One change of an emulator's state, as passed to :meth:`Emulator.on_change` callbacks.

    ``path`` names the field (``"channel1.amplitude_vpp"``; ``"*"`` for a power cycle), and
    ``old``/``new`` are the values before and after (both ``None`` for a power cycle).
    """

    emulator: str
    path: str
    old: Any
    new: Any


@dataclass
class CommandRecord:
    """One message an emulator received, with what became of it.

    ``outcome`` is ``"executed"`` (handled; ``error`` holds the instrument error it raised,
    if any), ``"dropped"`` (lost with the connection before execution) or
    ``"executed-dropped"`` (executed, then the connection dropped before the reply).
    ``text`` is the message decoded as Latin-1, binary blocks shown as ``#<block N bytes>``.
    """

    time_s: float
    connection: int
    text: str
    outcome: str = "executed"
    error: str | None = None


class Faults:
    """Fault injection for one emulator; every fault is one-shot and thread-safe.

    - :meth:`drop_next` -- the next message received drops its connection (TCP: the socket is
      closed; pty: the message and anything buffered with it are lost, no reply), either
      before the message is executed (``when="before"``) or after (``when="after"``, the
      reply is lost).
    - :meth:`drop_now` -- close every client connection at once.
    - :meth:`delay_next` -- the next reply is sent ``seconds`` late (the command is executed
      at once; the reply waits).
    - :meth:`garbage_next` -- the next reply is replaced by random bytes followed by the
      protocol's reply terminator.
    - :meth:`corrupt_next_block` -- the next binary block the emulator handles is corrupted;
      each emulator documents how (a truncated block, lost bytes in transit).
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self._lock = threading.Lock()
        self._drops: deque[str] = deque()
        self._delays: deque[float] = deque()
        self._garbage = 0
        self._corrupt = 0
        self._drop_now_callbacks: list[Callable[[], None]] = []
        self._rng = rng

    def drop_next(self, when: Literal["before", "after"] = "before") -> None:
        """Drop the connection on the next message, before or after executing it."""
        if when not in ("before", "after"):
            raise EmulatorError(f"drop_next(when={when!r}): allowed are 'before' and 'after'")
        with self._lock:
            self._drops.append(when)

    def drop_now(self) -> None:
        """Close every client connection now (a pty loses its buffered input)."""
        for callback in list(self._drop_now_callbacks):
            callback()

    def add_drop_target(self, callback: Callable[[], None]) -> None:
        """Have :meth:`drop_now` call ``callback`` too (for an emulator's extra servers)."""
        self._drop_now_callbacks.append(callback)

    def delay_next(self, seconds: float) -> None:
        """Send the next reply ``seconds`` late (0 < seconds ≤ 60)."""
        if not 0.0 < seconds <= 60.0:
            raise EmulatorError(f"delay_next({seconds!r} s): allowed is 0 < seconds ≤ 60")
        with self._lock:
            self._delays.append(float(seconds))

    def garbage_next(self) -> None:
        """Replace the next reply by garbage bytes (then the reply terminator)."""
        with self._lock:
            self._garbage += 1

    def corrupt_next_block(self) -> None:
        """Corrupt the next binary block (see the emulator's docstring for how)."""
        with self._lock:
            self._corrupt += 1

    def clear(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._drops.clear()
            self._delays.clear()
            self._garbage = 0
            self._corrupt = 0

    @property
    def pending(self) -> dict[str, int]:
        """How many faults of each kind are still waiting to fire."""
        with self._lock:
            return {
                "drop": len(self._drops),
                "delay": len(self._delays),
                "garbage": self._garbage,
                "corrupt_block": self._corrupt,
            }

    # -- used by the framework and the emulators ---------------------------------------------

    def take_drop(self) -> str | None:
        """Consume a pending drop; returns ``"before"``/``"after"`` or ``None``."""
        with self._lock:
            return self._drops.popleft() if self._drops else None

    def take_delay(self) -> float:
        """Consume a pending delay (s), 0.0 if none."""
        with self._lock:
            return self._delays.popleft() if self._delays else 0.0

    def take_garbage(self) -> bool:
        """Consume a pending garbage reply."""
        with self._lock:
            if self._garbage:
                self._garbage -= 1
                return True
            return False

    def take_corrupt_block(self) -> bool:
        """Consume a pending block corruption."""
        with self._lock:
            if self._corrupt:
                self._corrupt -= 1
                return True
            return False

    def garbage_bytes(self, n: int = 24) -> bytes:
        """Random bytes without any CR, LF or ``>`` in them (so they cannot end a reply)."""
        with self._lock:
            raw = self._rng.integers(0x80, 0x100, size=n, dtype=np.uint8).tobytes()
        return b"\x00" + raw


_ASCII = str.maketrans(
    {
        "…": "...",
        "Ω": "ohm",
        "≤": "<=",
        "≥": ">=",
        "×": "x",
        "°": "deg",
        "µ": "u",
        "–": "-",
        "→": "->",
    }
)


def ascii_text(text: str) -> str:
    """``text`` as plain ASCII, as instruments write it (… → ..., Ω → ohm, ≤ → <=)."""
    return text.translate(_ASCII).encode("ascii", "replace").decode("ascii")


class Link(ABC):
    """One client connection of a transport."""

    ident: int

    @abstractmethod
    def send(self, data: bytes) -> None:
        """Send ``data`` to the client (bounded: gives up when the emulator stops)."""

    @abstractmethod
    def drop(self) -> None:
        """Lose the connection (TCP: close it; pty: discard buffered input and parse state)."""

    @property
    @abstractmethod
    def alive(self) -> bool:
        """Whether the connection is still open."""


class MessageSplitter:
    r"""Splits a byte stream into messages at terminator bytes, skipping binary blocks.

    ``terminators`` is a set of single bytes (``b"\n"``, or ``b"\r\n"`` meaning either);
    empty messages are skipped. With ``blocks=True`` an IEEE 488.2 definite-length block
    (``#<n><len><bytes>``) inside a message is passed over by length, so its payload may
    hold terminator bytes. ``max_bytes`` bounds a message (a longer one is discarded with
    the buffer and reported through ``overflow``).
    """

    def __init__(self, terminators: bytes, *, blocks: bool, max_bytes: int = 1 << 30) -> None:
        chars = re.escape(terminators) + (b"#" if blocks else b"")
        self._pattern = re.compile(b"[" + chars + b"]")
        self._terminators = terminators
        self._buf = bytearray()
        self._pos = 0
        self._block_end: int | None = None
        self._max_bytes = max_bytes
        self.overflow = False

    def reset(self) -> None:
        """Forget buffered bytes (a lost line)."""
        self._buf.clear()
        self._pos = 0
        self._block_end = None

    @property
    def pending_bytes(self) -> int:
        """Bytes received but not yet part of a complete message."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; returns the messages they complete (terminators removed)."""
        buf = self._buf
        buf += data
        out: list[bytes] = []
        while True:
            if self._block_end is not None:
                if len(buf) < self._block_end:
                    break
                self._pos = self._block_end
                self._block_end = None
            match = self._pattern.search(buf, self._pos)
            if match is None:
                self._pos = len(buf)
                break
            at = match.start()
            if buf[at] == 0x23:  # '#'
                if len(buf) < at + 2:
                    self._pos = at
                    break
                n_digits = buf[at + 1] - 0x30
                if 1 <= n_digits <= 9:
                    if len(buf) < at + 2 + n_digits:
                        self._pos = at
                        break
                    digits = bytes(buf[at + 2 : at + 2 + n_digits])
                    if digits.isdigit():
                        self._block_end = at + 2 + n_digits + int(digits)
                        continue
                self._pos = at + 1
                continue
            message = bytes(buf[:at])
            del buf[: at + 1]
            self._pos = 0
            if message:
                out.append(message)
        if len(buf) > self._max_bytes:
            self.reset()
            self.overflow = True
        return out


class Session:
    """The protocol state of one client connection.

    The default splits messages at :attr:`Emulator.terminators` (skipping binary blocks when
    :attr:`Emulator.binary_blocks`) and passes each to :meth:`Emulator.process`. Emulators
    with other framing (no terminator, idle gaps) subclass it.
    """

    #: When set, :meth:`idle` is called after this many seconds without input (s).
    idle_gap_s: float | None = None

    def __init__(self, emulator: Emulator, link: Link) -> None:
        self.emulator = emulator
        self.link = link
        self.splitter = MessageSplitter(
            emulator.terminators,
            blocks=emulator.binary_blocks,
            max_bytes=emulator.max_message_bytes,
        )
        self._generation = 0

    def opened(self) -> None:
        """Called once when the client connects (e.g. to send a greeting banner)."""

    def feed(self, data: bytes) -> None:
        """Handle received bytes."""
        generation = self._generation
        for message in self.splitter.feed(data):
            if not self.link.alive or generation != self._generation:
                return  # the line was lost: the rest of this input goes with it
            self.emulator.process(self, message)

    def idle(self) -> None:
        """Called after :attr:`idle_gap_s` without input."""

    def reset(self) -> None:
        """Forget partial input (a dropped line on a pty)."""
        self._generation += 1
        self.splitter.reset()


def _send_all(
    fileno_send: Callable[[memoryview], int],
    fd: Any,
    data: bytes,
    stop: threading.Event,
    timeout_s: float,
) -> bool:
    """Write all of ``data`` with bounded waits; False if it could not (stopped, timed out)."""
    view = memoryview(data)
    deadline = time.monotonic() + timeout_s
    while view:
        if stop.is_set() or time.monotonic() > deadline:
            return False
        try:
            _, writable, _ = select.select([], [fd], [], _POLL_S)
        except (OSError, ValueError):
            return False
        if not writable:
            continue
        try:
            sent = fileno_send(view)
        except BlockingIOError:
            continue
        except OSError:
            return False
        view = view[sent:]
    return True


class _TcpLink(Link):
    def __init__(
        self, sock: socket.socket, ident: int, stop: threading.Event, send_timeout_s: float
    ):
        self.sock = sock
        self.ident = ident
        self._stop = stop
        self._closed = threading.Event()
        self._send_lock = threading.Lock()
        self._send_timeout_s = send_timeout_s

    def send(self, data: bytes) -> None:
        with self._send_lock:
            if self._closed.is_set():
                return
            if not _send_all(self.sock.send, self.sock, data, self._stop, self._send_timeout_s):
                self.drop()

    def drop(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    @property
    def alive(self) -> bool:
        return not self._closed.is_set()


class _TcpServer:
    """A threaded TCP server on ``host:port`` (port 0: a free one)."""

    def __init__(
        self, emulator: Emulator, host: str, port: int, session_factory: Callable[[Link], Session]
    ) -> None:
        self._emulator = emulator
        self._host = host
        self._requested_port = port
        self._session_factory = session_factory
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._links: list[_TcpLink] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self.port = 0

    def start(self, name: str) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self._host, self._requested_port))
        except OSError as exc:
            listener.close()
            raise EmulatorError(
                f"{name}: cannot listen on {self._host}:{self._requested_port}: {exc}"
            ) from exc
        listener.listen(8)
        listener.setblocking(False)
        self._listener = listener
        self.port = listener.getsockname()[1]
        thread = threading.Thread(target=self._accept_loop, name=f"{name}-accept", daemon=True)
        self._accept_thread = thread
        thread.start()

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        counter = 0
        while not self._stop.is_set():
            try:
                readable, _, _ = select.select([listener], [], [], _POLL_S)
            except (OSError, ValueError):
                return
            if not readable:
                continue
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, OSError):
                continue
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            counter += 1
            link = _TcpLink(conn, counter, self._stop, self._emulator.send_timeout_s)
            thread = threading.Thread(
                target=self._serve,
                args=(link,),
                name=f"{self._emulator.name}-conn{counter}",
                daemon=True,
            )
            with self._lock:
                self._links.append(link)
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _serve(self, link: _TcpLink) -> None:
        sock = link.sock
        buffer = bytearray(_RECV_BYTES)
        view = memoryview(buffer)
        try:
            session = self._session_factory(link)
            session.opened()
            last_input = time.monotonic()
            idle_pending = False
            while not self._stop.is_set() and link.alive:
                timeout = _POLL_S
                gap = session.idle_gap_s
                if idle_pending and gap is not None:
                    timeout = max(0.0, min(_POLL_S, last_input + gap - time.monotonic()))
                try:
                    readable, _, _ = select.select([sock], [], [], timeout)
                except (OSError, ValueError):
                    break
                if not readable:
                    if idle_pending and gap is not None and time.monotonic() - last_input >= gap:
                        idle_pending = False
                        session.idle()
                    continue
                try:
                    n = sock.recv_into(buffer)
                except BlockingIOError:
                    continue
                except OSError:
                    break
                if n == 0:
                    break
                last_input = time.monotonic()
                idle_pending = True
                session.feed(bytes(view[:n]))
        finally:
            link.drop()
            with contextlib.suppress(OSError):
                sock.close()
            with self._lock:
                if link in self._links:
                    self._links.remove(link)

    def drop_all(self) -> None:
        with self._lock:
            links = list(self._links)
        for link in links:
            link.drop()

    @property
    def connections(self) -> int:
        with self._lock:
            return sum(1 for link in self._links if link.alive)

    def stop(self) -> None:
        self._stop.set()
        # The accept thread first, so no connection thread can start after the snapshot.
        accept = self._accept_thread
        if accept is not None and accept is not threading.current_thread():
            accept.join(_JOIN_S)
        self.drop_all()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(_JOIN_S)
        if self._listener is not None:
            self._listener.close()
            self._listener = None


class _PtyLink(Link):
    def __init__(self, server: _PtyServer) -> None:
        self._server = server
        self.ident = 1
        self._send_lock = threading.Lock()

    def send(self, data: bytes) -> None:
        fd = self._server.master
        if fd is None:
            return
        with self._send_lock:
            _send_all(
                lambda view: os.write(fd, view),
                fd,
                data,
                self._server.stop_event,
                self._server.send_timeout_s,
            )

    def drop(self) -> None:
        self._server.lose_line()

    @property
    def alive(self) -> bool:
        return self._server.master is not None


class _PtyServer:
    """Serves on a new pseudo-terminal; the client opens :attr:`path` (``/dev/pts/N``)."""

    def __init__(self, emulator: Emulator, session_factory: Callable[[Link], Session]) -> None:
        self._emulator = emulator
        self._session_factory = session_factory
        self.stop_event = threading.Event()
        self.master: int | None = None
        self._slave: int | None = None
        self.path = ""
        self._thread: threading.Thread | None = None
        self._session: Session | None = None
        self.send_timeout_s = emulator.send_timeout_s

    def start(self, name: str) -> None:
        master, slave = os.openpty()
        # Raw at once: a cooked pty echoes input and translates CR/LF (INSTRUMENTS.md C4).
        tty.setraw(master)
        tty.setraw(slave)
        os.set_blocking(master, False)
        self.master, self._slave = master, slave
        self.path = os.ttyname(slave)
        self._session = self._session_factory(_PtyLink(self))
        self._thread = threading.Thread(target=self._serve, name=f"{name}-pty", daemon=True)
        self._thread.start()

    def lose_line(self) -> None:
        """Discard buffered input and parse state (what a dropped serial line does)."""
        if self._session is not None:
            self._session.reset()
        if self.master is not None:
            with contextlib.suppress(OSError, termios.error):
                termios.tcflush(self.master, termios.TCIOFLUSH)

    def _serve(self) -> None:
        session = self._session
        fd = self.master
        assert session is not None and fd is not None
        session.opened()
        last_input = time.monotonic()
        idle_pending = False
        while not self.stop_event.is_set():
            timeout = _POLL_S
            gap = session.idle_gap_s
            if idle_pending and gap is not None:
                timeout = max(0.0, min(_POLL_S, last_input + gap - time.monotonic()))
            try:
                readable, _, _ = select.select([fd], [], [], timeout)
            except (OSError, ValueError):
                return
            if not readable:
                if idle_pending and gap is not None and time.monotonic() - last_input >= gap:
                    idle_pending = False
                    session.idle()
                continue
            try:
                data = os.read(fd, _RECV_BYTES)
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno == errno.EIO:  # no client has the slave open: wait for one
                    self.stop_event.wait(_POLL_S)
                    continue
                return
            if not data:
                continue
            last_input = time.monotonic()
            idle_pending = True
            try:
                session.feed(data)
            except Exception:  # the line was reset under us (drop, power cycle): input lost
                session.reset()

    def stop(self) -> None:
        self.stop_event.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(_JOIN_S)
        for fd in (self.master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master = self._slave = None


class Emulator(ABC):
    """Base of the emulated instruments.

    Construct, then :meth:`start` (or use as a context manager); :attr:`resource` is the
    resource string a driver connects to. ``transport`` defaults to the instrument's own
    (:attr:`default_transport`); ``port=0`` picks a free TCP port on ``host``. ``seed`` seeds
    the emulator's randomness (noise, garbage bytes).

    Subclasses set :attr:`name`, :attr:`default_transport`, :attr:`terminators`,
    :attr:`reply_terminator`, and implement :meth:`execute` and :meth:`reset_state`.
    """

    #: Registry name (``virtual_device.instruments.EMULATORS``).
    name: ClassVar[str] = "emulator"
    #: The transport of the real instrument (or the one agreed for it).
    default_transport: ClassVar[Transport] = "tcp"
    #: Bytes any of which ends an incoming message.
    terminators: ClassVar[bytes] = b"\n"
    #: What ends each reply line.
    reply_terminator: ClassVar[bytes] = b"\n"
    #: Whether incoming messages may hold IEEE 488.2 definite-length blocks.
    binary_blocks: ClassVar[bool] = False
    #: Largest incoming message (bytes); longer input is discarded.
    max_message_bytes: ClassVar[int] = 1 << 30
    #: Most records kept in :attr:`log` (the older half is forgotten beyond it).
    log_capacity: int = 100_000
    #: How long a reply may wait for a client that does not read before the link drops (s).
    send_timeout_s: float = 10.0

    def __init__(
        self,
        *,
        transport: Transport | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | np.random.Generator | None = 0,
    ) -> None:
        chosen = transport or self.default_transport
        if chosen not in ("tcp", "pty"):
            raise EmulatorError(f"{self.name}: transport {chosen!r}: allowed are 'tcp' and 'pty'")
        if not 0 <= port <= 65535:
            raise EmulatorError(f"{self.name}: port {port}: allowed is 0…65535 (0 = any free)")
        self.transport: Transport = chosen
        self.host = host
        self.requested_port = port
        self.rng = np.random.default_rng(seed)
        self.faults = Faults(np.random.default_rng(self.rng.integers(2**63)))
        self.faults.add_drop_target(self._drop_all_links)
        self.lock = threading.RLock()
        self.log: list[CommandRecord] = []
        self._log_lock = threading.Lock()
        self._callbacks: list[Callable[[StateChange], None]] = []
        self._server: _TcpServer | _PtyServer | None = None
        self._stop_event = threading.Event()
        self._current: CommandRecord | None = None
        self.reset_state()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        """Begin serving; returns ``self``. Starting twice raises :class:`EmulatorError`."""
        if self._server is not None:
            raise EmulatorError(f"{self.name}: already started at {self.resource}")
        self._stop_event.clear()
        server: _TcpServer | _PtyServer
        if self.transport == "tcp":
            server = _TcpServer(self, self.host, self.requested_port, self.new_session)
        else:
            server = _PtyServer(self, self.new_session)
        server.start(self.name)
        self._server = server
        self.started()
        return self

    def started(self) -> None:  # noqa: B027
        """Hook for subclasses that serve more than the control port (camera frames)."""

    def stop(self) -> None:
        """Stop serving, close every connection and join every thread. Idempotent."""
        self._stop_event.set()
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        self.stopped()

    def stopped(self) -> None:  # noqa: B027
        """Hook for subclasses to stop their extra servers and threads."""

    def __enter__(self) -> Self:
        return self.start() if self._server is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the emulator is serving."""
        return self._server is not None

    @property
    def resource(self) -> str:
        """The VISA resource string to connect to (``TCPIP::…::SOCKET`` or ``ASRL…::INSTR``)."""
        server = self._require_server()
        if isinstance(server, _TcpServer):
            return f"TCPIP::{self.host}::{server.port}::SOCKET"
        return f"ASRL{server.path}::INSTR"

    @property
    def port(self) -> int:
        """The TCP port served (TCP transport only)."""
        server = self._require_server()
        if not isinstance(server, _TcpServer):
            raise EmulatorError(f"{self.name}: serves on a pty ({server.path}), not on a port")
        return server.port

    @property
    def device_path(self) -> str:
        """The pty slave path (``/dev/pts/N``) for pyserial (pty transport only)."""
        server = self._require_server()
        if not isinstance(server, _PtyServer):
            raise EmulatorError(f"{self.name}: serves on TCP port {server.port}, not on a pty")
        return server.path

    @property
    def endpoints(self) -> dict[str, str]:
        """Everything a client needs, by name (``resource``; the camera adds ``frames``)."""
        out = {"resource": self.resource}
        if self.transport == "pty":
            out["device_path"] = self.device_path
        return out

    @property
    def connections(self) -> int:
        """Open client connections now (a pty counts as one)."""
        server = self._require_server()
        return server.connections if isinstance(server, _TcpServer) else 1

    def _require_server(self) -> _TcpServer | _PtyServer:
        if self._server is None:
            raise EmulatorError(f"{self.name}: not started; call start() first")
        return self._server

    def _drop_all_links(self) -> None:
        server = self._server
        if isinstance(server, _TcpServer):
            server.drop_all()
        elif isinstance(server, _PtyServer):
            server.lose_line()

    # -- state, hooks and power ---------------------------------------------------------------

    @abstractmethod
    def reset_state(self) -> None:
        """Set the power-on state (called at construction and by :meth:`power_cycle`)."""

    def power_cycle(self) -> None:
        """Switch the instrument off and on: connections drop and the state is the power-on one."""
        self._drop_all_links()
        with self.lock:
            self.reset_state()
        self.notify("*", None, None)

    def on_change(self, callback: Callable[[StateChange], None]) -> Callable[[], None]:
        """Call ``callback(StateChange)`` after every state change; returns an unsubscriber.

        Callbacks run in the server thread that made the change, under the emulator's lock:
        keep them short and do not block on the emulator's own clients.
        """
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe

    def notify(self, path: str, old: Any, new: Any) -> None:
        """Tell the subscribers that ``path`` changed from ``old`` to ``new``."""
        if not self._callbacks or (old is new and path != "*"):
            return
        change = StateChange(self.name, path, old, new)
        for callback in list(self._callbacks):
            callback(change)

    # -- the message path ---------------------------------------------------------------------

    def new_session(self, link: Link) -> Session:
        """A protocol session for a new client connection."""
        return Session(self, link)

    @abstractmethod
    def execute(self, session: Session, message: bytes) -> bytes | None:
        """Execute one message under :attr:`lock`; returns the whole reply or ``None``."""

    def describe(self, message: bytes) -> str:
        """The message as text for :attr:`log`; a binary block is summarised."""
        at = message.find(b"#") if self.binary_blocks else -1
        if at >= 0 and len(message) > at + 2 and 0x31 <= message[at + 1] <= 0x39:
            n = message[at + 1] - 0x30
            digits = message[at + 2 : at + 2 + n]
            if digits.isdigit():
                return message[:at].decode("latin-1") + f"#<block {int(digits)} bytes>"
        return message.decode("latin-1")

    def record_error(self, text: str) -> None:
        """Mark the message being executed as having raised instrument error ``text``."""
        if self._current is not None:
            self._current.error = text

    def executed(self, prefix: str) -> list[CommandRecord]:
        """Log records of messages executed (not dropped before) that start with ``prefix``."""
        with self._log_lock:
            return [
                r
                for r in self.log
                if r.outcome.startswith("executed") and r.text.upper().startswith(prefix.upper())
            ]

    def process(self, session: Session, message: bytes) -> None:
        """Apply faults, execute ``message`` and send its reply (called by sessions)."""
        record = CommandRecord(time.time(), session.link.ident, self.describe(message))
        with self._log_lock:
            self.log.append(record)
            if len(self.log) > self.log_capacity:
                del self.log[: len(self.log) // 2]  # bounded memory on long runs
        drop = self.faults.take_drop()
        if drop == "before":
            record.outcome = "dropped"
            session.link.drop()
            return
        with self.lock:
            self._current = record
            try:
                reply = self.execute(session, message)
            except Exception as exc:  # an emulator bug must not kill the connection silently
                record.error = f"emulator failure: {exc!r}"
                reply = None
            finally:
                self._current = None
        if drop == "after":
            record.outcome = "executed-dropped"
            session.link.drop()
            return
        if reply is not None:
            self.send_reply(session, reply)

    def send_reply(self, session: Session, reply: bytes) -> None:
        """Send ``reply``, late or as garbage if such a fault is pending."""
        delay = self.faults.take_delay()
        if delay:
            self._stop_event.wait(delay)
            if self._stop_event.is_set():
                return
        if self.faults.take_garbage():
            reply = self.faults.garbage_bytes() + self.reply_terminator
        session.link.send(reply)
