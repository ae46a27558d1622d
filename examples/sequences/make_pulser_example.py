"""Regenerate ``pulser_made.json`` with pulser-core (needs the ``test`` extra).

An adiabatic preparation of an antiferromagnetic state on a 3×3 square array, written the
way a Pulser user would write it, exported with Pulser's ``to_abstract_repr()``.

    .venv/bin/python examples/sequences/make_pulser_example.py [OUT_DIR]
"""

import sys
from pathlib import Path

import numpy as np
import pulser
from pulser.devices import DigitalAnalogDevice
from pulser.waveforms import InterpolatedWaveform, RampWaveform

register = pulser.Register.square(3, spacing=6.0, prefix="q")
seq = pulser.Sequence(register, DigitalAnalogDevice)
seq.declare_channel("ising", "rydberg_global")

omega_max = 2 * np.pi * 1.8  # rad/µs
delta_0, delta_f = -2 * np.pi * 5.0, 2 * np.pi * 3.0  # rad/µs
rise, sweep, fall = 252, 1500, 500  # ns

seq.add(pulser.Pulse.ConstantDetuning(RampWaveform(rise, 0.0, omega_max), delta_0, 0.0), "ising")
seq.add(
    pulser.Pulse(
        InterpolatedWaveform(sweep, [omega_max, omega_max * 0.9, omega_max]),
        RampWaveform(sweep, delta_0, delta_f),
        0.0,
    ),
    "ising",
)
seq.add(pulser.Pulse.ConstantDetuning(RampWaveform(fall, omega_max, 0.0), delta_f, 0.0), "ising")
seq.measure("ground-rydberg")

out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
out = out_dir / "pulser_made.json"
out.write_text(seq.to_abstract_repr(seq_name="adiabatic-afm-3x3", json_dumps_options={"indent": 1}))
print(f"wrote {out}")
