"""Regenerate ``atomstack_made.json``: a sequence written with atomstack's API, our own JSON.

A global Rydberg π/2 pulse on a 4-atom line, a delay, then a local Raman pulse on one atom
after a phase shift, on DigitalAnalogDevice.

    .venv/bin/python examples/sequences/make_atomstack_example.py [OUT_DIR]
"""

import sys
from pathlib import Path

import numpy as np

from sequencer import (
    BlackmanWaveform,
    Pulse,
    RampWaveform,
    Register,
    Sequence,
    dump_sequence,
    get_device,
)

register = Register.line(4, spacing=6.0)
seq = Sequence(register, get_device("DigitalAnalogDevice"))
seq.declare_channel("rydberg", "rydberg_global")
seq.declare_channel("raman", "raman_local", initial_target="q1")

seq.add(Pulse.ConstantDetuning(BlackmanWaveform(400, np.pi / 2), 0.0, 0.0), "rydberg")
seq.delay(100, "rydberg")
seq.add(
    Pulse.ConstantAmplitude(2 * np.pi * 1.0, RampWaveform(600, -8.0, 8.0), np.pi / 4),
    "rydberg",
)
seq.phase_shift(np.pi / 3, "q1")
seq.add(Pulse.ConstantPulse(200, 2 * np.pi * 2.0, 0.0, 0.0), "raman", protocol="wait-for-all")
seq.align("rydberg", "raman")
seq.measure("ground-rydberg")

out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
out = out_dir / "atomstack_made.json"
out.write_text(dump_sequence(seq, format="atomstack"))
print(f"wrote {out}")
