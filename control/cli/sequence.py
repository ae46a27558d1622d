"""``atomstack sequence``: validate, sample and draw sequence files (ours or Pulser's JSON)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from control.cli import CliError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sequencer.sampled import SampledSequence
    from sequencer.sequence import Sequence

NPZ_KEYS_HELP = """\
keys of SAMPLES.npz (every time series on a 1 ns grid; sample k holds [k, k+1) ns):
  {channel}/amplitude      Ω(t) of a declared channel, rad/µs, shape (T,)
  {channel}/detuning       Δ(t), rad/µs, shape (T,)
  {channel}/phase          φ(t), rad, shape (T,)
  atoms/{basis}/amplitude  per-atom |Σ Ω_c e^{iφ_c}|, rad/µs, shape (N, T), rows in atom_ids order
  atoms/{basis}/detuning   per-atom Σ Δ_c, rad/µs, shape (N, T)
  atoms/{basis}/phase      per-atom arg Σ Ω_c e^{iφ_c}, rad, shape (N, T)
  atom_ids                 atom ids in register order, shape (N,)
  __meta__                 JSON: register, device_name, measurement_basis, duration_ns, units,
                           and per channel its basis, addressing and target slots
                           [start_ns, stop_ns, [atom ids]]
Read back with sequencer.SampledSequence.load_npz(path)."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``sequence`` sub-command and its ``validate``, ``sample`` and ``draw`` actions."""
    p = sub.add_parser(
        "sequence",
        help="validate, sample or draw a sequence JSON file (atomstack's or Pulser's)",
        description=(
            "Work on sequence files: atomstack's own JSON or Pulser's abstract "
            "representation (detected from the document)."
        ),
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("file", type=Path, metavar="FILE.json", help="the sequence file")
        q.add_argument(
            "--var",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help=(
                "value of a variable of a parametrised sequence (repeatable); "
                "arrays as comma-separated lists, e.g. --var amps=1.0,2.5"
            ),
        )

    q = actions.add_parser(
        "validate",
        help="check a sequence against its device and print a summary",
        description=(
            "Load the sequence, build it with the given variables and check it against "
            "its device. Prints device, atoms, channels, duration and measured basis. "
            "Exit 0 when valid, 2 with the reason when not."
        ),
    )
    common(q)
    q.set_defaults(func=run_validate)

    q = actions.add_parser(
        "sample",
        help="sample Ω, Δ, φ of every channel and atom on a 1 ns grid into an .npz file",
        description="Sample the sequence on a 1 ns grid and save the arrays as .npz.",
        epilog=NPZ_KEYS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(q)
    q.add_argument(
        "-o", "--out", type=Path, required=True, metavar="SAMPLES.npz", help="output file"
    )
    q.add_argument(
        "--modulation",
        action="store_true",
        help="apply each channel's modulation bandwidth (finite rise time) to the samples",
    )
    q.set_defaults(func=run_sample)

    q = actions.add_parser(
        "draw",
        help="plot Ω, Δ, φ of every channel (and the register) into an image",
        description="Plot the sampled Ω(t), Δ(t), φ(t) of every channel and the register.",
    )
    common(q)
    q.add_argument("-o", "--out", type=Path, required=True, metavar="FILE.png", help="image")
    q.add_argument(
        "--modulation", action="store_true", help="draw the modulated (band-limited) samples"
    )
    q.set_defaults(func=run_draw)


# -- handlers ------------------------------------------------------------------------------


def run_validate(args: argparse.Namespace) -> int:
    """Load, build and sample the sequence; print a summary."""
    seq = _load_built(args)
    sampled = _sample(seq, modulation=False)
    channels = ", ".join(
        f"{name} ({channel_id})" for name, channel_id in seq.declared_channel_ids.items()
    )
    print(f"valid sequence: {args.file}")
    print(f"  device:    {_device_name(seq)}")
    print(f"  atoms:     {len(seq.register)} ({', '.join(seq.register.ids)})")
    print(f"  channels:  {channels or 'none'}")
    print(f"  duration:  {sampled.duration_ns} ns")
    print(f"  measured:  {sampled.measurement_basis or 'not measured'}")
    return 0


def run_sample(args: argparse.Namespace) -> int:
    """Sample the sequence and save the arrays with ``SampledSequence.save_npz``."""
    seq = _load_built(args)
    sampled = _sample(seq, modulation=args.modulation)
    out: Path = args.out
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    try:
        sampled.save_npz(out)
    except OSError as exc:
        raise CliError(f"cannot write {str(out)!r}: {exc}") from exc
    # np.savez adds .npz when the name lacks it
    written = out if out.suffix == ".npz" else out.with_name(out.name + ".npz")
    print(
        f"sampled {len(sampled.channels)} channel(s), {len(sampled.register)} atom(s), "
        f"{sampled.duration_ns} ns -> {written}"
    )
    return 0


def run_draw(args: argparse.Namespace) -> int:
    """Plot the sampled channels and the register into an image file."""
    seq = _load_built(args)
    sampled = _sample(seq, modulation=args.modulation)
    fig = draw_sampled(sampled)
    out: Path = args.out
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(out, dpi=100)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot write {str(out)!r}: {exc}") from exc
    print(f"drew {len(sampled.channels)} channel(s), {sampled.duration_ns} ns -> {out}")
    return 0


def draw_sampled(sampled: SampledSequence) -> Figure:
    """A figure: the register, then Ω and Δ (rad/µs) and φ (rad) of each channel vs t (ns)."""
    import numpy as np
    from matplotlib.figure import Figure

    names = list(sampled.channels)
    rows = max(len(names), 1)
    fig = Figure(figsize=(10, 2.6 * rows + 0.5), layout="constrained")
    grid = fig.add_gridspec(rows, 3)
    reg_ax = fig.add_subplot(grid[0, 0])
    sampled.register.draw(ax=reg_ax)
    # A square view around the atoms, so a line or a single atom still shows (µm).
    coords = sampled.register.coords
    centre = (coords.max(axis=0) + coords.min(axis=0)) / 2
    half = float(np.max(coords.max(axis=0) - coords.min(axis=0))) / 2 + 3.0
    reg_ax.set_xlim(centre[0] - half, centre[0] + half)
    reg_ax.set_ylim(centre[1] - half, centre[1] + half)
    t = sampled.times_ns
    for row, name in enumerate(names):
        ch = sampled.channels[name]
        ax = fig.add_subplot(grid[row, 1:])
        ax.plot(t, ch.amplitude, color="tab:green", label="Ω (rad/µs)")
        ax.plot(t, ch.detuning, color="tab:purple", label="Δ (rad/µs)")
        ax.set_ylabel("rad/µs")
        ax.set_title(f"{name}: {ch.addressing} {ch.basis}", fontsize=9)
        phase_ax = ax.twinx()
        phase_ax.plot(t, ch.phase, color="tab:orange", lw=0.8, ls="--", label="φ (rad)")
        phase_ax.set_ylabel("φ (rad)")
        phase_ax.set_ylim(-0.3, 2 * np.pi + 0.3)
        for slot in ch.slots if ch.addressing == "Local" else ():
            ax.axvspan(slot.start_ns, slot.stop_ns, color="grey", alpha=0.08)
            mid = (slot.start_ns + slot.stop_ns) / 2
            ax.annotate(
                ",".join(sorted(slot.targets)),
                (mid, 1.0),
                xycoords=("data", "axes fraction"),
                ha="center",
                va="top",
                fontsize=7,
            )
        if row == rows - 1:
            ax.set_xlabel("t (ns)")
        handles = ax.get_legend_handles_labels()
        phase_handles = phase_ax.get_legend_handles_labels()
        ax.legend(handles[0] + phase_handles[0], handles[1] + phase_handles[1], fontsize=7)
        if not np.any(ch.amplitude) and not np.any(ch.detuning):
            ax.text(0.5, 0.5, "idle", transform=ax.transAxes, ha="center", color="grey")
    fig.suptitle(
        f"{sampled.device_name or 'sequence'}: {len(sampled.register)} atoms, "
        f"{sampled.duration_ns} ns"
    )
    return fig


# -- helpers -------------------------------------------------------------------------------


def parse_vars(items: list[str]) -> dict[str, Any]:
    """``["t=100", "amps=1,2.5"]`` → ``{"t": 100, "amps": [1, 2.5]}``."""
    values: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name or not text.strip():
            raise CliError(f"--var expects NAME=VALUE; got {item!r}")
        if name in values:
            raise CliError(f"variable {name!r} given twice")
        try:
            parts = [_number(p) for p in text.split(",")]
        except ValueError:
            raise CliError(
                f"--var {name}: {text!r} is not a number or a comma-separated list of numbers"
            ) from None
        values[name] = parts[0] if len(parts) == 1 and "," not in text else parts
    return values


def _number(text: str) -> int | float:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return float(text)


def _load_built(args: argparse.Namespace) -> Sequence:
    """Load ``args.file``, build it with ``--var`` values; user errors become CliError."""
    from sequencer.errors import SequenceError
    from sequencer.pulser_json import load_sequence

    values = parse_vars(args.var)
    path: Path = args.file
    if not path.is_file():
        raise CliError(f"no such file: {str(path)!r}")
    try:
        seq = load_sequence(path)
        declared = _declared_variables(seq)
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise CliError(
                f"unknown variable(s) {', '.join(unknown)}; the sequence declares "
                f"{', '.join(declared) or 'none'}"
            )
        if declared:
            missing = [v for v in declared if v not in values]
            if missing:
                raise CliError(
                    "the sequence is parametrised; missing value(s) for variable(s) "
                    f"{', '.join(missing)} (pass --var NAME=VALUE, arrays as comma lists)"
                )
            seq = seq.build(**values)
    except SequenceError as exc:
        raise CliError(f"{path}: {exc}") from exc
    return seq


def _sample(seq: Sequence, *, modulation: bool) -> SampledSequence:
    from sequencer.errors import SequenceError
    from sequencer.sampling import sample

    try:
        return sample(seq, modulation=modulation)
    except SequenceError as exc:
        raise CliError(str(exc)) from exc


def _declared_variables(seq: Sequence) -> list[str]:
    """Names of the variables the sequence declares, in declaration order."""
    return list(seq.declared_variables)


def _device_name(seq: Sequence) -> str:
    return str(getattr(seq.device, "name", seq.device))
