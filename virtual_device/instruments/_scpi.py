"""SCPI machinery for the emulators: header matching, arguments, blocks, the error queue.

Headers match in short or long form, case-insensitively, with optional nodes and numeric
suffixes, as in SCPI-99: ``[SOURce#]:FUNCtion:ARBitrary:SRATe`` matches ``FUNC:ARB:SRAT``,
``SOUR2:FUNCTION:ARB:SRATE`` and ``:source1:func:arb:srat``. A program message may hold
several commands separated by ``;``; each is read from the root (a simplification of SCPI's
path rules that every driver here satisfies, since they send full headers).
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from virtual_device.instruments._framework import Emulator, Session, ascii_text

__all__ = [
    "ErrorQueue",
    "ScpiCommandSet",
    "ScpiEmulator",
    "ScpiError",
    "format_block",
    "parse_block",
    "parse_bool",
    "parse_float",
    "parse_int",
    "split_args",
    "unquote",
]

#: Standard SCPI error messages (SCPI-99 volume 2, chapter 21), as Keysight prints them.
SCPI_MESSAGES = {
    -100: "Command error",
    -101: "Invalid character",
    -102: "Syntax error",
    -104: "Data type error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -113: "Undefined header",
    -114: "Header suffix out of range",
    -121: "Invalid character in number",
    -131: "Invalid suffix",
    -141: "Invalid character data",
    -151: "Invalid string data",
    -160: "Block data error",
    -161: "Invalid block data",
    -200: "Execution error",
    -221: "Settings conflict",
    -222: "Data out of range",
    -223: "Too much data",
    -224: "Illegal parameter value",
    -230: "Data corrupt or stale",
    -256: "File name not found",
    -257: "File name error",
    -350: "Queue overflow",
    -410: "Query INTERRUPTED",
}


class ScpiError(Exception):
    """An instrument error raised while executing a command (goes to the error queue)."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        base = SCPI_MESSAGES.get(code, "Device-specific error")
        self.message = ascii_text(f"{base}; {detail}" if detail else base)
        super().__init__(f"{code},{self.message}")


class ErrorQueue:
    """A SCPI error queue: first in, first out, with ``-350`` on overflow.

    ``format_code`` renders the code (Keysight writes ``+0``/``-113``, Thorlabs ``0``/``-113``).
    """

    def __init__(self, capacity: int = 20, *, signed_zero: bool = True) -> None:
        self.capacity = capacity
        self._signed_zero = signed_zero
        self._queue: deque[tuple[int, str]] = deque()

    def push(self, code: int, message: str) -> None:
        """Add an error; when full, the last entry becomes ``-350,"Queue overflow"``."""
        if len(self._queue) >= self.capacity:
            self._queue[-1] = (-350, SCPI_MESSAGES[-350])
            return
        self._queue.append((code, message))

    def pop(self) -> tuple[int, str]:
        """The oldest error, or ``(0, "No error")``."""
        return self._queue.popleft() if self._queue else (0, "No error")

    def pop_formatted(self) -> str:
        """The oldest error as ``<code>,"<message>"``."""
        code, message = self.pop()
        text = f"{code:+d}" if self._signed_zero else str(code)
        return f'{text},"{message}"'

    def clear(self) -> None:
        """Empty the queue (``*CLS``)."""
        self._queue.clear()

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def entries(self) -> list[tuple[int, str]]:
        """A copy of the queue, oldest first."""
        return list(self._queue)


Handler = Callable[[str, tuple[int | None, ...]], "str | bytes | None"]


@dataclass(frozen=True)
class _Command:
    patterns: tuple[re.Pattern[str], ...]
    handler: Handler


def _token_regex(token: str) -> str:
    suffix = token.endswith("#")
    word = token.rstrip("#")
    if word.startswith("*"):
        body = re.escape(word.upper())
    else:
        short = "".join(c for c in word if c.isupper() or c.isdigit())
        long = word.upper()
        body = f"(?:{long}|{short})" if short != long else long
    return body + (r"(\d*)" if suffix else "")


