"""The emulated Windfreak SynthHD, Coherent OBIS and ORCA camera against pyserial on a pty."""

from __future__ import annotations

import socket
import struct
import threading
import time

import numpy as np
import pytest
import serial

from virtual_device.instruments import (
    FRAME_HEADER,
    CoherentOBISEmulator,
    FrameRequest,
    HamamatsuOrcaEmulator,
    OBISConfig,
    OrcaConfig,
    WindfreakConfig,
    WindfreakSynthHDEmulator,
)

pytestmark = pytest.mark.timeout(30)


def _no_threads(name: str) -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith(name)]


# -- Windfreak SynthHD ---------------------------------------------------------------------


@pytest.fixture
def synth():
    with WindfreakSynthHDEmulator(config=WindfreakConfig(idle_gap_s=0.05)) as emu:
        yield emu
    assert _no_threads(emu.name)


@pytest.fixture
def port(synth):
    p = serial.Serial(synth.device_path, timeout=2.0)
    yield p
    p.close()


def test_windfreak_setters_chain_without_terminator_and_queries_read_back(synth, port):
    port.write(b"C1f2500.125W-5.5h1")
    port.write(b"f?")
    assert port.readline() == b"2500.12500000\n"
    port.write(b"W?")
    assert port.readline() == b"-5.500\n"
    port.write(b"C?")
    assert port.readline() == b"1\n"
    assert synth.state.channels[1].frequency_mhz == 2500.125
    assert synth.state.channels[0].frequency_mhz == 1000.0


def test_windfreak_last_setter_is_applied_only_after_the_idle_gap(synth, port):
    port.write(b"f1234.5")
    port.flush()
    deadline = time.monotonic() + 5.0
    while synth.state.channels[0].frequency_mhz != 1234.5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert synth.state.channels[0].frequency_mhz == 1234.5
    assert synth.executed("f1234.5")


def test_windfreak_exponent_notation_runs_the_eeprom_save(synth, port):
    port.write(b"f1e3")
    port.write(b"f?")
    assert port.readline() == b"1000.00000000\n"  # 1 MHz is below the range: ignored
    assert [r.text for r in synth.log[-3:]] == ["f1", "e", "f?"]
    assert synth.log[-3].error is not None


def test_windfreak_identity_queries(port):
    port.write(b"+")
    assert port.readline() == b"SynthHD\n"
    port.write(b"-")
    assert port.readline() == b"1234\n"
    port.write(b"v0")
    assert port.readline() == b"3.22\n"


def test_windfreak_output_polarity_is_configurable():
    for h_one_on in (True, False):
        emu = WindfreakSynthHDEmulator(config=WindfreakConfig(h_one_means_output_on=h_one_on))
        emu.state.channels[0].h_bit = 1
        assert emu.output_on(0) is h_one_on


def test_windfreak_power_cycle_restores_eeprom_settings(synth, port):
    port.write(b"f2000W3e")
    port.write(b"f4000f?")
    assert port.readline() == b"4000.00000000\n"
    synth.power_cycle()
    port.write(b"f?")
    assert port.readline() == b"2000.00000000\n"


def test_windfreak_drop_loses_the_command_and_garbage_replaces_a_reply(synth, port):
    synth.faults.drop_next()
    port.write(b"W5")
    port.write(b"W?")
    port.timeout = 0.3
    first = port.readline()  # W5 lost; W? answered with the old value
    assert first == b"-10.000\n" or first == b""
    port.timeout = 2.0
    synth.faults.garbage_next()
    port.write(b"f?")
    junk = port.readline()
    assert junk.endswith(b"\n") and junk != b"1000.00000000\n"


# -- Coherent OBIS -------------------------------------------------------------------------


@pytest.fixture
def obis():
    with CoherentOBISEmulator(config=OBISConfig(cdrh_delay_s=0.0)) as emu:
        yield emu
    assert _no_threads(emu.name)


@pytest.fixture
def op(obis):
    p = serial.Serial(obis.device_path, timeout=2.0)
    yield p
    p.close()


def lines(p: serial.Serial, command: bytes, n: int) -> list[bytes]:
    p.write(command + b"\r\n")
    return [p.readline() for _ in range(n)]


