"""Regenerate ``local_rydberg.json``: local Rydberg pulses for the addressing beams.

Three atoms on a 5 µm row (the sites of ``examples/hardware_addressed.toml``), on
DigitalAnalogDevice: a π pulse on q0, then (retargeted) a π pulse under a detuning sweep
on q1 — blockaded by q0 — and a π pulse with a phase on q2. Compile it with

    atomstack compile examples/sequences/local_rydberg.json \\
        --hardware examples/hardware_addressed.toml \\
        --calibration examples/calibration_addressed.toml -o p.npz --pre-emphasis --report

    .venv/bin/python examples/sequences/make_local_example.py [OUT_DIR]
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

register = Register.line(3, spacing=5.0).centered()
seq = Sequence(register, get_device("DigitalAnalogDevice"))
seq.declare_channel("ryd", "rydberg_local", initial_target="q0")

seq.add(Pulse.ConstantDetuning(BlackmanWaveform(400, np.pi), 0.0, 0.0), "ryd")
seq.target("q1", "ryd")
seq.add(Pulse(BlackmanWaveform(600, np.pi), RampWaveform(600, -6.0, 6.0), 0.0), "ryd")
seq.target("q2", "ryd")
seq.add(Pulse.ConstantDetuning(BlackmanWaveform(400, np.pi), 2.0, 0.8), "ryd")
seq.measure("ground-rydberg")

out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
out = out_dir / "local_rydberg.json"
out.write_text(dump_sequence(seq, format="atomstack"))
print(f"wrote {out}")
