"""``atomstack simulate`` end to end on a sampled sequence file."""

import json

import numpy as np
import pytest

from control.cli import main
from sequencer import ChannelSamples, Register, SampledSequence, TargetSlot

C6 = 865723.02


@pytest.fixture
def sampled_file(tmp_path):
    reg = Register({"a": (0, 0), "b": (5, 0)})
    t = 400
    amp = np.full(t, 2 * np.pi * 1.0)
    ch = ChannelSamples(
        "rydberg_global",
        "ground-rydberg",
        "Global",
        amp,
        np.zeros(t),
        np.zeros(t),
        (TargetSlot(0, t, frozenset(reg.ids)),),
    )
    path = tmp_path / "seq.npz"
    SampledSequence(reg, {"rydberg_global": ch}, device_name="AnalogDevice").save_npz(path)
    return path


def test_simulate_writes_occupations_probabilities_counts_and_timing(sampled_file, tmp_path):
    out = tmp_path / "result.json"
    rc = main(
        [
            "simulate",
            str(sampled_file),
            "--c6",
            str(C6),
            "--shots",
            "500",
            "--seed",
            "3",
            "-o",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    data = json.loads(out.read_text())
    assert set(data["final_occupations"]) == {"a", "b"}
    probs = data["bitstring_probabilities"]
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-9)
    assert all(len(k) == 2 for k in probs)
    assert sum(data["counts"].values()) == 500
    assert data["timing"]["wall_time_s"] > 0
    # blockade: |11⟩ stays nearly empty at 5 µm
    assert probs.get("11", 0.0) < 0.05


def test_simulate_reads_pulser_style_noise_and_subspace_cutoff(sampled_file, tmp_path):
    noise = tmp_path / "noise.json"
    noise.write_text(
        json.dumps(
            {
                "p_false_pos": 0.02,
                "p_false_neg": 0.05,
                "runs": 3,
                "samples_per_run": 5,
                "depolarizing_rate": 0.0,
                "noise_types": ["SPAM"],
            }
        )
    )
    out = tmp_path / "r.json"
    rc = main(
        [
            "simulate",
            str(sampled_file),
            "--c6",
            str(C6),
            "--noise",
            str(noise),
            "--subspace-cutoff",
            "1.0",
            "-o",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    data = json.loads(out.read_text())
    assert "11" not in data["bitstring_probabilities"]
    assert data["truncation"]["dropped_states"] == 1
    assert "measured_bitstring_probabilities" in data


@pytest.mark.parametrize("rule", ["energy", "pair"])
def test_subspace_rule_reaches_the_result(sampled_file, tmp_path, rule):
    out = tmp_path / "r.json"
    args = ["simulate", str(sampled_file), "--c6", str(C6), "--subspace-cutoff", "1.0"]
    rc = main([*args, "--subspace-rule", rule, "-o", str(out), "--no-progress"])
    assert rc == 0
    trunc = json.loads(out.read_text())["truncation"]
    assert trunc["rule"] == rule
    assert trunc["kept_states"] == 3  # |11⟩ dropped either way: one pair, 6.9e3 rad/µs


def test_symmetry_flag_reaches_the_result(tmp_path):
    """A 2×2 square, every pair blockaded: auto evolves 2 orbits, off the 5 kept states."""
    reg = Register({"a": (0, 0), "b": (5, 0), "c": (0, 5), "d": (5, 5)})
    t = 400
    ch = ChannelSamples(
        "rydberg_global",
        "ground-rydberg",
        "Global",
        np.full(t, 2 * np.pi * 1.0),
        np.zeros(t),
        np.zeros(t),
        (TargetSlot(0, t, frozenset(reg.ids)),),
    )
    path = tmp_path / "square.npz"
    SampledSequence(reg, {"rydberg_global": ch}, device_name="AnalogDevice").save_npz(path)
    args = ["simulate", str(path), "--c6", str(C6), "--subspace-cutoff", "1.0"]
    data = {}
    for mode in ("auto", "off"):
        out = tmp_path / f"{mode}.json"
        assert main([*args, "--symmetry", mode, "-o", str(out), "--no-progress"]) == 0
        data[mode] = json.loads(out.read_text())
    assert data["auto"]["truncation"]["symmetry_order"] == 8
    assert data["auto"]["truncation"]["sector_states"] == 2  # |0000⟩ and the W state
    assert data["off"]["truncation"]["symmetry_order"] == 1
    assert data["off"]["truncation"]["sector_states"] == 5
    p_auto = data["auto"]["bitstring_probabilities"]
    p_off = data["off"]["bitstring_probabilities"]
    assert set(p_auto) == set(p_off)
    for k, v in p_off.items():
        assert p_auto[k] == pytest.approx(v, abs=1e-12)
    assert p_off["0100"] > 0.05  # the drive did move population


def test_unsupported_noise_is_a_cli_error(sampled_file, tmp_path, capsys):
    noise = tmp_path / "noise.json"
    noise.write_text(json.dumps({"depolarizing_rate": 0.1}))
    rc = main(
        [
            "simulate",
            str(sampled_file),
            "--c6",
            str(C6),
            "--noise",
            str(noise),
            "-o",
            str(tmp_path / "r.json"),
            "--no-progress",
        ]
    )
    assert rc == 2
    assert "depolarizing_rate" in capsys.readouterr().err


@pytest.mark.pulser
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_simulate_reads_pulser_abstract_representation_and_agrees_with_pulser(tmp_path):
    import sequencer

    if not hasattr(sequencer, "sample") or not hasattr(sequencer, "get_device"):
        pytest.skip("sequencer.sample / get_device not in this checkout")
    pulser = pytest.importorskip("pulser")
    from pulser.devices import AnalogDevice
    from pulser.waveforms import BlackmanWaveform, RampWaveform
    from pulser_simulation import QutipEmulator

    reg = pulser.Register.from_coordinates([(0, 0), (6, 0), (3, 5)], prefix="q")
    seq = pulser.Sequence(reg, AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.add(pulser.Pulse(BlackmanWaveform(800, np.pi), RampWaveform(800, -4.0, 6.0), 0.3), "ryd")
    path = tmp_path / "pulser_seq.json"
    path.write_text(seq.to_abstract_repr())
    out = tmp_path / "r.json"
    assert (
        main(["simulate", str(path), "-o", str(out), "--no-progress", "--tolerance", "1e-8"]) == 0
    )
    ours = json.loads(out.read_text())["bitstring_probabilities"]
    psi = QutipEmulator.from_sequence(seq).run().get_final_state().full().ravel()
    n = 3
    for index, amp in enumerate(psi):
        bits = format((1 << n) - 1 - index, f"0{n}b")  # pulser: |r⟩ is basis index 0
        assert abs(ours.get(bits, 0.0) - abs(amp) ** 2) <= 1e-3


def test_rydberg_and_raman_channels_select_the_three_level_simulation(tmp_path):
    reg = Register({"a": (0, 0), "b": (20, 0)})
    t = 1000
    on = np.zeros(t)
    on[:500] = 2 * np.pi  # Raman π pulse on "a" (500 ns), then a Rydberg π pulse on both
    ryd = np.zeros(t)
    ryd[500:] = 2 * np.pi
    everyone = (TargetSlot(0, t, frozenset(reg.ids)),)
    channels = {
        "ram": ChannelSamples(
            "ram", "digital", "Local", on, np.zeros(t), np.zeros(t),
            (TargetSlot(0, 500, frozenset({"a"})),),
        ),
        "ryd": ChannelSamples(
            "ryd", "ground-rydberg", "Global", ryd, np.zeros(t), np.zeros(t), everyone
        ),
    }  # fmt: skip
    path = tmp_path / "ghr.npz"
    SampledSequence(reg, channels, measurement_basis="ground-rydberg").save_npz(path)
    out = tmp_path / "r.json"
    assert main(["simulate", str(path), "--c6", str(C6), "-o", str(out), "--no-progress"]) == 0
    data = json.loads(out.read_text())
    assert data["basis"] == "all" and data["measurement_basis"] == "ground-rydberg"
    # "a" was moved to h by the Raman pulse, so the Rydberg pulse only excites "b"
    assert data["bitstring_probabilities"]["01"] == pytest.approx(1.0, abs=1e-6)
    assert data["final_hyperfine_occupations"]["a"] == pytest.approx(1.0, abs=1e-6)
    assert data["final_rydberg_occupations"]["b"] == pytest.approx(1.0, abs=1e-6)


def test_raman_channels_alone_select_the_digital_simulation(tmp_path):
    reg = Register({"a": (0, 0), "b": (5, 0)})
    t = 500
    channels = {
        "ram": ChannelSamples(
            "ram",
            "digital",
            "Global",
            np.full(t, 2 * np.pi),
            np.zeros(t),
            np.zeros(t),
            (TargetSlot(0, t, frozenset(reg.ids)),),
        )
    }  # fmt: skip  (a Raman π pulse on both atoms: no interaction in the digital basis)
    path = tmp_path / "gh.npz"
    SampledSequence(reg, channels, measurement_basis="digital").save_npz(path)
    out = tmp_path / "r.json"
    assert main(["simulate", str(path), "--c6", str(C6), "-o", str(out), "--no-progress"]) == 0
    data = json.loads(out.read_text())
    assert data["bitstring_probabilities"]["11"] == pytest.approx(1.0, abs=1e-6)
