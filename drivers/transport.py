r"""Byte transports named by resource strings.

One small interface, :class:`Transport`, with three implementations:

* :class:`SocketTransport` for ``TCPIP[board]::host::port::SOCKET``: our own socket path.
  pyvisa-py's SOCKET session leaves TCP_NODELAY off (a 128 KiB upload measured 44 ms
  instead of 0.7 ms) and scans every received byte for the termination character (binary
  downloads ran at 47 MB/s on random data). Here TCP_NODELAY is set on the socket, counted
  reads never look for a terminator, and the round trip stays within a few microseconds
  of a bare socket (see ``docs/drivers.md``). The resource string is still parsed by
  pyvisa, so the one syntax is pyvisa's.
* :class:`VisaTransport` for every other VISA resource (``TCPIP::host::INSTR`` VXI-11,
  ``ASRL…::INSTR`` serial, ``USB…::INSTR`` USB-TMC, ``GPIB…``), through pyvisa with the
  pure-Python pyvisa-py backend. Counted reads switch the termination character off.
* :class:`SerialTransport` for a bare serial device path (``/dev/ttyUSB0``,
  ``/dev/pts/3``, ``COM3``) through pyserial.

Every transport takes its timeout in seconds, keeps its own input buffer, reads either
up to a terminator (any number of bytes, e.g. Toptica's ``b"\\n> "``) or an exact count,
and maps its library's errors onto :class:`~drivers.errors.InstrumentTimeout` and
:class:`~drivers.errors.InstrumentConnectionError`.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from abc import ABC, abstractmethod
from typing import Any

from drivers.errors import (
    InstrumentConnectionError,
    InstrumentTimeout,
    ResourceStringError,
)

__all__ = [
    "SerialTransport",
    "SocketTransport",
    "Transport",
    "VisaTransport",
    "open_transport",
    "transport_for",
]

_CHUNK = 65536


class Transport(ABC):
    """A bidirectional byte stream to one instrument."""

    resource: str

    def __init__(self, resource: str, timeout_s: float) -> None:
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0 s, got {timeout_s!r}")
        self.resource = resource
        self._timeout_s = float(timeout_s)
        self._buffer = bytearray()

    @property
    def timeout_s(self) -> float:
        """The time one read or write may take before it fails, in seconds."""
        return self._timeout_s

    @timeout_s.setter
    def timeout_s(self, value: float) -> None:
        if not value > 0:
            raise ValueError(f"timeout_s must be > 0 s, got {value!r}")
        self._timeout_s = float(value)
        self._apply_timeout()

    def _apply_timeout(self) -> None:  # noqa: B027 - optional hook
        """Pass a changed timeout on to the underlying library (if it holds one)."""

    @property
    @abstractmethod
    def is_open(self) -> bool:
        """Whether the link is open (as far as this side knows)."""

    @abstractmethod
    def open(self) -> None:
        """Open the link; raises :class:`InstrumentConnectionError` if it cannot."""

    @abstractmethod
    def close(self) -> None:
        """Close the link (idempotent); buffered input is dropped."""

    @abstractmethod
    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send all of ``data``."""

    @abstractmethod
    def _receive(self, max_bytes: int, deadline: float) -> bytes:
        """Receive at least one byte (at most ``max_bytes``) before ``deadline``.

        Raises :class:`InstrumentTimeout` past the deadline and
        :class:`InstrumentConnectionError` when the peer has closed the link.
        """

    @abstractmethod
    def _pending(self) -> bytes:
        """Whatever bytes have already arrived, without waiting (may be empty)."""

    def read_until(self, terminator: bytes) -> bytes:
        """Read up to and including ``terminator``; returns the bytes before it."""
        deadline = time.monotonic() + self._timeout_s
        buf = self._buffer
        start = 0
        while True:
            index = buf.find(terminator, start)
            if index >= 0:
                message = bytes(buf[:index])
                del buf[: index + len(terminator)]
                return message
            start = max(0, len(buf) - len(terminator) + 1)
            buf += self._receive(_CHUNK, deadline)

    def read_exact(self, count: int) -> bytes:
        """Read exactly ``count`` bytes (no terminator is looked for)."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        deadline = time.monotonic() + self._timeout_s
        buf = self._buffer
        if len(buf) >= count:
            data = bytes(buf[:count])
            del buf[:count]
            return data
        out = bytearray(buf)
        buf.clear()
        while len(out) < count:
            out += self._receive(count - len(out), deadline)
        return bytes(out)

    def discard_input(self) -> bytes:
        """Drop every byte received but not read yet (stale replies, garbage).

        Returns the dropped bytes so the caller can log them. Does not wait. Raises
        :class:`InstrumentConnectionError` if this finds the link closed by the peer.
        """
        dropped = bytes(self._buffer) + self._pending()
        self._buffer.clear()
        return dropped


def _is_serial_path(resource: str) -> bool:
    return resource.startswith("/dev/") or resource.upper().startswith("COM")


def transport_for(resource: str, timeout_s: float, **serial_options: Any) -> Transport:
    """The transport for ``resource`` (not opened yet).

    ``serial_options`` (``baud_rate``, ``data_bits``, ``parity`` as ``"N"/"E"/"O"``,
    ``stop_bits``) apply to serial resources only and are ignored by the others.
    """
    if _is_serial_path(resource):
        return SerialTransport(resource, timeout_s, **serial_options)
    from pyvisa import rname

    try:
        parsed = rname.parse_resource_name(resource)
    except rname.InvalidResourceName as exc:
        raise ResourceStringError(
            f"cannot parse resource string {resource!r}: {exc}; expected e.g. "
            "'TCPIP::host::port::SOCKET', 'TCPIP::host::INSTR', 'ASRL/dev/ttyUSB0::INSTR', "
            "'USB0::0x1313::0x8078::SERIAL::INSTR' or a serial device path"
        ) from exc
    if isinstance(parsed, rname.TCPIPSocket):
        try:
            port = int(parsed.port)
        except ValueError as exc:
            raise ResourceStringError(f"port in {resource!r} is not an integer") from exc
        return SocketTransport(resource, timeout_s, host=parsed.host_address, port=port)
    return VisaTransport(resource, timeout_s, **serial_options)


def open_transport(resource: str, timeout_s: float, **serial_options: Any) -> Transport:
    """:func:`transport_for` and open it."""
    transport = transport_for(resource, timeout_s, **serial_options)
    transport.open()
    return transport


def _timeval(seconds: float) -> bytes:
    whole = int(seconds)
    return struct.pack("ll", whole, int((seconds - whole) * 1e6))


class SocketTransport(Transport):
    """A raw TCP socket (``…::SOCKET`` resources) with TCP_NODELAY on.

    The socket stays in blocking mode with the timeout set in the kernel
    (``SO_RCVTIMEO`` / ``SO_SNDTIMEO``): one system call per receive instead of Python's
    poll-then-receive, which is most of what separates a driver query from a bare socket.
    """

    def __init__(self, resource: str, timeout_s: float, *, host: str, port: int) -> None:
        super().__init__(resource, timeout_s)
        self.host = host
        self.port = port
        self._sock: socket.socket | None = None
        self._poller: select.poll | None = None
        self._kernel_timeout_s = 0.0

    @property
    def is_open(self) -> bool:
        """Whether the socket is open."""
        return self._sock is not None

    def open(self) -> None:
        """Connect to ``host:port``."""
        self.close()
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self._timeout_s)
        except TimeoutError as exc:
            raise InstrumentTimeout(
                f"connecting to {self.resource} took longer than {self._timeout_s} s"
            ) from exc
        except OSError as exc:
            raise InstrumentConnectionError(f"cannot connect to {self.resource}: {exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)
        self._sock = sock
        self._set_kernel_timeout(self._timeout_s)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(self._timeout_s))
        self._poller = select.poll()
        self._poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)

    def _set_kernel_timeout(self, seconds: float) -> None:
        assert self._sock is not None
        seconds = max(seconds, 1e-3)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(seconds))
        self._kernel_timeout_s = seconds

    def close(self) -> None:
        """Close the socket."""
        sock, self._sock = self._sock, None
        self._poller = None
        self._buffer.clear()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def _apply_timeout(self) -> None:
        if self._sock is not None:
            self._set_kernel_timeout(self._timeout_s)
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(self._timeout_s))

    def _require(self) -> socket.socket:
        if self._sock is None:
            raise InstrumentConnectionError(f"{self.resource} is not open")
        return self._sock

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send all of ``data``."""
        sock = self._sock
        if sock is None:
            raise InstrumentConnectionError(f"{self.resource} is not open")
        try:
            sock.sendall(data)
        except (BlockingIOError, TimeoutError) as exc:
            raise InstrumentTimeout(
                f"sending to {self.resource} took longer than {self._timeout_s} s"
            ) from exc
        except OSError as exc:
            raise InstrumentConnectionError(f"sending to {self.resource} failed: {exc}") from exc

    def read_until(self, terminator: bytes) -> bytes:
        """Read up to and including ``terminator``; returns the bytes before it."""
        sock = self._sock
        if not self._buffer and sock is not None and self._kernel_timeout_s == self._timeout_s:
            # Common case: the whole reply arrives in one segment; the kernel timeout is
            # the whole timeout, so no deadline arithmetic is needed for this receive.
            try:
                data = sock.recv(_CHUNK)
            except (BlockingIOError, TimeoutError) as exc:
                raise InstrumentTimeout(
                    f"no complete reply from {self.resource} in {self._timeout_s} s"
                ) from exc
            except OSError as exc:
                raise InstrumentConnectionError(
                    f"receiving from {self.resource} failed: {exc}"
                ) from exc
            if not data:
                raise InstrumentConnectionError(f"{self.resource} closed the connection")
            if data.endswith(terminator) and data.find(terminator) == len(data) - len(terminator):
                return data[: -len(terminator)]
            self._buffer += data
        return super().read_until(terminator)

    def _receive(self, max_bytes: int, deadline: float) -> bytes:
        sock = self._sock
        if sock is None:
            raise InstrumentConnectionError(f"{self.resource} is not open")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise InstrumentTimeout(
                f"no complete reply from {self.resource} in {self._timeout_s} s"
            )
        # The kernel timeout restarts per receive; shorten it when the deadline is near.
        if remaining < self._kernel_timeout_s * 0.99:
            self._set_kernel_timeout(remaining)
        elif self._kernel_timeout_s < self._timeout_s * 0.99 and remaining > self._kernel_timeout_s:
            self._set_kernel_timeout(self._timeout_s)
        try:
            data = sock.recv(min(max_bytes, 4 * 1024 * 1024))
        except (BlockingIOError, TimeoutError) as exc:
            raise InstrumentTimeout(
                f"no complete reply from {self.resource} in {self._timeout_s} s"
            ) from exc
        except OSError as exc:
            raise InstrumentConnectionError(
                f"receiving from {self.resource} failed: {exc}"
            ) from exc
        if not data:
            raise InstrumentConnectionError(f"{self.resource} closed the connection")
        return data

    def discard_input(self) -> bytes:
        """Drop every byte received but not read yet (one ``poll`` when there is none)."""
        poller = self._poller
        if not self._buffer and poller is not None and not poller.poll(0):
            return b""
        return super().discard_input()

    def _pending(self) -> bytes:
        sock = self._require()
        poller = self._poller
        assert poller is not None
        chunks = []
        while poller.poll(0):
            try:
                data = sock.recv(_CHUNK)
            except OSError as exc:
                raise InstrumentConnectionError(
                    f"{self.resource} connection failed: {exc}"
                ) from exc
            if not data:
                raise InstrumentConnectionError(f"{self.resource} closed the connection")
            chunks.append(data)
        return b"".join(chunks)


