"""Layer 1: the Keysight 33600A driver against scripted bytes over a real TCP socket."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from drivers_scripted_peer import Step, TCPPeer, steps

from drivers.awg import Keysight33600A, Segment, SequenceProgram, SequenceStep
from drivers.base import block_header
from drivers.errors import (
    InstrumentCommandError,
    InstrumentConnectionError,
    ParameterValidationError,
)

HELLO = (b"FORM:BORD SWAP\n", b"")
NO_ERROR = (b"SYST:ERR?\n", b'+0,"No error"\n')


def test_connect_sets_little_endian_blocks_and_identify_parses_idn() -> None:
    script = steps(HELLO, (b"*IDN?\n", b"Keysight Technologies,33622A,MY12345,A.02.03-3.15\n"))
    with TCPPeer(script) as peer, Keysight33600A(peer.resource, timeout_s=2.0) as awg:
        idn = awg.identify()
    assert idn.manufacturer == "Keysight Technologies"
    assert idn.model == "33622A"
    assert idn.serial_number == "MY12345"
    assert idn.firmware == "A.02.03-3.15"


def test_set_sample_rate_writes_command_then_drains_error_queue() -> None:
    script = steps(HELLO, (b"SOUR2:FUNC:ARB:SRAT 250000000\n", b""), NO_ERROR)
    with TCPPeer(script) as peer, Keysight33600A(peer.resource) as awg:
        awg.ch2.arb_sample_rate_hz = 250e6


def test_query_parses_reply_with_unit() -> None:
    script = steps(HELLO, (b"SOUR1:VOLT?\n", b"+1.000000000000000E+00\n"))
    with TCPPeer(script) as peer, Keysight33600A(peer.resource) as awg:
        assert awg.ch1.amplitude_vpp == pytest.approx(1.0)


def test_out_of_range_set_is_refused_before_anything_is_sent() -> None:
    with TCPPeer(steps(HELLO)) as peer, Keysight33600A(peer.resource) as awg:
        with pytest.raises(
            ParameterValidationError,
            match=r"2000000000.0 Sa/s is outside the allowed \[1e-06, 1e\+09\] Sa/s",
        ):
            awg.ch1.arb_sample_rate_hz = 2e9
        with pytest.raises(ParameterValidationError, match="amplitude_vpp"):
            awg.ch1.amplitude_vpp = -1.0


def test_instrument_error_queue_is_drained_and_raised_with_codes() -> None:
    script = steps(
        HELLO,
        (b"SOUR1:VOLT:OFFS 4.5\n", b""),
        (b"SYST:ERR?\n", b'-222,"Data out of range"\n'),
        (b"SYST:ERR?\n", b'-221,"Settings conflict"\n'),
        NO_ERROR,
    )
    with TCPPeer(script) as peer, Keysight33600A(peer.resource) as awg:
        with pytest.raises(InstrumentCommandError) as info:
            awg.ch1.offset_v = 4.5
    assert info.value.errors == ((-222, "Data out of range"), (-221, "Settings conflict"))


def test_arb_upload_is_one_little_endian_block_then_opc_and_error_check() -> None:
    codes = np.array([0, 1, -1, 32767, -32767, 10, 2570, -2], dtype=np.int16)
    payload = codes.astype("<i2").tobytes()
    assert b"\n" in payload  # 2570 = 0x0a0a: the block must not be cut at \n bytes
    command = b"SOUR1:DATA:ARB:DAC ramp," + b"#216" + payload + b"\n"
    script = steps(HELLO, (command, b""), (b"*OPC?\n", b"1\n"), NO_ERROR)
    with TCPPeer(script) as peer, Keysight33600A(peer.resource) as awg:
        awg.ch1.upload_arb("ramp", codes)


def test_arb_upload_refuses_bad_codes_and_names() -> None:
    with TCPPeer(steps(HELLO)) as peer, Keysight33600A(peer.resource) as awg:
        with pytest.raises(ParameterValidationError, match="-32768"):
            awg.ch1.upload_arb("a", np.full(8, -32768, dtype=np.int16))
        with pytest.raises(ParameterValidationError, match="float"):
            awg.ch1.upload_arb("a", np.zeros(8))
        with pytest.raises(ParameterValidationError, match="allowed 8"):
            awg.ch1.upload_arb("a", np.zeros(4, dtype=np.int16))
        with pytest.raises(ParameterValidationError, match="1–12 characters"):
            awg.ch1.upload_arb("9bad", np.zeros(8, dtype=np.int16))


def test_sequence_program_maps_onto_arbs_and_data_seq() -> None:
    a = np.arange(8, dtype=np.int16)
    b = -np.arange(8, dtype=np.int16)
    program = SequenceProgram(
        segments=(Segment("idle", a), Segment("pulse", b)),
        steps=(SequenceStep("idle", advance="trigger"), SequenceStep("pulse", loops=3)),
        name="shot",
    )
    body = b'"shot","idle",1,repeatTilTrig,maintain,4,"pulse",3,repeat,maintain,4'
    script = steps(
        HELLO,
        (b"SOUR1:DATA:VOL:CAT?\n", b'""\n'),
        (b"SOUR1:DATA:ARB:DAC idle,#216" + a.tobytes() + b"\n", b""),
        (b"*OPC?\n", b"1\n"),
        NO_ERROR,
        (b"SOUR1:DATA:ARB:DAC pulse,#216" + b.tobytes() + b"\n", b""),
        (b"*OPC?\n", b"1\n"),
        NO_ERROR,
        (
            b"SOUR1:DATA:SEQ #"
            + str(len(str(len(body)))).encode()
            + str(len(body)).encode()
            + body
            + b"\n",
            b"",
        ),
        (b"*OPC?\n", b"1\n"),
        NO_ERROR,
        (b"SOUR1:FUNC:ARB shot\n", b""),
        NO_ERROR,
        (b"SOUR1:FUNC ARB\n", b""),
        NO_ERROR,
    )
    with TCPPeer(script) as peer, Keysight33600A(peer.resource) as awg:
        awg.ch1.load_program(program)


def test_step_table_with_jumps_is_refused_for_the_33600a() -> None:
    program = SequenceProgram(
        segments=(Segment("a", np.zeros(8, np.int16)), Segment("b", np.zeros(8, np.int16))),
        steps=(SequenceStep("a", next_step=0), SequenceStep("b")),
    )
    with TCPPeer(steps(HELLO)) as peer, Keysight33600A(peer.resource) as awg:
        with pytest.raises(ParameterValidationError, match="in order"):
            awg.ch1.write_step_table(program)


def test_safe_state_opens_every_output() -> None:
    script = steps(HELLO, (b"OUTP1 OFF\n", b""), NO_ERROR, (b"OUTP2 OFF\n", b""), NO_ERROR)
    with TCPPeer(script) as peer, Keysight33600A(peer.resource) as awg:
        awg.safe_state()


def test_timed_out_idempotent_query_reconnects_and_is_repeated() -> None:
    script = [
        Step(*HELLO),
        Step(b"SOUR1:VOLT?\n", then="await_close"),  # no reply: the driver times out
        Step(*HELLO),
        Step(b"SOUR1:VOLT?\n", b"+2.0E+00\n"),
    ]
    with TCPPeer(script) as peer, Keysight33600A(peer.resource, timeout_s=0.3) as awg:
        assert awg.ch1.amplitude_vpp == pytest.approx(2.0)
        assert awg.reconnects == 1


def test_dropped_connection_after_upload_fails_loudly_and_upload_is_not_resent() -> None:
    codes = np.zeros(8, dtype=np.int16)
    script = [
        Step(*HELLO),
        Step(b"SOUR1:DATA:ARB:DAC w," + b"#216" + codes.tobytes() + b"\n", then="drop"),
        Step(*HELLO),
        Step(b"*IDN?\n", b"Keysight Technologies,33622A,1,2\n"),
    ]
    with TCPPeer(script) as peer, Keysight33600A(peer.resource, timeout_s=1.0) as awg:
        with pytest.raises(InstrumentConnectionError):
            awg.ch1.upload_arb("w", codes)
        assert awg.identify().model == "33622A"


def test_dropped_connection_during_set_repeats_the_whole_set() -> None:
    script = [
        Step(*HELLO),
        Step(b"OUTP1 ON\n", then="drop"),
        Step(*HELLO),
        Step(b"OUTP1 ON\n"),
        Step(*NO_ERROR),
    ]
    with TCPPeer(script) as peer, Keysight33600A(peer.resource, timeout_s=1.0) as awg:
        awg.ch1.output_enabled = True


def test_stale_garbage_is_dropped_before_the_next_command(caplog: pytest.LogCaptureFixture) -> None:
    script = [
        Step(*HELLO),
        Step(b"SOUR1:FUNC?\n", b"ARB\n\x00\xffjunk\n"),
        Step(b"SOUR1:FUNC?\n", b"SIN\n"),
    ]
    # Reply and junk leave in one send, so the junk is buffered with the reply.
    with TCPPeer(script) as peer, Keysight33600A(peer.resource) as awg:
        assert awg.ch1.function == "ARB"
        with caplog.at_level(logging.WARNING):
            assert awg.ch1.function == "SIN"
    assert "stale input" in caplog.text


def test_every_write_query_and_reply_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    script = steps(HELLO, (b"*IDN?\n", b"Keysight Technologies,33622A,1,2\n"))
    with caplog.at_level(logging.DEBUG, logger="drivers"):
        with TCPPeer(script) as peer, Keysight33600A(peer.resource) as awg:
            awg.identify()
    text = caplog.text
    assert "FORM:BORD SWAP" in text
    assert "*IDN?" in text and "33622A" in text


def test_exchange_before_connect_raises() -> None:
    awg = Keysight33600A("TCPIP::127.0.0.1::9::SOCKET")
    with pytest.raises(InstrumentConnectionError, match="not connected"):
        awg.identify()


def test_changed_segment_whose_name_exists_clears_volatile_memory_and_reloads_all() -> None:
    a = np.zeros(8, dtype=np.int16)
    b = np.ones(8, dtype=np.int16)
    program = SequenceProgram(
        segments=(Segment("a", a), Segment("b", b)),
        steps=(SequenceStep("a"), SequenceStep("b")),
        name="s",
    )
    body = b'"s","a",1,once,maintain,4,"b",1,once,maintain,4'
    upload = [
        (b"SOUR1:DATA:ARB:DAC a,#216" + a.tobytes() + b"\n", b""),
        (b"*OPC?\n", b"1\n"),
        NO_ERROR,
        (b"SOUR1:DATA:ARB:DAC b,#216" + b.tobytes() + b"\n", b""),
        (b"*OPC?\n", b"1\n"),
        NO_ERROR,
    ]
    script = steps(
        HELLO,
        (b"SOUR1:DATA:VOL:CAT?\n", b'"a","b","s"\n'),
        (b"SOUR1:DATA:VOL:CLE\n", b""),
        NO_ERROR,
        *upload,
        (b"SOUR1:DATA:SEQ " + block_header(len(body)) + body + b"\n", b""),
        (b"*OPC?\n", b"1\n"),
        NO_ERROR,
        (b"SOUR1:FUNC:ARB s\n", b""),
        NO_ERROR,
        (b"SOUR1:FUNC ARB\n", b""),
        NO_ERROR,
    )
    with TCPPeer(script) as peer, Keysight33600A(peer.resource) as awg:
        awg.ch1.load_program(program, changed=["a"])


def test_unchanged_segments_already_loaded_are_not_sent_again() -> None:
    a = np.zeros(8, dtype=np.int16)
    program = SequenceProgram(segments=(Segment("a", a),), steps=(SequenceStep("a"),), name="s")
    body = b'"s","a",1,once,maintain,4'
    script = steps(
        HELLO,
        (b"SOUR1:DATA:VOL:CAT?\n", b'"a","s"\n'),
        (b"SOUR1:DATA:SEQ " + block_header(len(body)) + body + b"\n", b""),
        (b"*OPC?\n", b"1\n"),
        NO_ERROR,
        (b"SOUR1:FUNC:ARB s\n", b""),
        NO_ERROR,
        (b"SOUR1:FUNC ARB\n", b""),
        NO_ERROR,
    )
    with TCPPeer(script) as peer, Keysight33600A(peer.resource) as awg:
        awg.ch1.load_program(program, changed=[])


def test_safe_state_on_exit_runs_when_the_block_is_left_by_an_exception() -> None:
    script = steps(HELLO, (b"OUTP1 OFF\n", b""), NO_ERROR, (b"OUTP2 OFF\n", b""), NO_ERROR)
    with TCPPeer(script) as peer:
        with pytest.raises(RuntimeError, match="scan aborted"):
            with Keysight33600A(peer.resource, safe_state_on_exit=True):
                raise RuntimeError("scan aborted")


def test_output_scale_sets_rate_offset_then_amplitude_each_checked() -> None:
    script = steps(
        HELLO,
        (b"SOUR2:FUNC:ARB:SRAT 1000000000\n", b""),
        NO_ERROR,
        (b"SOUR2:VOLT:OFFS 0\n", b""),
        NO_ERROR,
        (b"SOUR2:VOLT 1\n", b""),
        NO_ERROR,
    )
    with TCPPeer(script) as peer, Keysight33600A(peer.resource) as awg:
        awg.ch2.set_output_scale(1e9, 0.5)  # code 32767 = 0.5 V peak = 1 Vpp
