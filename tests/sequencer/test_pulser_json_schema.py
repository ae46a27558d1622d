"""Pulser abstract-repr schemas, registers and layouts: the parts that need no sequence."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from sequencer import RegisterLayout, SerializationError
from sequencer.pulser_json import (
    detect_format,
    register_from_pulser_json,
    register_to_pulser_json,
    validate_pulser_json,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sequences" / "pulser_made.json"


@pytest.mark.pulser
@pytest.mark.parametrize("name", ["sequence", "device", "register", "layout", "noise"])
def test_vendored_schemas_match_installed_pulser(name):
    ar = pytest.importorskip("pulser.json.abstract_repr")
    ours = resources.files("sequencer.pulser_schemas").joinpath(f"{name}-schema.json")
    theirs = Path(ar.__file__).parent / "schemas" / f"{name}-schema.json"
    assert json.loads(ours.read_text("utf-8")) == json.loads(theirs.read_text("utf-8"))


@pytest.mark.pulser
def test_vendored_c3_table_matches_installed_pulser():
    coeffs = pytest.importorskip("pulser.devices.interaction_coefficients")
    ours = json.loads(
        resources.files("sequencer.pulser_schemas").joinpath("C3_coeffs.json").read_text("utf-8")
    )
    assert {int(k): v for k, v in ours.items()} == dict(coeffs.c3_dict)


def test_pulser_made_example_is_valid():
    validate_pulser_json(EXAMPLE.read_text(), "sequence")


@pytest.mark.parametrize(
    ("path", "value", "where", "says"),
    [
        (("operations", 0, "protocol"), "soon", "operations/0/protocol", "is not one of"),
        (
            ("operations", 1, "amplitude", "duration"),
            "long",
            "operations/1/amplitude/duration",
            "is not of type 'number'",
        ),
        (("measurement",), "sideways", "measurement", "sideways"),
        (("register", 0, "x"), "left", "register/0/x", "is not of type 'number'"),
    ],
)
def test_schema_errors_name_the_offending_field(path, value, where, says):
    obj = json.loads(EXAMPLE.read_text())
    node = obj
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(SerializationError) as info:
        validate_pulser_json(obj, "sequence")
    assert f"at {where}:" in str(info.value)
    assert says in str(info.value)


def test_missing_required_key_is_named():
    obj = json.loads(EXAMPLE.read_text())
    del obj["channels"]
    with pytest.raises(SerializationError, match="'channels' is a required property"):
        validate_pulser_json(obj, "sequence")


def test_validate_accepts_text_and_rejects_non_json():
    with pytest.raises(SerializationError, match="not valid JSON"):
        validate_pulser_json("{ nope", "sequence")


def test_detect_format():
    assert detect_format(json.loads(EXAMPLE.read_text())) == "pulser"
    assert detect_format({"register": {}, "device": {}, "calls": []}) == "atomstack"


def test_register_with_layout_round_trips_unchanged():
    layout = RegisterLayout.rectangle(3, 4, spacing=5.0)
    reg = layout.define_register(0, 5, 7, atom_ids=["x", "y", "z"])
    text = register_to_pulser_json(reg)
    validate_pulser_json(text, "register")
    back = register_from_pulser_json(text)
    assert back == reg
    assert back.trap_ids == (0, 5, 7)


def test_register_atoms_off_the_layout_are_refused():
    layout = RegisterLayout.rectangle(2, 2, spacing=5.0)
    reg = layout.define_register(0, 3)
    obj = json.loads(register_to_pulser_json(reg))
    obj["register"][1]["x"] += 0.5
    with pytest.raises(SerializationError, match="does not sit on a trap"):
        register_from_pulser_json(json.dumps(obj))


def test_3d_register_is_refused_by_name():
    text = json.dumps({"register": [{"name": "a", "x": 0.0, "y": 0.0, "z": 1.0}]})
    with pytest.raises(SerializationError, match="3D registers"):
        register_from_pulser_json(text)


@pytest.mark.pulser
def test_register_with_layout_survives_pulser():
    pulser = pytest.importorskip("pulser")
    layout = RegisterLayout.rectangle(3, 4, spacing=5.0)
    reg = layout.define_register(0, 5, 7, atom_ids=["x", "y", "z"])
    preg = pulser.Register.from_abstract_repr(register_to_pulser_json(reg))
    assert [str(q) for q in preg.qubit_ids] == ["x", "y", "z"]
    assert preg.layout is not None
    back = register_from_pulser_json(preg.to_abstract_repr())
    assert back.ids == reg.ids
    assert np.array_equal(back.coords, reg.coords)
    # Pulser sorts a layout's traps: the indices change, the traps do not.
    assert back.layout is not None
    assert sorted(map(tuple, back.layout.coords)) == sorted(map(tuple, layout.coords))
    assert np.array_equal(back.layout.coords[list(back.trap_ids or ())], reg.coords)


@pytest.mark.pulser
def test_register_from_pulser_keeps_ids_and_positions():
    pulser = pytest.importorskip("pulser")
    preg = pulser.Register.triangular_lattice(2, 3, spacing=5.0, prefix="atom")
    reg = register_from_pulser_json(preg.to_abstract_repr())
    assert list(reg.ids) == [str(q) for q in preg.qubit_ids]
    expected = np.array([preg.qubits[q] for q in preg.qubit_ids], dtype=float)
    assert np.allclose(reg.coords, expected, atol=1e-9)
