r"""Emulated Hamamatsu ORCA-Flash4.0 (C11440) camera: serial control plus a TCP frame stream.

Control, per INSTRUMENTS.md A7 (SLAC ``hamaOrcaFlash4_0.proto`` and the Hamamatsu reply
convention): commands end with CR (LF is accepted too), replies end with CR and echo the
command with its value: ``?AET`` → ``AET 0.010000``, ``AET 0.02`` → ``AET 0.020000``.
``RES N`` silences the replies to setters (``RES Y`` restores them).

| command | meaning |
|---|---|
| ``?CAI T``/``N``/``H``/``V``, ``?VER``, ``?INF`` | model, serial, width, height, firmware, info |
| ``AET <s>``, ``?AET``, ``?RAT`` | exposure time (s); frame rate (frames/s) |
| ``AMD N|E|S|L`` | trigger: free run / external / start / light sheet |
| ``EMD E|L|S``, ``ATP N|P``, ``ATD <s>`` | external exposure mode, polarity, delay (s) |
| ``SMD N|S|W`` | scan: normal / binning / sub-array (vertical double scan) |
| ``SDV bo,to,size`` | sub-array (below) |
| ``SPX 1|2|4``, ``PEC F|O``, ``ACT I|N``, ``RES Y|N`` | binning, pixel correction, …, replies |

``SDV bo,to,size`` (SLAC's notes): all multiples of 4; two halves of ``size`` lines each,
``to`` lines from the sensor centre, so ``SDV 924,0,100`` reads 200 lines from line 924;
``bo`` is checked (``size + bo`` ≤ half the height) and echoed but does not move the region.

Errors (Hamamatsu convention, C9300 family, not confirmed for this model): ``E3`` undefined
command, ``E4`` not allowed in this mode, ``E5`` undefined parameter, ``E6`` parameter not
allowed in this mode, ``E1`` framing error.

Frames never travel on the serial link. A real lab takes them from a frame grabber; here a
TCP server on 127.0.0.1 (:attr:`HamamatsuOrcaEmulator.frame_address`,
``tcp://127.0.0.1:<port>``) pushes every frame produced to every connected client (one
connection per client, frames produced while nobody is connected are lost, as with a grabber
that is not capturing). Each frame is a 32-byte little-endian header
``struct.pack("<4sIQIIII", b"ASFR", 1, frame_index, height, width, dtype_code,
payload_nbytes)`` (dtype_code 1 = uint16) and the row-major payload. In free run (``AMD N``)
frames come at ``?RAT`` while a client is connected; in start mode (``AMD S``) the first
:meth:`HamamatsuOrcaEmulator.trigger` starts that free run; in the external modes (``AMD E``,
``AMD L``) each trigger makes one frame, one exposure after the trigger delay.

Pixels come from a :data:`FrameProducer` (the virtual lab renders atoms through it); the
default, :class:`PoissonBackground`, is Poisson photo-electrons on a uniform background plus
Gaussian read noise (sCMOS model of PHYSICS.md §3.4), seeded.

Faults: :meth:`~Faults.corrupt_next_block` damages the next frame's header (its magic
becomes ``b"\xde\xad\xbe\xef"``), :meth:`~Faults.drop_now` also closes frame clients.
"""

from __future__ import annotations

import contextlib
import queue
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from virtual_device.errors import EmulatorError
from virtual_device.instruments._framework import Emulator, Session, _send_all, ascii_text

__all__ = [
    "FRAME_HEADER",
    "FrameProducer",
    "FrameRequest",
    "HamamatsuOrcaEmulator",
    "OrcaConfig",
    "OrcaState",
    "PoissonBackground",
]

#: The frame header layout (little-endian): magic, version, index, height, width, dtype, bytes.
FRAME_HEADER = struct.Struct("<4sIQIIII")
_MAGIC = b"ASFR"
_DTYPE_CODES = {np.dtype(np.uint16): 1, np.dtype(np.uint8): 2, np.dtype(np.float32): 3}


