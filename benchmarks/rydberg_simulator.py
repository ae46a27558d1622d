"""Rydberg simulator vs pulser-simulation (QuTiP) on the Z2 adiabatic sweep.

Case: open chains at 5.5 µm and squares at 6 µm, AnalogDevice C6 = 865723.02 rad/µs·µm⁶,
global drive Ω: 0 → 2π·2 MHz → 0 (0.5 / 3 / 0.5 µs ramps/plateau) while Δ: −2π·6 → +2π·6 MHz
(constant, linear, constant), sampled by pulser-core (a ramp reaches its end value on its last
1 ns sample). Every case runs in its own process (peak memory = its ru_maxrss); timings are
simulation only (sequence building and sampling excluded, for both; pulser's Hamiltonian
construction in ``QutipEmulator.from_sequence`` is excluded, and so is our one-off loading of the
compiled kernels from numba's cache, done by a 20 ns run first and listed as "load s").
Ours runs with ``threads="auto"`` unless ``--threads`` says otherwise.

Accuracy: max |Δp| over all bitstrings against a converged reference (our simulator at a
tolerance 1e-9 ⇒ |Δp| ≤ 2e-9), where that reference is affordable; pulser's own deviation from
the same reference is listed too.

    .venv/bin/python benchmarks/rydberg_simulator.py                # default table
    .venv/bin/python benchmarks/rydberg_simulator.py --cases chain16 chain20 sub_chain20_nn

After the table, each target of the issue whose case ran gets a line: met, or missed by how
much and why (the product count and time per product for time; the truncation estimate and the
sweep's final detuning against the nearest-neighbour interaction for subspace accuracy).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
import warnings
from typing import Any

import numpy as np

C6 = 865723.02
TWO_PI = 2 * np.pi
V_NN = {"chain": C6 / 5.5**6, "square": C6 / 6.0**6}  # nearest-neighbour pair energy, rad/µs


def coords_for(kind: str, n: int) -> np.ndarray:
    if kind == "chain":
        return np.stack([np.arange(n) * 5.5, np.zeros(n)], axis=1)
    side = round(np.sqrt(n))
    return np.array([(x, y) for y in range(side) for x in range(side)], float) * 6.0


def build_sequence(coords: np.ndarray) -> Any:
    import dataclasses

    from pulser import Pulse, Register, Sequence
    from pulser.devices import AnalogDevice
    from pulser.waveforms import ConstantWaveform, RampWaveform

    # AnalogDevice's physics (C6, channels) without its 38 µm radius / 80-atom limits, which a
    # 16-atom chain at 5.5 µm already exceeds
    device = dataclasses.replace(
        AnalogDevice.to_virtual(), max_radial_distance=None, max_atom_num=None
    )
    reg = Register.from_coordinates(coords, prefix="q")
    seq = Sequence(reg, device)
    seq.declare_channel("ryd", "rydberg_global")
    om, d = TWO_PI * 2, TWO_PI * 6
    seq.add(Pulse(RampWaveform(500, 0, om), ConstantWaveform(500, -d), 0), "ryd")
    seq.add(Pulse(ConstantWaveform(3000, om), RampWaveform(3000, -d, d), 0), "ryd")
    seq.add(Pulse(RampWaveform(500, om, 0), ConstantWaveform(500, d), 0), "ryd")
    return seq


def drives(coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from pulser.sampler import sample

    ch = sample(build_sequence(coords)).channel_samples["ryd"]
    return np.asarray(ch.amp, dtype=float), np.asarray(ch.det, dtype=float)


def _ours(coords, tolerance, cutoff, rule, threads, symmetry, waist, queue):
    from virtual_device.rydberg import NoiseModel, simulate

    amp, det = drives(coords)

    def run(n_samples: int) -> tuple[Any, float]:
        t0 = time.perf_counter()
        res = simulate(
            amplitude=amp[:n_samples],
            detuning=det[:n_samples],
            register=coords,
            interaction_coeff=C6,
            tolerance=tolerance,
            subspace_cutoff=cutoff,
            subspace_rule=rule,
            symmetry=symmetry,
            noise=None if waist is None else NoiseModel(laser_waist=waist),
            record_every_ns=0,
            progress=False,
            threads=threads,
        )
        return res, time.perf_counter() - t0

    # 20 ns first: loads the compiled kernels (serial and threaded) from numba's cache, a
    # once-per-process cost like the imports (reported separately as "load s")
    _, load = run(20)
    res, wall = run(len(amp))
    queue.put(
        {
            "wall_s": wall,
            "load_s": load,
            "states": res.basis_states,
            "probs": res.probabilities,
            "error_estimate": res.error_estimate,
            "matvecs": res.matvecs,
            "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "truncation": None if res.truncation is None else res.truncation.to_dict(),
        }
    )


def _pulser(coords, queue):
    warnings.simplefilter("ignore")
    from pulser_simulation import QutipEmulator

    seq = build_sequence(coords)
    sim = QutipEmulator.from_sequence(seq)
    t0 = time.perf_counter()
    psi = sim.run().get_final_state().full().ravel()
    wall = time.perf_counter() - t0
    p = np.abs(psi) ** 2
    queue.put(
        {
            "wall_s": wall,
            "probs": p[(len(p) - 1) - np.arange(len(p))],
            "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def _emu_sv(python: str, kind: str, n: int) -> dict[str, Any]:
    """emu-sv in its own interpreter (it needs PyTorch): wall, RSS, final probabilities."""
    import json
    import subprocess
    import tempfile
    from pathlib import Path

    script = Path(__file__).resolve().parent / "rydberg_emu_sv.py"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "p.npy"
        run = subprocess.run(
            [python, str(script), kind, str(n), str(out)], capture_output=True, text=True
        )
        if run.returncode != 0:
            raise RuntimeError(f"emu-sv failed:\n{run.stderr[-2000:]}")
        info = json.loads(run.stdout.strip().splitlines()[-1])
        info["probs"] = np.load(out)
    return info


def in_process(target, *args) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    while True:
        try:
            out = q.get(timeout=5)
            break
        except Exception:
            if not p.is_alive():
                raise RuntimeError(f"{target.__name__} failed (exit code {p.exitcode})") from None
    p.join()
    return out


def full_probs(res: dict[str, Any], n: int) -> np.ndarray:
    if "states" not in res:
        return res["probs"]
    full = np.zeros(1 << n)
    full[res["states"]] = res["probs"]
    return full


CASES = {
    # name: (kind, n, subspace cutoff in units of V_nn or None, run pulser, reference
    # tolerance, subspace rule). The squares' subspaces use the pair rule: under the energy
    # rule a 0.99 V_nn cutoff drops the checkerboard (1.26 V_nn of weaker pairs at 4×4,
    # 3.57 V_nn at 6×6), the very state the sweep prepares; on chains the rules agree.
    "chain8": ("chain", 8, None, True, 1e-9, "energy"),
    "chain12": ("chain", 12, None, True, 1e-9, "energy"),
    "square9": ("square", 9, None, True, 1e-9, "energy"),
    "chain16": ("chain", 16, None, True, 1e-8, "energy"),
    "square16": ("square", 16, None, True, 1e-7, "energy"),
    "chain20": ("chain", 20, None, False, 1e-6, "energy"),
    "sub_chain12_5Vnn": ("chain", 12, 5.0, False, 1e-9, "energy"),
    "sub_chain20_5Vnn": ("chain", 20, 5.0, False, None, "energy"),
    "sub_chain20_nn": ("chain", 20, 0.99, False, None, "energy"),
    # how much of the space 1e-3 needs on this sweep (not in the default table; run with
    # chain20 first, whose result they are compared with)
    "sub_chain20_7Vnn": ("chain", 20, 7.0, False, None, "energy"),
    "sub_chain20_10Vnn": ("chain", 20, 10.0, False, None, "energy"),
    "sub_chain30_nn": ("chain", 30, 0.99, False, None, "energy"),
    "sub_square16_nn": ("square", 16, 0.99, False, None, "pair"),
    "sub_square36_nn": ("square", 36, 0.99, False, None, "pair"),
    # the same under a Gaussian global beam of waist 30 µm centred on the square (Ω falls to
    # 0.78 at the edge columns): its 4-symmetry sector (not in the default table)
    "sub_sq36_nn_waist": ("square", 36, 0.99, False, None, "pair"),
}
WAIST_UM = {"sub_sq36_nn_waist": 30.0}
# The issue's targets: case → (wall-clock limit in s, max |Δp| limit or None). |Δp| is against
# the converged reference (full-space cases) or the full-space result (subspace cases).
TARGETS = {
    "chain16": (2.5, 1e-4),
    "square16": (2.5, 1e-4),
    "chain20": (60.0, 1e-4),
    "sub_chain20_nn": (2.0, 1e-3),
    "sub_chain20_5Vnn": (2.0, 1e-3),
    "sub_chain20_7Vnn": (2.0, 1e-3),
    "sub_chain20_10Vnn": (2.0, 1e-3),
    "sub_chain30_nn": (60.0, None),
    "sub_square36_nn": (60.0, None),
}
# the peer's times on the 2 cores the targets were set on (pulser-simulation, N = 16)
PULSER_N16_AT_TARGETS_S = (39.0, 46.0)
FINAL_DETUNING = TWO_PI * 6  # rad/µs, the sweep's end value


def verdicts(name: str, wall_s: float, products: int, dp: float | None, tr: Any) -> list[str]:
    """The target lines of one case: met, or missed by how much and why."""
    if name not in TARGETS:
        return []
    limit_s, limit_dp = TARGETS[name]
    kind = CASES[name][0]
    per_product = 1e3 * wall_s / max(products, 1)
    lines = []
    if wall_s <= limit_s:
        lines.append(f"{name}: ≤ {limit_s:g} s met ({wall_s:.2f} s)")
    else:
        lines.append(
            f"{name}: ≤ {limit_s:g} s missed by {wall_s / limit_s:.2f}× ({wall_s:.2f} s: "
            f"{products} H·ψ products at {per_product:.1f} ms each, all-in)"
        )
    if limit_dp is not None:
        if dp is None:
            ref = f"{kind}{CASES[name][1]}"
            lines.append(
                f"{name}: |Δp| ≤ {limit_dp:g} not checked (its reference is {ref}'s "
                f"result: run {ref} before it in the same call)"
            )
        elif dp <= limit_dp:
            lines.append(f"{name}: |Δp| ≤ {limit_dp:g} met ({dp:.1e})")
        else:
            why = ""
            if tr is not None:
                why = (
                    f"; the truncation estimates a dropped population of "
                    f"{tr['max_dropped_population']:.1e}"
                )
                if FINAL_DETUNING > V_NN[kind]:
                    why += (
                        f": the final detuning ({FINAL_DETUNING:.1f} rad/µs) exceeds the "
                        f"nearest-neighbour interaction ({V_NN[kind]:.1f} rad/µs), so states "
                        "with neighbouring excitations carry population and a cutoff that "
                        "drops many states drops populated ones"
                    )
            lines.append(
                f"{name}: |Δp| ≤ {limit_dp:g} missed by {dp / limit_dp:.1f}× ({dp:.1e}){why}"
            )
    return lines


DEFAULT = [
    "chain8",
    "chain12",
    "square9",
    "chain16",
    "square16",
    "chain20",
    "sub_chain12_5Vnn",
    "sub_chain20_nn",
    "sub_chain20_5Vnn",
    "sub_chain30_nn",
    "sub_square16_nn",
    "sub_square36_nn",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cases", nargs="*", default=DEFAULT, choices=sorted(CASES))
    ap.add_argument(
        "--tolerance",
        type=float,
        default=1e-2,
        help="our state-error tolerance for the timed run (default 1e-2)",
    )
    ap.add_argument("--no-pulser", action="store_true")
    ap.add_argument(
        "--emu-sv-python",
        metavar="PYTHON",
        help="interpreter of a virtual environment with emu-sv (see rydberg_emu_sv.py): "
        "measure emu-sv too, on the full-space cases (CPU, dt = 10 ns)",
    )
    ap.add_argument(
        "--threads",
        default="auto",
        type=lambda v: v if v == "auto" else int(v),
        help="simulate(threads=...): auto (default), or a number (1 = serial)",
    )
    ap.add_argument(
        "--symmetry",
        default="auto",
        choices=("auto", "off"),
        help="simulate(symmetry=...): auto (default) evolves the subspace cases in the "
        "register's symmetric sector; off in the whole kept set",
    )
    args = ap.parse_args()
    print(
        f"{'case':18s} {'N':>3s} {'states':>8s} {'ours s':>8s} {'load s':>6s} {'matvecs':>7s} "
        f"{'MiB':>6s} "
        f"{'err est':>8s} {'|Δp|':>9s} {'pulser s':>9s} {'MiB':>6s} {'pulser |Δp|':>11s} "
        f"{'speed-up':>8s}"
        + (
            f" {'emu-sv s':>9s} {'MiB':>6s} {'emu |Δp|':>9s} {'speed-up':>8s}"
            if args.emu_sv_python
            else ""
        ),
        flush=True,
    )
    full_results: dict[tuple[str, int], np.ndarray] = {}
    target_lines: list[str] = []
    pulser_n16: list[float] = []
    for name in args.cases:
        kind, n, cut, with_pulser, ref_tol, rule = CASES[name]
        coords = coords_for(kind, n)
        waist = WAIST_UM.get(name)
        if waist is not None:
            coords = coords - coords.mean(axis=0)  # on the beam's axis
        cutoff = None if cut is None else cut * V_NN[kind]
        ours = in_process(
            _ours, coords, args.tolerance, cutoff, rule, args.threads, args.symmetry, waist
        )
        p_ours = full_probs(ours, n) if n <= 24 else None
        ref = None
        if ref_tol is not None:
            ref = full_probs(
                in_process(_ours, coords, ref_tol, None, rule, args.threads, args.symmetry, None),
                n,
            )
        elif cut is not None:
            ref = full_results.get((kind, n))  # subspace: compare with the full-space result
        if cut is None and p_ours is not None:
            full_results[(kind, n)] = ref if ref is not None else p_ours
        dp = None if ref is None or p_ours is None else float(np.max(np.abs(p_ours - ref)))
        pl = in_process(_pulser, coords) if with_pulser and not args.no_pulser else None
        dp_pl = None if pl is None or ref is None else float(np.max(np.abs(pl["probs"] - ref)))
        states = ours["truncation"]["kept_states"] if ours["truncation"] else 1 << n
        row = (
            f"{name:18s} {n:3d} {states:8d} {ours['wall_s']:8.2f} {ours['load_s']:6.2f} "
            f"{ours['matvecs']:7d} "
            f"{ours['rss_mib']:6.0f} {ours['error_estimate']:8.1e} {_fmt(dp, '9.1e')} "
            f"{_fmt(pl and pl['wall_s'], '9.2f')} {_fmt(pl and pl['rss_mib'], '6.0f')} "
            f"{_fmt(dp_pl, '11.1e')} "
            f"{_fmt(pl and pl['wall_s'] / ours['wall_s'], '7.1f')}"
        )
        if args.emu_sv_python and cut is None and n <= 20:
            em = _emu_sv(args.emu_sv_python, kind, n)
            dp_em = None if ref is None else float(np.max(np.abs(em["probs"] - ref)))
            row += (
                f" {em['wall_s']:9.2f} {em['rss_mib']:6.0f} {_fmt(dp_em, '9.1e')} "
                f"{em['wall_s'] / ours['wall_s']:8.1f}"
            )
        if ours["truncation"]:
            tr = ours["truncation"]
            row += (
                f"  cutoff {cut} V_nn ({rule} rule), "
                f"est. dropped population {tr['max_dropped_population']:.1e}, "
                f"{tr['product_layout']} product"
                + (
                    f", symmetric sector ({tr['symmetry_order']} symmetries, "
                    f"{tr['sector_states']} orbits)"
                    if tr["symmetry_order"] > 1
                    else ""
                )
            )
        print(row, flush=True)
        target_lines += verdicts(name, ours["wall_s"], ours["matvecs"], dp, ours["truncation"])
        if pl is not None and n == 16:
            pulser_n16.append(pl["wall_s"])
    if target_lines:
        print("\ntargets:")
        for line in target_lines:
            print(f"  {line}")
        if pulser_n16:
            lo, hi = PULSER_N16_AT_TARGETS_S
            print(
                f"  (pulser-simulation took {min(pulser_n16):.1f} s at N = 16 here, "
                f"{lo:g}–{hi:g} s on the machine the targets were set on: scale by "
                f"{min(pulser_n16) / hi:.2f}–{min(pulser_n16) / lo:.2f} to compare)"
            )


def _fmt(value: float | None, spec: str) -> str:
    width = int(spec.split(".")[0])
    return " " * width if value is None else format(value, spec)


if __name__ == "__main__":
    main()
