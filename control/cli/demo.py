"""``atomstack demo``: the main job on the virtual device, end to end."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` sub-command."""
    p = sub.add_parser("demo", help="run the example job on the virtual device")
    p.add_argument("-o", "--out", type=Path, default=Path("out"), help="output folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the example register and draw it into ``args.out``."""
    from sequencer import Register

    args.out.mkdir(parents=True, exist_ok=True)
    reg = Register.square(3, spacing=6.0)
    fig = reg.draw(blockade_radius=8.7)
    path = args.out / "register.png"
    fig.savefig(path, dpi=100)
    print(f"register: {len(reg)} atoms, min distance {reg.min_distance():.2f} µm -> {path}")
    return 0
