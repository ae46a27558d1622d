"""The instrument base and transports: interrupts, threads, counted reads, validators."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from drivers_scripted_peer import PtyPeer, Step, TCPPeer, steps

from drivers.awg import Keysight33600A
from drivers.base import (
    Choice,
    Range,
    block_header,
    parse_idn,
    parse_ieee_block,
    parse_scpi_error,
)
from drivers.errors import (
    InstrumentProtocolError,
    InstrumentTimeout,
    ParameterValidationError,
    ResourceStringError,
)
from drivers.transport import SerialTransport, SocketTransport, VisaTransport, transport_for

HELLO = (b"FORM:BORD SWAP\n", b"")


def _interrupt_self() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_during_an_exchange_is_raised_after_the_reply_is_read() -> None:
    script = [
        Step(*HELLO),
        Step(b"SOUR1:VOLT?\n", b"+1.0E+00\n", on_received=_interrupt_self, delay_s=0.2),
        Step(b"SOUR1:VOLT?\n", b"+2.0E+00\n"),
    ]
    # Python's own Ctrl-C handler, whatever this process inherited: a process started in the
    # background by a non-interactive shell (``cmd &``) begins with SIGINT ignored, and the gate
    # then rightly passes the signal on to SIG_IGN
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with TCPPeer(script) as peer, Keysight33600A(peer.resource) as awg:
            with pytest.raises(KeyboardInterrupt):
                _ = awg.ch1.amplitude_vpp
            # The interrupted exchange completed: the next reply is the next one.
            assert awg.ch1.amplitude_vpp == pytest.approx(2.0)
        # closing the instrument put the handler it found back
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, inherited)


def test_threads_sharing_one_instrument_never_interleave_bytes() -> None:
    per_thread = 50
    script = [Step(*HELLO)] + [Step(b"SOUR1:VOLT?\n", b"+1.5E+00\n") for _ in range(2 * per_thread)]
    results: list[float] = []
    with TCPPeer(script) as peer, Keysight33600A(peer.resource) as awg:

        def work() -> None:
            for _ in range(per_thread):
                results.append(awg.ch1.amplitude_vpp)

        threads = [threading.Thread(target=work) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == [1.5] * (2 * per_thread)


def test_counted_read_over_visa_serial_is_not_cut_at_newlines() -> None:
    payload = bytes(range(256)) * 4  # every byte value, \n and \r included
    script = steps((b"GET", b"#41024" + payload + b"\n"))
    with PtyPeer(script) as peer:
        transport = transport_for(peer.resource, 2.0)
        assert isinstance(transport, VisaTransport)
        transport.open()
        try:
            transport.write(b"GET")
            assert transport.read_exact(6) == b"#41024"
            assert transport.read_exact(1024) == payload
            assert transport.read_until(b"\n") == b""
        finally:
            transport.close()


def test_multi_byte_terminator_over_pyserial() -> None:
    script = steps((b"(x)\n", b"line one\nline two\n> "))
    with PtyPeer(script) as peer:
        transport = transport_for(peer.path, 2.0)
        assert isinstance(transport, SerialTransport)
        transport.open()
        try:
            transport.write(b"(x)\n")
            assert transport.read_until(b"\n> ") == b"line one\nline two"
        finally:
            transport.close()


def test_socket_transport_times_out_with_the_package_exception() -> None:
    script = [Step(b"Q\n", then="await_close")]
    with TCPPeer(script) as peer:
        transport = transport_for(peer.resource, 0.2)
        assert isinstance(transport, SocketTransport)
        transport.open()
        transport.write(b"Q\n")
        with pytest.raises(InstrumentTimeout):
            transport.read_until(b"\n")
        transport.close()


def test_resource_strings_choose_the_transport() -> None:
    assert isinstance(transport_for("TCPIP::10.0.0.2::5025::SOCKET", 1.0), SocketTransport)
    assert isinstance(transport_for("TCPIP0::10.0.0.2::inst0::INSTR", 1.0), VisaTransport)
    assert isinstance(transport_for("USB0::0x1313::0x8078::P1::INSTR", 1.0), VisaTransport)
    assert isinstance(transport_for("ASRL/dev/ttyUSB0::INSTR", 1.0), VisaTransport)
    assert isinstance(transport_for("/dev/ttyUSB0", 1.0), SerialTransport)
    with pytest.raises(ResourceStringError, match="cannot parse"):
        transport_for("FOO::bar", 1.0)


def test_ieee_blocks_and_scpi_replies_parse() -> None:
    assert block_header(1024) == b"#41024"
    assert parse_ieee_block(b"#15hello") == b"hello"
    with pytest.raises(InstrumentProtocolError):
        parse_ieee_block(b"#16hello")
    with pytest.raises(InstrumentProtocolError):
        parse_ieee_block(b"#0hello")
    assert parse_scpi_error('-222,"Data out of range"') == (-222, "Data out of range")
    assert parse_scpi_error('+0,"No error"') == (0, "No error")
    idn = parse_idn("Thorlabs,PM100D,P0012345,2.8.0")
    assert (idn.manufacturer, idn.model, idn.serial_number, idn.firmware) == (
        "Thorlabs",
        "PM100D",
        "P0012345",
        "2.8.0",
    )


def test_validators_name_the_value_and_the_range() -> None:
    rng = Range(0.0, 5.0, "V")
    assert rng.check(None, "offset_v", 2) == 2
    with pytest.raises(ParameterValidationError, match=r"offset_v: 7.0 V is outside .*\[0, 5\] V"):
        rng.check(None, "offset_v", 7.0)
    with pytest.raises(ParameterValidationError, match="outside"):
        rng.check(None, "offset_v", float("nan"))
    with pytest.raises(ParameterValidationError, match="not a number"):
        rng.check(None, "offset_v", "3")
    choice = Choice((True, False))
    with pytest.raises(ParameterValidationError, match="not one of"):
        choice.check(None, "output_enabled", 1)
