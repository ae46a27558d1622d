"""``atomstack compile``: a sequence → the AWG, AOM and TTL program of a hardware description."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sequencer import SampledSequence


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``compile`` sub-command."""
    p = sub.add_parser(
        "compile",
        help="compile a sequence into AWG segments, step tables and a TTL table",
        description=(
            "Compile SEQUENCE (our JSON or Pulser's abstract representation, or a sampled "
            "sequence .npz) for the hardware in --hardware and write the program as .npz."
        ),
    )
    p.add_argument("sequence", type=Path, help="sequence file (.json, or sampled .npz)")
    p.add_argument("--hardware", type=Path, required=True, help="hardware description (.toml)")
    p.add_argument("--calibration", type=Path, help="compiler calibration (.toml/.json)")
    p.add_argument("-o", "--out", type=Path, required=True, help="program .npz to write")
    p.add_argument("--pre-emphasis", action="store_true", help="invert the AOM rise time")
    p.add_argument(
        "--report", action="store_true", help="print size, error budget and round-trip error"
    )
    p.add_argument("--plot", type=Path, help="save RF and decoded-vs-requested figure here")
    p.set_defaults(func=run)


def _load_sampled(path: Path) -> SampledSequence:
    """A sampled ``.npz`` as is; a sequence JSON (ours or Pulser's) loaded and sampled."""
    from sequencer import SampledSequence, load_sequence, sample

    if path.suffix.lower() == ".npz":
        return SampledSequence.load_npz(path)
    return sample(load_sequence(path))


def run(args: argparse.Namespace) -> int:
    """Compile, write the program, and optionally report and plot."""
    from control.cli import CliError
    from sequencer.compiler import (
        CompactSequence,
        CompilerCalibration,
        compile_sequence,
        decode,
        load_calibration,
        load_hardware,
        round_trip_error,
    )
    from sequencer.errors import SequenceError

    try:
        hardware = load_hardware(args.hardware)
        calibration = (
            load_calibration(args.calibration)
            if args.calibration
            else CompilerCalibration.nominal(hardware)
        )
        sampled = _load_sampled(args.sequence)
        # local channels become one stream per addressing beam (``C@beam``)
        compact = CompactSequence.from_sampled(sampled, hardware.min_hold_ns, hardware=hardware)
        program = compile_sequence(compact, hardware, calibration, pre_emphasis=args.pre_emphasis)
    except (SequenceError, OSError) as exc:
        raise CliError(str(exc)) from exc
    program.save_npz(args.out)
    print(f"program -> {args.out}")
    decoded = None
    if args.report:
        b = program.budget
        print(
            f"size: {b.total_segment_samples} samples in memory, {b.total_played_samples} "
            f"played, {b.segments} segments, {b.steps} steps"
        )
        for awg in program.awgs.values():
            print(
                f"  {awg.awg}: {len(awg.segments)} segments, {len(awg.steps)} steps, "
                f"start {awg.start_ns:.1f} ns, {awg.sample_rate_hz / 1e6:g} MS/s"
            )
        for ch in b.channels:
            print(
                f"  {ch.channel} via {ch.aom}: peak {ch.peak_rf_amplitude_v:.4f} V of "
                f"{ch.rf_amplitude_limit_v} V, codes <= {ch.max_code}/{ch.code_limit}, "
                f"quantisation <= {ch.max_quantisation_codes:.3f} LSB "
                f"(Ω {ch.rabi_quantisation_rad_per_us:.2e} rad/µs), latency rounding "
                f"{ch.latency_rounding_ns:.3f} ns, hold tone error {ch.hold_frequency_error_hz:.3g}"
                f" Hz (Δ {ch.hold_detuning_error_rad_per_us:.2e} rad/µs, phase drift over the "
                f"longest lit hold {ch.hold_phase_drift_rad:.2e} rad), pre-emphasis "
                f"undershoot clipped at 0 V on {ch.pre_emphasis_clipped_samples} samples"
            )
        decoded = decode(program, hardware, calibration)
        err = round_trip_error(compact, decoded)
        print(
            f"round trip (decode vs request, lit samples): max |ΔΩ| = {err.rabi_rad_per_us:.4g} "
            f"rad/µs, max |ΔΔ| = {err.detuning_rad_per_us:.4g} rad/µs, max |Δφ| = "
            f"{err.phase_rad:.4g} rad"
        )
    if args.plot:
        from sequencer.compiler.plot import plot_program

        if decoded is None:
            decoded = decode(program, hardware, calibration)
        fig = plot_program(program, compact, decoded)
        fig.savefig(args.plot, dpi=100)
        print(f"figure -> {args.plot}")
    return 0
