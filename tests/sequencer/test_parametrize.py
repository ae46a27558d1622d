"""Variables, expressions, deferred waveforms/pulses and build()."""

from __future__ import annotations

import numpy as np
import pytest

from sequencer import (
    BlackmanWaveform,
    ConstantWaveform,
    InterpolatedWaveform,
    MockDevice,
    Pulse,
    Register,
    Sequence,
    Variable,
    sample,
)
from sequencer.errors import ParameterError
from sequencer.parametrize import Expression, resolve
from sequencer.waveforms import DeferredWaveform

REG = Register.line(3, spacing=5.0)


def test_expressions_are_inspectable_trees() -> None:
    a = Variable("a")
    expr = 2 * a[0] + 1
    assert isinstance(expr, Expression) and expr.op == "add" and expr.rhs == 1
    assert expr.lhs.op == "mul" and expr.lhs.lhs == 2
    assert expr.lhs.rhs.op == "index" and expr.lhs.rhs.lhs is a
    assert resolve(expr, {"a": 3.0}) == 7.0
    assert resolve((-a).sqrt(), {"a": -4.0}) == 2.0
    assert expr.variables() == frozenset({"a"})


def test_waveforms_with_variables_are_deferred_until_build() -> None:
    t = Variable("t", dtype=int)
    wf = BlackmanWaveform(t, 1.0)
    assert isinstance(wf, DeferredWaveform) and wf.is_parametrized()
    with pytest.raises(Exception, match="build"):
        _ = wf.samples
    assert wf.build({"t": 100}) == BlackmanWaveform(100, 1.0)


def test_build_replays_with_values_and_scans() -> None:
    seq = Sequence(REG, MockDevice)
    seq.declare_channel("ryd", "rydberg_global")
    t = seq.declare_variable("t", dtype=int)
    vals = seq.declare_variable("vals", size=3)
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(t, np.pi), -1.0, 0.0), "ryd")
    seq.add(Pulse.ConstantAmplitude(2.0, InterpolatedWaveform(400, vals), 0.0), "ryd")
    seq.delay(t / 2, "ryd")
    assert seq.is_parametrized()
    for duration in (100, 200):
        built = seq.build(t=duration, vals=[-1, 0, 1])
        assert not built.is_parametrized()
        assert built.get_duration() == duration + 400 + duration // 2
        area = np.sum(sample(built).channels["ryd"].amplitude[:duration]) * 1e-3
        assert area == pytest.approx(np.pi)


def test_build_checks_names_sizes_and_types() -> None:
    seq = Sequence(REG, MockDevice)
    seq.declare_channel("ryd", "rydberg_global")
    t = seq.declare_variable("t", dtype=int)
    seq.add(Pulse.ConstantPulse(t, 1.0, 0.0, 0.0), "ryd")
    with pytest.raises(ParameterError, match="missing"):
        seq.build()
    with pytest.raises(ParameterError, match="unknown"):
        seq.build(t=10, u=1)
    with pytest.raises(ParameterError, match="integers"):
        seq.build(t=10.5)
    with pytest.raises(ParameterError, match="1 value"):
        seq.build(t=[10, 20])
    with pytest.raises(ParameterError, match="already"):
        seq.declare_variable("t")


def test_deferred_pulse_limits_are_checked_at_build() -> None:
    seq = Sequence(REG, MockDevice.model_copy())
    seq.declare_channel("ryd", "rydberg_global")
    amp = seq.declare_variable("amp")
    seq.add(Pulse.ConstantPulse(100, amp, 0.0, 0.0), "ryd")
    from sequencer.errors import WaveformError

    with pytest.raises(WaveformError, match="amplitude"):
        seq.build(amp=-1.0)
    assert ConstantWaveform(100, 2.0) == seq.build(amp=2.0).calls[1].args[0].amplitude
