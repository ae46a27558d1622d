"""``atomstack demo``: build, validate, sample and draw an example sequence."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` sub-command."""
    p = sub.add_parser("demo", help="build, sample and draw the example sequence")
    p.add_argument("-o", "--out", type=Path, default=Path("out"), help="output folder")
    p.add_argument(
        "--no-modulation",
        action="store_true",
        help="sample the ideal pulses instead of the AOM-limited output",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write register.png, sequence.png, samples.npz and sequence.json into ``args.out``."""
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

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    device = AnalogDevice
    omega = 2 * np.pi * 1.8  # rad/µs
    delta_0 = 2 * np.pi * 5.0  # rad/µs
    reg = Register.square(3, spacing=6.0).centered()
    device.validate_register(reg)

    seq = Sequence(reg, device)
    seq.declare_channel("ising", "rydberg_global")
    rise, sweep, fall = 800, 2400, 800  # ns
    seq.add(
        Pulse(
            CompositeWaveform(
                InterpolatedWaveform(rise, [0.0, 0.3 * omega, omega]),
                ConstantWaveform(sweep, omega),
                InterpolatedWaveform(fall, [omega, 0.3 * omega, 0.0]),
            ),
            CompositeWaveform(
                ConstantWaveform(rise, -delta_0),
                RampWaveform(sweep, -delta_0, delta_0),
                ConstantWaveform(fall, delta_0),
            ),
            0.0,
        ),
        "ising",
    )
    seq.measure("ground-rydberg")

    sampled = sample(seq, modulation=not args.no_modulation)
    blockade = device.rydberg_blockade_radius(omega)
    reg.draw(blockade_radius=blockade).savefig(out / "register.png", dpi=100)
    seq.draw(modulation=not args.no_modulation).savefig(out / "sequence.png", dpi=100)
    sampled.save_npz(out / "samples.npz")
    (out / "sequence.json").write_text(seq.to_json(), encoding="utf-8")

    ch = sampled.channels["ising"]
    print(f"device:   {device.name} (C6 = {device.interaction_coeff:.6g} rad/us·um^6)")
    print(
        f"register: {len(reg)} atoms, min distance {reg.min_distance():.2f} um, "
        f"blockade radius {blockade:.2f} um at Ω = {omega:.3g} rad/us"
    )
    print(
        f"sequence: {seq.get_duration()} ns, sampled {sampled.duration_ns} ns "
        f"({'with' if not args.no_modulation else 'without'} AOM modulation), "
        f"peak Ω {ch.amplitude.max():.3f} rad/us, "
        f"Δ {ch.detuning.min():.2f}..{ch.detuning.max():.2f} rad/us, "
        f"area {np.sum(ch.amplitude) * 1e-3:.3f} rad"
    )
    print(f"wrote:    {', '.join(sorted(p.name for p in out.iterdir()))} -> {out}")
    return 0
