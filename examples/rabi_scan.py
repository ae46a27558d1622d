"""A parametrised Rabi-duration scan: one sequence with a variable, built per point.

Also writes the sequence in our JSON format and reads it back. Run:
``python examples/rabi_scan.py [OUT_DIR]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from sequencer import AnalogDevice, Pulse, Register, Sequence, sample


def build() -> Sequence:
    """One atom; a constant pulse whose duration is the variable ``t`` (ns)."""
    seq = Sequence(Register.from_coordinates(np.zeros((1, 2)), prefix="q"), AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    t = seq.declare_variable("t", dtype=int)
    seq.add(Pulse.ConstantPulse(t, 2 * np.pi * 1.0, 0.0, 0.0), "ryd")
    seq.measure("ground-rydberg")
    return seq


def main(out: Path | None = None) -> None:
    """Build the scan points and print the pulse area of each."""
    seq = build()
    restored = Sequence.from_json(seq.to_json())
    assert restored.calls == seq.calls
    for duration in range(100, 1100, 200):
        sampled = sample(restored.build(t=duration))
        area = np.sum(sampled.channels["ryd"].amplitude) * 1e-3
        print(f"t = {duration:4d} ns: area {area / np.pi:.2f} π")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "rabi_scan.json").write_text(seq.to_json(), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
