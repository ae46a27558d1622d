"""The emulator framework: registry, message splitting, SCPI headers, both transports."""

from __future__ import annotations

import os
import socket
import threading

import pytest
import serial

from virtual_device.errors import EmulatorError
from virtual_device.instruments import EMULATORS
from virtual_device.instruments._framework import MessageSplitter
from virtual_device.instruments._scpi import ScpiCommandSet, ScpiError, split_args

pytestmark = pytest.mark.timeout(60)

AGREED_NAMES = {
    "keysight33600a",
    "windfreak_synthhd",
    "coherent_obis",
    "toptica_dlcpro",
    "thorlabs_pm100d",
    "hamamatsu_orca",
    "slm_bridge",
}


def _pty_fds() -> int:
    return sum(
        1
        for fd in os.listdir("/proc/self/fd")
        if os.path.realpath(f"/proc/self/fd/{fd}").startswith(("/dev/pts", "/dev/ptmx"))
    )


def test_registry_has_exactly_the_agreed_names():
    assert set(EMULATORS) == AGREED_NAMES
    for name, cls in EMULATORS.items():
        assert cls.name == name


@pytest.mark.parametrize("name", sorted(AGREED_NAMES))
def test_every_emulator_starts_on_both_transports_and_leaves_nothing_behind(name):
    before = _pty_fds()
    for transport in ("tcp", "pty"):
        emu = EMULATORS[name](transport=transport)
        with emu:
            if transport == "tcp":
                assert emu.resource == f"TCPIP::127.0.0.1::{emu.port}::SOCKET"
                socket.create_connection(("127.0.0.1", emu.port), timeout=2).close()
            else:
                assert emu.resource == f"ASRL{emu.device_path}::INSTR"
                serial.Serial(emu.device_path, timeout=0.5).close()
        assert not emu.running
    assert not [t for t in threading.enumerate() if t.name.startswith(name)]
    assert _pty_fds() == before


def test_resource_before_start_is_an_emulator_error():
    with pytest.raises(EmulatorError, match="not started"):
        _ = EMULATORS["keysight33600a"]().resource


def test_starting_twice_is_an_emulator_error():
    with EMULATORS["slm_bridge"](shape=(2, 2)) as emu, pytest.raises(EmulatorError):
        emu.start()


def test_a_busy_port_is_an_emulator_error():
    with EMULATORS["keysight33600a"]() as first:
        with pytest.raises(EmulatorError, match=str(first.port)):
            EMULATORS["keysight33600a"](port=first.port).start()


def test_bad_transport_and_port_are_rejected():
    with pytest.raises(EmulatorError, match="transport"):
        EMULATORS["keysight33600a"](transport="usb")  # type: ignore[arg-type]
    with pytest.raises(EmulatorError, match="port"):
        EMULATORS["keysight33600a"](port=70000)


def test_splitter_passes_over_blocks_holding_terminators_in_any_chunking():
    stream = b"A\nDATA x,#15\n\n\n\n\n\nB;C\n#0\nD\n"
    for chunk in (1, 2, 3, 7, len(stream)):
        splitter = MessageSplitter(b"\n", blocks=True)
        out = []
        for at in range(0, len(stream), chunk):
            out += splitter.feed(stream[at : at + chunk])
        assert out == [b"A", b"DATA x,#15\n\n\n\n\n", b"B;C", b"#0", b"D"]


def test_splitter_without_blocks_splits_on_any_terminator_byte():
    splitter = MessageSplitter(b"\r\n", blocks=False)
    assert splitter.feed(b"A\r\nB\rC\n\nD") == [b"A", b"B", b"C"]
    assert splitter.pending_bytes == 1


def test_scpi_headers_match_short_long_optional_and_suffix_forms():
    seen = []
    commands = ScpiCommandSet()
    commands.add("[SOURce#]:VOLTage:OFFSet", set=lambda a, s: seen.append((a, s)))
    for header in ("SOUR2:VOLT:OFFS", "source2:voltage:offset", ":VOLT:OFFS", "VOLTAGE:OFFS"):
        commands.dispatch(header, "1")
    assert seen == [("1", (2,)), ("1", (2,)), ("1", (None,)), ("1", (None,))]
    with pytest.raises(ScpiError) as info:
        commands.dispatch("SOUR:VOLTA:OFFS", "1")
    assert info.value.code == -113


