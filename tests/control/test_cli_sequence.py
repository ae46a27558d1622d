"""``atomstack sequence validate|sample|draw`` on Pulser's JSON and ours."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from control.cli import main
from sequencer.devices import get_device
from sequencer.pulse import Pulse
from sequencer.pulser_json import dump_sequence, load_sequence
from sequencer.register import Register
from sequencer.sampled import SampledSequence
from sequencer.sampling import sample
from sequencer.sequence import Sequence
from sequencer.waveforms import BlackmanWaveform, RampWaveform

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sequences"
PULSER_EXAMPLE = EXAMPLES / "pulser_made.json"
OUR_EXAMPLE = EXAMPLES / "atomstack_made.json"


def _parametrised(tmp_path: Path, fmt: str = "pulser") -> Path:
    seq = Sequence(Register({"a": (0.0, 0.0), "b": (6.0, 0.0)}), get_device("DigitalAnalogDevice"))
    seq.declare_channel("ryd", "rydberg_global")
    duration = seq.declare_variable("duration", dtype=int)
    amps = seq.declare_variable("amps", size=2)
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(duration, amps[0]), -1.0, 0.0), "ryd")
    seq.add(Pulse.ConstantPulse(duration, amps[1], 0.0, 0.0), "ryd")
    seq.measure("ground-rydberg")
    path = tmp_path / f"param-{fmt}.json"
    path.write_text(dump_sequence(seq, format=fmt))  # type: ignore[arg-type]
    return path


def _over_limit(tmp_path: Path) -> Path:
    obj = json.loads(PULSER_EXAMPLE.read_text())
    op = next(o for o in obj["operations"] if o["op"] == "pulse")
    op["detuning"] = {"kind": "constant", "duration": op["amplitude"]["duration"], "value": 999.0}
    path = tmp_path / "over-limit.json"
    path.write_text(json.dumps(obj))
    return path


# -- validate ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [PULSER_EXAMPLE, OUR_EXAMPLE], ids=["pulser", "atomstack"])
def test_validate_prints_a_summary_and_exits_0(path, capsys):
    assert main(["sequence", "validate", str(path)]) == 0
    out = capsys.readouterr().out
    seq = load_sequence(path)
    assert seq.device.name in out
    assert f"atoms:     {len(seq.register)}" in out
    for name in seq.declared_channels:
        assert name in out
    assert f"{sample(seq).duration_ns} ns" in out
    assert "ground-rydberg" in out


def test_validate_refuses_a_device_limit_violation_naming_value_and_channel(tmp_path, capsys):
    assert main(["sequence", "validate", str(_over_limit(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert "999" in err
    assert "ising" in err or "rydberg_global" in err


def test_validate_refuses_invalid_json(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    assert main(["sequence", "validate", str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_validate_refuses_a_missing_file(tmp_path, capsys):
    assert main(["sequence", "validate", str(tmp_path / "absent.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_validate_refuses_a_schema_violation_naming_the_field(tmp_path, capsys):
    obj = json.loads(PULSER_EXAMPLE.read_text())
    obj["operations"][0]["protocol"] = "sometime"
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(obj))
    assert main(["sequence", "validate", str(path)]) == 2
    assert "operations/0" in capsys.readouterr().err


# -- variables -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["pulser", "atomstack"])
def test_parametrised_sequence_without_values_is_refused_listing_them(tmp_path, capsys, fmt):
    path = _parametrised(tmp_path, fmt)
    assert main(["sequence", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "duration" in err
    assert "amps" in err


def test_parametrised_sequence_with_values_validates_and_samples(tmp_path, capsys):
    path = _parametrised(tmp_path)
    args = ["--var", "duration=400", "--var", "amps=1.5,1.5"]
    assert main(["sequence", "validate", str(path), *args]) == 0
    assert "800 ns" in capsys.readouterr().out
    out = tmp_path / "param.npz"
    assert main(["sequence", "sample", str(path), "-o", str(out), *args]) == 0
    expected = sample(load_sequence(path).build(duration=400, amps=[1.5, 1.5]))
    assert SampledSequence.load_npz(out) == expected


def test_unknown_variable_is_refused(tmp_path, capsys):
    path = _parametrised(tmp_path)
    code = main(
        [
            "sequence",
            "validate",
            str(path),
            "--var",
            "duration=400",
            "--var",
            "amps=1,2",
            "--var",
            "speed=3",
        ]
    )
    assert code == 2
    assert "speed" in capsys.readouterr().err


@pytest.mark.parametrize("item", ["duration", "=4", "amps=1,x"])
def test_malformed_var_is_refused(tmp_path, capsys, item):
    path = _parametrised(tmp_path)
    assert main(["sequence", "validate", str(path), "--var", item]) == 2
    assert "--var" in capsys.readouterr().err


# -- sample --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [PULSER_EXAMPLE, OUR_EXAMPLE], ids=["pulser", "atomstack"])
def test_sample_writes_the_documented_keys(tmp_path, path):
    out = tmp_path / "samples.npz"
    assert main(["sequence", "sample", str(path), "-o", str(out)]) == 0
    seq = load_sequence(path)
    expected = sample(seq)
    with np.load(out) as data:
        keys = set(data.files)
        for name in seq.declared_channels:
            for qty in ("amplitude", "detuning", "phase"):
                assert f"{name}/{qty}" in keys
                assert np.array_equal(data[f"{name}/{qty}"], getattr(expected.channels[name], qty))
        for qty in ("amplitude", "detuning", "phase"):
            arr = data[f"atoms/ground-rydberg/{qty}"]
            assert arr.shape == (len(seq.register), expected.duration_ns)
        assert list(data["atom_ids"]) == list(seq.register.ids)
        assert json.loads(str(data["__meta__"]))["duration_ns"] == expected.duration_ns
    assert SampledSequence.load_npz(out) == expected


def test_sample_with_modulation_uses_the_modulated_samples(tmp_path):
    seq = Sequence(Register({"a": (0.0, 0.0), "b": (6.0, 0.0)}), get_device("AnalogDevice"))
    seq.declare_channel("ryd", "rydberg_global")
    seq.add(Pulse.ConstantDetuning(RampWaveform(400, 0.0, 8.0), 0.0, 0.0), "ryd")
    seq.add(Pulse.ConstantPulse(400, 8.0, 2.0, 0.0), "ryd")
    path = tmp_path / "analog.json"
    path.write_text(dump_sequence(seq))
    plain, modulated = tmp_path / "plain.npz", tmp_path / "mod.npz"
    assert main(["sequence", "sample", str(path), "-o", str(plain)]) == 0
    assert main(["sequence", "sample", str(path), "-o", str(modulated), "--modulation"]) == 0
    assert SampledSequence.load_npz(modulated) == sample(seq, modulation=True)
    assert SampledSequence.load_npz(plain) == sample(seq)
    assert SampledSequence.load_npz(modulated) != SampledSequence.load_npz(plain)


def test_sample_help_documents_the_keys(capsys):
    with pytest.raises(SystemExit) as info:
        main(["sequence", "sample", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for key in ("{channel}/amplitude", "atoms/{basis}/detuning", "atom_ids", "__meta__"):
        assert key in out


# -- draw ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [PULSER_EXAMPLE, OUR_EXAMPLE], ids=["pulser", "atomstack"])
def test_draw_writes_a_png(tmp_path, path):
    out = tmp_path / "seq.png"
    assert main(["sequence", "draw", str(path), "-o", str(out)]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


def test_draw_refuses_an_invalid_sequence(tmp_path, capsys):
    out = tmp_path / "x.png"
    assert main(["sequence", "draw", str(_over_limit(tmp_path)), "-o", str(out)]) == 2
    assert not out.exists()


# -- the installed executable ----------------------------------------------------------------


def test_installed_atomstack_executable_validates_the_pulser_example():
    exe = Path(sys.executable).with_name("atomstack")
    command = [str(exe)] if exe.exists() else [shutil.which("atomstack") or "atomstack"]
    done = subprocess.run(
        [*command, "sequence", "validate", str(PULSER_EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "DigitalAnalogDevice" in done.stdout
    assert "adiabatic" not in done.stderr


def test_parametrised_values_over_a_limit_are_refused_at_build(tmp_path, capsys):
    path = _parametrised(tmp_path)
    code = main(["sequence", "validate", str(path), "--var", "duration=400", "--var", "amps=1,99"])
    assert code == 2
    err = capsys.readouterr().err
    assert "99" in err
    assert "ryd" in err
    assert "max_amp" in err
