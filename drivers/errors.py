"""The drivers' exception hierarchy.

Every failure a driver reports is an :class:`InstrumentError`; the subclasses say whether
the link failed (timeout, dropped connection), the instrument refused what it was sent
(its own error queue or error reply), the reply made no sense, or a value was rejected
on the client side before anything went on the wire.
"""

from __future__ import annotations

__all__ = [
    "InstrumentCommandError",
    "InstrumentConnectionError",
    "InstrumentError",
    "InstrumentProtocolError",
    "InstrumentTimeout",
    "ParameterValidationError",
    "ResourceStringError",
]


class InstrumentError(Exception):
    """Base class of every error raised by ``drivers``."""


class InstrumentTimeout(InstrumentError, TimeoutError):
    """No (complete) reply within the instrument's timeout."""


class InstrumentConnectionError(InstrumentError, ConnectionError):
    """The transport could not be opened, or the connection dropped.

    Raised as well when a write that must not be repeated (not idempotent) failed part
    way: the driver does not know whether the instrument acted on it, so it says so
    instead of sending it again.
    """


class InstrumentProtocolError(InstrumentError):
    """A reply that does not parse: garbage bytes, a corrupt binary block, a wrong echo."""


class InstrumentCommandError(InstrumentError):
    """The instrument reported an error (SCPI error queue, ``ERR-xxx``, ``Error:``, ``E3``).

    ``errors`` holds the ``(code, message)`` pairs as the instrument reported them.
    """

    def __init__(self, message: str, errors: tuple[tuple[int, str], ...] = ()) -> None:
        super().__init__(message)
        self.errors = errors


class ParameterValidationError(InstrumentError, ValueError):
    """A set-point outside the allowed range or set; nothing was sent."""


class ResourceStringError(InstrumentError, ValueError):
    """A resource string that names no transport this package can open."""
