"""The instrument base: declared parameters, locked and logged I/O, retry and reconnect.

A driver is a short declaration over :class:`Instrument` (or :class:`SCPIInstrument`)::

    class Meter(SCPIInstrument):
        wavelength_nm = Parameter(
            "SENS:CORR:WAV?", "SENS:CORR:WAV {}", parser=float,
            validator=Range(400.0, 1100.0, "nm"), unit="nm",
            doc="Wavelength used for the responsivity correction, in nm.",
        )

Reading ``meter.wavelength_nm`` sends the query and parses the reply; assigning to it
validates the value on the client side (:class:`~drivers.errors.ParameterValidationError`
names the value and the allowed range, and nothing is sent), writes the command and, for
SCPI instruments, drains the error queue.

What every instrument gets from the base:

* a lock per instrument (re-entrant), so threads may share one driver;
* DEBUG logging of every write, query and reply on the logger named after the driver
  class (``drivers.awg.keysight.Keysight33600A``…);
* Ctrl-C held off while bytes are on the wire (raised right after the exchange), so an
  interrupt never leaves half a command in the instrument or a reply in the buffer;
* stale input (a late reply, garbage) dropped before each new command;
* retry of idempotent exchanges after a timeout, a dropped connection or an unparsable
  reply: the transport is closed and reopened (which also discards any late reply still
  on its way) and the exchange is repeated once (``retries``). Non-idempotent writes
  (uploads, triggers, ``exec``) are never repeated: the error is raised, and the next
  exchange reconnects;
* ``connect()`` / ``close()`` and the context-manager protocol; ``safe_state()``, which
  each driver defines.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any, ClassVar, Generic, TypeVar, overload

from pydantic import BaseModel, ConfigDict

from drivers.errors import (
    InstrumentCommandError,
    InstrumentConnectionError,
    InstrumentError,
    InstrumentProtocolError,
    InstrumentTimeout,
    ParameterValidationError,
)
from drivers.transport import Transport, transport_for

__all__ = [
    "Choice",
    "Identity",
    "Instrument",
    "InstrumentChannel",
    "Parameter",
    "Range",
    "SCPIInstrument",
    "Validator",
    "block_header",
    "format_bool_on_off",
    "parse_bool",
    "parse_idn",
    "parse_ieee_block",
    "parse_scpi_error",
]

T = TypeVar("T")
V = TypeVar("V")

_RECOVERABLE = (InstrumentTimeout, InstrumentConnectionError, InstrumentProtocolError)


# --------------------------------------------------------------------------- helpers


class Identity(BaseModel):
    """An instrument's identity as reported by ``*IDN?`` (or its equivalent)."""

    model_config = ConfigDict(frozen=True)

    manufacturer: str
    model: str
    serial_number: str = ""
    firmware: str = ""


def parse_idn(reply: str) -> Identity:
    """Parse an IEEE 488.2 ``*IDN?`` reply ``maker,model,serial,firmware``."""
    fields = [field.strip() for field in reply.strip().split(",")]
    if len(fields) < 2 or not fields[0]:
        raise InstrumentProtocolError(
            f"*IDN? reply {reply!r} is not 'manufacturer,model,serial,firmware'"
        )
    fields += [""] * (4 - len(fields))
    return Identity(
        manufacturer=fields[0],
        model=fields[1],
        serial_number=fields[2],
        firmware=",".join(fields[3:]),
    )


def parse_bool(reply: str) -> bool:
    """Parse ``1/0/ON/OFF/TRUE/FALSE`` (any case) into a bool."""
    text = reply.strip().upper()
    if text in {"1", "ON", "TRUE", "+1"}:
        return True
    if text in {"0", "OFF", "FALSE", "+0"}:
        return False
    raise InstrumentProtocolError(f"{reply!r} is not a boolean (expected 1/0/ON/OFF)")


def format_bool_on_off(value: bool) -> str:
    """``True`` → ``ON``, ``False`` → ``OFF``."""
    return "ON" if value else "OFF"