def compile_header(spec: str) -> tuple[re.Pattern[str], ...]:
    """Regexes for a SCPI header spec like ``[SOURce#]:DATA:ARBitrary:DAC``.

    One regex per choice of optional nodes; each has one group per ``#`` suffix in the
    spec (an omitted node's group matches the empty string).
    """
    found = re.findall(r"\[:?([^\]:]+):?\]|([^:\[\]]+)", spec)
    optional = [bool(opt) for opt, _ in found]
    words = [opt or word for opt, word in found]
    patterns = []
    for keep in itertools.product(*[(True, False) if o else (True,) for o in optional]):
        parts = []
        empty_groups = ""
        for word, used in zip(words, keep):
            if used:
                parts.append(empty_groups + _token_regex(word))
                empty_groups = ""
            elif word.endswith("#"):
                empty_groups += "()"
        text = ":".join(parts) + empty_groups
        patterns.append(re.compile(r"^:?" + text + r"$", re.IGNORECASE))
    return tuple(patterns)


class ScpiCommandSet:
    """Commands by header spec; :meth:`dispatch` runs the one a header matches."""

    def __init__(self) -> None:
        self._set: list[_Command] = []
        self._query: list[_Command] = []

    def add(self, spec: str, *, set: Handler | None = None, query: Handler | None = None) -> None:
        """Register a setter and/or query handler for ``spec``."""
        patterns = compile_header(spec)
        if set is not None:
            self._set.append(_Command(patterns, set))
        if query is not None:
            self._query.append(_Command(patterns, query))

    def dispatch(self, header: str, args: str) -> str | bytes | None:
        """Run the handler for ``header`` (ending ``?`` for a query); raises :class:`ScpiError`."""
        is_query = header.endswith("?")
        name = header[:-1] if is_query else header
        for command in self._query if is_query else self._set:
            for pattern in command.patterns:
                match = pattern.match(name)
                if match is not None:
                    suffixes = tuple(int(g) if g else None for g in match.groups())
                    return command.handler(args, suffixes)
        raise ScpiError(-113)


def split_args(args: str) -> list[str]:
    """Split a parameter list at commas outside double or single quotes; strips blanks."""
    out: list[str] = []
    current: list[str] = []
    quote = ""
    for char in args:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
            current.append(char)
        elif char == ",":
            out.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    tail = "".join(current).strip()
    if tail or out:
        out.append(tail)
    return out


