"""Query round trip and 8 MB waveform upload: raw socket vs the driver base vs pyvisa-py.

Run: ``.venv/bin/python benchmarks/drivers_transport.py [--queries N] [--uploads N]``

A minimal SCPI-ish server runs in a separate process on 127.0.0.1 (so it does not share
the GIL with the client). In the same run, the client measures:

* ``*IDN?`` round trips: a raw socket (``sendall`` + ``recv`` until ``\\n``), the driver
  base (``SCPIInstrument.query`` over its own SOCKET transport), and pyvisa-py's SOCKET
  session (``Resource.query``) as the peer everyone uses;
* an 8 MB upload (4 Mi int16 samples as one IEEE 488.2 block, then ``*OPC?``): raw
  ``sendall`` of the prebuilt message, the driver's ``write_block`` from the numpy buffer,
  and pyvisa-py's ``write_binary_values``.

Targets: driver latency ≤ 1.3 × raw, driver throughput ≥ 80 % of raw. Where the time goes
in the driver's query is printed too (the same exchange with the instrument lock, logging
check and Ctrl-C guard each removed), so a miss can be explained with numbers.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import socket
import statistics
import time
from typing import Any

import numpy as np

from drivers.base import SCPIInstrument

IDN = b"atomstack,bench server,0,1\n"


# ---------------------------------------------------------------------------- server


def _serve(port_queue: Any) -> None:
    """One thread serves every connection (selectors), so every client path meets the
    same server thread on the same CPU: per-connection threads made one path's median
    depend on where the scheduler happened to put its server thread."""
    import selectors

    server = socket.create_server(("127.0.0.1", 0))
    port_queue.put(server.getsockname()[1])
    sel = selectors.DefaultSelector()
    sel.register(server, selectors.EVENT_READ, None)
    buf = bytearray(16 * 1024 * 1024)
    view = memoryview(buf)
    while True:
        for key, _ in sel.select():
            if key.data is None:
                conn, _ = server.accept()
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sel.register(conn, selectors.EVENT_READ, bytearray())
                continue
            conn = key.fileobj  # type: ignore[assignment]
            if not _serve_ready(conn, key.data, view):
                sel.unregister(conn)
                conn.close()


def _serve_ready(conn: socket.socket, pending: bytearray, view: memoryview) -> bool:
    """Handle what arrived on ``conn``; False when the client has gone."""
    try:
        n = conn.recv_into(view)
    except OSError:
        return False
    if n == 0:
        return False
    pending += view[:n]
    while True:
        if pending.startswith(b"DATA"):
            hash_at = pending.find(b"#")
            if hash_at < 0 or len(pending) < hash_at + 2:
                return True
            ndig = int(pending[hash_at + 1 : hash_at + 2])
            if len(pending) < hash_at + 2 + ndig:
                return True
            length = int(pending[hash_at + 2 : hash_at + 2 + ndig])
            end = hash_at + 2 + ndig + length + 1
            need = end - len(pending)
            while need > 0:  # the rest of the block, straight off the socket
                got = conn.recv_into(view, min(need, len(view)))
                if got == 0:
                    return False
                pending += view[:got]
                need -= got
            del pending[:end]
            continue
        nl = pending.find(b"\n")
        if nl < 0:
            return True
        line = bytes(pending[:nl])
        del pending[: nl + 1]
        if line == b"*IDN?":
            conn.sendall(IDN)
        elif line == b"*OPC?":
            conn.sendall(b"1\n")
        elif line == b"SYST:ERR?":
            conn.sendall(b'+0,"No error"\n')


class BenchInstrument(SCPIInstrument):
    """The driver base with nothing added: what every SCPI driver's I/O costs."""

    emulator_name = ""

    def safe_state(self) -> None:
        """Nothing to make safe."""


# --------------------------------------------------------------------------- helpers


def _stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.99 * (len(ordered) - 1))]


class RawClient:
    """A bare socket: ``sendall`` then ``recv`` until ``\\n``."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def query(self) -> None:
        self.sock.sendall(b"*IDN?\n")
        data = self.sock.recv(4096)
        while not data.endswith(b"\n"):
            data += self.sock.recv(4096)

    def close(self) -> None:
        self.sock.close()


class DriverClient:
    """The driver base; ``variant`` strips layers to show where the time goes."""

    def __init__(self, port: int, variant: str = "full") -> None:
        self.inst = BenchInstrument(f"TCPIP::127.0.0.1::{port}::SOCKET", timeout_s=5.0)
        self.inst.connect()
        self.variant = variant
        self.transport = self.inst._transport
        if variant == "no Ctrl-C guard":
            import contextlib

            self.gate = self.inst._held
            self.inst._held = contextlib.nullcontext()  # type: ignore[assignment]

    def query(self) -> None:
        if self.variant == "transport only":
            self.transport.write(b"*IDN?\n")
            self.transport.read_until(b"\n")
        else:
            self.inst.query("*IDN?")

    def close(self) -> None:
        if self.variant == "no Ctrl-C guard":
            self.inst._held = self.gate
        self.inst.close()


class PyvisaClient:
    """pyvisa-py's SOCKET session, ``Resource.query``."""

    def __init__(self, port: int) -> None:
        import pyvisa

        self.rm = pyvisa.ResourceManager("@py")
        res: Any = self.rm.open_resource(f"TCPIP::127.0.0.1::{port}::SOCKET")
        res.read_termination = "\n"
        res.write_termination = "\n"
        self.res = res

    def query(self) -> None:
        self.res.query("*IDN?")

    def close(self) -> None:
        self.res.close()
        self.rm.close()