def test_obis_handshaking_on_answers_ok_after_every_command(op):
    assert lines(op, b"SOUR:POW:LEV:IMM:AMPL 0.025", 1) == [b"OK\r\n"]
    assert lines(op, b"SOUR:POW:LEV:IMM:AMPL?", 2) == [b"0.02500\r\n", b"OK\r\n"]


def test_obis_handshaking_off_answers_queries_only(op):
    assert lines(op, b"SYST:COMM:HAND OFF", 0) == []
    op.write(b"SOUR:AM:STAT ON\r\n")
    assert lines(op, b"SOUR:AM:STAT?", 1) == [b"ON\r\n"]
    op.timeout = 0.2
    assert op.readline() == b""  # nothing left over: no reply was owed


def test_obis_accepts_cr_alone_as_terminator(op):
    op.write(b"SYST:INF:WAV?\r")
    assert [op.readline(), op.readline()] == [b"637\r\n", b"OK\r\n"]


def test_obis_errors_reply_err_code_and_queue(op):
    assert lines(op, b"SOUR:POW:LEV:IMM:AMPL 5", 1) == [b"ERR-220\r\n"]
    assert lines(op, b"BOGUS:CMD", 1) == [b"ERR-100\r\n"]
    assert lines(op, b"SYST:ERR:COUN?", 2) == [b"2\r\n", b"OK\r\n"]
    assert lines(op, b"SYST:ERR:NEX?", 2)[0].startswith(b"-220,")
    assert lines(op, b"SYST:ERR:CLE", 1) == [b"OK\r\n"]
    assert lines(op, b"SYST:ERR:COUN?", 2)[0] == b"0\r\n"


def test_obis_emission_needs_the_interlock_and_reports_power(obis, op):
    lines(op, b"SOUR:POW:LEV:IMM:AMPL 0.05", 1)
    obis.set_interlock(False)
    assert lines(op, b"SOUR:AM:STAT ON", 1) == [b"ERR-221\r\n"]
    assert lines(op, b"SYST:LOCK?", 2)[0] == b"OFF\r\n"
    obis.set_interlock(True)
    assert lines(op, b"SOUR:AM:STAT ON", 1) == [b"OK\r\n"]
    assert lines(op, b"SOUR:POW:LEV?", 2)[0] == b"0.05000\r\n"
    assert obis.output_power_w() == 0.05


def test_obis_cdrh_delay_holds_emission_back():
    with CoherentOBISEmulator(config=OBISConfig(cdrh_delay_s=30.0)) as emu:
        p = serial.Serial(emu.device_path, timeout=2.0)
        lines(p, b"SOUR:POW:LEV:IMM:AMPL 0.05", 1)
        lines(p, b"SOUR:AM:STAT ON", 1)
        assert lines(p, b"SOUR:POW:LEV?", 2)[0] == b"0.00000\r\n"
        p.close()


def test_obis_power_cycle_restores_handshaking(obis, op):
    lines(op, b"SYST:COMM:HAND OFF", 0)
    op.write(b"SYST:COMM:HAND?\r\n")
    assert op.readline() == b"OFF\r\n"
    obis.power_cycle()
    assert lines(op, b"SYST:COMM:HAND?", 2) == [b"ON\r\n", b"OK\r\n"]


def test_obis_delayed_reply_arrives_after_a_client_timeout(obis, op):
    obis.faults.delay_next(0.8)
    op.timeout = 0.2
    op.write(b"*IDN?\r\n")
    assert op.readline() == b""
    op.timeout = 5.0
    assert op.readline().startswith(b"Coherent")


# -- Hamamatsu ORCA ------------------------------------------------------------------------


@pytest.fixture
def orca():
    with HamamatsuOrcaEmulator(config=OrcaConfig(width=64, height=64)) as emu:
        yield emu
    assert _no_threads(emu.name)


@pytest.fixture
def cam(orca):
    p = serial.Serial(orca.device_path, timeout=2.0)
    yield p
    p.close()


def say(p: serial.Serial, command: bytes) -> bytes:
    p.write(command + b"\r")
    return p.read_until(b"\r")


