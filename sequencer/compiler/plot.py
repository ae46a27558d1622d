"""Figures: the compiled RF of each AOM channel, and decoded against requested Ω, Δ, φ."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sequencer.compiler.program import HardwareProgram
from sequencer.compiler.timeline import CompactSequence

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_program"]


def plot_program(
    program: HardwareProgram,
    request: CompactSequence,
    decoded: CompactSequence,
    *,
    max_points: int = 200_000,
) -> Figure:
    """The compiled RF and decoded against requested Ω, Δ, φ − ∫Δ; one column per channel.

    Row 1: DAC codes (long loops shortened to 3 repeats, first ``max_points`` samples); rows
    2-4: requested (solid) against decoded (dashed), on the explicit (non-hold) samples.
    """
    from matplotlib.figure import Figure

    names = list(request.channels)
    fig = Figure(figsize=(5.0 * max(len(names), 1), 10.0), layout="constrained")
    axes = fig.subplots(4, max(len(names), 1), squeeze=False)
    pts = [
        np.arange(b.start_ns, b.stop_ns, dtype=np.int64) for b in request.blocks if not b.hold
    ] or [np.zeros(1, dtype=np.int64)]
    t = np.concatenate(pts)[:max_points]
    for col, nm in enumerate(names):
        info = program.channels[nm]
        awg = program.awgs[info["awg"]]
        n = min(awg.played_samples, max_points)
        stream = np.concatenate(
            [
                np.tile(awg.segments[s.segment][info["awg_channel"]], min(s.loops, 3))
                for s in awg.steps
            ]
        )[:n]
        t_rf = awg.start_ns + np.arange(len(stream)) * 1e9 / awg.sample_rate_hz
        ax = axes[0][col]
        ax.plot(t_rf, stream, lw=0.3)
        ax.set_title(f"{nm}: {info['aom']} on {info['awg']} ch {info['awg_channel']}")
        ax.set_ylabel("DAC code")
        ax.set_xlabel("AWG output time (ns, shot timeline)")
        ra, rd, rp = request.values_at(nm, t)
        da, dd, dp = decoded.values_at(nm, t)
        r_tot = np.angle(np.exp(1j * (rp - request.detuning_integral(nm, t))))
        d_tot = np.angle(np.exp(1j * (dp - decoded.detuning_integral(nm, t))))
        for row, (req, dec, label) in enumerate(
            ((ra, da, "Ω (rad/µs)"), (rd, dd, "Δ (rad/µs)"), (r_tot, d_tot, "φ − ∫Δ (rad)")),
            start=1,
        ):
            ax = axes[row][col]
            ax.plot(t, req, label="requested")
            ax.plot(t, dec, "--", label="decoded")
            ax.set_ylabel(label)
        axes[1][col].legend()
        axes[3][col].set_xlabel("time at the atoms (ns; holds left out)")
    return fig