def test_split_args_keeps_quoted_commas():
    assert split_args('"a,b",1, c ,"d"') == ['"a,b"', "1", "c", '"d"']


# -- every fault on every emulator, on its own transport, with its own command set -------

QUERIES = {
    "keysight33600a": (b"*IDN?\n", b"Keysight", b"\n"),
    "thorlabs_pm100d": (b"*IDN?\n", b"Thorlabs", b"\n"),
    "toptica_dlcpro": (b"(param-ref 'system-type)\n", b'"DLCpro"', b"\n> "),
    "slm_bridge": (b"*IDN?\n", b"atomstack", b"\n"),
    "windfreak_synthhd": (b"+", b"SynthHD", b"\n"),
    "coherent_obis": (b"*IDN?\r\n", b"Coherent", b"\r\n"),
    "hamamatsu_orca": (b"?CAI T\r", b"CAI T", b"\r"),
}


class Line:
    """A raw client on the emulator's own transport: a TCP socket or the pty via pyserial."""

    def __init__(self, emu, terminator: bytes) -> None:
        self.terminator = terminator
        self.serial = None
        self.sock = None
        if emu.transport == "tcp":
            self.sock = socket.create_connection(("127.0.0.1", emu.port), timeout=2.0)
            if emu.name == "toptica_dlcpro":
                self.read(2.0)  # the banner
        else:
            self.serial = serial.Serial(emu.device_path, timeout=2.0)
        if emu.name == "coherent_obis":
            self.write(b"SYST:COMM:HAND OFF\r\n")  # one line per query, no OK after it

    def write(self, data: bytes) -> None:
        if self.sock is not None:
            self.sock.sendall(data)
        else:
            self.serial.write(data)

    def read(self, timeout_s: float) -> bytes:
        """Bytes up to the terminator; b"" on EOF or when nothing came in time."""
        if self.serial is not None:
            self.serial.timeout = timeout_s
            return self.serial.read_until(self.terminator)
        self.sock.settimeout(timeout_s)
        data = b""
        try:
            while not data.endswith(self.terminator):
                chunk = self.sock.recv(1)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            pass
        return data

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        else:
            self.serial.close()


@pytest.mark.parametrize("name", sorted(AGREED_NAMES))
def test_every_fault_on_every_emulator(name):
    query, prefix, terminator = QUERIES[name]
    with EMULATORS[name]() as emu:
        line = Line(emu, terminator)
        try:
            line.write(query)
            assert line.read(2.0).startswith(prefix)

            emu.faults.garbage_next()
            line.write(query)
            junk = line.read(2.0)
            assert junk.endswith(terminator) and not junk.startswith(prefix)

            emu.faults.delay_next(1.0)
            line.write(query)
            assert line.read(0.2) == b""  # nothing within a short client timeout
            assert line.read(5.0).startswith(prefix)  # then the late reply

            emu.faults.drop_next()
            line.write(query)
            assert line.read(0.5) == b""  # EOF (TCP) or silence (pty)
            assert emu.log[-1].outcome == "dropped"
            if emu.transport == "tcp":
                line.close()
                line = Line(emu, terminator)
            line.write(query)
            assert line.read(2.0).startswith(prefix)

            changes = []
            emu.on_change(changes.append)
            emu.power_cycle()
            assert [c.path for c in changes] == ["*"]
            if emu.transport == "tcp":
                assert line.read(2.0) == b""  # the instrument went away
                line.close()
                line = Line(emu, terminator)
            line.write(query)
            assert line.read(2.0).startswith(prefix)
            assert emu.faults.pending == {"drop": 0, "delay": 0, "garbage": 0, "corrupt_block": 0}
        finally:
            line.close()
