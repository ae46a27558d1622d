"""``atomstack demo``: the pulse-level files, the compiled program and the simulated shot."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from control.cli import main
from sequencer import SampledSequence, Sequence, sample
from sequencer.compiler import HardwareProgram


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One demo run (it simulates two 9-atom shots): its folder and what it printed."""
    out = tmp_path_factory.mktemp("demo")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["demo", "--out", str(out), "--shots", "200", "--seed", "3"]) == 0
    return out, printed.getvalue()


def test_demo_writes_plots_samples_and_summary(demo: tuple[Path, str]) -> None:
    tmp_path, text = demo
    for name in (
        "register.png",
        "sequence.png",
        "samples.npz",
        "sequence.json",
        "program.npz",
        "program.png",
        "result.json",
        "probabilities.png",
    ):
        assert (tmp_path / name).stat().st_size > 0
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


def test_demo_shot_goes_through_the_compiled_program_to_the_z2_state(
    demo: tuple[Path, str],
) -> None:
    tmp_path, text = demo
    assert "101010101" in text
    result = json.loads((tmp_path / "result.json").read_text())
    program = HardwareProgram.load_npz(tmp_path / "program.npz")
    assert program.budget.segments == result["program"]["segments"] >= 1
    via_hw, direct = result["probabilities_via_hardware"], result["probabilities_direct"]
    # The adiabatic sweep on the 3×3 square ends in the checkerboard (Z2) state …
    assert max(via_hw, key=via_hw.get) == "101010101" and via_hw["101010101"] > 0.8
    # … and what the AWG plays gives the probabilities of the requested pulses.
    assert result["max_abs_probability_difference"] < 0.01
    assert abs(via_hw["101010101"] - direct["101010101"]) < 0.01
    assert sum(result["counts"].values()) == 200
    assert result["simulation_error_estimate"] <= 1e-4


def test_demo_names_a_missing_hardware_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.toml"
    assert main(["demo", "--out", str(tmp_path), "--hardware", str(missing)]) == 2
    assert "nope.toml" in capsys.readouterr().err
