"""``atomstack simulate``: evolve a sequence's atoms on the Rydberg simulator, write JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Literal

from control.cli import CliError

# Pulser NoiseModel fields we accept only when they are off (zero, empty or null).
_PULSER_FIELDS_OFF_ONLY = {
    "depolarizing_rate",
    "detuning_sigma",
    "detuning_hf_psd",
    "detuning_hf_omegas",
    "eff_noise_rates",
    "eff_noise_opers",
    "eff_noise",
    "trap_waist",
    "trap_depth",
    "dmm_sigma",
}
_PULSER_FIELDS_IGNORED = {"noise_types", "with_leakage", "disable_doppler", "version"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``simulate`` sub-command."""
    p = sub.add_parser(
        "simulate",
        help="simulate a sequence's Rydberg dynamics and write the result as JSON",
        description=(
            "Evolve the atoms of SEQUENCE (our JSON, Pulser's abstract representation, or a "
            "sampled .npz) from |g…g⟩ and write per-atom occupations, bitstring probabilities "
            "(first atom = leftmost bit, 1 = Rydberg), sampled counts and timing. A sequence "
            "with both Rydberg and Raman (digital) channels is simulated in the three-level "
            "g–h–r space (basis 'all'), measured in its measurement basis (1 = r, or 1 = h "
            "for 'digital'; unmeasured: 'digital', as Pulser); one with Raman channels only "
            "in the digital (g–h) basis (1 = h)."
        ),
    )
    p.add_argument("sequence", type=Path, help="SEQUENCE.json or a SampledSequence .npz")
    p.add_argument("-o", "--output", type=Path, required=True, help="RESULT.json to write")
    p.add_argument(
        "--subspace-cutoff",
        type=float,
        default=None,
        metavar="X",
        help="blockade subspace: drop states whose interaction energy exceeds X rad/µs",
    )
    p.add_argument(
        "--subspace-rule",
        choices=("energy", "pair"),
        default="energy",
        help="how --subspace-cutoff applies: to a state's total interaction energy (default) "
        "or to each doubly excited pair (a blockade radius: use it for 2D arrays)",
    )
    p.add_argument(
        "--symmetry",
        choices=("auto", "off"),
        default="auto",
        help="auto (default): evolve a subspace run in the register's symmetric sector "
        "(one amplitude per orbit of its rotations and reflections) under the symmetries "
        "that leave the drive unchanged, when nothing jumps; off: in every kept state",
    )
    p.add_argument("--shots", type=int, default=0, metavar="N", help="sample N shots")
    p.add_argument("--noise", type=Path, default=None, metavar="FILE", help="noise JSON")
    p.add_argument("--seed", type=int, default=None, help="seed for noise and shots")
    p.add_argument(
        "--tolerance", type=float, default=1e-6, help="bound on the state error (default 1e-6)"
    )
    p.add_argument(
        "--c6",
        type=float,
        default=None,
        help="interaction coefficient, rad/µs·µm⁶ (default: the sequence's device)",
    )
    p.add_argument(
        "--min-probability",
        type=float,
        default=1e-9,
        help="leave out bitstrings less likely than this (default 1e-9)",
    )
    p.add_argument(
        "--method",
        choices=("state-vector", "lindblad"),
        default="state-vector",
        help="state-vector (default; dephasing and relaxation by trajectories) or lindblad "
        "(the density matrix, exact master equation; at most 10 atoms, 6 with Raman channels)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _load_sampled(path: Path) -> Any:
    from sequencer import SampledSequence, SequenceError

    if not path.exists():
        raise CliError(f"{path}: no such file")
    if path.suffix == ".npz":
        try:
            return SampledSequence.load_npz(path)
        except (OSError, KeyError, ValueError, SequenceError) as exc:
            raise CliError(f"{path}: not a sampled-sequence file ({exc})") from exc
    import sequencer

    load = getattr(sequencer, "load_sequence", None)
    sample = getattr(sequencer, "sample", None)
    if load is None or sample is None:
        raise CliError(
            "reading sequence JSON needs sequencer.load_sequence and sequencer.sample, which "
            "this installation lacks; give a sampled .npz instead"
        )
    try:
        return sample(load(path))
    except SequenceError as exc:
        raise CliError(f"{path}: {exc}") from exc


def load_noise(path: Path) -> Any:
    """Read a noise JSON: our NoiseModel fields, or a Pulser NoiseModel's JSON."""
    from pydantic import ValidationError

    from virtual_device.rydberg import NoiseModel

    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CliError(f"{path}: cannot read noise JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise CliError(f"{path}: noise settings must be a JSON object")
    known = set(NoiseModel.model_fields)
    settings: dict[str, Any] = {}
    for key, value in data.items():
        if key in known:
            if value is not None:
                settings[key] = value
        elif key in _PULSER_FIELDS_IGNORED:
            continue
        elif key in _PULSER_FIELDS_OFF_ONLY:
            if value:
                raise CliError(f"{path}: noise setting {key!r} = {value!r} is not supported")
        else:
            raise CliError(f"{path}: unknown noise setting {key!r}; known: {sorted(known)}")
    try:
        return NoiseModel(**settings)
    except ValidationError as exc:
        raise CliError(f"{path}: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    """Simulate and write the result."""
    from virtual_device.errors import VirtualDeviceError
    from virtual_device.rydberg import simulate

    if args.shots < 0:
        raise CliError(f"--shots must be ≥ 0; got {args.shots}")
    sampled = _load_sampled(args.sequence)
    noise = load_noise(args.noise) if args.noise else None
    # Rydberg and Raman channels together: the three-level g–h–r simulation (Pulser's "all")
    # Raman channels alone: the two-level digital (g–h) simulation.
    bases = {ch.basis for ch in sampled.channels.values()}
    basis: Literal["all", "ground-rydberg", "digital"] = "ground-rydberg"
    if {"ground-rydberg", "digital"} <= bases:
        basis = "all"
    elif bases == {"digital"}:
        basis = "digital"
    try:
        result = simulate(
            sampled,
            basis=basis,
            interaction_coeff=args.c6,
            noise=noise,
            method=args.method,
            subspace_cutoff=args.subspace_cutoff,
            subspace_rule=args.subspace_rule,
            symmetry=args.symmetry,
            tolerance=args.tolerance,
            seed=args.seed,
            progress=False if args.no_progress else None,
        )
        shots = result.sample_shots(args.shots, rng=args.seed) if args.shots else None
        out = result.to_dict(min_probability=args.min_probability, shots=shots)
    except VirtualDeviceError as exc:
        raise CliError(str(exc)) from exc
    out["sequence"] = str(args.sequence)
    if noise is not None:
        out["noise"] = noise.model_dump()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=1))
    occ = ", ".join(f"{k}={v:.3f}" for k, v in list(out["final_occupations"].items())[:8])
    print(
        f"simulated {result.n_atoms} atoms over {int(result.times_ns[-1])} ns in "
        f"{result.wall_time_s:.2f} s (error estimate {result.error_estimate:.1e}); "
        f"occupations {occ}{' …' if result.n_atoms > 8 else ''} -> {args.output}"
    )
    return 0