class Frames:
    def __init__(self, address: str) -> None:
        host, port = address.removeprefix("tcp://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=5.0)
        self.file = self.sock.makefile("rb")

    def next(self) -> tuple[tuple, np.ndarray]:
        header = FRAME_HEADER.unpack(self.file.read(FRAME_HEADER.size))
        payload = self.file.read(header[6])
        return header, np.frombuffer(payload, "<u2").reshape(header[3], header[4])

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def test_orca_replies_echo_the_command_with_its_value(cam):
    assert say(cam, b"?CAI T") == b"CAI T C11440-22CU\r"
    assert say(cam, b"?CAI H") == b"CAI H 64\r"
    assert say(cam, b"AET 0.02") == b"AET 0.020000\r"
    assert say(cam, b"?AET") == b"AET 0.020000\r"
    assert say(cam, b"AMD E") == b"AMD E\r"
    assert say(cam, b"?AMD") == b"AMD E\r"


def test_orca_errors_use_the_hamamatsu_codes(cam):
    assert say(cam, b"XYZ 1") == b"E3\r"
    assert say(cam, b"AMD Q") == b"E5\r"
    assert say(cam, b"AET 100") == b"E6\r"
    assert say(cam, b"SDV 3,0,8") == b"E6\r"


def test_orca_res_n_silences_setter_replies(cam):
    cam.write(b"RES N\r")  # silent already: the new setting answers
    cam.write(b"AET 0.05\r")
    assert say(cam, b"?AET") == b"AET 0.050000\r"
    assert say(cam, b"RES Y") == b"RES Y\r"


def test_orca_free_run_streams_numbered_frames_with_the_agreed_header(orca, cam):
    say(cam, b"AET 0.001")
    frames = Frames(orca.frame_address)
    (magic, version, first, h, w, dtype, nbytes), pixels = frames.next()
    assert (magic, version, h, w, dtype, nbytes) == (b"ASFR", 1, 64, 64, 1, 64 * 64 * 2)
    header, _ = frames.next()
    assert header[2] > first
    assert 90 < pixels.mean() < 200  # offset + background counts
    frames.close()


def test_orca_subarray_and_binning_shape_the_frames(orca, cam):
    assert say(cam, b"SMD W") == b"SMD W\r"
    assert say(cam, b"SDV 16,0,8") == b"SDV 16,0,8\r"
    assert say(cam, b"SPX 2") == b"SPX 2\r"
    frames = Frames(orca.frame_address)
    _header, pixels = frames.next()
    assert pixels.shape == (8, 32)
    frames.close()
    assert say(cam, b"?RAT").startswith(b"RAT ")


def test_orca_external_trigger_makes_one_frame_per_trigger(orca, cam):
    say(cam, b"AMD E")
    say(cam, b"AET 0.001")
    seen = []
    frames_made = threading.Event()

    def producer(request: FrameRequest) -> np.ndarray:
        seen.append(request.frame_index)
        frames_made.set()
        return np.full(request.shape, 7, np.uint16)

    orca.frame_producer = producer
    frames = Frames(orca.frame_address)
    deadline = time.monotonic() + 5
    while orca.frame_clients == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    orca.trigger()
    orca.trigger()
    first, px = frames.next()
    second, _ = frames.next()
    assert (first[2], second[2]) == (0, 1) and int(px.max()) == 7
    assert seen == [0, 1]
    frames.close()


def test_orca_corrupt_frame_header_and_drop_now(orca, cam):
    frames = Frames(orca.frame_address)
    frames.next()
    orca.faults.corrupt_next_block()
    for _ in range(10):  # frames already queued pass first
        header = struct.unpack("<4s", frames.file.read(4))[0]
        rest = FRAME_HEADER.unpack(header + frames.file.read(FRAME_HEADER.size - 4))
        frames.file.read(rest[6])
        if header != b"ASFR":
            break
    assert header == b"\xde\xad\xbe\xef"
    orca.faults.drop_now()
    while frames.file.read(65536):
        pass
    frames.close()


def test_orca_start_mode_free_runs_after_the_first_trigger(orca, cam):
    say(cam, b"AET 0.001")
    say(cam, b"AMD S")
    frames = Frames(orca.frame_address)
    deadline = time.monotonic() + 5
    while orca.frame_clients == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert orca.state.frames_produced == 0  # nothing before the trigger
    orca.trigger()
    indices = [frames.next()[0][2] for _ in range(3)]
    assert indices == sorted(indices) and len(set(indices)) == 3
    frames.close()
