"""Pulser JSON import/export: atomstack's converter vs pulser-core's own, same documents.

Run: ``.venv/bin/python benchmarks/pulser_json.py [--pulses N] [--repeat R]``

One sequence of N pulses (alternating Blackman, ramp and interpolated waveforms on a global
Rydberg channel, with local Raman pulses and retargets in between) on DigitalAnalogDevice is
built with pulser-core, exported with ``to_abstract_repr()``, then in the same run:

* import: ``sequence_from_pulser_json`` (schema validation + replay through our Sequence)
  vs ``pulser.Sequence.from_abstract_repr`` (schema validation + replay through Pulser's);
* export: ``sequence_to_pulser_json`` (mapping + schema validation) vs Pulser's
  ``to_abstract_repr()`` (mapping + schema validation);
* validation alone: our ``validate_pulser_json`` (jsonschema, Draft 7) vs Pulser's
  ``validate_abstract_repr``.

Median of R runs each; ratio = ours / pulser (lower is faster).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pulser
from pulser.json.abstract_repr.validation import validate_abstract_repr
from pulser.waveforms import BlackmanWaveform, InterpolatedWaveform, RampWaveform

from sequencer.pulser_json import (
    sequence_from_pulser_json,
    sequence_to_pulser_json,
    validate_pulser_json,
)


def build(n_pulses: int) -> pulser.Sequence:
    reg = pulser.Register.rectangle(3, 4, spacing=6.0, prefix="q")
    seq = pulser.Sequence(reg, pulser.devices.DigitalAnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.declare_channel("ram", "raman_local", initial_target="q0")
    for k in range(n_pulses):
        kind = k % 4
        if kind == 0:
            pulse = pulser.Pulse.ConstantDetuning(BlackmanWaveform(400, np.pi / 2), -1.0, 0.0)
            seq.add(pulse, "ryd")
        elif kind == 1:
            pulse = pulser.Pulse(
                InterpolatedWaveform(300, [0.0, 4.0, 5.0, 0.0]),
                RampWaveform(300, -6.0, 6.0),
                0.3 * k,
            )
            seq.add(pulse, "ryd")
        elif kind == 2:
            seq.target(f"q{k % 12}", "ram")
            seq.add(pulser.Pulse.ConstantPulse(100, 3.0, 0.0, 0.0), "ram")
        else:
            seq.add(pulser.Pulse.ConstantPulse(120, 2.0, 1.0, 0.1), "ryd", "wait-for-all")
    seq.measure("ground-rydberg")
    return seq


def median_s(func: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pulses", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    pseq = build(args.pulses)
    text = pseq.to_abstract_repr()
    ours = sequence_from_pulser_json(text)
    rows = [
        (
            "import",
            median_s(lambda: sequence_from_pulser_json(text), args.repeat),
            median_s(lambda: pulser.Sequence.from_abstract_repr(text), args.repeat),
        ),
        (
            "export",
            median_s(lambda: sequence_to_pulser_json(ours), args.repeat),
            median_s(lambda: pseq.to_abstract_repr(), args.repeat),
        ),
        (
            "validate only",
            median_s(lambda: validate_pulser_json(text), args.repeat),
            median_s(lambda: validate_abstract_repr(text, "sequence"), args.repeat),
        ),
    ]
    print(
        f"{args.pulses} pulses, {len(text) / 1e3:.0f} kB of JSON, median of {args.repeat} "
        f"(pulser-core {pulser.__version__})"
    )
    print(f"{'step':<14} {'atomstack (ms)':>15} {'pulser-core (ms)':>17} {'ratio':>7}")
    for name, mine, theirs in rows:
        print(f"{name:<14} {mine * 1e3:>15.1f} {theirs * 1e3:>17.1f} {mine / theirs:>7.2f}")


if __name__ == "__main__":
    main()