@dataclass(frozen=True)
class FrameRequest:
    """What a frame producer must render: which sensor rows/columns, binning, exposure.

    ``rows`` are the sensor rows read (before binning, top to bottom), ``width`` the
    sensor columns; the producer returns an array of ``(len(rows) // binning,
    width // binning)``.
    """

    frame_index: int
    exposure_s: float
    rows: np.ndarray
    width: int
    binning: int
    rng: np.random.Generator

    @property
    def shape(self) -> tuple[int, int]:
        """The output frame's (height, width) in pixels after binning."""
        return (len(self.rows) // self.binning, self.width // self.binning)


FrameProducer = Callable[[FrameRequest], np.ndarray]


@dataclass(frozen=True)
class PoissonBackground:
    """Default frames: Poisson background + Gaussian read noise, in camera counts (uint16).

    ``photons_per_s`` per sensor pixel on the background, ``quantum_efficiency``,
    ``read_noise_e`` (e⁻ rms; ORCA-Flash4.0 v3 ≈ 1.6), ``electrons_per_count`` (≈ 0.46) and
    ``offset_counts`` (≈ 100). Binned pixels add their electrons.
    """

    photons_per_s: float = 2_000.0
    quantum_efficiency: float = 0.7
    read_noise_e: float = 1.6
    electrons_per_count: float = 0.46
    offset_counts: float = 100.0

    def __call__(self, request: FrameRequest) -> np.ndarray:
        """Render one frame for ``request``."""
        height, width = request.shape
        b = request.binning
        mean_e = self.photons_per_s * request.exposure_s * self.quantum_efficiency * b * b
        electrons = request.rng.poisson(mean_e, size=(height, width)).astype(np.float64)
        electrons += request.rng.normal(0.0, self.read_noise_e * b, size=(height, width))
        counts = self.offset_counts + electrons / self.electrons_per_count
        return np.clip(np.rint(counts), 0, 65535).astype(np.uint16)


@dataclass(frozen=True)
class OrcaConfig:
    """Sensor geometry and timing (defaults: ORCA-Flash4.0 V3, Camera Link)."""

    model: str = "C11440-22CU"
    serial_number: str = "000123"
    firmware: str = "4.20.A"
    width: int = 2048
    height: int = 2048
    line_time_s: float = 9.74436e-6
    min_exposure_s: float = 1e-3
    max_exposure_s: float = 10.0
    frame_queue_per_client: int = 8


@dataclass
class OrcaState:
    """Settings (exposure and delay in s)."""

    exposure_s: float = 0.01
    trigger_mode: str = "N"
    exposure_mode: str = "E"
    trigger_polarity: str = "P"
    trigger_delay_s: float = 0.0
    scan_mode: str = "N"
    subarray: tuple[int, int, int] = (0, 0, 1024)
    binning: int = 1
    pixel_correction: str = "F"
    act: str = "I"
    replies: bool = True
    frames_produced: int = 0


class _OrcaError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


class _FrameClient:
    def __init__(self, sock: socket.socket, capacity: int) -> None:
        self.sock = sock
        self.queue: queue.Queue[bytes] = queue.Queue(maxsize=capacity)
        self.closed = threading.Event()
        self.dropped_frames = 0


class HamamatsuOrcaEmulator(Emulator):
    """An ORCA-Flash4.0: serial control on a pty, frames on TCP (see the module docstring).

    ``frame_producer`` renders pixels (default :class:`PoissonBackground`); ``frame_port``
    0 picks a free port.
    """

    name = "hamamatsu_orca"
    default_transport = "pty"
    terminators = b"\r\n"
    reply_terminator = b"\r"

    def __init__(
        self,
        *,
        config: OrcaConfig | None = None,
        frame_producer: FrameProducer | None = None,
        frame_port: int = 0,
        **kwargs: Any,
    ) -> None:
        self.config = config or OrcaConfig()
        self.frame_producer: FrameProducer = frame_producer or PoissonBackground()
        self.state = OrcaState()
        self._frame_port_requested = frame_port
        self._frame_listener: socket.socket | None = None
        self._frame_clients: list[_FrameClient] = []
        self._frame_threads: list[threading.Thread] = []
        self._clients_lock = threading.Lock()
        self._triggers: queue.Queue[float] = queue.Queue()
        self._wake = threading.Event()
        #: The last errors raised by the frame producer (newest last, at most 16).
        self.frame_errors: list[str] = []
        super().__init__(**kwargs)
        self.faults.add_drop_target(self._drop_frame_clients)

    def reset_state(self) -> None:
        """Power-on settings: free run, 10 ms exposure, full frame, no binning."""
        self.state = OrcaState(subarray=(0, 0, self.config.height // 2))

    # -- geometry and timing ------------------------------------------------------------------

    def rows(self) -> np.ndarray:
        """The sensor rows read out with the present scan mode (top to bottom)."""
        height = self.config.height
        if self.state.scan_mode != "W":
            return np.arange(height)
        _, to, size = self.state.subarray
        centre = height // 2
        top = np.arange(centre - to - size, centre - to)
        bottom = np.arange(centre + to, centre + to + size)
        return np.concatenate([top, bottom])

    def frame_period_s(self) -> float:
        """Time between frames in free run (s): exposure or readout, whichever is longer."""
        # The two sensor halves are read in parallel, so readout takes (rows / 2) lines.
        readout = self.config.line_time_s * len(self.rows()) / 2.0
        return max(self.state.exposure_s, readout)

    # -- serial protocol ----------------------------------------------------------------------

    def execute(self, session: Session, message: bytes) -> bytes | None:
        """One command; the reply echoes it with its value (``E<n>`` on error)."""
        text = message.decode("latin-1").strip()
        try:
            reply, is_query = self._command(text)
        except _OrcaError as error:
            self.record_error(f"{error.code} {error.detail}")
            return error.code.encode() + self.reply_terminator
        if reply is None or (not is_query and not self.state.replies):
            return None
        return ascii_text(reply).encode() + self.reply_terminator

    def _set(self, attr: str, value: object) -> None:
        old = getattr(self.state, attr)
        setattr(self.state, attr, value)
        self.notify(attr, old, value)

    def _command(self, text: str) -> tuple[str | None, bool]:
        query = text.startswith("?")
        body = text[1:] if query else text
        name, _, arg = body.partition(" ")
        name = name.upper()
        arg = arg.strip()
        st = self.state
        cfg = self.config
        choices = {
            "AMD": ("trigger_mode", "NESL"),
            "EMD": ("exposure_mode", "ELS"),
            "ATP": ("trigger_polarity", "NP"),
            "SMD": ("scan_mode", "NSW"),
            "PEC": ("pixel_correction", "FO"),
            "ACT": ("act", "IN"),
        }
        if query:
            info = {
                "T": cfg.model,
                "N": cfg.serial_number,
                "H": str(cfg.width),
                "V": str(cfg.height),
            }
            if name == "CAI":
                if arg not in info:
                    raise _OrcaError("E5", f"?CAI {arg}: allowed T, N, H, V")
                return f"CAI {arg} {info[arg]}", True
            if arg:
                raise _OrcaError("E5", f"?{name} takes no parameter")
            simple = {
                "VER": cfg.firmware,
                "INF": f"{cfg.model} S/N {cfg.serial_number} ORCA-Flash4.0",
                "AET": f"{st.exposure_s:.6f}",
                "RAT": f"{1.0 / self.frame_period_s():.6f}",
                "ATD": f"{st.trigger_delay_s:.6f}",
                "SPX": str(st.binning),
                "SDV": ",".join(str(v) for v in st.subarray),
                "RES": "Y" if st.replies else "N",
            }
            if name in simple:
                return f"{name} {simple[name]}", True
            if name in choices:
                return f"{name} {getattr(st, choices[name][0])}", True
            raise _OrcaError("E3", f"?{name}: undefined command")
        if name == "AET":
            value = self._number(arg, cfg.min_exposure_s, cfg.max_exposure_s, "AET")
            self._set("exposure_s", value)
            return f"AET {value:.6f}", False
        if name == "ATD":
            value = self._number(arg, 0.0, 10.0, "ATD")
            self._set("trigger_delay_s", value)
            return f"ATD {value:.6f}", False
        if name in choices:
            attr, allowed = choices[name]
            if len(arg) != 1 or arg.upper() not in allowed:
                raise _OrcaError("E5", f"{name} {arg}: allowed {', '.join(allowed)}")
            self._set(attr, arg.upper())
            self._wake.set()
            return f"{name} {arg.upper()}", False
        if name == "SPX":
            if arg not in ("1", "2", "4"):
                raise _OrcaError("E5", f"SPX {arg}: allowed 1, 2, 4")
            self._set("binning", int(arg))
            return f"SPX {arg}", False
        if name == "RES":
            if arg.upper() not in ("Y", "N"):
                raise _OrcaError("E5", f"RES {arg}: allowed Y, N")
            self._set("replies", arg.upper() == "Y")
            return f"RES {arg.upper()}", False
        if name == "SDV":
            return self._set_subarray(arg), False
        raise _OrcaError("E3", f"{name}: undefined command")

    def _number(self, arg: str, low: float, high: float, what: str) -> float:
        try:
            value = float(arg)
        except ValueError:
            raise _OrcaError("E5", f"{what} {arg!r} is not a number") from None
        if not low <= value <= high:
            raise _OrcaError("E6", f"{what} {value:g} outside {low:g}…{high:g}")
        return value

    def _set_subarray(self, arg: str) -> str:
        parts = [p.strip() for p in arg.split(",")]
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise _OrcaError("E5", f"SDV {arg}: expected bo,to,size (integers)")
        bo, to, size = (int(p) for p in parts)
        half = self.config.height // 2
        if any(v % 4 for v in (bo, to, size)) or size == 0:
            raise _OrcaError("E6", f"SDV {arg}: values must be multiples of 4, size > 0")
        if size + max(bo, to) > half:
            raise _OrcaError("E6", f"SDV {arg}: size + offset must be ≤ {half}")
        self._set("subarray", (bo, to, size))
        return f"SDV {bo},{to},{size}"

    # -- frames -------------------------------------------------------------------------------

    @property
    def frame_address(self) -> str:
        """Where frames are served: ``tcp://127.0.0.1:<port>``."""
        if self._frame_listener is None:
            raise EmulatorError(f"{self.name}: not started; call start() first")
        return f"tcp://{self.host}:{self._frame_listener.getsockname()[1]}"

    @property
    def endpoints(self) -> dict[str, str]:
        """The serial resource and the frame address."""
        return {**super().endpoints, "frames": self.frame_address}

    def trigger(self) -> None:
        """An external trigger pulse: one frame in the trigger modes (ignored in free run)."""
        self._triggers.put(time.monotonic())
        self._wake.set()

    def started(self) -> None:
        """Open the frame port and start the acquisition thread."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, self._frame_port_requested))
        except OSError as exc:
            listener.close()
            self.stop()
            raise EmulatorError(f"{self.name}: cannot open the frame port: {exc}") from exc
        listener.listen(4)
        listener.setblocking(False)
        self._frame_listener = listener
        for target, label in ((self._accept_frames, "frames-accept"), (self._acquire, "acquire")):
            thread = threading.Thread(target=target, name=f"{self.name}-{label}", daemon=True)
            self._frame_threads.append(thread)
            thread.start()

    def stopped(self) -> None:
        """Close frame clients and join the frame threads."""
        self._wake.set()
        self._drop_frame_clients()
        for thread in self._frame_threads:
            thread.join(5.0)
        self._frame_threads = []
        if self._frame_listener is not None:
            self._frame_listener.close()
            self._frame_listener = None

    def power_cycle(self) -> None:
        """Power off and on: frame clients drop too."""
        self._drop_frame_clients()
        super().power_cycle()

    @property
    def frame_clients(self) -> int:
        """Clients connected to the frame port now."""
        with self._clients_lock:
            return sum(1 for c in self._frame_clients if not c.closed.is_set())

    def _drop_frame_clients(self) -> None:
        with self._clients_lock:
            clients = list(self._frame_clients)
        for client in clients:
            client.closed.set()
            with contextlib.suppress(OSError):
                client.sock.shutdown(socket.SHUT_RDWR)

    def _accept_frames(self) -> None:
        listener = self._frame_listener
        assert listener is not None
        while not self._stop_event.is_set():
            try:
                readable, _, _ = select.select([listener], [], [], 0.05)
            except (OSError, ValueError):
                return
            if not readable:
                continue
            try:
                sock, _ = listener.accept()
            except OSError:
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client = _FrameClient(sock, self.config.frame_queue_per_client)
            thread = threading.Thread(
                target=self._send_frames,
                args=(client,),
                name=f"{self.name}-frames-out",
                daemon=True,
            )
            with self._clients_lock:
                self._frame_clients.append(client)
                self._frame_threads = [t for t in self._frame_threads if t.is_alive()]
                self._frame_threads.append(thread)
            thread.start()
            self._wake.set()

    def _send_frames(self, client: _FrameClient) -> None:
        try:
            while not self._stop_event.is_set() and not client.closed.is_set():
                try:
                    frame = client.queue.get(timeout=0.05)
                except queue.Empty:
                    # Notice a client that hung up.
                    try:
                        readable, _, _ = select.select([client.sock], [], [], 0)
                        if readable and not client.sock.recv(4096):
                            break
                    except OSError:
                        break
                    continue
                if not _send_all(client.sock.send, client.sock, frame, self._stop_event, 10.0):
                    break
        finally:
            client.closed.set()
            with contextlib.suppress(OSError):
                client.sock.close()
            with self._clients_lock:
                if client in self._frame_clients:
                    self._frame_clients.remove(client)

    def _acquire(self) -> None:
        next_at = time.monotonic()
        started = False  # AMD S: the first trigger starts free run
        last_mode = self.state.trigger_mode
        while not self._stop_event.is_set():
            mode = self.state.trigger_mode
            if mode != last_mode:
                started, last_mode = False, mode
            if mode == "S" and not started:
                try:
                    self._triggers.get(timeout=0.05)
                except queue.Empty:
                    continue
                started = True
                next_at = time.monotonic() + self.state.trigger_delay_s
                continue
            if mode in ("N", "S"):
                if not self.frame_clients:
                    self._wake.wait(0.05)
                    self._wake.clear()
                    next_at = max(next_at, time.monotonic())
                    continue
                wait = next_at - time.monotonic()
                if wait > 0:
                    self._stop_event.wait(min(wait, 0.05))
                    continue
                self._emit_safely()
                next_at = max(next_at + self.frame_period_s(), time.monotonic() - 1.0)
                continue
            try:
                self._triggers.get(timeout=0.05)
            except queue.Empty:
                continue
            # Exposure starts after the trigger delay; the frame is out after the exposure.
            self._stop_event.wait(self.state.trigger_delay_s + self.state.exposure_s)
            if not self._stop_event.is_set():
                self._emit_safely()

    def _emit_safely(self) -> None:
        try:
            self._emit()
        except Exception as exc:  # a faulty producer must not kill the acquisition thread
            self.frame_errors.append(repr(exc))
            del self.frame_errors[:-16]
            self._stop_event.wait(0.05)

    def _emit(self) -> None:
        with self.lock:
            index = self.state.frames_produced
            request = FrameRequest(
                frame_index=index,
                exposure_s=self.state.exposure_s,
                rows=self.rows(),
                width=self.config.width,
                binning=self.state.binning,
                rng=self.rng,
            )
            self.state.frames_produced = index + 1
        pixels = np.ascontiguousarray(self.frame_producer(request))
        if pixels.shape != request.shape or pixels.dtype not in _DTYPE_CODES:
            raise EmulatorError(
                f"{self.name}: frame producer returned {pixels.shape} {pixels.dtype}; "
                f"expected {request.shape} of uint16, uint8 or float32"
            )
        payload = pixels.astype(pixels.dtype.newbyteorder("<"), copy=False).tobytes()
        magic = b"\xde\xad\xbe\xef" if self.faults.take_corrupt_block() else _MAGIC
        header = FRAME_HEADER.pack(
            magic,
            1,
            index,
            pixels.shape[0],
            pixels.shape[1],
            _DTYPE_CODES[pixels.dtype],
            len(payload),
        )
        frame = header + payload
        with self._clients_lock:
            clients = [c for c in self._frame_clients if not c.closed.is_set()]
        for client in clients:
            try:
                client.queue.put_nowait(frame)
            except queue.Full:
                client.dropped_frames += 1
        self.notify("frames_produced", index, index + 1)
