"""Layer 2: the serial drivers (SynthHD, OBIS, ORCA camera) against their emulators on ptys.

A pty cannot be unplugged, so a "drop" there loses the command line (the command and
anything buffered with it); the drivers must time out, recover on idempotent exchanges,
and never repeat a non-idempotent one.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from drivers.camera import HamamatsuOrcaFlash4
from drivers.errors import (
    InstrumentCommandError,
    InstrumentError,
    ParameterValidationError,
)
from drivers.lasers import CoherentOBIS
from drivers.rf import WindfreakSynthHD
from virtual_device.instruments import (
    CoherentOBISEmulator,
    FrameRequest,
    HamamatsuOrcaEmulator,
    OBISConfig,
    OrcaConfig,
    WindfreakConfig,
    WindfreakSynthHDEmulator,
)

pytestmark = pytest.mark.timeout(60)

TIMEOUT_S = 0.5


def _no_threads(name: str) -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith(name)]


# -- Windfreak SynthHD ---------------------------------------------------------------------


@pytest.fixture
def synth_emu():
    with WindfreakSynthHDEmulator(config=WindfreakConfig(idle_gap_s=0.05)) as emu:
        yield emu
    assert _no_threads(emu.name)


@pytest.fixture
def synth(synth_emu):
    with WindfreakSynthHD(synth_emu.resource, timeout_s=TIMEOUT_S) as driver:
        yield driver


def test_synthhd_sets_each_channel_and_reads_back(synth, synth_emu):
    synth.channels[1].frequency_hz = 2.4e9
    synth.channels[1].power_dbm = -3.5
    synth.channels[0].frequency_hz = 80.125e6
    a, b = synth_emu.state.channels
    assert (b.frequency_mhz, b.power_dbm, a.frequency_mhz) == (2400.0, -3.5, 80.125)
    assert synth.channels[1].frequency_hz == pytest.approx(2.4e9)


def test_synthhd_never_sends_an_exponent(synth, synth_emu):
    synth.channels[0].frequency_hz = 1e10
    assert not [r for r in synth_emu.log if r.text == "e"]  # no EEPROM save ran
    assert synth_emu.state.channels[0].frequency_mhz == 10_000.0


def test_synthhd_output_switch_follows_the_configured_polarity(synth, synth_emu):
    synth.channels[0].output_enabled = True
    assert synth_emu.output_on(0)
    synth.safe_state()
    assert not synth_emu.output_on(0) and not synth_emu.output_on(1)


def test_synthhd_identity(synth):
    assert synth.model() == "SynthHD"
    assert synth.serial_number() == "1234"


def test_synthhd_limits_are_checked_before_the_wire(synth, synth_emu):
    before = len(synth_emu.log)
    with pytest.raises(ParameterValidationError):
        synth.channels[0].power_dbm = 30.0
    assert len(synth_emu.log) == before


def test_synthhd_a_value_the_device_ignores_is_reported(synth_emu):
    narrow = WindfreakSynthHD(synth_emu.resource, timeout_s=TIMEOUT_S, max_frequency_hz=20e9)
    with narrow, pytest.raises(InstrumentCommandError):
        narrow.channels[0].frequency_hz = 18e9  # above the emulated v2's 15 GHz


def test_synthhd_lost_line_and_garbage_are_recovered(synth, synth_emu):
    synth_emu.faults.drop_next()
    assert synth.channels[0].power_dbm == -10.0
    synth_emu.faults.garbage_next()
    assert synth.channels[0].power_dbm == -10.0
    synth.channels[0].power_dbm = 1.0
    assert synth_emu.state.channels[0].power_dbm == 1.0


def test_synthhd_late_reply_times_out_then_the_driver_is_in_step(synth, synth_emu):
    synth_emu.faults.delay_next(3 * TIMEOUT_S)
    _survive(lambda: synth.channels[0].power_dbm, -10.0, synth_emu)
    _assert_in_step(
        (lambda: synth.channels[0].power_dbm, -10.0),
        (lambda: synth.channels[0].frequency_hz, pytest.approx(1e9)),
    )


def test_synthhd_power_cycle_returns_to_channel_a_but_driver_addresses_each(synth, synth_emu):
    synth.channels[1].power_dbm = 2.0
    synth_emu.power_cycle()
    synth.channels[1].power_dbm = 4.0
    assert synth_emu.state.channels[1].power_dbm == 4.0
    assert synth_emu.state.channels[0].power_dbm == -10.0


# -- Coherent OBIS -------------------------------------------------------------------------


@pytest.fixture
def obis_emu():
    with CoherentOBISEmulator(config=OBISConfig(cdrh_delay_s=0.0)) as emu:
        yield emu
    assert _no_threads(emu.name)


@pytest.fixture
def obis(obis_emu):
    with CoherentOBIS(obis_emu.resource, timeout_s=TIMEOUT_S) as driver:
        yield driver


@pytest.mark.parametrize("handshake", [True, False])
def test_obis_driver_forces_handshaking_whatever_the_power_on_mode(handshake):
    with CoherentOBISEmulator(config=OBISConfig(handshake=handshake, cdrh_delay_s=0.0)) as emu:
        with CoherentOBIS(emu.resource, timeout_s=TIMEOUT_S) as laser:
            assert emu.state.handshake
            laser.power_setpoint_w = 0.02
            assert laser.power_setpoint_w == pytest.approx(0.02)
            assert laser.wavelength_nm == 637.0  # never one reply behind


def test_obis_emission_and_power(obis, obis_emu):
    obis.power_setpoint_w = 0.03
    obis.emission = True
    assert obis_emu.output_power_w() == pytest.approx(0.03)
    assert obis.output_power_w == pytest.approx(0.03)
    obis.safe_state()
    assert obis_emu.output_power_w() == 0.0


def test_obis_err_reply_becomes_the_drivers_command_error(obis, obis_emu):
    obis_emu.set_interlock(False)
    with pytest.raises(InstrumentCommandError):
        obis.emission = True
    obis_emu.set_interlock(True)
    assert obis.interlock_closed is True


def test_obis_soft_limit_refuses_before_the_wire(obis_emu):
    with CoherentOBIS(obis_emu.resource, timeout_s=TIMEOUT_S, max_power_w=0.05) as laser:
        before = len(obis_emu.log)
        with pytest.raises(ParameterValidationError):
            laser.power_setpoint_w = 0.08
        assert len(obis_emu.log) == before


def test_obis_lost_line_and_garbage_are_recovered(obis, obis_emu):
    obis_emu.faults.garbage_next()
    assert obis.power_setpoint_w == 0.0
    obis_emu.faults.drop_next()
    assert obis.wavelength_nm == 637.0
    _assert_in_step(
        (lambda: obis.wavelength_nm, 637.0),
        (lambda: obis.interlock_closed, True),
    )


def test_obis_late_reply_times_out_then_the_driver_is_in_step(obis, obis_emu):
    obis_emu.faults.delay_next(3 * TIMEOUT_S)
    _survive(lambda: obis.wavelength_nm, 637.0, obis_emu)
    _assert_in_step(
        (lambda: obis.wavelength_nm, 637.0),
        (lambda: obis.interlock_closed, True),
        (lambda: obis.power_setpoint_w, 0.0),
    )


def test_obis_set_whose_reply_is_lost_is_repeated_once_at_most(obis, obis_emu):
    obis.power_setpoint_w = 0.01
    obis_emu.faults.drop_next(when="after")
    obis.emission = True  # a set is idempotent: the driver may repeat it
    assert obis_emu.state.emission
    assert 1 <= len(obis_emu.executed("SOUR:AM:STAT ON")) <= 2


def test_obis_power_cycle_restores_handshaking_through_reconnect(obis, obis_emu):
    obis_emu.power_cycle()
    _survive(lambda: obis.wavelength_nm, 637.0, obis_emu)
    assert obis_emu.state.handshake
    assert obis.wavelength_nm == 637.0


def _survive(read, expected, emu) -> None:
    """``read()`` gives ``expected`` or the drivers' own exception, and never hangs.

    Then wait until the emulator has sent everything it owed (a late reply on a serial
    line cannot be told from a fresh one by a protocol without echo).
    """
    try:
        assert read() == expected
    except InstrumentError:
        pass
    _wait_idle(emu)


def _wait_idle(emu) -> None:
    idle = threading.Event()
    for _ in range(400):
        with emu.lock:
            pending = emu.faults.pending["delay"]
        if not pending:
            break
        idle.wait(0.01)
    idle.wait(4 * TIMEOUT_S)  # the delayed reply, then a quiet line


def _assert_in_step(*pairs) -> None:
    """Each query gets its own reply: alternating reads give their own values, twice over."""
    for _ in range(2):
        for read, expected in pairs:
            assert read() == expected


# -- Hamamatsu ORCA ------------------------------------------------------------------------


@pytest.fixture
def orca_emu():
    with HamamatsuOrcaEmulator(config=OrcaConfig(width=64, height=64)) as emu:
        yield emu
    assert _no_threads(emu.name)


@pytest.fixture
def cam(orca_emu):
    driver = HamamatsuOrcaFlash4(orca_emu.resource, orca_emu.frame_address, timeout_s=TIMEOUT_S)
    with driver:
        yield driver


def test_orca_settings_go_over_the_serial_link(cam, orca_emu):
    assert cam.get_detector_size() == (64, 64)
    assert cam.set_exposure(0.002) == pytest.approx(0.002)
    assert orca_emu.state.exposure_s == pytest.approx(0.002)
    cam.set_trigger_mode("ext")
    assert orca_emu.state.trigger_mode == "E"
    assert cam.get_trigger_mode() == "ext"


def test_orca_free_run_frames_arrive_in_the_buffer(cam, orca_emu):
    cam.set_exposure(0.001)
    cam.start_acquisition()
    cam.wait_for_frame(3, timeout_s=10.0)
    images = cam.read_multiple_images()
    assert len(images) >= 3 and images[0].shape == (64, 64) and images[0].dtype == np.uint16
    cam.stop_acquisition()


def test_orca_roi_band_and_binning_shape_the_frames(cam, orca_emu):
    roi = cam.set_roi(vstart=24, vend=40, hbin=2, vbin=2)
    assert (orca_emu.state.scan_mode, orca_emu.state.subarray) == ("W", (24, 0, 8))
    assert (roi.vstart, roi.vend) == (24, 40)
    cam.set_exposure(0.001)
    cam.start_acquisition()
    cam.wait_for_frame(1, timeout_s=10.0)
    assert cam.read_newest_image().shape == (8, 32)
    cam.stop_acquisition()


def test_orca_external_trigger_frames_come_from_the_producer_hook(cam, orca_emu):
    def atoms(request: FrameRequest) -> np.ndarray:
        image = np.full(request.shape, 100, np.uint16)
        image[10, 20] = 5000
        return image

    orca_emu.frame_producer = atoms
    cam.set_exposure(0.001)
    cam.set_trigger_mode("ext")
    cam.start_acquisition()
    _wait_for_client(orca_emu)
    orca_emu.trigger()
    cam.wait_for_frame(1, timeout_s=10.0)
    image = cam.read_newest_image()
    assert image[10, 20] == 5000 and int(image.sum()) == 100 * (64 * 64 - 1) + 5000
    cam.stop_acquisition()


def test_orca_serial_error_is_the_drivers_command_error(cam):
    with pytest.raises(InstrumentCommandError):
        cam.query("?XYZ")


def test_orca_corrupt_frame_does_not_hang_the_buffer(cam, orca_emu):
    cam.set_exposure(0.001)
    cam.start_acquisition()
    cam.wait_for_frame(1, timeout_s=10.0)
    orca_emu.faults.corrupt_next_block()
    try:
        cam.wait_for_frame(20, timeout_s=2.0)
    except InstrumentError:
        pass  # the source reports the broken stream with the drivers' own exception
    cam.stop_acquisition()
    cam.start_acquisition()
    cam.read_multiple_images()
    cam.wait_for_frame(1, timeout_s=10.0)
    cam.stop_acquisition()


def test_orca_serial_faults_recover(cam, orca_emu):
    orca_emu.faults.garbage_next()
    assert cam.get_exposure() == pytest.approx(0.01)
    orca_emu.faults.drop_next()
    assert cam.get_exposure() == pytest.approx(0.01)
    orca_emu.faults.delay_next(3 * TIMEOUT_S)
    _survive(cam.get_exposure, pytest.approx(0.01), orca_emu)
    _assert_in_step(
        (cam.get_exposure, pytest.approx(0.01)),
        (cam.frame_rate_hz, pytest.approx(100.0)),
    )


def _wait_for_client(emu: HamamatsuOrcaEmulator) -> None:
    done = threading.Event()
    for _ in range(500):
        if emu.frame_clients:
            return
        done.wait(0.01)
    raise AssertionError("the frame source never connected")


def test_orca_power_cycle_then_settings_and_frames_again(cam, orca_emu):
    cam.set_exposure(0.002)
    cam.start_acquisition()
    cam.wait_for_frame(1, timeout_s=10.0)
    orca_emu.power_cycle()
    assert _recover(cam.get_exposure) == pytest.approx(0.01)  # the power-on exposure
    cam.set_exposure(0.001)
    cam.stop_acquisition()
    cam.start_acquisition()
    cam.read_multiple_images()
    cam.wait_for_frame(2, timeout_s=10.0)
    cam.stop_acquisition()


def _recover(read):
    """``read()``, once more if the first attempt raised the drivers' own exception."""
    try:
        return read()
    except InstrumentError:
        return read()
