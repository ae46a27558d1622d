"""The ``atomstack`` command line.

Each sub-command lives in its own module under ``control.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (taking the parsed
arguments, returning an exit code). Modules import their heavy dependencies inside the
handler so that ``atomstack --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["CliError", "main"]

# The order here is the order in ``atomstack --help``.
_COMMAND_MODULES = (
    "control.cli.demo",
    "control.cli.sequence",
    "control.cli.emulate",
    "control.cli.simulate",
    "control.cli.compile",
)


class CliError(Exception):
    """A user error on the command line: printed without a traceback, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="atomstack",
        description="The open control stack for neutral-atom quantum computers.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"atomstack {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
