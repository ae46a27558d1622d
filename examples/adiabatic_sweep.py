"""Adiabatic preparation of an antiferromagnetic state on AnalogDevice.

Ω rises (PCHIP-interpolated), Δ sweeps from −Δ0 to +Δ0 with Ω held, then Ω falls: the pulse
shapes of Pulser's AFM tutorial. Run: ``python examples/adiabatic_sweep.py [OUT_DIR]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from sequencer import (
    AnalogDevice,
    CompositeWaveform,
    ConstantWaveform,
    InterpolatedWaveform,
    Pulse,
    RampWaveform,
    Register,
    Sequence,
    sample,
)


def build() -> Sequence:
    """The sequence: 3×3 square register with 6 µm spacing, one 4 µs sweep."""
    omega_max = 2 * np.pi * 1.8  # rad/µs, below AnalogDevice's 2π·2 MHz
    delta_0 = 2 * np.pi * 5.0  # rad/µs
    register = Register.square(3, spacing=6.0).centered()
    seq = Sequence(register, AnalogDevice)
    seq.declare_channel("ising", "rydberg_global")
    rise, sweep, fall = 800, 2400, 800  # ns, multiples of the 4 ns clock
    amplitude = CompositeWaveform(
        InterpolatedWaveform(rise, [0.0, omega_max * 0.3, omega_max]),
        ConstantWaveform(sweep, omega_max),
        InterpolatedWaveform(fall, [omega_max, omega_max * 0.3, 0.0]),
    )
    detuning = CompositeWaveform(
        ConstantWaveform(rise, -delta_0),
        RampWaveform(sweep, -delta_0, delta_0),
        ConstantWaveform(fall, delta_0),
    )
    seq.add(Pulse(amplitude, detuning, 0.0), "ising")
    seq.measure("ground-rydberg")
    return seq


def main(out: Path | None = None) -> None:
    """Build, sample and (with ``out``) draw the sequence and save its samples."""
    seq = build()
    sampled = sample(seq, modulation=True)
    ch = sampled.channels["ising"]
    area = np.sum(ch.amplitude) * 1e-3
    print(f"{len(seq.register)} atoms, {seq.get_duration()} ns, pulse area {area:.3f} rad")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        seq.draw(modulation=True).savefig(out / "adiabatic_sweep.png", dpi=80)
        sampled.save_npz(out / "adiabatic_sweep.npz")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
