"""Matplotlib figure of a sequence: one row per channel with Ω(t), Δ(t) and φ(t)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["draw_sequence"]


def draw_sequence(
    seq: Any, *, modulation: bool = False, figsize: tuple[float, float] | None = None
) -> Any:
    """A figure with each channel's Ω and Δ (rad/µs, left axis) and φ (rad, right axis) vs ns.

    ``seq`` is a built :class:`~sequencer.sequence.Sequence` or a
    :class:`~sequencer.sampled.SampledSequence`. Local channels shade each pulse's target slot.
    """
    # A bare Figure (no pyplot): no global backend state is touched.
    from matplotlib.figure import Figure

    from sequencer.sampled import SampledSequence
    from sequencer.sampling import sample

    sampled = seq if isinstance(seq, SampledSequence) else sample(seq, modulation=modulation)
    names = list(sampled.channels)
    rows = max(len(names), 1)
    fig = Figure(figsize=figsize or (10, 2.6 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    t = sampled.times_ns
    for ax, name in zip(axes, names, strict=False):
        ch = sampled.channels[name]
        ax.plot(t, ch.amplitude, color="tab:green", label="Ω (rad/µs)")
        ax.plot(t, ch.detuning, color="tab:purple", label="Δ (rad/µs)")
        ax.set_ylabel(f"{name}\n({ch.basis}, {ch.addressing})")
        twin = ax.twinx()
        twin.plot(t, ch.phase, color="tab:orange", ls="--", lw=1, label="φ (rad)")
        twin.set_ylim(-0.2, 2 * np.pi + 0.2)
        twin.set_ylabel("φ (rad)")
        if ch.addressing == "Local":
            for slot in ch.slots:
                ax.axvspan(slot.start_ns, slot.stop_ns, color="grey", alpha=0.1)
                ax.text(
                    slot.start_ns,
                    ax.get_ylim()[1],
                    ",".join(sorted(slot.targets)),
                    fontsize=7,
                    va="top",
                )
        handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        ax.legend(handles=handles, loc="upper right", fontsize=7)
    axes[-1].set_xlabel("time (ns)")
    title = f"{sampled.device_name}: {len(sampled.register)} atoms, {sampled.duration_ns} ns"
    if sampled.measurement_basis:
        title += f", measured in {sampled.measurement_basis}"
    fig.suptitle(title)
    return fig
