"""``atomstack compile`` end to end on a sampled sequence file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from control.cli import main
from sequencer import ChannelSamples, Register, SampledSequence, TargetSlot
from sequencer.compiler import HardwareProgram

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _write_sequence(path: Path, peak: float) -> None:
    reg = Register.square(2, 6.0)
    n = 2000
    t = np.arange(n)
    amp = peak * np.sin(np.pi * t / n) ** 2
    det = np.linspace(-10, 10, n)
    slot = (TargetSlot(0, n, frozenset(reg.ids)),)
    ch = ChannelSamples("rydberg_global", "ground-rydberg", "Global", amp, det, np.zeros(n), slot)
    SampledSequence(reg, {"rydberg_global": ch}).save_npz(path)


def test_compile_writes_program_report_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seq, out, fig = tmp_path / "seq.npz", tmp_path / "prog.npz", tmp_path / "rf.png"
    _write_sequence(seq, 8.0)
    code = main(
        [
            "compile",
            str(seq),
            "--hardware",
            str(EXAMPLES / "hardware.toml"),
            "--calibration",
            str(EXAMPLES / "calibration.toml"),
            "-o",
            str(out),
            "--pre-emphasis",
            "--report",
            "--plot",
            str(fig),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "segments" in text and "steps" in text
    assert "max |ΔΩ|" in text and "max |ΔΔ|" in text and "max |Δφ|" in text
    prog = HardwareProgram.load_npz(out)
    assert prog.awgs["awg_rydberg"].played_samples >= 2000 * 1.25
    assert fig.stat().st_size > 0


def test_unplayable_sequence_is_a_clean_cli_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seq = tmp_path / "seq.npz"
    _write_sequence(seq, 40.0)
    out = tmp_path / "prog.npz"
    code = main(
        ["compile", str(seq), "--hardware", str(EXAMPLES / "hardware.toml"), "-o", str(out)]
    )
    assert code == 2
    assert "saturation" in capsys.readouterr().err
    assert not out.exists()


def test_compile_reads_the_sequencer_json_example(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "prog.npz"
    code = main(
        [
            "compile",
            str(EXAMPLES / "sequences" / "pulser_made.json"),
            "--hardware",
            str(EXAMPLES / "hardware.toml"),
            "-o",
            str(out),
        ]
    )
    assert code == 0
    prog = HardwareProgram.load_npz(out)
    assert prog.channels["ising"]["aom"] == "aom_rydberg"
    assert prog.duration_ns == 2252
