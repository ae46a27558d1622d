"""Our JSON format: round trip is the identity (calls and samples), including variables."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer import (
    AnalogDevice,
    BlackmanWaveform,
    CompositeWaveform,
    ConstantWaveform,
    CustomWaveform,
    DigitalAnalogDevice,
    InterpolatedWaveform,
    MockDevice,
    Pulse,
    RampWaveform,
    Register,
    Sequence,
    sample,
)
from sequencer.errors import SerializationError
from sequencer.serialization import device_from_json, device_to_json

REG = Register.square(2, spacing=6.0).centered()


def assert_round_trip(seq: Sequence) -> Sequence:
    back = Sequence.from_json(seq.to_json())
    assert back.calls == seq.calls
    assert back.register == seq.register and back.device == seq.device
    if not seq.is_parametrized():
        assert sample(back) == sample(seq)
    return back


def test_concrete_sequence_round_trip() -> None:
    seq = Sequence(REG, DigitalAnalogDevice)
    seq.declare_channel("g", "rydberg_global")
    seq.declare_channel("ram", "raman_local", initial_target="q0")
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(800, np.pi), -3.0, 0.3), "g")
    seq.add(
        Pulse(
            CompositeWaveform(RampWaveform(40, 0, 5), ConstantWaveform(40, 5)),
            CustomWaveform(np.linspace(-1, 1, 80)),
            1.0,
            post_phase_shift=0.5,
        ),
        "ram",
    )
    seq.target("q1", "ram")
    seq.phase_shift(0.25, "q1", basis="digital")
    seq.add(Pulse.ConstantAmplitude(3.0, InterpolatedWaveform(100, [0, 2, -1]), 0.0), "ram")
    seq.align("g", "ram")
    seq.delay(40, "g")
    seq.measure("digital")
    back = assert_round_trip(seq)
    assert back.is_measured()


def test_parametrised_sequence_round_trip_and_build() -> None:
    seq = Sequence(REG, MockDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.declare_channel("loc", "rydberg_local", initial_target="q0")
    t = seq.declare_variable("t", dtype=int)
    v = seq.declare_variable("v", size=2)
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform.from_max_val(v[0], 2.0), -v[1], 0.0), "ryd")
    seq.delay(2 * t, "ryd")
    seq.add(Pulse.ConstantPulse(t, (v[0] ** 2).sqrt(), 0.0, 0.0), "loc")
    seq.target_index(t // 100 if False else 1, "loc")
    back = assert_round_trip(seq)
    assert sample(back.build(t=120, v=[5.0, 1.0])) == sample(seq.build(t=120, v=[5.0, 1.0]))


def test_devices_round_trip() -> None:
    for dev in (AnalogDevice, DigitalAnalogDevice, MockDevice):
        assert device_from_json(device_to_json(dev)) == dev


def test_invalid_documents_raise_serialization_error() -> None:
    with pytest.raises(SerializationError):
        Sequence.from_json("not json")
    with pytest.raises(SerializationError):
        Sequence.from_json(json.dumps({"format": "other"}))
    good = json.loads(Sequence(REG, MockDevice).to_json())
    good["calls"] = [{"name": "__init__", "args": [], "kwargs": {}}]
    with pytest.raises(SerializationError, match="unknown call"):
        Sequence.from_json(json.dumps(good))


_wf = st.one_of(
    st.builds(ConstantWaveform, st.integers(1, 300), st.floats(-50, 50)),
    st.builds(RampWaveform, st.integers(2, 300), st.floats(-50, 50), st.floats(-50, 50)),
    st.builds(BlackmanWaveform, st.integers(3, 300), st.floats(-5, 5)),
    st.builds(
        InterpolatedWaveform,
        st.integers(5, 300),
        st.lists(st.floats(-50, 50), min_size=2, max_size=5),
    ),
    st.builds(CustomWaveform, st.lists(st.floats(-50, 50), min_size=1, max_size=50)),
)


@settings(max_examples=40, deadline=None)
@given(
    items=st.lists(
        st.tuples(_wf, st.floats(0, 20), st.floats(-10, 10), st.floats(-10, 10)),
        min_size=1,
        max_size=4,
    )
)
def test_round_trip_is_the_identity_for_random_sequences(
    items: list[tuple[object, float, float, float]],
) -> None:
    seq = Sequence(REG, MockDevice)
    seq.declare_channel("ryd", "rydberg_global")
    for det_wf, amp, phase, shift in items:
        seq.add(Pulse.ConstantAmplitude(amp, det_wf, phase, post_phase_shift=shift), "ryd")
    assert_round_trip(seq)


# Random expression trees over two variables, used as pulse parameters.
_leaf = st.one_of(st.sampled_from(["a", "b0", "b1"]), st.floats(0.5, 3.0))
_tree = st.recursive(
    _leaf,
    lambda sub: st.one_of(
        st.tuples(st.sampled_from(["add", "mul", "sub_abs"]), sub, sub),
        st.tuples(st.sampled_from(["abs", "sqrt_abs"]), sub),
    ),
    max_leaves=6,
)


def _expr(tree: Any, a: Any, b: Any) -> Any:
    if isinstance(tree, str):
        return {"a": a, "b0": b[0], "b1": b[1]}[tree]
    if isinstance(tree, float):
        return tree
    op: str = tree[0]
    vals = [_expr(x, a, b) for x in tree[1:]]
    if op == "add":
        return vals[0] + vals[1]
    if op == "mul":
        return vals[0] * vals[1]
    if op == "sub_abs":
        return abs(vals[0] - vals[1])
    if op == "abs":
        return abs(vals[0])
    return abs(vals[0]) ** 0.5


@settings(max_examples=40, deadline=None)
@given(tree=_tree, a=st.floats(0.1, 2.0), b=st.lists(st.floats(0.1, 2.0), min_size=2, max_size=2))
def test_parametrised_round_trip_is_the_identity(tree: Any, a: float, b: list[float]) -> None:
    seq = Sequence(REG, MockDevice)
    seq.declare_channel("ryd", "rydberg_global")
    va = seq.declare_variable("a")
    vb = seq.declare_variable("b", size=2)
    amp = _expr(tree, va, vb)
    seq.add(Pulse.ConstantPulse(100, abs(amp), 0.0, amp), "ryd")
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(200, abs(amp)), amp, 0.0), "ryd")
    back = assert_round_trip(seq)
    assert sample(back.build(a=a, b=b)) == sample(seq.build(a=a, b=b))
