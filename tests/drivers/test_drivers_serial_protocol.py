"""Layer 1: Windfreak SynthHD and Coherent OBIS against scripted bytes on a real pty."""

from __future__ import annotations

import pytest
from drivers_scripted_peer import PtyPeer, Step, steps

from drivers.errors import (
    InstrumentCommandError,
    ParameterValidationError,
)
from drivers.lasers import CoherentOBIS
from drivers.rf import WindfreakSynthHD

OBIS_HELLO = [
    Step(b"SYST:COMM:HAND ON\r\n", b"OK\r\n"),
    Step(b"SYST:COMM:HAND?\r\n", b"ON\r\nOK\r\n"),
    Step(b"SOUR:POW:LIM:LOW?\r\n", b"0.00010\r\nOK\r\n"),
    Step(b"SOUR:POW:LIM:HIGH?\r\n", b"0.11000\r\nOK\r\n"),
]


@pytest.mark.parametrize("via", ["visa", "pyserial"])
def test_windfreak_frequency_is_fixed_point_mhz_with_channel_select_and_read_back(
    via: str,
) -> None:
    script = steps(
        (b"C1f1234.56789012", b""),
        (b"C1f?", b"1234.56789012\n"),
    )
    with PtyPeer(script) as peer:
        resource = peer.resource if via == "visa" else peer.path
        with WindfreakSynthHD(resource) as synth:
            synth.channels[1].frequency_hz = 1234.56789012e6


def test_windfreak_small_numbers_never_use_exponents() -> None:
    script = steps((b"C0W-0.000", b""), (b"C0W?", b"-0.000\n"))
    with PtyPeer(script) as peer, WindfreakSynthHD(peer.resource) as synth:
        synth.channels[0].power_dbm = -1e-5  # "-1e-05" would run 'e' (EEPROM save)


def test_windfreak_value_the_device_ignored_raises() -> None:
    script = steps((b"C0W15.000", b""), (b"C0W?", b"-10.000\n"))
    with PtyPeer(script) as peer, WindfreakSynthHD(peer.resource) as synth:
        with pytest.raises(InstrumentCommandError, match="did not take"):
            synth.channels[0].power_dbm = 15.0


def test_windfreak_soft_power_limit_refuses_before_sending() -> None:
    with PtyPeer([]) as peer, WindfreakSynthHD(peer.resource, max_power_dbm=5.0) as synth:
        with pytest.raises(ParameterValidationError, match=r"\[-70, 5\] dBm"):
            synth.channels[0].power_dbm = 10.0
        with pytest.raises(ParameterValidationError, match="Hz"):
            synth.channels[0].frequency_hz = 1e3


@pytest.mark.parametrize(("h_one_means_on", "bit"), [(True, b"0"), (False, b"1")])
def test_windfreak_safe_state_mutes_per_polarity_and_powers_down_amplifier(
    h_one_means_on: bool, bit: bytes
) -> None:
    script = []
    for ch in (b"0", b"1"):
        script += steps(
            (b"C" + ch + b"h" + bit, b""),
            (b"C" + ch + b"h?", bit + b"\n"),
            (b"C" + ch + b"r0", b""),
            (b"C" + ch + b"r?", b"0\n"),
        )
    with PtyPeer(script) as peer:
        with WindfreakSynthHD(peer.resource, h_one_means_output_on=h_one_means_on) as synth:
            synth.safe_state()


def test_windfreak_identity_queries() -> None:
    script = steps((b"+", b"SynthHD\n"), (b"v0", b"3.22\n"), (b"z", b"32.50\n"))
    with PtyPeer(script) as peer, WindfreakSynthHD(peer.resource) as synth:
        assert synth.model() == "SynthHD"
        assert synth.firmware_version() == "3.22"
        assert synth.temperature_c() == pytest.approx(32.5)


def test_obis_forces_handshaking_and_reads_power_limits() -> None:
    script = [*OBIS_HELLO, Step(b"SOUR:POW:LEV?\r\n", b"0.02500\r\nOK\r\n")]
    with PtyPeer(script) as peer, CoherentOBIS(peer.resource) as laser:
        assert laser.output_power_w == pytest.approx(0.025)
        assert laser.max_power_w == pytest.approx(0.11)


def test_obis_handshake_switch_acknowledged_in_the_old_mode_is_handled() -> None:
    # Handshaking was OFF: the switch itself is not acknowledged, the query is.
    script = [
        Step(b"SYST:COMM:HAND ON\r\n", b""),
        Step(b"SYST:COMM:HAND?\r\n", b"ON\r\nOK\r\n"),
        *OBIS_HELLO[2:],
    ]
    with PtyPeer(script) as peer, CoherentOBIS(peer.resource) as laser:
        assert laser.min_power_w == pytest.approx(1e-4)


def test_obis_setpoint_in_watts_waits_for_ok_and_never_falls_behind() -> None:
    script = [
        *OBIS_HELLO,
        Step(b"SOUR:POW:LEV:IMM:AMPL 0.025000\r\n", b"OK\r\n"),
        Step(b"SOUR:POW:LEV:IMM:AMPL?\r\n", b"0.02500\r\nOK\r\n"),
        Step(b"SOUR:AM:STAT?\r\n", b"OFF\r\nOK\r\n"),
    ]
    with PtyPeer(script) as peer, CoherentOBIS(peer.resource) as laser:
        laser.power_setpoint_w = 0.025
        assert laser.power_setpoint_w == pytest.approx(0.025)
        assert laser.emission is False


def test_obis_err_reply_raises_with_code() -> None:
    script = [*OBIS_HELLO, Step(b"SOUR:AM:STAT ON\r\n", b"ERR-221\r\n")]
    with PtyPeer(script) as peer, CoherentOBIS(peer.resource) as laser:
        with pytest.raises(InstrumentCommandError) as info:
            laser.emission = True
    assert info.value.errors[0][0] == -221


def test_obis_soft_power_limit() -> None:
    with PtyPeer(OBIS_HELLO) as peer, CoherentOBIS(peer.resource, max_power_w=0.05) as laser:
        with pytest.raises(ParameterValidationError, match=r"\[0.0001, 0.05\] W"):
            laser.power_setpoint_w = 0.08


def test_obis_safe_state_switches_emission_off() -> None:
    script = [*OBIS_HELLO, Step(b"SOUR:AM:STAT OFF\r\n", b"OK\r\n")]
    with PtyPeer(script) as peer, CoherentOBIS(peer.resource) as laser:
        laser.safe_state()


def test_windfreak_sweep_is_configured_per_channel_and_run_globally() -> None:
    script = steps(
        (b"C0l100.00000000", b""),
        (b"C0l?", b"100.00000000\n"),
        (b"C0u200.00000000", b""),
        (b"C0u?", b"200.00000000\n"),
        (b"C0t10.000", b""),
        (b"C0t?", b"10.000\n"),
        (b"^0", b""),
        (b"^?", b"0\n"),
        (b"g1", b""),
        (b"g?", b"1\n"),
        (b"C0p", b"1\n"),
    )
    with PtyPeer(script) as peer, WindfreakSynthHD(peer.resource) as synth:
        channel = synth.channels[0]
        channel.sweep_lower_hz = 100e6
        channel.sweep_upper_hz = 200e6
        channel.sweep_step_time_s = 0.010
        synth.sweep_downward = True
        synth.sweep_running = True
        assert synth.pll_locked(0) is True
