"""``atomstack emulate``: a subprocess serving one emulator to plain pyvisa / pyserial."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import pyvisa
import serial

pytestmark = pytest.mark.timeout(60)


def _start(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "control", "emulate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    endpoints: dict[str, str] = {}
    line = proc.stdout.readline()
    key, _, value = line.strip().partition(": ")
    endpoints[key] = value
    return proc, endpoints


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=30)
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read()
        return code
    finally:
        if proc.poll() is None:
            proc.kill()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_tcp_emulator_talks_to_plain_pyvisa_and_stops_on_sigterm():
    proc, endpoints = _start("keysight33600a", "--port", "0")
    resource = endpoints["resource"]
    assert resource.startswith("TCPIP::127.0.0.1::") and resource.endswith("::SOCKET")
    rm = pyvisa.ResourceManager("@py")
    try:
        inst = rm.open_resource(resource, read_termination="\n", write_termination="\n")
        inst.timeout = 5000
        assert inst.query("*IDN?").startswith("Keysight Technologies,")
        inst.write("VOLT 2.5")
        assert float(inst.query("VOLT?")) == 2.5
        inst.close()
    finally:
        rm.close()
    assert _stop(proc) == 0


def test_pty_emulator_talks_to_pyserial_and_stops_on_sigterm():
    proc, endpoints = _start("windfreak_synthhd", "--pty")
    resource = endpoints["resource"]
    assert resource.startswith("ASRL/dev/pts/") and resource.endswith("::INSTR")
    path = resource.removeprefix("ASRL").removesuffix("::INSTR")
    port = serial.Serial(path, timeout=5.0)
    port.write(b"f?")
    assert port.readline() == b"1000.00000000\n"
    port.close()
    assert _stop(proc) == 0


def test_tcp_instrument_can_be_served_on_a_pty_too():
    proc, endpoints = _start("keysight33600a", "--pty")
    path = endpoints["resource"].removeprefix("ASRL").removesuffix("::INSTR")
    port = serial.Serial(path, timeout=5.0)
    port.write(b"*IDN?\n")
    assert port.readline().startswith(b"Keysight")
    port.close()
    assert _stop(proc) == 0


def test_port_and_pty_are_mutually_exclusive():
    result = subprocess.run(
        [sys.executable, "-m", "control", "emulate", "slm_bridge", "--port", "0", "--pty"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "not allowed with" in result.stderr


def test_unknown_instrument_is_refused():
    result = subprocess.run(
        [sys.executable, "-m", "control", "emulate", "nonesuch"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_a_busy_port_is_a_clean_cli_error():
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        port = holder.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "control", "emulate", "thorlabs_pm100d", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.close()
    assert result.returncode == 2
    assert f"127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr
