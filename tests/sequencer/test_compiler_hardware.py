"""Hardware description and calibration inputs of the compiler."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer.compiler import (
    AOMResponse,
    CompilerCalibration,
    HardwareConfig,
    HardwareConfigError,
    HardwareLimitError,
    load_calibration,
    load_hardware,
)
from sequencer.errors import SequenceError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _hw_dict() -> dict:
    return load_hardware(EXAMPLES / "hardware.toml").model_dump(mode="json")


def test_example_hardware_loads_with_every_part() -> None:
    hw = load_hardware(EXAMPLES / "hardware.toml")
    assert {a.name for a in hw.awgs} == {"awg_rydberg", "awg_raman"}
    assert hw.beam_for_channel("rydberg_global").aom == "aom_rydberg"
    assert hw.aom("aom_rydberg").optical_factor == 2
    assert hw.awg("awg_rydberg").max_code == 32767


def test_hardware_round_trips_through_json(tmp_path: Path) -> None:
    path = tmp_path / "hw.json"
    path.write_text(json.dumps(_hw_dict()))
    assert load_hardware(path) == load_hardware(EXAMPLES / "hardware.toml")


def test_unknown_awg_reference_is_named() -> None:
    data = _hw_dict()
    data["aoms"][0]["awg"] = "nope"
    with pytest.raises(ValueError, match="unknown AWG 'nope'"):
        HardwareConfig.model_validate(data)


def test_aom_band_beyond_nyquist_is_refused() -> None:
    data = _hw_dict()
    data["aoms"][0]["rf_center_hz"] = 700e6
    with pytest.raises(ValueError, match="Nyquist"):
        HardwareConfig.model_validate(data)


def test_awg_channel_out_of_range_is_refused() -> None:
    data = _hw_dict()
    data["aoms"][0]["awg_channel"] = 5
    with pytest.raises(ValueError, match=r"awg_channel=5 outside 0\.\.1"):
        HardwareConfig.model_validate(data)


def test_bad_file_raises_sequence_error(tmp_path: Path) -> None:
    path = tmp_path / "hw.toml"
    path.write_text("awgs = 3\n")
    with pytest.raises(HardwareConfigError) as info:
        load_hardware(path)
    assert isinstance(info.value, SequenceError)


def test_example_calibration_loads() -> None:
    cal = load_calibration(EXAMPLES / "calibration.toml")
    assert cal.aom_response("aom_raman").model == "table"
    assert cal.channel("rydberg_global").delay_ns == 12.0
    assert cal.channel("unknown").delay_ns == 0.0


def test_missing_aom_response_is_named() -> None:
    with pytest.raises(HardwareConfigError, match="no response for AOM 'x'"):
        CompilerCalibration().aom_response("x")


def test_sin2_response_is_the_bragg_curve() -> None:
    resp = AOMResponse(saturation_v=0.4, peak_efficiency=0.9)
    v = np.array([0.0, 0.2, 0.4])
    np.testing.assert_allclose(resp.efficiency(v), [0.0, 0.45, 0.9], atol=1e-12)


@settings(max_examples=50, deadline=None)
@given(eta=st.floats(0.0, 0.9))
def test_sin2_inverse_round_trips(eta: float) -> None:
    resp = AOMResponse(saturation_v=0.4, peak_efficiency=0.9)
    v = resp.amplitude_for(np.array([eta]))
    np.testing.assert_allclose(resp.efficiency(v), [eta], atol=1e-12)


@settings(max_examples=50, deadline=None)
@given(eta=st.floats(0.0, 0.8))
def test_table_inverse_round_trips(eta: float) -> None:
    resp = load_calibration(EXAMPLES / "calibration.toml").aom_response("aom_raman")
    v = resp.amplitude_for(np.array([eta]))
    np.testing.assert_allclose(resp.efficiency(v), [eta], atol=1e-12)


def test_efficiency_beyond_saturation_is_refused() -> None:
    resp = AOMResponse(saturation_v=0.4, peak_efficiency=0.9)
    with pytest.raises(HardwareLimitError, match="beyond the AOM's saturation"):
        resp.amplitude_for(np.array([0.95]))


def test_table_must_increase() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        AOMResponse(model="table", rf_amplitude_v=(0, 0.1, 0.2), relative_power=(0, 0.5, 0.4))
