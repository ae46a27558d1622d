"""A compiled program goes over TCP into the 33600A emulator and decodes to the same drive.

Sequence (Raman, global) → compile for examples/hardware.toml (its ``awg_raman`` is a
33622A-like generator) → ``control.upload`` through the Keysight driver → what the emulated
instrument holds (arbs, ``DATA:SEQ`` steps, sample rate, amplitude) is rebuilt into a program
and decoded: the atoms would see exactly what the compiler produced.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from control.upload import DARK_SEGMENT, sequence_program, upload_awg_channel
from drivers.awg import Keysight33600A
from sequencer import BlackmanWaveform, MockDevice, Pulse, Register, Sequence, sample
from sequencer.compiler import (
    AWGProgram,
    CompactSequence,
    HardwareProgram,
    Step,
    compile_sequence,
    decode,
    load_calibration,
    load_hardware,
)
from virtual_device.instruments import Keysight33600AEmulator

pytestmark = pytest.mark.timeout(60)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HW = load_hardware(EXAMPLES / "hardware.toml")
CAL = load_calibration(EXAMPLES / "calibration.toml")


def _raman_program() -> HardwareProgram:
    seq = Sequence(Register.line(3, spacing=6.0).centered(), MockDevice)
    seq.declare_channel("raman", "raman_global")
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(400, np.pi / 2), 0.0, 0.0), "raman")
    seq.delay(5000, "raman")  # a hold: becomes a looped segment
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(400, np.pi / 2), 0.0, 1.0), "raman")
    compact = CompactSequence.from_sampled(sample(seq), HW.min_hold_ns)
    return compile_sequence(compact, HW, CAL)


@pytest.fixture
def awg_emu():
    with Keysight33600AEmulator() as emu:
        yield emu


def _as_uploaded(program: HardwareProgram, emu: Keysight33600AEmulator) -> HardwareProgram:
    """The program rebuilt from nothing but the emulated instrument's state."""
    ch = emu.state.channels[0]
    steps = ch.sequences[ch.arb]
    assert (steps[0].arb, steps[0].play) == (DARK_SEGMENT, "repeatTilTrig")
    names = sorted({s.arb for s in steps[1:]}, key=lambda n: int(n.removeprefix("seg")))
    width = len(program.awgs["awg_raman"].channel_aoms)
    segments = []
    for name in names:
        codes = np.zeros((width, ch.waveforms[name].size), np.int32)
        codes[0] = ch.waveforms[name]
        segments.append(codes)
    played = tuple(
        Step(names.index(s.arb), s.repeat if s.play == "repeat" else 1) for s in steps[1:]
    )
    original = program.awgs["awg_raman"]
    rebuilt = AWGProgram(
        "awg_raman",
        ch.sample_rate_hz,
        original.start_ns,  # when the trigger fires: the TTL table's business, not the AWG's
        original.channel_aoms,
        tuple(segments),
        played,
    )
    return HardwareProgram(
        {"awg_raman": rebuilt}, (), program.duration_ns, program.channels, program.register
    )


def test_uploaded_program_decodes_to_the_compiled_drive(awg_emu):
    program = _raman_program()
    assert program.awgs["awg_raman"].played_samples > 2 * program.awgs["awg_raman"].segment_samples
    with Keysight33600A(awg_emu.resource, timeout_s=1.0) as awg:
        loaded = upload_awg_channel(awg.ch1, program, HW, "awg_raman", 0)
        awg.check_errors()  # raises if the instrument queued any error
    ch = awg_emu.state.channels[0]
    assert (ch.function, ch.arb) == ("ARB", loaded.name)
    assert ch.sample_rate_hz == pytest.approx(1.0e9)
    assert ch.amplitude_vpp == pytest.approx(2 * HW.awg("awg_raman").full_scale_v)
    assert ch.offset_v == 0.0
    uploaded = _as_uploaded(program, awg_emu)
    np.testing.assert_array_equal(
        uploaded.awgs["awg_raman"].expand(0), program.awgs["awg_raman"].expand(0)
    )
    expected = decode(program, HW, CAL).to_sampled().channels["raman"]
    seen = decode(uploaded, HW, CAL).to_sampled().channels["raman"]
    for name in ("amplitude", "detuning", "phase"):
        np.testing.assert_array_equal(getattr(seen, name), getattr(expected, name))


def test_the_step_table_waits_dark_for_the_trigger_then_plays_the_shot_once():
    program = _raman_program()
    loaded = sequence_program(program, HW, "awg_raman", 0)
    dark = loaded.segment(DARK_SEGMENT)
    assert not dark.samples.any() and dark.samples.size == HW.awg("awg_raman").min_segment_samples
    assert loaded.steps[0].advance == "trigger"
    assert [(s.segment, s.loops) for s in loaded.steps[1:]] == [
        (f"seg{st.segment}", st.loops) for st in program.awgs["awg_raman"].steps
    ]
    assert all(s.advance == "auto" for s in loaded.steps[1:])


def test_a_channel_that_plays_nothing_or_an_unknown_awg_is_named():
    program = _raman_program()
    with pytest.raises(ValueError, match=r"channel 1 plays nothing; channels in use: \[0\]"):
        sequence_program(program, HW, "awg_raman", 1)
    with pytest.raises(KeyError, match="awg_rydberg"):
        sequence_program(program, HW, "awg_rydberg", 0)
