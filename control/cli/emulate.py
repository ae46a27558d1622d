"""``atomstack emulate INSTRUMENT [--port N | --pty]``: serve one emulated instrument.

Prints the resource string(s) to connect to (one ``name: value`` line each, ``resource``
first, then e.g. ``device_path`` or ``frames``), flushes, and serves until Ctrl-C or
SIGTERM, then stops the emulator (closing its sockets and pty) and exits 0. Outside
clients (plain pyvisa, pyserial, a terminal, a vendor's example script) can talk to it with
the real command set.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from control.cli import CliError

_NAMES = (
    "keysight33600a",
    "windfreak_synthhd",
    "coherent_obis",
    "toptica_dlcpro",
    "thorlabs_pm100d",
    "hamamatsu_orca",
    "slm_bridge",
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``emulate`` sub-command."""
    p = sub.add_parser(
        "emulate",
        help="serve one emulated instrument on 127.0.0.1 or a pseudo-terminal",
        description="Serve one emulated instrument until Ctrl-C / SIGTERM; prints the "
        "resource string to connect to.",
    )
    p.add_argument(
        "instrument", choices=_NAMES, metavar="INSTRUMENT", help="one of: " + ", ".join(_NAMES)
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--port", type=int, default=None, help="serve on TCP 127.0.0.1:PORT (0 = a free port)"
    )
    where.add_argument(
        "--pty", action="store_true", help="serve on a new pseudo-terminal (/dev/pts/N)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the emulator's randomness")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the emulator, print its endpoints, serve until a signal arrives."""
    from virtual_device.errors import EmulatorError
    from virtual_device.instruments import EMULATORS, Transport

    cls = EMULATORS[args.instrument]
    if args.port is not None and not 0 <= args.port <= 65535:
        raise CliError(f"--port {args.port}: allowed is 0…65535 (0 = a free port)")
    transport: Transport | None = "pty" if args.pty else ("tcp" if args.port is not None else None)
    try:
        emulator = cls(transport=transport, port=args.port or 0, seed=args.seed)
        emulator.start()
    except EmulatorError as exc:
        raise CliError(str(exc)) from exc

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for key, value in emulator.endpoints.items():
            print(f"{key}: {value}")
        print(f"serving {args.instrument}; stop with Ctrl-C or SIGTERM", file=sys.stderr)
        sys.stdout.flush()
        while not stop.wait(0.2):
            pass
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
