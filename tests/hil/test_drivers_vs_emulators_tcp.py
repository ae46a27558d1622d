"""Layer 2: the TCP drivers (33600A AWG, PM100D, DLC pro, SLM bridge) against their emulators.

Every fault of the emulators is exercised: no hang (short driver timeouts, pytest-timeout),
recovery where it is safe (an idempotent query is repeated after reconnecting), the
drivers' own exception where it is not (a non-idempotent write whose connection dropped),
and the emulator's log shows that nothing was applied twice.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from drivers.awg import Keysight33600A
from drivers.errors import (
    InstrumentCommandError,
    InstrumentConnectionError,
    InstrumentError,
    InstrumentProtocolError,
    InstrumentTimeout,
    ParameterValidationError,
)
from drivers.lasers import TopticaDLCPro
from drivers.powermeter import ThorlabsPM100D
from drivers.slm import SLMBridge
from virtual_device.instruments import (
    EMULATORS,
    PM100DConfig,
    SLMBridgeEmulator,
    ThorlabsPM100DEmulator,
    TopticaDLCProEmulator,
)

pytestmark = pytest.mark.timeout(60)

TIMEOUT_S = 0.5


def _no_threads(name: str) -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith(name)]


# -- Keysight 33600A -----------------------------------------------------------------------


@pytest.fixture
def awg_emu():
    emu = EMULATORS[Keysight33600A.emulator_name]()
    with emu:
        yield emu
    assert _no_threads(emu.name)


@pytest.fixture
def awg(awg_emu):
    with Keysight33600A(awg_emu.resource, timeout_s=TIMEOUT_S) as driver:
        driver.identify()  # the emulator has handled everything sent at connect
        yield driver


def test_awg_identifies_as_the_emulated_model(awg):
    identity = awg.identify()
    assert "Keysight" in str(identity) and "33622A" in str(identity)


def test_awg_settings_land_in_the_instrument_state(awg, awg_emu):
    awg.ch1.amplitude_vpp = 2.5
    awg.ch1.offset_v = 0.25
    awg.ch2.arb_sample_rate_hz = 250e6
    awg.ch1.output_enabled = True
    ch1, ch2 = awg_emu.state.channels
    assert (ch1.amplitude_vpp, ch1.offset_v, ch1.output) == (2.5, 0.25, True)
    assert ch2.sample_rate_hz == 250e6
    assert awg.ch1.amplitude_vpp == 2.5


def test_awg_upload_is_bit_exact_including_newline_bytes(awg, awg_emu):
    rng = np.random.default_rng(3)
    codes = rng.integers(-32767, 32768, size=100_000).astype(np.int16)
    codes[:4] = [10, 0x0A0A, 2560, -246]  # 0x0a bytes in both byte positions
    awg.ch1.upload_arb("rnd", codes)
    np.testing.assert_array_equal(awg_emu.state.channels[0].waveforms["rnd"], codes)
    awg.ch1.play_arb("rnd")
    assert awg_emu.state.channels[0].arb == "rnd"
    assert awg_emu.state.channels[0].function == "ARB"
    assert awg.volatile_catalog(1) == ["rnd"]


def test_awg_instrument_refusal_raises_the_drivers_command_error(awg, awg_emu):
    awg.ch1.upload_arb("dup", np.zeros(16, np.int16))
    with pytest.raises(InstrumentCommandError):
        awg.ch1.upload_arb("dup", np.ones(16, np.int16))
    np.testing.assert_array_equal(awg_emu.state.channels[0].waveforms["dup"], np.zeros(16))


def test_awg_sequence_maps_onto_data_seq(awg, awg_emu):
    from drivers.awg.keysight import SequenceEntry

    awg.ch1.upload_arb("s_a", np.zeros(32, np.int16))
    awg.ch1.upload_arb("s_b", np.ones(32, np.int16))
    awg.ch1.define_sequence(
        "seq", [SequenceEntry("s_a", 1, "once"), SequenceEntry("s_b", 5, "repeat")]
    )
    awg.ch1.play_arb("seq")
    steps = awg_emu.state.channels[0].sequences["seq"]
    assert [(s.arb, s.repeat, s.play) for s in steps] == [("s_a", 1, "once"), ("s_b", 5, "repeat")]


def test_awg_repeat_until_trigger_uses_the_instruments_keyword(awg, awg_emu):
    from drivers.awg.keysight import SequenceEntry

    awg.ch1.upload_arb("w_a", np.zeros(32, np.int16))
    awg.ch1.define_sequence("trg", [SequenceEntry("w_a", 1, "repeatTilTrig")])
    assert awg_emu.state.channels[0].sequences["trg"][0].play.lower() == "repeattiltrig"


def test_awg_idempotent_query_is_repeated_after_a_drop(awg, awg_emu):
    awg_emu.faults.drop_next()
    assert awg.ch1.amplitude_vpp == pytest.approx(0.1)
    assert awg.reconnects >= 1


def test_awg_late_reply_is_recovered_or_times_out_without_hanging(awg, awg_emu):
    awg_emu.faults.delay_next(3 * TIMEOUT_S)
    assert awg.ch1.offset_v == 0.0  # repeated on a fresh connection; the late reply dies
    assert awg.ch1.amplitude_vpp == pytest.approx(0.1)  # and is never read as this one


def test_awg_garbage_reply_is_recovered_for_an_idempotent_query(awg, awg_emu):
    awg_emu.faults.garbage_next()
    assert awg.ch1.function == "SIN"
    assert awg.ch1.function == "SIN"


def test_awg_trigger_lost_with_its_connection_is_not_resent(awg, awg_emu):
    awg.ch1.trigger_source = "BUS"
    awg_emu.faults.drop_next(when="after")
    awg.trigger()  # a write without reply cannot see the drop ...
    assert awg.ch1.trigger_source == "BUS"  # ... the next query reconnects
    assert len(awg_emu.executed("*TRG")) == 1
    assert awg_emu.state.channels[0].triggers == 1


def test_awg_trigger_after_a_dropped_connection_fires_once(awg, awg_emu):
    awg.ch1.trigger_source = "BUS"
    awg_emu.faults.drop_now()
    awg.trigger()  # the driver sees the drop before sending: reconnects, sends once
    assert awg.ch1.trigger_source == "BUS"
    assert len(awg_emu.executed("*TRG")) == 1


def test_awg_upload_whose_connection_drops_is_not_sent_twice(awg, awg_emu):
    awg_emu.faults.drop_next(when="after")
    with pytest.raises(InstrumentConnectionError):
        awg.ch1.upload_arb("once", np.arange(64, dtype=np.int16))
    assert len(awg_emu.executed("SOUR1:DATA:ARB:DAC once")) == 1
    assert awg.volatile_catalog(1) == ["once"]


def test_awg_corrupted_block_is_reported_and_not_loaded(awg, awg_emu):
    awg_emu.faults.corrupt_next_block()
    with pytest.raises(InstrumentCommandError):
        awg.ch1.upload_arb("bad", np.arange(64, dtype=np.int16))
    assert awg_emu.state.channels[0].waveforms == {}
    awg.ch1.upload_arb("bad", np.arange(64, dtype=np.int16))
    assert "bad" in awg_emu.state.channels[0].waveforms


def test_awg_power_cycle_reconnects_and_restores_the_byte_order(awg, awg_emu):
    awg.ch1.amplitude_vpp = 3.0
    awg_emu.power_cycle()
    assert awg.ch1.amplitude_vpp == pytest.approx(0.1)  # power-on value, after reconnecting
    codes = np.array([1, 2, 3, 256, -2, 7, 8, 9], np.int16)
    awg.ch1.upload_arb("after", codes)
    np.testing.assert_array_equal(awg_emu.state.channels[0].waveforms["after"], codes)


def test_awg_safe_state_opens_every_output(awg, awg_emu):
    awg.ch1.output_enabled = True
    awg.ch2.output_enabled = True
    awg.safe_state()
    assert not any(ch.output for ch in awg_emu.state.channels)


def test_awg_client_side_validation_sends_nothing(awg, awg_emu):
    before = len(awg_emu.log)
    with pytest.raises(ParameterValidationError):
        awg.ch1.amplitude_vpp = 50.0
    assert len(awg_emu.log) == before


# -- Thorlabs PM100D -----------------------------------------------------------------------


@pytest.fixture
def pm_emu():
    with ThorlabsPM100DEmulator(config=PM100DConfig(zero_duration_s=0.1), seed=2) as emu:
        emu.incident_power_w = 1.5e-3
        emu.light_wavelength_nm = 852.0
        yield emu
    assert _no_threads(emu.name)


@pytest.fixture
def pm(pm_emu):
    with ThorlabsPM100D(pm_emu.resource, timeout_s=TIMEOUT_S) as driver:
        driver.identify()  # the emulator has handled everything sent at connect
        yield driver


def test_pm100d_reads_the_power_with_the_wavelength_set(pm, pm_emu):
    pm.wavelength_nm = 852.0
    assert pm_emu.state.wavelength_nm == 852.0
    assert pm.measure_power_w() == pytest.approx(1.5e-3, rel=0.02)


def test_pm100d_averaging_and_zeroing(pm, pm_emu):
    pm.averaging_count = 50
    assert pm_emu.state.averaging == 50
    pm_emu.incident_power_w = 0.0
    offset = pm.zero()
    assert offset == pytest.approx(pm_emu.state.zero_offset_w)
    assert abs(pm.measure_power_w()) < 1e-9


def test_pm100d_out_of_range_wavelength_is_refused_before_the_wire(pm, pm_emu):
    before = len(pm_emu.log)
    with pytest.raises(ParameterValidationError):
        pm.wavelength_nm = 1500.0
    assert len(pm_emu.log) == before


def test_pm100d_faults_on_measurement(pm, pm_emu):
    pm.wavelength_nm = 852.0
    for inject in (
        pm_emu.faults.drop_next,
        pm_emu.faults.garbage_next,
        lambda: pm_emu.faults.delay_next(3 * TIMEOUT_S),
    ):
        inject()
        try:
            value = pm.measure_power_w()
        except (InstrumentTimeout, InstrumentProtocolError, InstrumentConnectionError):
            value = pm.measure_power_w()  # the driver is usable after its own exception
        assert value == pytest.approx(1.5e-3, rel=0.02)


def test_pm100d_power_cycle_then_settings_are_reapplied_by_the_user(pm, pm_emu):
    pm.wavelength_nm = 852.0
    pm_emu.power_cycle()
    assert pm.wavelength_nm == 780.0
    pm.wavelength_nm = 852.0
    assert pm.measure_power_w() == pytest.approx(1.5e-3, rel=0.02)


# -- Toptica DLC pro -----------------------------------------------------------------------


@pytest.fixture
def dlc_emu():
    with TopticaDLCProEmulator() as emu:
        yield emu
    assert _no_threads(emu.name)


@pytest.fixture
def dlc(dlc_emu):
    with TopticaDLCPro(dlc_emu.resource, timeout_s=TIMEOUT_S) as driver:
        yield driver


def test_dlcpro_current_and_emission(dlc, dlc_emu):
    dlc.current_set_ma = 110.0
    dlc.current_enabled = True
    assert dlc_emu.state.value("laser1:dl:cc:current-set") == 110.0
    assert dlc.emission is True
    assert dlc.current_act_ma == pytest.approx(110.0)
    dlc.safe_state()
    assert dlc_emu.state.value("laser1:emission") is False


def test_dlcpro_generic_param_access_and_device_errors(dlc, dlc_emu):
    assert dlc.param_ref("system-type") == "DLCpro"
    with pytest.raises(InstrumentCommandError):
        dlc.param_ref("laser1:does-not-exist")
    with pytest.raises(InstrumentCommandError):
        dlc.param_set("laser1:emission", True)
    assert dlc.temperature_set_c == 20.0


def test_dlcpro_faults(dlc, dlc_emu):
    dlc_emu.faults.drop_next()
    assert dlc.temperature_set_c == 20.0
    dlc_emu.faults.garbage_next()
    assert dlc.temperature_set_c == 20.0
    dlc_emu.faults.delay_next(3 * TIMEOUT_S)
    assert dlc.temperature_set_c == 20.0
    assert dlc.current_set_ma == 0.0


def test_dlcpro_power_cycle(dlc, dlc_emu):
    dlc.current_set_ma = 50.0
    dlc_emu.power_cycle()
    assert dlc.current_set_ma == 0.0


# -- SLM bridge ----------------------------------------------------------------------------


@pytest.fixture
def slm_emu():
    with SLMBridgeEmulator(shape=(64, 96), bits=8) as emu:
        yield emu
    assert _no_threads(emu.name)


@pytest.fixture
def slm(slm_emu):
    with SLMBridge(slm_emu.resource, timeout_s=TIMEOUT_S) as driver:
        driver.identify()  # the emulator has handled everything sent at connect
        yield driver


def test_slm_mask_round_trip(slm, slm_emu):
    assert slm.shape == (64, 96)
    assert slm.bit_depth == 8
    rng = np.random.default_rng(5)
    mask = rng.integers(0, 256, size=(64, 96)).astype(np.uint16)
    mask[0, :4] = 10  # 0x0a bytes
    slm.write_mask(mask)
    np.testing.assert_array_equal(slm_emu.state.mask, mask)
    np.testing.assert_array_equal(slm.read_mask(), mask)


def test_slm_corrupt_readback_raises_then_recovers(slm, slm_emu):
    mask = np.full((64, 96), 3, np.uint16)
    slm.write_mask(mask)
    slm_emu.faults.corrupt_next_block()
    try:
        again = slm.read_mask()
    except InstrumentProtocolError:
        again = slm.read_mask()
    np.testing.assert_array_equal(again, mask)


def test_slm_faults_on_write(slm, slm_emu):
    slm_emu.faults.drop_next(when="after")
    with pytest.raises(InstrumentError):
        slm.write_mask(np.ones((64, 96), np.uint16))
    assert slm_emu.state.masks_written <= 1
    np.testing.assert_array_equal(slm.read_mask(), slm_emu.state.mask)


def _program(first_value: int):
    from drivers.awg.sequence import Segment, SequenceProgram, SequenceStep

    segments = (
        Segment("seg_a", np.full(64, first_value, np.int16)),
        Segment("seg_b", np.arange(64, dtype=np.int16)),
    )
    steps = (SequenceStep("seg_a", loops=3), SequenceStep("seg_b", advance="trigger"))
    return SequenceProgram(segments, steps, name="shot")


def test_awg_sequence_program_maps_onto_the_instrument(awg, awg_emu):
    awg.ch1.load_program(_program(5))
    ch = awg_emu.state.channels[0]
    assert (ch.function, ch.arb) == ("ARB", "shot")
    assert [(s.arb, s.repeat, s.play) for s in ch.sequences["shot"]] == [
        ("seg_a", 3, "repeat"),
        ("seg_b", 1, "repeatTilTrig"),
    ]
    volts, _ = awg_emu.output_waveform_v(1)
    assert volts.size == 3 * 64 + 64


def test_awg_reprogramming_a_changed_segment_replaces_it(awg, awg_emu):
    awg.ch1.load_program(_program(5))
    awg.ch1.load_program(_program(9), changed=["seg_a"])
    np.testing.assert_array_equal(awg_emu.state.channels[0].waveforms["seg_a"], 9)


def test_slm_garbage_and_late_replies_to_queries(slm, slm_emu):
    slm_emu.faults.garbage_next()
    assert slm.identify() is not None
    slm_emu.faults.delay_next(3 * TIMEOUT_S)
    mask = slm.read_mask()
    np.testing.assert_array_equal(mask, slm_emu.state.mask)


def test_slm_power_cycle_blanks_the_mask_and_the_driver_reconnects(slm, slm_emu):
    slm.write_mask(np.full((64, 96), 9, np.uint16))
    slm_emu.power_cycle()
    np.testing.assert_array_equal(slm.read_mask(), np.zeros((64, 96), np.uint16))


def test_awg_block_download_carries_every_newline_byte(awg, awg_emu):
    codes = np.random.default_rng(8).integers(-32767, 32768, 50_000).astype(np.int16)
    awg.ch1.upload_arb("big", codes)
    awg.ch1.play_arb("big")
    awg.write_checked('MMEM:STOR:DATA1 "INT:\\big.arb"')
    text = awg.query_block('MMEM:UPL? "INT:\\big.arb"')
    assert text == awg_emu.state.files["INT:\\BIG.ARB"]
    assert text.count(b"\n") > 50_000
    np.testing.assert_array_equal(np.array(text.split(b"Data:\r\n")[1].split(), int), codes)


def test_awg_corrupt_block_download_raises_then_recovers(awg, awg_emu):
    awg.ch1.upload_arb("small", np.arange(32, dtype=np.int16))
    awg.ch1.play_arb("small")
    awg.write_checked('MMEM:STOR:DATA1 "INT:\\small.arb"')
    awg_emu.faults.corrupt_next_block()
    try:
        text = awg.query_block('MMEM:UPL? "INT:\\small.arb"')
    except InstrumentError:
        text = awg.query_block('MMEM:UPL? "INT:\\small.arb"')
    assert text == awg_emu.state.files["INT:\\SMALL.ARB"]
