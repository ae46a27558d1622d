"""Instrument drivers over VISA (pyvisa + pyvisa-py), raw sockets and serial (pyserial).

The base (:mod:`drivers.base`), the transports (:mod:`drivers.transport`) and the
exception hierarchy (:mod:`drivers.errors`) are re-exported here; the drivers live in
one sub-package per instrument family: :mod:`drivers.awg`, :mod:`drivers.rf`,
:mod:`drivers.lasers`, :mod:`drivers.powermeter`, :mod:`drivers.camera`,
:mod:`drivers.slm`.
"""

from drivers.base import (
    Choice,
    Identity,
    Instrument,
    InstrumentChannel,
    Parameter,
    Range,
    SCPIInstrument,
    Validator,
)
from drivers.errors import (
    InstrumentCommandError,
    InstrumentConnectionError,
    InstrumentError,
    InstrumentProtocolError,
    InstrumentTimeout,
    ParameterValidationError,
    ResourceStringError,
)
from drivers.transport import (
    SerialTransport,
    SocketTransport,
    Transport,
    VisaTransport,
    open_transport,
    transport_for,
)

__all__ = [
    "Choice",
    "Identity",
    "Instrument",
    "InstrumentChannel",
    "InstrumentCommandError",
    "InstrumentConnectionError",
    "InstrumentError",
    "InstrumentProtocolError",
    "InstrumentTimeout",
    "Parameter",
    "ParameterValidationError",
    "Range",
    "ResourceStringError",
    "SCPIInstrument",
    "SerialTransport",
    "SocketTransport",
    "Transport",
    "Validator",
    "VisaTransport",
    "open_transport",
    "transport_for",
]
