"""Every sequence example in examples/ runs as a script and writes what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = ["adiabatic_sweep.py", "local_addressing.py", "rabi_scan.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_script_runs(script: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert any(tmp_path.iterdir())


def test_adiabatic_example_samples_have_the_sequence_length(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(EXAMPLES / "adiabatic_sweep.py"), str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    from sequencer import SampledSequence

    sampled = SampledSequence.load_npz(tmp_path / "adiabatic_sweep.npz")
    assert sampled.device_name == "AnalogDevice"
    assert sampled.duration_ns >= 4000  # plus the AOM fall time (modulation=True)