class VisaTransport(Transport):
    r"""Any VISA resource other than SOCKET, through pyvisa + pyvisa-py (``@py``).

    ``baud_rate`` and friends apply to ``ASRL`` resources. Reads use the low-level
    ``viRead`` with the termination character set to the terminator's last byte (or
    switched off for counted reads), so binary payloads are not cut at ``\\n`` bytes.
    """

    def __init__(
        self,
        resource: str,
        timeout_s: float,
        *,
        baud_rate: int = 9600,
        data_bits: int = 8,
        parity: str = "N",
        stop_bits: float = 1,
        visa_library: str = "@py",
    ) -> None:
        super().__init__(resource, timeout_s)
        self.baud_rate = baud_rate
        self.data_bits = data_bits
        self.parity = parity
        self.stop_bits = stop_bits
        self.visa_library = visa_library
        self._rm: Any = None
        self._res: Any = None
        self._quiet: Any = None
        self._termchar: int | None = None

    @property
    def is_open(self) -> bool:
        """Whether the VISA session is open."""
        return self._res is not None

    def open(self) -> None:
        """Open the VISA session (raw: no terminations added by pyvisa)."""
        import pyvisa
        from pyvisa import constants

        self.close()
        try:
            self._rm = pyvisa.ResourceManager(self.visa_library)
            res = self._rm.open_resource(self.resource, open_timeout=int(self._timeout_s * 1000))
        except Exception as exc:  # pyvisa raises many kinds here (VisaIOError, OSError, …)
            self._close_rm()
            raise InstrumentConnectionError(f"cannot open {self.resource}: {exc}") from exc
        res.timeout = self._timeout_s * 1000.0
        res.read_termination = None
        res.write_termination = ""
        if res.interface_type == constants.InterfaceType.asrl:
            res.baud_rate = self.baud_rate
            res.data_bits = self.data_bits
            res.parity = {
                "N": constants.Parity.none,
                "E": constants.Parity.even,
                "O": constants.Parity.odd,
            }[self.parity]
            res.stop_bits = {
                1: constants.StopBits.one,
                1.5: constants.StopBits.one_and_a_half,
                2: constants.StopBits.two,
            }[self.stop_bits]
            res.end_output = constants.SerialTermination.none
        # Reads that stop at the count or the termination character are normal here,
        # not warnings (pytest runs with warnings as errors).
        self._quiet = res.ignore_warning(
            constants.StatusCode.success_max_count_read,
            constants.StatusCode.success_termination_character_read,
            constants.StatusCode.success_device_not_present,
        )
        self._quiet.__enter__()
        self._res = res
        self._termchar = None

    def _close_rm(self) -> None:
        rm, self._rm = self._rm, None
        if rm is not None:
            try:
                rm.close()
            except Exception:  # closing a half-broken session must not raise
                pass

    def close(self) -> None:
        """Close the VISA session."""
        res, self._res = self._res, None
        self._buffer.clear()
        if res is not None:
            quiet, self._quiet = self._quiet, None
            if quiet is not None:
                quiet.__exit__(None, None, None)
            try:
                res.close()
            except Exception:  # closing a half-broken session must not raise
                pass
        self._close_rm()

    def _apply_timeout(self) -> None:
        if self._res is not None:
            self._res.timeout = self._timeout_s * 1000.0

    def _require(self) -> Any:
        if self._res is None:
            raise InstrumentConnectionError(f"{self.resource} is not open")
        return self._res

    def _map_error(self, exc: Exception, doing: str) -> Exception:
        from pyvisa import constants
        from pyvisa.errors import VisaIOError

        if isinstance(exc, VisaIOError) and exc.error_code == constants.StatusCode.error_timeout:
            return InstrumentTimeout(
                f"{doing} {self.resource} took longer than {self._timeout_s} s"
            )
        return InstrumentConnectionError(f"{doing} {self.resource} failed: {exc}")

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send all of ``data``."""
        res = self._require()
        try:
            res.write_raw(bytes(data))
        except Exception as exc:  # VisaIOError, SerialException, OSError
            raise self._map_error(exc, "writing to") from exc

    def _set_termchar(self, termchar: int | None) -> None:
        if termchar == self._termchar:
            return
        from pyvisa import constants

        res = self._require()
        if termchar is None:
            res.set_visa_attribute(constants.VI_ATTR_TERMCHAR_EN, constants.VI_FALSE)
            if res.interface_type == constants.InterfaceType.asrl:
                res.end_input = constants.SerialTermination.none
        else:
            res.set_visa_attribute(constants.VI_ATTR_TERMCHAR, termchar)
            res.set_visa_attribute(constants.VI_ATTR_TERMCHAR_EN, constants.VI_TRUE)
            if res.interface_type == constants.InterfaceType.asrl:
                res.end_input = constants.SerialTermination.termination_char
        self._termchar = termchar

    def read_until(self, terminator: bytes) -> bytes:
        """Read up to and including ``terminator`` (termchar = its last byte)."""
        self._set_termchar(terminator[-1])
        return super().read_until(terminator)

    def read_exact(self, count: int) -> bytes:
        """Read exactly ``count`` bytes with the termination character off."""
        self._set_termchar(None)
        return super().read_exact(count)

    def _receive(self, max_bytes: int, deadline: float) -> bytes:
        from pyvisa import constants
        from pyvisa.errors import VisaIOError

        res = self._require()
        if time.monotonic() > deadline:
            raise InstrumentTimeout(
                f"no complete reply from {self.resource} in {self._timeout_s} s"
            )
        try:
            data, status = res.visalib.read(res.session, max_bytes)
        except VisaIOError as exc:
            raise self._map_error(exc, "reading from") from exc
        except Exception as exc:  # SerialException, OSError: the link is gone
            raise InstrumentConnectionError(f"reading from {self.resource} failed: {exc}") from exc
        if not data:
            if status == constants.StatusCode.error_timeout:
                raise InstrumentTimeout(
                    f"no complete reply from {self.resource} in {self._timeout_s} s"
                )
            raise InstrumentConnectionError(f"{self.resource} returned no data ({status!r})")
        return bytes(data)

    def _pending(self) -> bytes:
        from pyvisa import constants

        res = self._require()
        if res.interface_type != constants.InterfaceType.asrl:
            return b""
        try:
            waiting = int(res.bytes_in_buffer)
            if waiting <= 0:
                return b""
            self._set_termchar(None)
            data, _ = res.visalib.read(res.session, waiting)
        except Exception as exc:  # the port vanished
            raise InstrumentConnectionError(f"{self.resource} failed: {exc}") from exc
        return bytes(data)


class SerialTransport(Transport):
    """A serial port opened by path with pyserial (``/dev/ttyUSB0``, ``/dev/pts/3``, ``COM3``)."""

    def __init__(
        self,
        resource: str,
        timeout_s: float,
        *,
        baud_rate: int = 9600,
        data_bits: int = 8,
        parity: str = "N",
        stop_bits: float = 1,
    ) -> None:
        super().__init__(resource, timeout_s)
        self.baud_rate = baud_rate
        self.data_bits = data_bits
        self.parity = parity
        self.stop_bits = stop_bits
        self._port: Any = None

    @property
    def is_open(self) -> bool:
        """Whether the port is open."""
        return self._port is not None

    def open(self) -> None:
        """Open the port (raw mode, as pyserial sets it)."""
        import serial

        self.close()
        try:
            self._port = serial.Serial(
                self.resource,
                baudrate=self.baud_rate,
                bytesize=self.data_bits,
                parity=self.parity,
                stopbits=self.stop_bits,
                timeout=self._timeout_s,
                write_timeout=self._timeout_s,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise InstrumentConnectionError(f"cannot open {self.resource}: {exc}") from exc

    def close(self) -> None:
        """Close the port."""
        port, self._port = self._port, None
        self._buffer.clear()
        if port is not None:
            try:
                port.close()
            except Exception:  # closing a vanished port must not raise
                pass

    def _apply_timeout(self) -> None:
        if self._port is not None:
            self._port.timeout = self._timeout_s
            self._port.write_timeout = self._timeout_s

    def _require(self) -> Any:
        if self._port is None:
            raise InstrumentConnectionError(f"{self.resource} is not open")
        return self._port

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send all of ``data``."""
        import serial

        port = self._require()
        try:
            port.write(data)
        except serial.SerialTimeoutException as exc:
            raise InstrumentTimeout(f"writing to {self.resource} timed out") from exc
        except (serial.SerialException, OSError) as exc:
            raise InstrumentConnectionError(f"writing to {self.resource} failed: {exc}") from exc

    def _receive(self, max_bytes: int, deadline: float) -> bytes:
        import serial

        port = self._require()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise InstrumentTimeout(
                f"no complete reply from {self.resource} in {self._timeout_s} s"
            )
        port.timeout = remaining
        try:
            first = port.read(1)
            if not first:
                raise InstrumentTimeout(
                    f"no complete reply from {self.resource} in {self._timeout_s} s"
                )
            waiting = port.in_waiting
            rest = port.read(min(waiting, max_bytes - 1)) if waiting and max_bytes > 1 else b""
        except (serial.SerialException, OSError) as exc:
            raise InstrumentConnectionError(f"reading from {self.resource} failed: {exc}") from exc
        return first + rest

    def _pending(self) -> bytes:
        import serial

        port = self._require()
        try:
            waiting = port.in_waiting
            return bytes(port.read(waiting)) if waiting else b""
        except (serial.SerialException, OSError) as exc:
            raise InstrumentConnectionError(f"{self.resource} failed: {exc}") from exc
