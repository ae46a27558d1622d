"""Digital (Raman) and local Rydberg pulses on DigitalAnalogDevice: a CZ-like schedule.

π/2 Raman pulses on two atoms, a 2π Rydberg pulse on the control with a π pulse on the
target around it, virtual-Z phase shifts, and the retarget timing the device imposes.
Run: ``python examples/local_addressing.py [OUT_DIR]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from sequencer import BlackmanWaveform, DigitalAnalogDevice, Pulse, Register, Sequence, sample


def build() -> Sequence:
    """Two atoms 5 µm apart; Raman and local Rydberg channels."""
    register = Register.from_coordinates(np.array([[0.0, 0.0], [5.0, 0.0]]), prefix="q")
    seq = Sequence(register, DigitalAnalogDevice)
    seq.declare_channel("raman", "raman_local", initial_target="q0")
    seq.declare_channel("ryd", "rydberg_local", initial_target="q0")
    half_pi = Pulse.ConstantDetuning(BlackmanWaveform(200, np.pi / 2), 0.0, 0.0)
    seq.add(half_pi, "raman")
    seq.target("q1", "raman")
    seq.add(half_pi, "raman")
    seq.align("raman", "ryd")
    pi = Pulse.ConstantDetuning(BlackmanWaveform(200, np.pi), 0.0, 0.0)
    two_pi = Pulse.ConstantDetuning(BlackmanWaveform(400, 2 * np.pi), 0.0, 0.0)
    seq.add(pi, "ryd")
    seq.target("q1", "ryd")
    seq.add(two_pi, "ryd")
    seq.target("q0", "ryd")
    seq.add(pi, "ryd")
    seq.phase_shift(np.pi, "q1", basis="digital")
    seq.align("raman", "ryd")
    seq.add(half_pi, "raman")
    seq.measure("digital")
    return seq


def main(out: Path | None = None) -> None:
    """Build and sample; with ``out`` also draw and save."""
    seq = build()
    sampled = sample(seq)
    for name, ch in sampled.channels.items():
        targets = [",".join(sorted(s.targets)) for s in ch.slots]
        print(
            f"{name}: {len(ch.slots)} pulses on {targets}, "
            f"area {np.sum(ch.amplitude) * 1e-3:.3f} rad"
        )
    print(f"total {seq.get_duration()} ns")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        seq.draw().savefig(out / "local_addressing.png", dpi=80)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
