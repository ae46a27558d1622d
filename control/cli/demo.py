"""``atomstack demo``: one virtual shot, from a pulse sequence to bitstrings.

Builds, validates, samples and draws an adiabatic Z2 sweep on a 3×3 register, compiles it for
the example hardware (AWG codes, step table, TTL table), decodes what the AWG would play back
into Ω, Δ, φ through the AOM model, and runs the Rydberg simulator on that — so the
bitstrings come from the bytes the instruments would receive, compared with simulating the
requested pulses directly.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sequencer import SampledSequence

#: The example hardware description and calibration shipped with the source tree.
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` sub-command."""
    p = sub.add_parser(
        "demo", help="one virtual shot: sequence → compiled AWG program → simulated atoms"
    )
    p.add_argument("-o", "--out", type=Path, default=Path("out"), help="output folder")
    p.add_argument(
        "--no-modulation",
        action="store_true",
        help="samples.npz and sequence.png hold the ideal pulses, not the AOM-limited output",
    )
    p.add_argument(
        "--hardware",
        type=Path,
        default=EXAMPLES / "hardware.toml",
        help="hardware description TOML (default: examples/hardware.toml)",
    )
    p.add_argument(
        "--calibration",
        type=Path,
        default=EXAMPLES / "calibration.toml",
        help="compiler calibration TOML (default: examples/calibration.toml)",
    )
    p.add_argument("--shots", type=int, default=1000, help="bitstrings to sample (default 1000)")
    p.add_argument("--seed", type=int, default=7, help="seed of every random draw (default 7)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the shot's files into ``args.out`` and print a summary.

    register.png, sequence.png, samples.npz, sequence.json (the pulse level); program.npz
    and program.png (the compiled AWG program, decoded against requested); result.json and
    probabilities.png (bitstring probabilities via the hardware and direct, sampled shots).
    """
    import numpy as np

    from control.cli import CliError
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
    if args.shots < 0:
        raise CliError(f"--shots must be ≥ 0, got {args.shots}")
    shot = _virtual_shot(sample(seq), args, device.interaction_coeff)
    print(
        f"program:  {shot['program']['segments']} segments, {shot['program']['steps']} steps, "
        f"{shot['program']['played_samples']} samples played from "
        f"{shot['program']['stored_samples']} stored; round trip max |ΔΩ| "
        f"{shot['round_trip']['rabi_rad_per_us']:.3g} rad/us, |Δφ| "
        f"{shot['round_trip']['phase_rad']:.3g} rad"
    )
    top = list(shot["probabilities_via_hardware"].items())[:3]
    print(
        "atoms:    most likely "
        + ", ".join(f"{b} ({p:.3f})" for b, p in top)
        + f"; max |Δp| hardware vs direct {shot['max_abs_probability_difference']:.2g}"
    )
    counts = sorted(shot["counts"].items(), key=lambda kv: -kv[1])[:3]
    print(
        f"shots:    {args.shots} with readout errors, seed {args.seed}: "
        + ", ".join(f"{b} × {n}" for b, n in counts)
    )
    print(f"wrote:    {', '.join(sorted(p.name for p in out.iterdir()))} -> {out}")
    return 0


def _virtual_shot(sampled: SampledSequence, args: argparse.Namespace, c6: float) -> dict[str, Any]:
    """Compile, decode and simulate ``sampled``; write program/result files; return the result."""
    from control.cli import CliError
    from sequencer.compiler import (
        CompactSequence,
        compile_sequence,
        decode,
        load_calibration,
        load_hardware,
        round_trip_error,
    )
    from sequencer.compiler.plot import plot_program
    from sequencer.errors import SequenceError
    from virtual_device.rydberg import NoiseModel, simulate

    out: Path = args.out
    try:
        hardware = load_hardware(args.hardware)
        calibration = load_calibration(args.calibration)
        compact = CompactSequence.from_sampled(sampled, hardware.min_hold_ns)
        program = compile_sequence(compact, hardware, calibration, pre_emphasis=True)
    except (SequenceError, OSError) as exc:
        raise CliError(f"{exc} (hardware {args.hardware}, calibration {args.calibration})") from exc
    program.save_npz(out / "program.npz")
    decoded = decode(program, hardware, calibration)
    plot_program(program, compact, decoded).savefig(out / "program.png", dpi=100)
    err = round_trip_error(compact, decoded)

    # The atoms see what the AWG plays: decoded through the AOM response and rise time.
    spam = NoiseModel(state_prep_error=0.0, p_false_pos=0.01, p_false_neg=0.05)
    # tolerance bounds ‖ψ − ψ_exact‖ (probabilities are off by ≲ 2× it; far below Δp here)
    via_hw = simulate(
        decoded.to_sampled(), interaction_coeff=c6, noise=spam, seed=args.seed, tolerance=1e-4
    )
    direct = simulate(sampled, interaction_coeff=c6, seed=args.seed, tolerance=1e-4)
    p_hw = via_hw.bitstring_probabilities(measurement_errors=False, min_probability=1e-4)
    p_direct = direct.bitstring_probabilities(measurement_errors=False, min_probability=1e-4)
    keys = set(p_hw) | set(p_direct)
    diff = max(abs(p_hw.get(k, 0.0) - p_direct.get(k, 0.0)) for k in keys)
    counts = via_hw.sample_shots(args.shots, rng=args.seed)
    budget = program.budget
    result: dict[str, Any] = {
        "program": {
            "segments": budget.segments,
            "steps": budget.steps,
            "stored_samples": budget.total_segment_samples,
            "played_samples": budget.total_played_samples,
        },
        "round_trip": {
            "rabi_rad_per_us": err.rabi_rad_per_us,
            "detuning_rad_per_us": err.detuning_rad_per_us,
            "phase_rad": err.phase_rad,
        },
        "probabilities_via_hardware": p_hw,
        "probabilities_direct": p_direct,
        "max_abs_probability_difference": diff,
        "final_occupations": [float(v) for v in via_hw.occupations[-1]],
        "counts": dict(counts),
        "readout_errors": {"p_false_pos": spam.p_false_pos, "p_false_neg": spam.p_false_neg},
        "simulation_error_estimate": max(via_hw.error_estimate, direct.error_estimate),
        "seed": args.seed,
    }
    (out / "result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    _plot_probabilities(p_hw, p_direct, counts, args.shots).savefig(
        out / "probabilities.png", dpi=100
    )
    return result


def _plot_probabilities(
    via_hw: dict[str, float], direct: dict[str, float], counts: Counter[str], shots: int
) -> Figure:
    """Bar chart of the ten likeliest bitstrings: via hardware, direct, sampled shots."""
    import numpy as np
    from matplotlib.figure import Figure

    labels = list(via_hw)[:10]
    x = np.arange(len(labels))
    fig = Figure(figsize=(9, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(x - 0.27, [via_hw[k] for k in labels], 0.27, label="via compiled AWG program")
    ax.bar(x, [direct.get(k, 0.0) for k in labels], 0.27, label="requested pulses")
    if shots:
        ax.bar(
            x + 0.27,
            [counts.get(k, 0) / shots for k in labels],
            0.27,
            label=f"{shots} shots (readout errors)",
        )
    ax.set_xticks(x, labels, rotation=45, ha="right", family="monospace")
    ax.set_ylabel("probability")
    ax.set_title("bitstrings (first atom = leftmost bit, 1 = Rydberg)")
    ax.legend()
    return fig