_SCPI_ERROR = re.compile(r'^\s*([+-]?\d+)\s*,\s*"?(.*?)"?\s*$')


def parse_scpi_error(reply: str) -> tuple[int, str]:
    """Parse a ``SYST:ERR?`` reply such as ``-222,"Data out of range"`` → (code, message)."""
    match = _SCPI_ERROR.match(reply)
    if match is None:
        raise InstrumentProtocolError(f"error-queue reply {reply!r} is not '<code>,\"<message>\"'")
    return int(match.group(1)), match.group(2)


def block_header(nbytes: int) -> bytes:
    """The IEEE 488.2 definite-length block header ``#<n><len>`` for ``nbytes`` of payload."""
    if nbytes < 0:
        raise ValueError(f"block length must be >= 0, got {nbytes}")
    digits = str(nbytes)
    if len(digits) > 9:
        raise ValueError(f"block of {nbytes} bytes is longer than a 9-digit length allows")
    return f"#{len(digits)}{digits}".encode("ascii")


def parse_ieee_block(data: bytes) -> bytes:
    """The payload of a complete definite-length block ``#<n><len><payload>`` in ``data``."""
    if len(data) < 2 or data[:1] != b"#" or not data[1:2].isdigit() or data[1:2] == b"0":
        raise InstrumentProtocolError(f"not a definite-length block: starts {bytes(data[:12])!r}")
    ndigits = int(data[1:2])
    length_text = data[2 : 2 + ndigits]
    if len(length_text) != ndigits or not length_text.isdigit():
        raise InstrumentProtocolError(f"bad block length field {bytes(length_text)!r}")
    length = int(length_text)
    payload = data[2 + ndigits :]
    if len(payload) != length:
        raise InstrumentProtocolError(f"block announces {length} bytes but carries {len(payload)}")
    return bytes(payload)


_MAIN_THREAD_ID = threading.main_thread().ident


class _InterruptGate:
    """Holds Ctrl-C off while the main thread is inside one of this instrument's exchanges.

    Installed as the SIGINT handler when the instrument connects from the main thread,
    wrapping whatever handler was there, and put back on close. Entering and leaving an
    exchange only counts (no system call: a ``signal.signal`` pair per exchange costs
    about 7 µs, a third of a loopback round trip). A SIGINT that arrives inside an
    exchange is delivered to the wrapped handler (``KeyboardInterrupt`` by default) as
    soon as the exchange ends, so no command is left half-sent and no reply unread.
    Connected from another thread, the gate does nothing (no SIGINT reaches such threads).
    """

    __slots__ = ("_depth", "_installed", "_pending", "_wrapped")

    def __init__(self) -> None:
        self._depth = 0
        self._installed = False
        self._pending: tuple[int, FrameType | None] | None = None
        self._wrapped: Any = None

    def install(self) -> None:
        if self._installed or threading.get_ident() != _MAIN_THREAD_ID:
            return
        try:
            previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not the main interpreter
            return
        self._wrapped = previous
        self._installed = True

    def uninstall(self) -> None:
        if not self._installed or threading.get_ident() != _MAIN_THREAD_ID:
            return
        self._installed = False  # if someone wrapped us meanwhile, we just pass through
        if signal.getsignal(signal.SIGINT) == self._handler:
            signal.signal(signal.SIGINT, self._wrapped)

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self._depth and self._installed:
            self._pending = (signum, frame)
            return
        self._deliver(signum, frame)

    def _deliver(self, signum: int, frame: FrameType | None) -> None:
        wrapped = self._wrapped
        if callable(wrapped):
            wrapped(signum, frame)
        elif wrapped != signal.SIG_IGN:
            raise KeyboardInterrupt

    def __enter__(self) -> None:
        if threading.get_ident() == _MAIN_THREAD_ID:
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        if threading.get_ident() != _MAIN_THREAD_ID:
            return
        self._depth -= 1
        if not self._depth and self._pending is not None:
            signum, frame = self._pending
            self._pending = None
            self._deliver(signum, frame)


