"""The emulated PM100D, DLC pro and SLM bridge against raw TCP sockets."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest

from virtual_device.instruments import (
    PM100DConfig,
    SLMBridgeEmulator,
    ThorlabsPM100DEmulator,
    TopticaDLCProEmulator,
)

pytestmark = pytest.mark.timeout(30)


class Client:
    def __init__(self, port: int, timeout_s: float = 2.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self.file = self.sock.makefile("rb")

    def write(self, data: bytes) -> None:
        self.sock.sendall(data + b"\n")

    def query(self, data: bytes) -> bytes:
        self.write(data)
        return self.file.readline()

    def read_until(self, end: bytes) -> bytes:
        buf = b""
        while not buf.endswith(end):
            chunk = self.file.read(1)
            if not chunk:
                return buf
            buf += chunk
        return buf

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def _no_threads(name: str) -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith(name)]


# -- Thorlabs PM100D -----------------------------------------------------------------------


@pytest.fixture
def meter():
    cfg = PM100DConfig(zero_duration_s=0.0, relative_noise=1e-4)
    with ThorlabsPM100DEmulator(config=cfg, seed=1) as emu:
        emu.incident_power_w = 2e-3
        emu.light_wavelength_nm = 780.0
        yield emu
    assert _no_threads(emu.name)


@pytest.fixture
def pm(meter):
    c = Client(meter.port)
    yield c
    c.close()


def test_pm100d_measures_the_incident_power_at_the_right_wavelength(pm):
    pm.write(b"SENS:CORR:WAV 780")
    assert float(pm.query(b"MEAS:POW?")) == pytest.approx(2e-3, rel=1e-2)


def test_pm100d_wrong_wavelength_correction_gives_a_wrong_reading(pm):
    pm.write(b"SENS:CORR:WAV 500")
    assert float(pm.query(b"MEAS:POW?")) > 2.5e-3


def test_pm100d_dbm_unit(pm):
    pm.write(b"SENS:POW:UNIT DBM")
    assert float(pm.query(b"MEAS:POW?")) == pytest.approx(10 * np.log10(2.0), abs=0.05)


def test_pm100d_vendor_example_typos_are_undefined_headers(pm):
    pm.write(b"SENS:AVER:1000")
    pm.write(b"SENS:RANGE:AUTO ON")
    assert pm.query(b"SYST:ERR?") == b'-113,"Undefined header"\n'
    assert pm.query(b"SYST:ERR?") == b'-113,"Undefined header"\n'
    assert pm.query(b"SYST:ERR?") == b'0,"No error"\n'


def test_pm100d_wavelength_outside_the_sensor_range_is_minus_222(pm):
    pm.write(b"SENS:CORR:WAV 1500")
    assert pm.query(b"SYST:ERR?").startswith(b"-222")
    assert float(pm.query(b"SENS:CORR:WAV?")) == 780.0


def test_pm100d_averaging_and_fetch_needs_init(pm):
    pm.write(b"SENS:AVER:COUN 100")
    assert pm.query(b"SENS:AVER:COUN?") == b"100\n"
    pm.write(b"*RST")
    pm.write(b"FETC?")
    assert pm.query(b"SYST:ERR?").startswith(b"-230")
    pm.write(b"CONF:POW;INIT")
    assert float(pm.query(b"FETC?")) == pytest.approx(2e-3, rel=1e-2)


def test_pm100d_zeroing_removes_the_dark_offset(meter, pm):
    meter.incident_power_w = 0.0
    dark = float(pm.query(b"MEAS:POW?"))
    pm.write(b"SENS:CORR:COLL:ZERO:INIT")
    assert pm.query(b"SENS:CORR:COLL:ZERO:STAT?") == b"0\n"
    assert float(pm.query(b"SENS:CORR:COLL:ZERO:MAGN?")) == pytest.approx(dark, rel=0.2)
    assert abs(float(pm.query(b"MEAS:POW?"))) < dark / 5


def test_pm100d_power_source_hook_couples_to_the_virtual_lab():
    with ThorlabsPM100DEmulator(power_source=lambda: 5e-3) as emu:
        c = Client(emu.port)
        assert float(c.query(b"MEAS:POW?")) == pytest.approx(5e-3, rel=1e-2)
        c.close()


def test_pm100d_power_cycle_loses_settings(meter, pm):
    pm.write(b"SENS:CORR:WAV 850")
    pm.query(b"*OPC?")
    meter.power_cycle()
    assert pm.file.readline() == b""
    again = Client(meter.port)
    assert float(again.query(b"SENS:CORR:WAV?")) == 780.0
    again.close()


# -- Toptica DLC pro -----------------------------------------------------------------------

PROMPT = b"\n> "


@pytest.fixture
def dlc():
    with TopticaDLCProEmulator() as emu:
        yield emu
    assert _no_threads(emu.name)


@pytest.fixture
def cl(dlc):
    c = Client(dlc.port)
    banner = c.read_until(PROMPT)
    assert banner.startswith(b"DeCoF Command Line") and banner.endswith(PROMPT)
    yield c
    c.close()


def ask(c: Client, expression: bytes) -> bytes:
    c.write(expression)
    reply = c.read_until(PROMPT)
    assert reply.endswith(PROMPT)
    return reply[: -len(PROMPT)]


def test_dlcpro_param_set_and_ref_round_trip(cl):
    assert ask(cl, b"(param-set! 'laser1:dl:cc:current-set 95.5)") == b"0"
    assert ask(cl, b"(param-ref 'laser1:dl:cc:current-set)") == b"95.5"


def test_dlcpro_emission_follows_enable_and_interlock(dlc, cl):
    assert ask(cl, b"(param-ref 'laser1:emission)") == b"#f"
    ask(cl, b"(param-set! 'laser1:dl:cc:current-set 100)")
    ask(cl, b"(param-set! 'laser1:dl:cc:enabled #t)")
    assert ask(cl, b"(param-ref 'laser1:emission)") == b"#t"
    assert ask(cl, b"(param-ref 'laser1:dl:cc:current-act)") == b"100.0"
    dlc.set_interlock(False)
    assert ask(cl, b"(param-ref 'laser1:emission)") == b"#f"
    assert ask(cl, b"(param-ref 'laser1:dl:cc:current-act)") == b"0.0"


@pytest.mark.parametrize(
    ("expression", "code"),
    [
        (b"(param-ref 'laser1:nothing)", b"-2"),
        (b"(param-set! 'laser1:emission #t)", b"-3"),
        (b"(param-set! 'laser1:dl:cc:enabled 3)", b"-4"),
        (b"(param-set! 'laser1:dl:cc:current-set 900)", b"-5"),
        (b"(param-ref 'laser1:dl:cc:current-set", b"-1"),
        (b"(reboot)", b"-6"),
    ],
)
def test_dlcpro_errors_start_with_error(cl, expression, code):
    reply = ask(cl, expression)
    assert reply.startswith(b"Error: " + code + b" ")


def test_dlcpro_strings_exec_and_param_disp(cl):
    assert ask(cl, b"(param-ref 'system-type)") == b'"DLCpro"'
    assert ask(cl, b'(exec \'change-ul 2 "secret")') == b"0"
    assert ask(cl, b"(param-ref 'ul)") == b"2"
    lines = ask(cl, b"(param-disp 'laser1:dl:tc)").split(b"\n")
    assert b"laser1:dl:tc:temp-set = 20.0" in lines


def test_dlcpro_garbage_and_drop(dlc, cl):
    dlc.faults.garbage_next()
    cl.write(b"(param-ref 'ul)")
    junk = cl.read_until(PROMPT)
    assert junk.endswith(PROMPT) and not junk.startswith(b"1")
    dlc.faults.drop_next()
    cl.write(b"(param-set! 'laser1:dl:cc:enabled #t)")
    assert cl.file.read(1) == b""
    assert dlc.state.value("laser1:dl:cc:enabled") is False


def test_dlcpro_every_connection_gets_the_banner(dlc):
    for _ in range(2):
        c = Client(dlc.port)
        assert c.read_until(PROMPT).startswith(b"DeCoF")
        c.close()


# -- SLM bridge ----------------------------------------------------------------------------


def block(payload: bytes) -> bytes:
    length = str(len(payload)).encode()
    return b"#" + str(len(length)).encode() + length + payload


@pytest.fixture
def slm():
    with SLMBridgeEmulator(shape=(6, 10), bits=8) as emu:
        yield emu
    assert _no_threads(emu.name)


@pytest.fixture
def sc(slm):
    c = Client(slm.port)
    yield c
    c.close()


def read_block(c: Client) -> bytes:
    assert c.file.read(1) == b"#"
    n = int(c.file.read(1))
    length = int(c.file.read(n))
    payload = c.file.read(length)
    assert c.file.read(1) == b"\n"
    return payload


def test_slm_shape_bits_and_mask_round_trip(slm, sc):
    assert sc.query(b"SLM:SHAPE?") == b"6,10\n"
    assert sc.query(b"SLM:BITS?") == b"8\n"
    mask = (np.arange(60).reshape(6, 10) * 4 + 10).astype("<u2")  # holds 0x0a bytes
    sc.write(b"SLM:MASK " + block(mask.tobytes()))
    assert sc.query(b"SYST:ERR?") == b'0,"No error"\n'
    np.testing.assert_array_equal(slm.state.mask, mask)
    sc.write(b"SLM:MASK?")
    np.testing.assert_array_equal(np.frombuffer(read_block(sc), "<u2").reshape(6, 10), mask)


def test_slm_wrong_size_and_level_out_of_range(slm, sc):
    sc.write(b"SLM:MASK " + block(np.zeros(59, "<u2").tobytes()))
    assert sc.query(b"SYST:ERR?").startswith(b"-161")
    sc.write(b"SLM:MASK " + block(np.full(60, 256, "<u2").tobytes()))
    assert sc.query(b"SYST:ERR?").startswith(b"-222")
    assert slm.state.masks_written == 0


def test_slm_on_change_reports_the_new_mask(slm, sc):
    seen = []
    slm.on_change(lambda change: seen.append(change.new.copy()))
    sc.write(b"SLM:MASK " + block(np.ones(60, "<u2").tobytes()))
    sc.query(b"*OPC?")
    assert len(seen) == 1 and seen[0].shape == (6, 10) and seen[0].sum() == 60


def test_slm_corrupt_block_damages_the_length_field(slm, sc):
    slm.faults.corrupt_next_block()
    sc.write(b"SLM:MASK?")
    assert sc.file.read(2) == b"#3"
    assert sc.file.read(3) == b"XXX"


def test_dlcpro_monitoring_line_pushes_subscribed_values(dlc, cl):
    monitor = Client(int(dlc.monitoring_resource.split("::")[2]))
    try:
        monitor.sock.sendall(b"(add 'laser1:dl:cc:current-set)\r\n")
        first = monitor.file.readline()
        assert first.startswith(b"(20")
        assert first.endswith(b" 'laser1:dl:cc:current-set 0.0)\r\n")
        ask(cl, b"(param-set! 'laser1:dl:cc:current-set 42.0)")
        assert monitor.file.readline().endswith(b" 'laser1:dl:cc:current-set 42.0)\r\n")
        monitor.sock.sendall(b"(add 'laser1:bogus)\r\n")
        assert monitor.file.readline().startswith(b"(Error: -2 (")
        monitor.sock.sendall(b"(remove 'laser1:dl:cc:current-set)\r\n(add 'ul)\r\n")
        assert monitor.file.readline().endswith(b" 'ul 1)\r\n")  # the remove is done
        ask(cl, b"(param-set! 'laser1:dl:cc:current-set 43.0)")
        monitor.sock.sendall(b"(add 'fw-ver)\r\n")
        assert b"'fw-ver " in monitor.file.readline()  # nothing about current-set came
        assert "monitoring" in dlc.endpoints
    finally:
        monitor.close()


def test_dlcpro_serial_line_behaves_as_the_sdk_expects():
    serial = pytest.importorskip("serial")
    with TopticaDLCProEmulator(transport="pty") as emu:
        port = serial.Serial(emu.device_path, timeout=2.0)
        try:
            # pyserial flushes input on open, so the power-on banner is gone: echo is on.
            port.write(b"(param-ref 'ul)\n")
            assert port.read_until(b"\n> ") == b"(param-ref 'ul)\r\n1\r\n> "
            emu.power_cycle()  # with the port open, the banner arrives
            banner = port.read_until(b"\n> ")
            assert banner.startswith(b"DeCoF Command Line\r\n") and banner.endswith(b"\r\n> ")
            port.write(b"\x12\x03")  # what the SDK sends after opening: echo off, cancel
            assert port.read_until(b"\n> ") == b"\r\n> "
            port.write(b"(param-ref 'ul)\n")
            assert port.read_until(b"\n> ") == b"1\r\n> "
        finally:
            port.close()
    assert _no_threads(emu.name)
