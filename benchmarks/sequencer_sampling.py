"""Build + sample time of a sequence: atomstack vs pulser-core, same sequence, same machine.

Run: ``.venv/bin/python benchmarks/sequencer_sampling.py``. Prints a table with ratios.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pulser
from pulser.devices import AnalogDevice as PulserAnalog
from pulser.devices import DigitalAnalogDevice as PulserDigitalAnalog
from pulser.sampler import sample as pulser_sample

from sequencer import AnalogDevice, DigitalAnalogDevice, Pulse, Register, Sequence, sample
from sequencer import waveforms as ours_wf

COORDS = np.array([[6.0 * i, 6.0 * j] for i in range(3) for j in range(3)]) - 6.0


def analog(n_pulses: int, modulation: bool) -> Callable[[Any, Any, Any, Any], Any]:
    def run(seq: Any, w: Any, p: Any, sampler: Any) -> Any:
        seq.declare_channel("ryd", "rydberg_global")
        for k in range(n_pulses):
            seq.add(
                p(
                    w.InterpolatedWaveform(200, [0.0, 8.0, 3.0, 0.0]),
                    w.RampWaveform(200, -10.0, 10.0),
                    0.5 * (k % 3),
                ),
                "ryd",
            )
        return sampler(seq, modulation=modulation)

    return run


def local(n_pulses: int) -> Callable[[Any, Any, Any, Any], Any]:
    def run(seq: Any, w: Any, p: Any, sampler: Any) -> Any:
        seq.declare_channel("g", "rydberg_global")
        seq.declare_channel("ram", "raman_local", initial_target="q0")
        for k in range(n_pulses):
            seq.target(f"q{k % 9}", "ram")
            seq.add(p.ConstantDetuning(w.BlackmanWaveform(100, 1.0), 0.0, 0.0), "ram")
            seq.add(p.ConstantPulse(40, 5.0, 0.0, 0.0), "g")
        return sampler(seq)

    return run


def _runner(
    case: Callable[[Any, Any, Any, Any], Any],
    new_seq: Callable[[], Any],
    w: Any,
    p: Any,
    sampler: Any,
) -> Callable[[], Any]:
    """A no-argument call that builds a fresh sequence and samples it."""

    def run() -> Any:
        return case(new_seq(), w, p, sampler)

    return run


def timed(func: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ours_reg = Register.from_coordinates(COORDS, prefix="q")
    their_reg = pulser.Register.from_coordinates(COORDS, prefix="q")
    cases = [
        ("AnalogDevice, 10 pulses", analog(10, False), AnalogDevice, PulserAnalog, 5),
        ("AnalogDevice, 10 pulses, modulated", analog(10, True), AnalogDevice, PulserAnalog, 5),
        (
            "DigitalAnalog global, 300 pulses",
            analog(300, False),
            DigitalAnalogDevice,
            PulserDigitalAnalog,
            3,
        ),
        ("local + global, 2x50 pulses", local(50), DigitalAnalogDevice, PulserDigitalAnalog, 3),
    ]
    print(f"{'case':36s} {'atomstack (ms)':>15s} {'pulser (ms)':>12s} {'pulser/ours':>12s}")
    for name, case, dev, pdev, repeat in cases:
        ours = timed(
            _runner(case, partial(Sequence, ours_reg, dev), ours_wf, Pulse, sample), repeat
        )
        theirs = timed(
            _runner(
                case,
                partial(pulser.Sequence, their_reg, pdev),
                pulser,
                pulser.Pulse,
                pulser_sample,
            ),
            repeat,
        )
        print(f"{name:36s} {ours * 1e3:15.1f} {theirs * 1e3:12.1f} {theirs / ours:12.2f}")


if __name__ == "__main__":
    main()