# ------------------------------------------------------------------------ validators


class Validator(ABC):
    """Checks (and may normalise) a value before it is sent."""

    @abstractmethod
    def check(self, host: Any, name: str, value: Any) -> Any:
        """Return the value to send, or raise :class:`ParameterValidationError`."""

    @abstractmethod
    def describe(self, host: Any = None) -> str:
        """The allowed values in words (for error messages and docs)."""


Limit = float | str | Callable[[Any], float]


class Range(Validator):
    """A closed numeric interval ``[low, high]`` in ``unit``.

    A limit may be a number, the name of an attribute on the instrument (e.g.
    ``"max_power_w"``: a soft limit configured per instrument) or a callable taking the
    instrument; the effective limit is resolved at each set.
    """

    def __init__(self, low: Limit, high: Limit, unit: str = "", *, integer: bool = False) -> None:
        self.low = low
        self.high = high
        self.unit = unit
        self.integer = integer

    def _resolve(self, host: Any, limit: Limit) -> float:
        if isinstance(limit, str):
            root = getattr(host, "instrument", host)
            return float(getattr(root, limit))
        if callable(limit):
            return float(limit(getattr(host, "instrument", host)))
        return float(limit)

    def bounds(self, host: Any = None) -> tuple[float, float]:
        """The effective ``(low, high)`` for ``host``."""
        if host is None:
            low = self.low if isinstance(self.low, int | float) else float("-inf")
            high = self.high if isinstance(self.high, int | float) else float("inf")
            return float(low), float(high)
        return self._resolve(host, self.low), self._resolve(host, self.high)

    def describe(self, host: Any = None) -> str:
        """``[low, high] unit``."""
        low, high = self.bounds(host)
        unit = f" {self.unit}" if self.unit else ""
        kind = "integer in " if self.integer else ""
        return f"{kind}[{low:g}, {high:g}]{unit}"

    def check(self, host: Any, name: str, value: Any) -> Any:
        """Reject non-numbers, NaN and values outside the interval."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            try:
                import numpy as np

                if isinstance(value, np.integer | np.floating):
                    value = value.item()
                else:
                    raise TypeError
            except TypeError:
                raise ParameterValidationError(
                    f"{name}: {value!r} is not a number; allowed {self.describe(host)}"
                ) from None
        if self.integer and value != int(value):
            raise ParameterValidationError(
                f"{name}: {value!r} is not an integer; allowed {self.describe(host)}"
            )
        low, high = self.bounds(host)
        if not low <= value <= high:  # also rejects NaN
            unit = f" {self.unit}" if self.unit else ""
            raise ParameterValidationError(
                f"{name}: {value!r}{unit} is outside the allowed {self.describe(host)}"
            )
        return int(value) if self.integer else value


class Choice(Validator):
    """One of a fixed set of values (compared after ``normalise``, default: identity)."""

    def __init__(
        self, values: Iterable[Any], normalise: Callable[[Any], Any] | None = None
    ) -> None:
        self.values = tuple(values)
        self.normalise = normalise

    def describe(self, host: Any = None) -> str:
        """``one of a, b, c``."""
        return "one of " + ", ".join(repr(v) for v in self.values)

    def check(self, host: Any, name: str, value: Any) -> Any:
        """Reject anything not in the set (``1`` is not ``True`` here)."""
        candidate = self.normalise(value) if self.normalise is not None else value
        wants_bool = any(isinstance(v, bool) for v in self.values)
        if candidate not in self.values or isinstance(candidate, bool) != wants_bool:
            raise ParameterValidationError(f"{name}: {value!r} is not {self.describe()}")
        return candidate


# ------------------------------------------------------------------------ parameters


class Parameter(Generic[T]):
    """A declared instrument parameter (a descriptor on the driver class).

    ``get_cmd`` / ``set_cmd`` are format strings: ``{}`` in ``set_cmd`` receives the
    formatted value, and named fields (``{ch}``) come from the host (a channel fills its
    number in). A parameter without ``set_cmd`` is read-only, one without ``get_cmd``
    write-only. ``unit`` is the SI unit the Python value carries (``""`` for none);
    ``doc`` must say it. ``idempotent_set`` says whether sending the set twice is harmless
    (true for absolute set-points) and so may be retried after a dropped connection.
    """

    def __init__(
        self,
        get_cmd: str | None = None,
        set_cmd: str | None = None,
        *,
        doc: str,
        unit: str = "",
        parser: Callable[[str], T] | None = None,
        formatter: Callable[[Any], str] = str,
        validator: Validator | None = None,
        idempotent_set: bool = True,
    ) -> None:
        self.get_cmd = get_cmd
        self.set_cmd = set_cmd
        self.unit = unit
        self.parser: Callable[[str], Any] = parser if parser is not None else str
        self.formatter = formatter
        self.validator = validator
        self.idempotent_set = idempotent_set
        self.name = ""
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Parameter[T]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> T | Parameter[T]:
        if obj is None:
            return self
        if self.get_cmd is None:
            raise AttributeError(f"{self.name} is write-only")
        host: _ParameterHost = obj  # type: ignore[assignment]
        result: T = host._parameter_get(self)
        return result

    def __set__(self, obj: object, value: T) -> None:
        if self.set_cmd is None:
            raise AttributeError(f"{self.name} is read-only")
        host: _ParameterHost = obj  # type: ignore[assignment]
        host._parameter_set(self, value)

    def validate(self, host: Any, value: Any) -> Any:
        """The value as it will be sent, or :class:`ParameterValidationError`."""
        if self.validator is None:
            return value
        return self.validator.check(host, self.name, value)

    def parse(self, reply: str) -> T:
        """Parse a reply; an unparsable reply is an :class:`InstrumentProtocolError`."""
        try:
            result: T = self.parser(reply)
        except InstrumentError:
            raise
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise InstrumentProtocolError(
                f"{self.name}: cannot parse reply {reply!r}: {exc}"
            ) from exc
        return result


def parameters_of(cls: type) -> dict[str, Parameter[Any]]:
    """Every :class:`Parameter` declared on ``cls`` and its bases, by attribute name."""
    found: dict[str, Parameter[Any]] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, Parameter):
                found[name] = value
    return found


class _ParameterHost:
    """Anything parameters can live on: an instrument or one of its channels."""

    def _command_fields(self) -> Mapping[str, Any]:
        return {}

    def _root(self) -> Instrument:
        raise NotImplementedError

    def _parameter_get(self, parameter: Parameter[T]) -> T:
        assert parameter.get_cmd is not None
        command = parameter.get_cmd.format(**self._command_fields())
        return self._root().query(command, parser=parameter.parse)

    def _parameter_set(self, parameter: Parameter[Any], value: Any) -> None:
        assert parameter.set_cmd is not None
        sent = parameter.validate(self, value)
        command = parameter.set_cmd.format(parameter.formatter(sent), **self._command_fields())
        self._root()._apply_set(command, parameter, sent)


# ------------------------------------------------------------------------ instrument


class Instrument(_ParameterHost, ABC):
    """Base of every driver: a transport opened from a resource string, locked I/O.

    Parameters
    ----------
    resource:
        VISA resource string or serial device path (see :mod:`drivers.transport`).
    timeout_s:
        Time one exchange may take, in seconds.
    retries:
        How often an idempotent exchange is repeated (after reconnecting) when it timed
        out, lost its connection or got an unparsable reply.
    name:
        A label for log messages (default: the class name).
    baud_rate:
        Serial resources only (default: the driver's ``default_baud_rate``).
    safe_state_on_exit:
        Whether leaving the ``with`` block calls :meth:`safe_state` before closing.
    """

    #: Registry name of the emulated twin in ``virtual_device.instruments.EMULATORS``.
    emulator_name: ClassVar[str] = ""
    #: What ends every message sent (bytes).
    write_termination: ClassVar[bytes] = b"\n"
    #: What ends every reply (bytes).
    read_termination: ClassVar[bytes] = b"\n"
    #: Text encoding of commands and replies.
    encoding: ClassVar[str] = "ascii"
    #: Serial baud rate unless given to the constructor.
    default_baud_rate: ClassVar[int] = 9600

    def __init__(
        self,
        resource: str,
        *,
        timeout_s: float = 2.0,
        retries: int = 1,
        name: str | None = None,
        baud_rate: int | None = None,
        safe_state_on_exit: bool = False,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.resource = resource
        self.name = name or type(self).__name__
        self.retries = retries
        self.safe_state_on_exit = safe_state_on_exit
        self._lock = threading.RLock()
        self._log = logging.getLogger(f"{type(self).__module__}.{type(self).__name__}")
        self._held = _InterruptGate()
        self._transport: Transport = transport_for(
            resource, timeout_s, baud_rate=baud_rate or self.default_baud_rate
        )
        self._wanted_open = False
        self._connecting = False
        self._pinned = 0
        self.reconnects = 0

    # -- lifecycle -----------------------------------------------------------------

    @property
    def timeout_s(self) -> float:
        """Time one exchange may take, in s."""
        return self._transport.timeout_s

    @timeout_s.setter
    def timeout_s(self, value: float) -> None:
        self._transport.timeout_s = value

    @property
    def lock(self) -> threading.RLock:
        """The instrument's lock: hold it to run several exchanges without interleaving."""
        return self._lock

    @property
    def is_connected(self) -> bool:
        """Whether :meth:`connect` was called (and :meth:`close` not since)."""
        return self._wanted_open

    def connect(self) -> None:
        """Open the transport and run the driver's connect-time set-up."""
        with self._lock:
            self._wanted_open = True
            try:
                self._open()
            except BaseException:
                self._wanted_open = False
                raise
            self._held.install()

    def close(self) -> None:
        """Close the transport (idempotent)."""
        with self._lock:
            self._wanted_open = False
            self._transport.close()
            self._held.uninstall()

    def __enter__(self) -> Instrument:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.safe_state_on_exit:
                self.safe_state()
        finally:
            self.close()

    @abstractmethod
    def safe_state(self) -> None:
        """Put the instrument where it can hurt nothing (RF off, laser to standby…)."""

    def _on_connect(self) -> None:
        """Driver hook run after every (re)connect, e.g. to read a banner or set a mode.

        Exchanges made here are not retried; a failure closes the transport and is
        raised from :meth:`connect` (or from the exchange that triggered a reconnect).
        """

    def _open(self) -> None:
        self._transport.open()
        self._connecting = True
        try:
            self._on_connect()
        except BaseException:
            self._transport.close()
            raise
        finally:
            self._connecting = False

    def _root(self) -> Instrument:
        return self

    @property
    def instrument(self) -> Instrument:
        """The instrument itself (channels answer with their parent)."""
        return self

    # -- exchanges -----------------------------------------------------------------

    @contextmanager
    def same_connection(self) -> Iterator[None]:
        """Hold the lock and forbid reconnects for a compound operation.

        Inside the block (e.g. write a set-point, then read the error queue) an exchange
        that finds the connection dropped raises :class:`InstrumentConnectionError`
        instead of reconnecting: a reconnect half-way would read the error queue, or
        ``*OPC?``, of a connection that never saw the first command.
        """
        with self._lock:
            if not self._pinned:
                self._ready_transport()  # (re)connect now, before the operation starts
            self._pinned += 1
            try:
                yield
            finally:
                self._pinned -= 1

    def _ready_transport(self) -> Transport:
        if not self._wanted_open:
            raise InstrumentConnectionError(
                f"{self.name} ({self.resource}) is not connected: call connect() or use 'with'"
            )
        transport = self._transport
        if self._connecting:
            return transport
        if self._pinned:
            if not transport.is_open:
                raise InstrumentConnectionError(
                    f"{self.name}: the connection dropped in the middle of an operation"
                )
            try:
                dropped = transport.discard_input()
            except InstrumentConnectionError:
                transport.close()
                raise
            if dropped:
                self._log.warning("%s: dropped stale input %r", self.name, dropped[:200])
            return transport
        if not transport.is_open:
            self._log.info("%s: reconnecting to %s", self.name, self.resource)
            self.reconnects += 1
            self._open()
            return transport
        try:
            dropped = transport.discard_input()
        except InstrumentConnectionError as exc:
            self._log.warning("%s: %s; reconnecting", self.name, exc)
            transport.close()
            self.reconnects += 1
            self._open()
            return transport
        if dropped:
            self._log.warning("%s: dropped stale input %r", self.name, dropped[:200])
        return transport

    def _exchange(
        self,
        parts: Sequence[bytes | bytearray | memoryview],
        reader: Callable[[Transport], T] | None,
        *,
        idempotent: bool,
        what: str,
    ) -> T | None:
        """Send ``parts`` then run ``reader`` on the transport, with retry when allowed."""
        attempts = 1 if (self._connecting or self._pinned or not idempotent) else 1 + self.retries
        with self._lock, self._held:
            for attempt in range(attempts):
                transport = self._transport
                ready = (
                    not (attempt or self._pinned or self._connecting)
                    and self._wanted_open
                    and transport.is_open
                )
                if ready:  # the common case, inlined: drop stale input, keep the link
                    try:
                        stale = transport.discard_input()
                    except InstrumentConnectionError:
                        ready = False
                    else:
                        if stale:
                            self._log.warning("%s: dropped stale input %r", self.name, stale[:200])
                if not ready:
                    transport = self._ready_transport()
                try:
                    for part in parts:
                        transport.write(part)
                    return reader(transport) if reader is not None else None
                except _RECOVERABLE as exc:
                    if not self._connecting:
                        transport.close()  # reconnect next time; a late reply dies with it
                    if attempt + 1 < attempts:
                        self._log.warning("%s: %r failed (%s); retrying", self.name, what, exc)
                        continue
                    if not idempotent and not isinstance(exc, InstrumentProtocolError):
                        raise type(exc)(
                            f"{self.name}: {what!r} failed and was not repeated because it is "
                            f"not idempotent (the instrument may or may not have acted on "
                            f"it): {exc}"
                        ) from exc
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _encode(self, command: str) -> bytes:
        return command.encode(self.encoding) + self.write_termination

    def read_reply(self, transport: Transport) -> str:
        """Read one reply (up to ``read_termination``) and decode it."""
        raw = transport.read_until(self.read_termination)
        try:
            return raw.decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise InstrumentProtocolError(f"{self.name}: undecodable reply {raw[:80]!r}") from exc

    def write(self, command: str, *, idempotent: bool = False) -> None:
        """Send one command (no reply expected).

        ``idempotent=True`` allows a retry after a dropped connection; by default a write
        is sent at most once.
        """
        data = self._encode(command)
        if self._log.isEnabledFor(logging.DEBUG):
            self._log.debug("%s write %r", self.name, data)
        self._exchange((data,), None, idempotent=idempotent, what=command)

    @overload
    def query(self, command: str, parser: None = None, *, idempotent: bool = True) -> str: ...

    @overload
    def query(self, command: str, parser: Callable[[str], V], *, idempotent: bool = True) -> V: ...

    def query(
        self, command: str, parser: Callable[[str], Any] | None = None, *, idempotent: bool = True
    ) -> Any:
        """Send ``command``, read one reply, parse it (default: the text itself).

        A parser's ``ValueError`` counts as a garbled reply: the exchange is repeated
        (``retries``) if ``idempotent``, else :class:`InstrumentProtocolError` is raised.
        """
        data = command.encode(self.encoding) + self.write_termination
        if self._log.isEnabledFor(logging.DEBUG):

            def read(transport: Transport) -> Any:
                reply = self.read_reply(transport)
                self._log.debug("%s query %r -> %r", self.name, data, reply)
                return self._parse_reply(reply, parser)

        else:

            def read(transport: Transport) -> Any:
                return self._parse_reply(self.read_reply(transport), parser)

        return self._exchange((data,), read, idempotent=idempotent, what=command)

    def _parse_reply(self, reply: str, parser: Callable[[str], Any] | None) -> Any:
        reply = self._check_reply(reply)
        if parser is None:
            return reply
        try:
            return parser(reply)
        except InstrumentError:
            raise
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise InstrumentProtocolError(f"{self.name}: cannot parse reply {reply!r}") from exc

    def _check_reply(self, reply: str) -> str:
        """Driver hook: raise :class:`InstrumentCommandError` on an error reply."""
        return reply

    def _apply_set(self, command: str, parameter: Parameter[Any], value: Any) -> None:
        """Send a parameter's set command, then :meth:`_after_set`, on one connection.

        The pair is repeated as a unit (after reconnecting) when the set is idempotent and
        the link failed; otherwise the error is raised.
        """
        attempts = 1 + self.retries if parameter.idempotent_set and not self._pinned else 1
        for attempt in range(attempts):
            try:
                with self.same_connection():
                    self.write(command, idempotent=False)
                    self._after_set(command)
                return
            except (InstrumentTimeout, InstrumentConnectionError) as exc:
                self._transport.close()
                if attempt + 1 >= attempts:
                    raise
                self._log.warning("%s: set %r failed (%s); repeating", self.name, command, exc)

    def _after_set(self, command: str) -> None:
        """Driver hook run after every parameter set (under the lock)."""


class InstrumentChannel(_ParameterHost):
    """One channel of an instrument: its parameters fill ``{ch}`` with ``number``."""

    def __init__(self, parent: Instrument, number: int) -> None:
        self.parent = parent
        self.number = number

    def _command_fields(self) -> Mapping[str, Any]:
        return {"ch": self.number}

    def _root(self) -> Instrument:
        return self.parent

    @property
    def instrument(self) -> Instrument:
        """The instrument this channel belongs to."""
        return self.parent

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.number} of {self.parent.name}>"