def measure_queries(port: int, n: int, rounds: int) -> dict[str, list[float]]:
    """Round-robin batches over every path, so load changes on the machine hit all alike."""
    clients: dict[str, Any] = {
        "raw socket": RawClient(port),
        "driver base": DriverClient(port),
        "driver, no Ctrl-C guard": DriverClient(port, "no Ctrl-C guard"),
        "driver transport only": DriverClient(port, "transport only"),
        "pyvisa-py SOCKET": PyvisaClient(port),
    }
    out: dict[str, list[float]] = {name: [] for name in clients}
    perf = time.perf_counter
    batch = max(1, n // rounds)
    try:
        for _ in range(rounds):
            for name, client in clients.items():
                query = client.query
                times = out[name]
                for _ in range(batch):
                    t0 = perf()
                    query()
                    times.append(perf() - t0)
    finally:
        for client in clients.values():
            client.close()
    return out


def _block(samples: np.ndarray) -> bytes:
    data = samples.astype("<i2").tobytes()
    digits = str(len(data))
    return b"DATA:ARB:DAC w,#" + str(len(digits)).encode() + digits.encode() + data + b"\n"


class RawUploader:
    """The prebuilt message through ``sendall``, then ``*OPC?``."""

    def __init__(self, port: int, samples: np.ndarray) -> None:
        self.message = _block(samples)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def upload(self) -> None:
        self.sock.sendall(self.message)
        self.sock.sendall(b"*OPC?\n")
        data = self.sock.recv(16)
        while not data.endswith(b"\n"):
            data += self.sock.recv(16)

    def close(self) -> None:
        self.sock.close()


class DriverUploader:
    """``write_block`` straight from the numpy buffer, then ``*OPC?``."""

    def __init__(self, port: int, samples: np.ndarray) -> None:
        self.samples = samples
        self.inst = BenchInstrument(f"TCPIP::127.0.0.1::{port}::SOCKET", timeout_s=10.0)
        self.inst.connect()

    def upload(self) -> None:
        self.inst.write_block("DATA:ARB:DAC w,", self.samples.data, check=False)
        self.inst.wait_until_complete()

    def close(self) -> None:
        self.inst.close()


class PyvisaUploader:
    """pyvisa-py ``write_binary_values``, then ``query("*OPC?")``."""

    def __init__(self, port: int, samples: np.ndarray) -> None:
        import pyvisa

        self.samples = samples
        self.rm = pyvisa.ResourceManager("@py")
        res: Any = self.rm.open_resource(f"TCPIP::127.0.0.1::{port}::SOCKET", timeout=10000)
        res.read_termination = "\n"
        res.write_termination = "\n"
        self.res = res

    def upload(self) -> None:
        self.res.write_binary_values(
            "DATA:ARB:DAC w,", self.samples, datatype="h", is_big_endian=False
        )
        self.res.query("*OPC?")

    def close(self) -> None:
        self.res.close()
        self.rm.close()


def measure_uploads(port: int, samples: np.ndarray, n: int) -> dict[str, list[float]]:
    """One upload per path in turn, ``n`` turns."""
    clients: dict[str, Any] = {
        "raw socket": RawUploader(port, samples),
        "driver base": DriverUploader(port, samples),
        "pyvisa-py SOCKET": PyvisaUploader(port, samples),
    }
    out: dict[str, list[float]] = {name: [] for name in clients}
    try:
        for _ in range(n):
            for name, client in clients.items():
                t0 = time.perf_counter()
                client.upload()
                out[name].append(time.perf_counter() - t0)
    finally:
        for client in clients.values():
            client.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=20000)
    parser.add_argument("--uploads", type=int, default=40)
    parser.add_argument("--samples", type=int, default=4 * 1024 * 1024)
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    port_queue: Any = ctx.Queue()
    server = ctx.Process(target=_serve, args=(port_queue,), daemon=True)
    server.start()
    port = port_queue.get(timeout=30)
    try:
        rng = np.random.default_rng(0)
        samples = rng.integers(-32767, 32768, args.samples).astype(np.int16)
        nbytes = samples.nbytes
        n = args.queries
        lat = measure_queries(port, n, rounds=max(1, n // 20))
        up = measure_uploads(port, samples, args.uploads)
    finally:
        server.terminate()
        server.join(5)

    raw_med, _ = _stats(lat["raw socket"])
    print(f"*IDN? round trip, {n} queries each (µs)")
    print("| path | median | p99 | × raw |\n|---|---:|---:|---:|")
    for name, samples_s in lat.items():
        med, p99 = _stats(samples_s)
        print(f"| {name} | {med * 1e6:.1f} | {p99 * 1e6:.1f} | {med / raw_med:.2f} |")
    raw_up, _ = _stats(up["raw socket"])
    print(f"\nUpload of {nbytes / 1e6:.1f} MB (int16 block + *OPC?), {args.uploads} uploads each")
    print("| path | median time (ms) | MB/s | % of raw |\n|---|---:|---:|---:|")
    for name, samples_s in up.items():
        med, _ = _stats(samples_s)
        print(
            f"| {name} | {med * 1e3:.2f} | {nbytes / med / 1e6:.0f} | {100 * raw_up / med:.0f} % |"
        )
    drv_lat = _stats(lat["driver base"])[0] / raw_med
    drv_up = raw_up / _stats(up["driver base"])[0]
    print(
        f"\nTargets: latency ≤ 1.30 × raw: {drv_lat:.2f} × "
        f"({'met' if drv_lat <= 1.3 else 'MISSED'}); throughput ≥ 80 % of raw: "
        f"{100 * drv_up:.0f} % ({'met' if drv_up >= 0.8 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
