"""Shared inputs of the compiler benchmarks: a realistic 10 µs Rydberg sequence."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sequencer import ChannelSamples, Register, SampledSequence, TargetSlot
from sequencer.compiler import CompactSequence, HardwareConfig, load_calibration, load_hardware

ROOT = Path(__file__).resolve().parents[1]
CAL = load_calibration(ROOT / "examples" / "calibration.toml")


def hardware(sample_rate_hz: float) -> HardwareConfig:
    """The example hardware with the Rydberg AWG at ``sample_rate_hz``."""
    data = load_hardware(ROOT / "examples" / "hardware.toml").model_dump(mode="json")
    data["awgs"][0]["sample_rate_hz"] = sample_rate_hz
    return HardwareConfig.model_validate(data)


def rydberg_10us(register: Register | None = None) -> SampledSequence:
    """π/2 (Blackman-like sin²), a 4 µs adiabatic sweep, a phase-shifted π/2: 10 µs at 1 ns."""
    reg = register or Register.square(3, 5.0)
    parts_a, parts_d, parts_p = [], [], []

    def add(a: np.ndarray, d: np.ndarray, p: float) -> None:
        parts_a.append(a)
        parts_d.append(d)
        parts_p.append(np.full(len(a), p))

    t = np.arange(1000)
    add(12.0 * np.sin(np.pi * t / 1000) ** 2, np.zeros(1000), 0.0)
    add(np.zeros(500), np.zeros(500), 0.0)
    n = 4000
    t = np.arange(n)
    add(
        np.interp(t, [0, 800, 3200, n], [0, 9.0, 9.0, 0]),
        np.interp(t, [0, 800, 3200, n], [-25, -25, 25, 25]),
        0.0,
    )
    add(np.zeros(3500), np.zeros(3500), 0.0)
    t = np.arange(1000)
    add(12.0 * np.sin(np.pi * t / 1000) ** 2, np.zeros(1000), 1.2)
    a, d, p = (np.concatenate(x) for x in (parts_a, parts_d, parts_p))
    slot = (TargetSlot(0, len(a), frozenset(reg.ids)),)
    ch = ChannelSamples("rydberg_global", "ground-rydberg", "Global", a, d, p, slot)
    return SampledSequence(reg, {"rydberg_global": ch})


def with_holds(seq: SampledSequence, total_hold_ns: int) -> CompactSequence:
    """``seq`` followed by a dark wait of ``total_hold_ns`` (e.g. before imaging)."""
    return CompactSequence.from_sampled(seq).with_hold(total_hold_ns, amplitude_zero=True)
