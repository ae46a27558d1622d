"""How much the emulators cost: query round trip and 8 MB upload, emulator vs a bare server.

Run: ``.venv/bin/python benchmarks/emulators.py [--queries N] [--uploads N]``

The peer is the least a server can do on the same transport: a bare TCP server (one
thread, ``recv`` and a canned reply) and a bare pty echo of a canned reply. In the same run
a raw client (socket / pyserial, no driver) measures against each emulator and against the
peer:

* ``*IDN?`` round trips on the 33600A (TCP) and the same on a pty; ``f?`` on the SynthHD;
* an 8 MB upload to the 33600A (4 Mi int16 samples, ``DATA:ARB:DAC`` block, then
  ``*OPC?``) against a bare server that skips the block by its length and answers ``1``.

The ratio emulator / peer says how much of a driver benchmark against an emulator is the
emulator's own parsing and bookkeeping rather than the transport.
"""

from __future__ import annotations

import argparse
import os
import select
import socket
import statistics
import threading
import time
import tty

import numpy as np
import serial

from virtual_device.instruments import Keysight33600AEmulator, WindfreakSynthHDEmulator

IDN = b"Keysight Technologies,33622A,MY0,A\n"


def _bare_tcp_server(stop: threading.Event) -> tuple[int, threading.Thread]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        skip = 0
        while not stop.is_set():
            chunk = conn.recv(1 << 20)
            if not chunk:
                break
            if skip:
                used = min(skip, len(chunk))
                skip -= used
                chunk = chunk[used:]
            buf += chunk
            while True:
                hash_at = buf.find(b"#")
                nl = buf.find(b"\n")
                if hash_at != -1 and (nl == -1 or hash_at < nl):
                    n = buf[hash_at + 1] - 48
                    length = int(buf[hash_at + 2 : hash_at + 2 + n])
                    end = hash_at + 2 + n + length
                    if len(buf) >= end:
                        del buf[:end]
                        continue
                    skip = end - len(buf)
                    buf.clear()
                    break
                if nl == -1:
                    break
                line = bytes(buf[:nl])
                del buf[: nl + 1]
                if line.endswith(b"*IDN?"):
                    conn.sendall(IDN)
                elif line.endswith(b"*OPC?"):
                    conn.sendall(b"1\n")
        conn.close()
        listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread


def _bare_pty(stop: threading.Event, reply: bytes, trigger: bytes) -> tuple[str, int]:
    master, slave = os.openpty()
    tty.setraw(master)
    path = os.ttyname(slave)

    def serve() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready and trigger in os.read(master, 4096):
                os.write(master, reply)
        os.close(master)
        os.close(slave)

    threading.Thread(target=serve, daemon=True).start()
    return path, slave


def _round_trips(send: object, read: object, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        send()  # type: ignore[operator]
        read()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return times


def _tcp_idn(port: int, n: int) -> list[float]:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = sock.makefile("rb")
    times = _round_trips(lambda: sock.sendall(b"*IDN?\n"), reader.readline, n)
    reader.close()
    sock.close()
    return times


def _tcp_upload(port: int, n: int, message: bytes) -> list[float]:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = sock.makefile("rb")
    sock.sendall(b"FORM:BORD SWAP\n")
    times = []
    for index in range(n):
        sock.sendall(b"DATA:VOL:CLE\n")
        body = message.replace(b"NAME", b"w%03d" % index, 1)
        start = time.perf_counter()
        sock.sendall(body)
        reader.readline()
        times.append(time.perf_counter() - start)
    reader.close()
    sock.close()
    return times


def _pty_query(path: str, query: bytes, n: int) -> list[float]:
    port = serial.Serial(path, timeout=5.0)
    times = _round_trips(lambda: port.write(query), port.readline, n)
    port.close()
    return times


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--uploads", type=int, default=5)
    args = parser.parse_args()

    codes = (np.arange(4 * 1024 * 1024) % 65534 - 32767).astype("<i2").tobytes()
    length = str(len(codes)).encode()
    upload = b"DATA:ARB:DAC NAME,#" + str(len(length)).encode() + length + codes + b"\n*OPC?\n"
    rows: list[tuple[str, str, float, float, str]] = []

    stop = threading.Event()
    bare_port, _ = _bare_tcp_server(stop)
    peer_idn = _tcp_idn(bare_port, args.queries)
    stop.set()
    stop = threading.Event()
    bare_port, _ = _bare_tcp_server(stop)
    peer_up = _tcp_upload(bare_port, args.uploads, upload)
    stop.set()
    with Keysight33600AEmulator() as emu:
        emu_idn = _tcp_idn(emu.port, args.queries)
        emu_up = _tcp_upload(emu.port, args.uploads, upload)
    rows.append(
        (
            "33600A *IDN? (TCP)",
            "µs",
            statistics.median(emu_idn) * 1e6,
            statistics.median(peer_idn) * 1e6,
            "lower is better",
        )
    )
    mb = len(upload) / 1e6
    rows.append(
        (
            "33600A 8 MB upload (TCP)",
            "MB/s",
            mb / statistics.median(emu_up),
            mb / statistics.median(peer_up),
            "higher is better",
        )
    )

    stop = threading.Event()
    path, _ = _bare_pty(stop, IDN, b"\n")
    peer_pty = _pty_query(path, b"*IDN?\n", args.queries // 4)
    stop.set()
    with Keysight33600AEmulator(transport="pty") as emu:
        emu_pty = _pty_query(emu.device_path, b"*IDN?\n", args.queries // 4)
    rows.append(
        (
            "33600A *IDN? (pty)",
            "µs",
            statistics.median(emu_pty) * 1e6,
            statistics.median(peer_pty) * 1e6,
            "lower is better",
        )
    )

    stop = threading.Event()
    path, _ = _bare_pty(stop, b"1000.00000000\n", b"?")
    peer_wf = _pty_query(path, b"f?", args.queries // 4)
    stop.set()
    with WindfreakSynthHDEmulator() as emu:
        emu_wf = _pty_query(emu.device_path, b"f?", args.queries // 4)
    rows.append(
        (
            "SynthHD f? (pty)",
            "µs",
            statistics.median(emu_wf) * 1e6,
            statistics.median(peer_wf) * 1e6,
            "lower is better",
        )
    )

    print(f"{'measurement':28} {'unit':5} {'emulator':>10} {'bare peer':>10} {'ratio':>7}")
    for name, unit, emulated, peer, note in rows:
        print(f"{name:28} {unit:5} {emulated:10.1f} {peer:10.1f} {emulated / peer:7.2f}  {note}")


if __name__ == "__main__":
    main()