def unquote(text: str) -> str:
    """``"abc"`` or ``'abc'`` → ``abc``; unquoted text is returned stripped."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def parse_float(
    text: str,
    what: str,
    low: float,
    high: float,
    *,
    default: float | None = None,
    unit: str = "",
) -> float:
    """A number (or ``MIN``/``MAX``/``DEF``) within ``[low, high]``; ``-222`` outside."""
    word = text.strip().upper()
    if not word:
        raise ScpiError(-109, what)
    if word in ("MIN", "MINIMUM"):
        return low
    if word in ("MAX", "MAXIMUM"):
        return high
    if word in ("DEF", "DEFAULT") and default is not None:
        return default
    try:
        value = float(word)
    except ValueError:
        raise ScpiError(-104, f"{what} {text.strip()!r} is not a number") from None
    if not low <= value <= high:
        raise ScpiError(-222, f"{what} {value:g}{unit} outside {low:g}…{high:g}{unit}")
    return value


def parse_int(text: str, what: str, low: int, high: int) -> int:
    """An integer within ``[low, high]``; ``-222`` outside, ``-104`` if not a number."""
    value = parse_float(text, what, float(low), float(high))
    if value != int(value):
        raise ScpiError(-104, f"{what} {text.strip()!r} is not an integer")
    return int(value)


def parse_bool(text: str, what: str) -> bool:
    """``ON``/``OFF``/``1``/``0``; ``-224`` otherwise."""
    word = text.strip().upper()
    if word in ("ON", "1"):
        return True
    if word in ("OFF", "0"):
        return False
    if not word:
        raise ScpiError(-109, what)
    raise ScpiError(-224, f"{what} {text.strip()!r}: allowed are ON, OFF, 1, 0")


def parse_choice(text: str, what: str, choices: dict[str, str]) -> str:
    """A keyword in short or long form; ``choices`` maps each accepted spelling to its value."""
    word = text.strip().upper()
    if word in choices:
        return choices[word]
    if not word:
        raise ScpiError(-109, what)
    allowed = ", ".join(sorted(set(choices.values())))
    raise ScpiError(-224, f"{what} {text.strip()!r}: allowed are {allowed}")


def parse_block(data: bytes) -> tuple[memoryview, bytes]:
    """Split ``#<n><len><payload><rest>`` into ``(payload, rest)``; ``-161`` if malformed.

    The payload is a zero-copy ``memoryview`` of ``data`` (uploads are megabytes).
    """
    if len(data) < 2 or data[0:1] != b"#" or not 0x31 <= data[1] <= 0x39:
        raise ScpiError(-161, "expected a definite-length block #<n><len><bytes>")
    n = data[1] - 0x30
    digits = data[2 : 2 + n]
    if len(digits) != n or not digits.isdigit():
        raise ScpiError(-161, "block length field is not digits")
    length = int(digits)
    start = 2 + n
    if len(data) < start + length:
        raise ScpiError(-161, f"block declares {length} bytes, {len(data) - start} arrived")
    view = memoryview(data)
    return view[start : start + length], bytes(view[start + length :])


def format_block(payload: bytes) -> bytes:
    """``payload`` as an IEEE 488.2 definite-length block."""
    length = str(len(payload)).encode()
    if len(length) > 9:
        raise ValueError(f"block of {len(payload)} bytes exceeds the 9-digit length field")
    return b"#" + str(len(length)).encode() + length + payload


class ScpiEmulator(Emulator):
    """An emulator whose instrument speaks SCPI with a ``SYST:ERR?`` queue.

    Subclasses fill :attr:`commands` in :meth:`build_commands`. A command whose
    parameters are wrong raises :class:`ScpiError`; the error goes to :attr:`errors` and a
    failed query sends no reply (as SCPI instruments do; the client times out and reads the
    queue). :meth:`execute_binary` is offered every message that holds a block first.
    """

    binary_blocks = True
    #: Render ``0`` as ``+0`` in ``SYST:ERR?`` (Keysight) or plain (Thorlabs).
    signed_error_codes = True
    error_queue_capacity = 20

    def __init__(self, **kwargs: object) -> None:
        self.errors = ErrorQueue(self.error_queue_capacity, signed_zero=self.signed_error_codes)
        self.commands = ScpiCommandSet()
        self.build_commands()
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def build_commands(self) -> None:
        """Register the instrument's commands in :attr:`commands`."""
        self.commands.add("SYSTem:ERRor[:NEXT]", query=lambda a, s: self.errors.pop_formatted())
        self.commands.add("*CLS", set=lambda a, s: self.errors.clear())
        self.commands.add("*OPC", query=lambda a, s: "1", set=lambda a, s: None)
        self.commands.add("*WAI", set=lambda a, s: None)
        self.commands.add("*ESR", query=lambda a, s: "0")
        self.commands.add("*STB", query=lambda a, s: "4" if len(self.errors) else "0")

    def push_error(self, error: ScpiError) -> None:
        """Queue ``error`` and note it on the log record."""
        self.errors.push(error.code, error.message)
        self.record_error(f"{error.code},{error.message}")

    def execute(self, session: Session, message: bytes) -> bytes | None:
        """Run each ``;``-separated command; queries' replies are joined with ``;``."""
        replies: list[bytes] = []
        for part in _split_message(message):
            header, _, args = part.partition(b" ")
            if not header:
                continue
            try:
                head = header.decode("ascii")
            except UnicodeDecodeError:
                self.push_error(ScpiError(-101, "non-ASCII header"))
                continue
            try:
                if b"#" in args:
                    result = self.execute_binary(session, head, args)
                else:
                    result = self.commands.dispatch(head, args.decode("latin-1").strip())
            except ScpiError as error:
                self.push_error(error)
                continue
            if head.endswith("?") and result is not None:
                replies.append(result if isinstance(result, bytes) else ascii_text(result).encode())
        if not replies:
            return None
        return b";".join(replies) + self.reply_terminator

    def execute_binary(self, session: Session, header: str, args: bytes) -> str | bytes | None:
        """Handle a command whose arguments hold a block; the default treats it as text."""
        return self.commands.dispatch(header, args.decode("latin-1").strip())


def _split_message(message: bytes) -> list[bytes]:
    if b"#" in message:
        return [message.lstrip()]  # a block's payload may end in whitespace bytes
    if b";" not in message:
        return [message.strip()]
    parts: list[bytes] = []
    current = bytearray()
    quote = 0
    for byte in message:
        if quote:
            current.append(byte)
            if byte == quote:
                quote = 0
        elif byte in (0x22, 0x27):
            quote = byte
            current.append(byte)
        elif byte == 0x3B:
            parts.append(bytes(current).strip())
            current = bytearray()
        else:
            current.append(byte)
    parts.append(bytes(current).strip())
    return [p for p in parts if p]