# ------------------------------------------------------------------------------ SCPI


class SCPIInstrument(Instrument):
    """An IEEE 488.2 / SCPI instrument: ``*IDN?``, error queue, binary blocks.

    After every parameter set (and every checked write or upload) the error queue is
    read until it reports ``0``; any error found is raised as
    :class:`InstrumentCommandError` carrying every ``(code, message)``.
    """

    #: Whether the instrument has a ``SYST:ERR?`` queue to drain after sets.
    has_error_queue: ClassVar[bool] = True
    #: The error-queue query.
    error_query: ClassVar[str] = "SYST:ERR?"
    #: Stop draining after this many entries (a queue that never empties is a fault).
    max_error_entries: ClassVar[int] = 64

    def identify(self) -> Identity:
        """``*IDN?`` parsed into manufacturer, model, serial number and firmware."""
        return self.query("*IDN?", parser=parse_idn)

    def reset(self) -> None:
        """``*RST``: the instrument's power-on defaults."""
        self.write("*RST")
        self.check_errors()

    def clear_status(self) -> None:
        """``*CLS``: clear the status registers and the error queue."""
        self.write("*CLS", idempotent=True)

    def wait_until_complete(self) -> None:
        """``*OPC?``: block until every pending operation has finished."""
        reply = self.query("*OPC?", idempotent=not self._pinned)
        if reply.strip().lstrip("+") != "1":
            raise InstrumentProtocolError(f"{self.name}: *OPC? answered {reply!r}, expected 1")

    def errors(self) -> list[tuple[int, str]]:
        """Drain the error queue; returns every ``(code, message)`` (empty if none)."""
        found: list[tuple[int, str]] = []
        with self._lock:
            for _ in range(self.max_error_entries):
                code, message = self.query(self.error_query, parser=parse_scpi_error)
                if code == 0:
                    return found
                found.append((code, message))
        raise InstrumentProtocolError(
            f"{self.name}: error queue still not empty after {self.max_error_entries} reads: "
            f"{found[-3:]}"
        )

    def check_errors(self, context: str = "") -> None:
        """Drain the error queue and raise :class:`InstrumentCommandError` if it held any."""
        if not self.has_error_queue:
            return
        found = self.errors()
        if found:
            listed = "; ".join(f"{code}: {message}" for code, message in found)
            where = f" after {context}" if context else ""
            raise InstrumentCommandError(f"{self.name} reported{where}: {listed}", tuple(found))

    def write_checked(self, command: str, *, idempotent: bool = False) -> None:
        """Write, then drain the error queue (on the same connection)."""
        with self.same_connection():
            self.write(command, idempotent=idempotent)
            self.check_errors(repr(command))

    def _after_set(self, command: str) -> None:
        self.check_errors(repr(command))

    def write_block(
        self,
        prefix: str,
        payload: bytes | bytearray | memoryview,
        *,
        check: bool = True,
    ) -> None:
        """Send ``prefix`` + an IEEE 488.2 definite-length block + the termination.

        Never repeated (an upload may append). With ``check``, ``*OPC?`` and the error
        queue are read afterwards on the same connection: if it dropped in between,
        :class:`InstrumentConnectionError` says the upload may not have completed. The
        payload is sent from the caller's buffer without a copy.
        """
        view = memoryview(payload).cast("B")
        head = prefix.encode(self.encoding) + block_header(view.nbytes)
        if self._log.isEnabledFor(logging.DEBUG):
            self._log.debug(
                "%s write %r + %d bytes of block + %r",
                self.name,
                head,
                view.nbytes,
                self.write_termination,
            )
        with self.same_connection():
            self._exchange(
                (head, view, self.write_termination),
                None,
                idempotent=False,
                what=f"{prefix}<block of {view.nbytes} bytes>",
            )
            if check:
                self.wait_until_complete()
                self.check_errors(f"block write {prefix!r}")

    def read_block(self, transport: Transport) -> bytes:
        """Read a definite-length block and the termination after it."""
        start = transport.read_exact(2)
        while start[:1] in (b" ", b"\r", b"\n"):  # tolerate leading whitespace
            start = start[1:] + transport.read_exact(1)
        if start[:1] != b"#" or not start[1:2].isdigit() or start[1:2] == b"0":
            raise InstrumentProtocolError(
                f"{self.name}: expected a definite-length block, got {start!r}"
            )
        length_field = transport.read_exact(int(start[1:2]))
        if not length_field.isdigit():
            raise InstrumentProtocolError(f"{self.name}: bad block length {length_field!r}")
        payload = transport.read_exact(int(length_field))
        rest = transport.read_until(self.read_termination)
        if rest.strip():
            raise InstrumentProtocolError(
                f"{self.name}: {len(rest)} unexpected bytes after a block of "
                f"{len(payload)} bytes (corrupt length field?)"
            )
        return payload

    def query_block(self, command: str) -> bytes:
        """Send ``command`` and read a definite-length block reply (retried if garbled)."""
        data = self._encode(command)

        def read(transport: Transport) -> bytes:
            payload = self.read_block(transport)
            if self._log.isEnabledFor(logging.DEBUG):
                self._log.debug("%s query %r -> block of %d bytes", self.name, data, len(payload))
            return payload

        result = self._exchange((data,), read, idempotent=True, what=command)
        assert result is not None
        return result
