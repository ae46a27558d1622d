"""``atomstack demo`` writes the register and sequence plots, samples and the sequence JSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from control.cli import main
from sequencer import SampledSequence, Sequence, sample


def test_demo_writes_plots_samples_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--out", str(tmp_path)]) == 0
    for name in ("register.png", "sequence.png", "samples.npz", "sequence.json"):
        assert (tmp_path / name).stat().st_size > 0
    text = capsys.readouterr().out
    assert "AnalogDevice" in text and "9 atoms" in text
    sampled = SampledSequence.load_npz(tmp_path / "samples.npz")
    seq = Sequence.from_json((tmp_path / "sequence.json").read_text())
    assert sampled.duration_ns >= seq.get_duration() == 4000
    # The AOM smooths the pulse but keeps its area (rad).
    area = np.sum(sampled.channels["ising"].amplitude) * 1e-3
    ideal = np.sum(sample(seq).channels["ising"].amplitude) * 1e-3
    assert area == pytest.approx(ideal, rel=1e-3)
    assert (
        sampled.channels["ising"].amplitude.max() <= seq.device.channels["rydberg_global"].max_amp
    )
