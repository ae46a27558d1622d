"""The emulated Keysight 33600A against a raw TCP socket, with the real command set."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest

from virtual_device.instruments import EMULATORS, Keysight33600AEmulator, StateChange

pytestmark = pytest.mark.timeout(30)


class Client:
    """A raw-socket SCPI client: no driver, just bytes."""

    def __init__(self, port: int, timeout_s: float = 2.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self.file = self.sock.makefile("rb")

    def write(self, data: bytes) -> None:
        self.sock.sendall(data + b"\n")

    def query(self, data: bytes) -> bytes:
        self.write(data)
        return self.file.readline()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def awg():
    with Keysight33600AEmulator() as emu:
        yield emu
    assert not [t for t in threading.enumerate() if t.name.startswith(emu.name)]


@pytest.fixture
def client(awg):
    c = Client(awg.port)
    yield c
    c.close()


def block(payload: bytes) -> bytes:
    length = str(len(payload)).encode()
    return b"#" + str(len(length)).encode() + length + payload


def test_registry_holds_the_class_under_its_agreed_name():
    assert EMULATORS["keysight33600a"] is Keysight33600AEmulator
    with pytest.raises(TypeError):
        EMULATORS["x"] = Keysight33600AEmulator  # type: ignore[index]


def test_resource_string_is_a_visa_socket_on_loopback(awg):
    assert awg.resource == f"TCPIP::127.0.0.1::{awg.port}::SOCKET"


def test_idn_names_keysight_and_the_model(client):
    fields = client.query(b"*IDN?").decode().strip().split(",")
    assert fields[0] == "Keysight Technologies" and fields[1] == "33622A"


def test_unknown_header_queues_minus_113_then_queue_reads_empty(client):
    client.write(b"SOUR1:FOO 3")
    assert client.query(b"SYST:ERR?") == b'-113,"Undefined header"\n'
    assert client.query(b"SYST:ERR?") == b'+0,"No error"\n'


def test_failed_query_sends_no_reply(awg):
    c = Client(awg.port, timeout_s=0.3)
    c.write(b"SOUR1:NOPE?")
    with pytest.raises(TimeoutError):
        c.file.readline()
    c.close()
    c = Client(awg.port)
    assert c.query(b"SYST:ERR?").startswith(b"-113")
    c.close()


def test_long_and_short_forms_and_compound_messages(client):
    reply = client.query(b"SOURCE2:FUNCTION:ARBITRARY:SRATE 2.5E6;:sour2:func:arb:srat?")
    assert float(reply) == 2.5e6


def test_dac_block_upload_little_endian_keeps_newline_bytes(awg, client):
    codes = np.array([10, 2570, -32767, 32767, 0, 2560, 10, -1, 7, 8], dtype="<i2")
    assert b"\n" in codes.tobytes()
    client.write(b"FORM:BORD SWAP")
    client.write(b"SOUR1:DATA:ARB:DAC wave_a," + block(codes.tobytes()))
    assert client.query(b"*OPC?") == b"1\n"
    assert client.query(b"SYST:ERR?") == b'+0,"No error"\n'
    np.testing.assert_array_equal(awg.state.channels[0].waveforms["wave_a"], codes)
    assert client.query(b"DATA:ATTR:POIN? wave_a") == b"10\n"
    assert client.query(b"DATA:VOL:CAT?") == b'"wave_a"\n'


def test_block_byte_order_defaults_to_big_endian(awg, client):
    codes = np.arange(-8, 8, dtype=">i2")
    client.write(b"DATA:ARB:DAC big," + block(codes.tobytes()))
    client.query(b"*OPC?")
    np.testing.assert_array_equal(awg.state.channels[0].waveforms["big"], codes)


def test_comma_list_and_normalised_float_uploads(awg, client):
    client.write(b"DATA:ARB:DAC lst," + b",".join(b"%d" % v for v in range(-4, 4)))
    client.write(b"DATA:ARB flt,1,-1,0.5,0,0,0,0,0")
    client.query(b"*OPC?")
    np.testing.assert_array_equal(awg.state.channels[0].waveforms["lst"], np.arange(-4, 4))
    assert list(awg.state.channels[0].waveforms["flt"][:3]) == [32767, -32767, 16384]


def test_dac_code_out_of_range_is_minus_222_and_nothing_loaded(awg, client):
    codes = np.full(8, -32768, dtype="<i2")
    client.write(b"FORM:BORD SWAP")
    client.write(b"DATA:ARB:DAC bad," + block(codes.tobytes()))
    assert client.query(b"SYST:ERR?").startswith(b'-222,"Data out of range')
    assert "bad" not in awg.state.channels[0].waveforms


def test_loading_an_existing_name_fails_until_volatile_memory_is_cleared(awg, client):
    payload = block(np.zeros(8, "<i2").tobytes())
    client.write(b"DATA:ARB:DAC w," + payload)
    client.write(b"DATA:ARB:DAC w," + payload)
    assert client.query(b"SYST:ERR?").startswith(b"-221")
    client.write(b"DATA:VOL:CLE")
    client.write(b"DATA:ARB:DAC w," + payload)
    assert client.query(b"SYST:ERR?") == b'+0,"No error"\n'


def test_too_short_arb_is_rejected(client):
    client.write(b"DATA:ARB:DAC tiny,1,2,3")
    assert client.query(b"SYST:ERR?").startswith(b"-222")


def test_amplitude_beyond_limit_is_clipped_with_minus_222(client):
    client.write(b"VOLT 20")
    assert float(client.query(b"VOLT?")) == 10.0
    assert client.query(b"SYST:ERR?").startswith(b"-222")


def test_offset_pushing_amplitude_out_of_window_reduces_it_with_minus_221(client):
    client.write(b"VOLT 10")
    client.write(b"VOLT:OFFS 4")
    assert float(client.query(b"VOLT?")) == pytest.approx(2.0)
    assert client.query(b"SYST:ERR?").startswith(b"-221")


def test_sequence_block_defines_a_playable_sequence(awg, client):
    client.write(b"FORM:BORD SWAP")
    for name in (b"a1", b"a2"):
        client.write(b"DATA:ARB:DAC " + name + b"," + block(np.ones(16, "<i2").tobytes()))
    body = b'"seq1","a1",0,repeatTilTrig,maintain,4,"a2",3,repeat,highAtStart,2'
    client.write(b"SOUR1:DATA:SEQ " + block(body))
    client.write(b"SOUR1:FUNC:ARB seq1")
    client.write(b"SOUR1:FUNC ARB")
    assert client.query(b"SYST:ERR?") == b'+0,"No error"\n'
    steps = awg.state.channels[0].sequences["seq1"]
    assert [(s.arb, s.repeat, s.play) for s in steps] == [
        ("a1", 0, "repeatTilTrig"),
        ("a2", 3, "repeat"),
    ]
    assert client.query(b"FUNC:ARB?") == b'"seq1"\n'


def test_sequence_with_unknown_arb_or_play_mode_is_rejected(awg, client):
    client.write(b"DATA:ARB:DAC a1," + block(np.ones(16, ">i2").tobytes()))
    client.write(b"DATA:SEQ " + block(b'"s","zz",1,once,maintain,4'))
    assert client.query(b"SYST:ERR?").startswith(b"-224")
    client.write(b"DATA:SEQ " + block(b'"s","a1",1,repeatTillTrig,maintain,4'))
    assert client.query(b"SYST:ERR?").startswith(b"-224")
    assert awg.state.channels[0].sequences == {}


def test_selecting_an_arb_not_in_memory_is_rejected(client):
    client.write(b"FUNC:ARB nothere")
    assert client.query(b"SYST:ERR?").startswith(b"-224")


def test_bus_trigger_counts_only_with_trigger_source_bus(awg, client):
    client.write(b"*TRG")
    assert client.query(b"SYST:ERR?").startswith(b"-211")
    client.write(b"TRIG1:SOUR BUS")
    client.write(b"*TRG")
    client.query(b"*OPC?")
    assert awg.state.channels[0].triggers == 1


def test_on_change_reports_output_switching(awg, client):
    changes: list[StateChange] = []
    unsubscribe = awg.on_change(changes.append)
    client.write(b"OUTP1 ON")
    client.query(b"*OPC?")
    unsubscribe()
    client.write(b"OUTP1 OFF")
    client.query(b"*OPC?")
    assert [(c.path, c.old, c.new) for c in changes] == [("channel1.output", False, True)]


def test_two_clients_share_one_instrument(awg):
    a, b = Client(awg.port), Client(awg.port)
    a.write(b"OUTP2 ON")
    a.query(b"*OPC?")
    assert b.query(b"OUTP2?") == b"1\n"
    a.close()
    b.close()


def test_drop_before_closes_the_connection_without_executing(awg, client):
    awg.faults.drop_next()
    client.write(b"OUTP1 ON")
    assert client.file.readline() == b""  # EOF: the instrument hung up
    assert not awg.state.channels[0].output
    assert awg.log[-1].outcome == "dropped"
    again = Client(awg.port)
    assert again.query(b"OUTP1?") == b"0\n"
    again.close()


def test_drop_after_executes_but_loses_the_reply(awg, client):
    awg.faults.drop_next(when="after")
    assert client.query(b"OUTP1 ON;OUTP1?") == b""
    assert awg.state.channels[0].output
    assert awg.executed("OUTP1 ON")[-1].outcome == "executed-dropped"


def test_delay_next_sends_the_reply_late(awg):
    c = Client(awg.port, timeout_s=0.2)
    awg.faults.delay_next(1.0)
    c.write(b"*IDN?")
    with pytest.raises(TimeoutError):
        c.file.readline()
    c.sock.settimeout(5.0)
    late = c.sock.recv(1024)
    assert late.startswith(b"Keysight")
    c.close()


def test_garbage_next_replaces_one_reply(awg, client):
    awg.faults.garbage_next()
    junk = client.query(b"*IDN?")
    assert junk.endswith(b"\n") and not junk.startswith(b"Keysight")
    assert client.query(b"*IDN?").startswith(b"Keysight")


def test_corrupt_block_is_rejected_with_minus_161(awg, client):
    awg.faults.corrupt_next_block()
    client.write(b"DATA:ARB:DAC w," + block(np.zeros(8, ">i2").tobytes()))
    assert client.query(b"SYST:ERR?").startswith(b'-161,"Invalid block data')
    assert awg.state.channels[0].waveforms == {}
    assert awg.faults.pending["corrupt_block"] == 0


def test_power_cycle_drops_clients_and_restores_defaults(awg, client):
    client.write(b"VOLT 2;OUTP1 ON")
    client.write(b"DATA:ARB:DAC w," + block(np.zeros(8, ">i2").tobytes()))
    client.query(b"*OPC?")
    awg.power_cycle()
    assert client.file.readline() == b""
    fresh = Client(awg.port)
    assert fresh.query(b"OUTP1?") == b"0\n"
    assert float(fresh.query(b"VOLT?")) == pytest.approx(0.1)
    assert fresh.query(b"DATA:VOL:CAT?") == b'""\n'
    fresh.close()


def test_rst_restores_settings_but_keeps_volatile_arbs(awg, client):
    client.write(b"DATA:ARB:DAC w," + block(np.zeros(8, ">i2").tobytes()))
    client.write(b"OUTP1 ON;*RST")
    assert client.query(b"OUTP1?") == b"0\n"
    assert client.query(b"DATA:VOL:CAT?") == b'"w"\n'


def test_stop_closes_the_port_and_joins_every_thread():
    emu = Keysight33600AEmulator().start()
    c = Client(emu.port)
    port = emu.port
    emu.stop()
    assert c.file.readline() == b""
    c.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5)
    assert not [t for t in threading.enumerate() if t.name.startswith("keysight33600a")]


def test_plain_pyvisa_talks_to_it(awg):
    pyvisa = pytest.importorskip("pyvisa")
    rm = pyvisa.ResourceManager("@py")
    try:
        inst = rm.open_resource(awg.resource, read_termination="\n", write_termination="\n")
        inst.timeout = 2000
        assert inst.query("*IDN?").startswith("Keysight")
        inst.write_binary_values(
            "DATA:ARB:DAC pv,", list(range(-16, 16)), datatype="h", is_big_endian=True
        )
        assert inst.query("SYST:ERR?").strip() == '+0,"No error"'
        inst.close()
    finally:
        rm.close()
    # sent big-endian, which is the instrument's power-on FORM:BORD NORM
    np.testing.assert_array_equal(awg.state.channels[0].waveforms["pv"], np.arange(-16, 16))


def test_output_waveform_hook_gives_volts_and_sample_rate(awg, client):
    client.write(b"FORM:BORD SWAP;VOLT 2;VOLT:OFFS 0.5;FUNC:ARB:SRAT 1E6")
    client.write(b"DATA:ARB:DAC a," + block(np.array([32767, -32767] * 4, "<i2").tobytes()))
    client.write(b"DATA:ARB:DAC b," + block(np.zeros(8, "<i2").tobytes()))
    client.write(b"DATA:SEQ " + block(b'"s","a",1,once,maintain,4,"b",2,repeat,maintain,4'))
    client.write(b"FUNC:ARB s;FUNC ARB")
    assert client.query(b"SYST:ERR?") == b'+0,"No error"\n'
    volts, rate = awg.output_waveform_v(1)
    assert rate == 1e6 and volts.size == 8 + 16
    np.testing.assert_allclose(volts[:2], [1.5, -0.5])
    np.testing.assert_allclose(volts[8:], 0.5)


def test_error_queue_overflow_ends_in_minus_350(client):
    for _ in range(25):
        client.write(b"BOGUS")
    codes = [client.query(b"SYST:ERR?").split(b",")[0] for _ in range(21)]
    assert codes[:19] == [b"-113"] * 19 and codes[19] == b"-350" and codes[20] == b"+0"


def read_block(c: Client) -> bytes:
    assert c.file.read(1) == b"#"
    n = int(c.file.read(1))
    payload = c.file.read(int(c.file.read(n)))
    assert c.file.read(1) == b"\n"
    return payload


def test_files_go_both_ways_as_blocks(awg, client):
    codes = np.array([0, 10, -10, 32767, -32767, 2570, 5, 6], ">i2")
    client.write(b"DATA:ARB:DAC w1," + block(codes.tobytes()))
    client.write(b'FUNC:ARB w1;:MMEM:STOR:DATA1 "INT:\\w1.arb"')
    client.write(b'MMEM:UPL? "INT:\\w1.arb"')
    text = read_block(client)
    assert text.startswith(b"File Format:1.10\r\n") and b"Data Points:8\r\n" in text
    assert text.split(b"Data:\r\n")[1].split() == [b"%d" % v for v in codes]
    client.write(b'MMEM:DOWN:FNAM "INT:\\copy.arb"')
    client.write(b"MMEM:DOWN:DATA " + block(text))
    client.write(b'MMEM:LOAD:DATA2 "INT:\\copy.arb"')
    assert client.query(b"SYST:ERR?") == b'+0,"No error"\n'
    np.testing.assert_array_equal(awg.state.channels[1].waveforms["copy"], codes)


def test_missing_file_is_minus_256_and_files_survive_power_cycle(awg, client):
    client.write(b'MMEM:UPL? "INT:\\none.arb"')
    assert client.query(b"SYST:ERR?").startswith(b'-256,"File name not found')
    client.write(b'MMEM:DOWN:FNAM "INT:\\keep.arb"')
    client.write(b"MMEM:DOWN:DATA " + block(b"Data:\r\n1\r\n"))
    client.query(b"*OPC?")
    awg.power_cycle()
    again = Client(awg.port)
    again.write(b'MMEM:UPL? "INT:\\keep.arb"')
    assert read_block(again) == b"Data:\r\n1\r\n"
    again.close()


def test_corrupt_outgoing_block_declares_more_than_it_sends(awg, client):
    client.write(b'MMEM:DOWN:FNAM "INT:\\f.arb"')
    client.write(b"MMEM:DOWN:DATA " + block(b"x" * 40))
    client.query(b"*OPC?")
    awg.faults.corrupt_next_block()
    client.write(b'MMEM:UPL? "INT:\\f.arb"')
    assert client.file.read(4) == b"#256"  # 40 bytes follow, not 56
