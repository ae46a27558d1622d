"""Layer 1: Thorlabs PM100D and Toptica DLC pro against scripted bytes over TCP."""

from __future__ import annotations

import pytest
from drivers_scripted_peer import Step, TCPPeer, steps

from drivers.errors import (
    InstrumentCommandError,
    InstrumentProtocolError,
    ParameterValidationError,
)
from drivers.lasers import TopticaDLCPro, decode_decof, encode_decof
from drivers.powermeter import ThorlabsPM100D

PM_HELLO = (b"SENS:POW:UNIT W\n", b"")
NO_ERROR = (b"SYST:ERR?\n", b'+0,"No error"\n')
BANNER = b"DeCoF Command Line\nDLCpro 1234 firmware 2.6.1\nType '(help)' for help.\n> "


def test_pm100d_connect_forces_watts_and_measures_power() -> None:
    script = steps(PM_HELLO, (b"MEAS:POW?\n", b"1.234567E-03\n"))
    with TCPPeer(script) as peer, ThorlabsPM100D(peer.resource) as meter:
        assert meter.measure_power_w() == pytest.approx(1.234567e-3)


def test_pm100d_wavelength_and_averaging_use_the_scpi_list_spelling() -> None:
    script = steps(
        PM_HELLO,
        (b"SENS:CORR:WAV 780\n", b""),
        NO_ERROR,
        (b"SENS:AVER:COUN 300\n", b""),
        NO_ERROR,
        (b"SENS:CORR:WAV?\n", b"7.800000E+02\n"),
    )
    with TCPPeer(script) as peer, ThorlabsPM100D(peer.resource) as meter:
        meter.wavelength_nm = 780
        meter.averaging_count = 300
        assert meter.wavelength_nm == pytest.approx(780.0)


def test_pm100d_wavelength_outside_the_head_range_is_refused() -> None:
    with TCPPeer(steps(PM_HELLO)) as peer, ThorlabsPM100D(peer.resource) as meter:
        with pytest.raises(ParameterValidationError, match=r"\[400, 1100\] nm"):
            meter.wavelength_nm = 1550
        with pytest.raises(ParameterValidationError, match="integer"):
            meter.averaging_count = 2.5


def test_pm100d_zeroing_waits_for_the_state_and_returns_the_offset() -> None:
    script = steps(
        PM_HELLO,
        (b"SENS:CORR:COLL:ZERO:INIT\n", b""),
        NO_ERROR,
        (b"SENS:CORR:COLL:ZERO:STAT?\n", b"1\n"),
        (b"SENS:CORR:COLL:ZERO:STAT?\n", b"0\n"),
        (b"SENS:CORR:COLL:ZERO:MAGN?\n", b"2.5E-09\n"),
    )
    with TCPPeer(script) as peer, ThorlabsPM100D(peer.resource) as meter:
        assert meter.zero(poll_s=0.01) == pytest.approx(2.5e-9)


def test_pm100d_safe_state_turns_auto_range_on() -> None:
    script = steps(PM_HELLO, (b"SENS:POW:RANG:AUTO ON\n", b""), NO_ERROR)
    with TCPPeer(script) as peer, ThorlabsPM100D(peer.resource) as meter:
        meter.safe_state()


def test_toptica_reads_banner_then_parameters() -> None:
    script = [
        Step(b"(param-ref 'laser1:dl:cc:current-act)\n", b"120.03\n> "),
        Step(b"(param-ref 'laser1:emission)\n", b"#f\n> "),
    ]
    with TCPPeer(script, banner=BANNER) as peer, TopticaDLCPro(peer.resource) as laser:
        assert laser.current_act_ma == pytest.approx(120.03)
        assert laser.emission is False
        assert "DeCoF" in laser.banner


def test_toptica_set_sends_param_set_and_checks_status() -> None:
    script = [
        Step(b"(param-set! 'laser1:dl:cc:current-set 120.5)\n", b"0\n> "),
        Step(b"(param-set! 'laser1:dl:cc:enabled #t)\n", b"0\n> "),
        Step(b"(param-set! 'laser1:scan:frequency 10.0)\n", b"-3\n> "),
    ]
    with TCPPeer(script, banner=BANNER) as peer, TopticaDLCPro(peer.resource) as laser:
        laser.current_set_ma = 120.5
        laser.current_enabled = True
        with pytest.raises(InstrumentCommandError, match="status -3"):
            laser.scan_frequency_hz = 10.0


def test_toptica_error_reply_raises_with_code() -> None:
    script = [
        Step(
            b"(param-set! 'laser1:dl:tc:temp-set 30.0)\n",
            b"Error: -5 value out of range: laser1:dl:tc:temp-set\n> ",
        ),
    ]
    with TCPPeer(script, banner=BANNER) as peer, TopticaDLCPro(peer.resource) as laser:
        with pytest.raises(InstrumentCommandError) as info:
            laser.temperature_set_c = 30.0
    assert info.value.errors[0][0] == -5


def test_toptica_current_above_soft_limit_is_refused() -> None:
    with TCPPeer([], banner=BANNER) as peer:
        with TopticaDLCPro(peer.resource, max_current_ma=150.0) as laser:
            with pytest.raises(ParameterValidationError, match=r"\[0, 150\] mA"):
                laser.current_set_ma = 180.0


def test_toptica_reconnect_reads_the_banner_again() -> None:
    script = [
        Step(b"(param-ref 'laser1:dl:tc:temp-act)\n", then="await_close"),
        Step(b"(param-ref 'laser1:dl:tc:temp-act)\n", b"20.01\n> "),
    ]
    with TCPPeer(script, banner=BANNER) as peer:
        with TopticaDLCPro(peer.resource, timeout_s=0.3) as laser:
            assert laser.temperature_act_c == pytest.approx(20.01)
    assert peer.connections == 2


def test_toptica_exec_is_sent_once_and_returns_text() -> None:
    script = [Step(b"(exec 'laser1:dl:lock:close)\n", b"0\n> ")]
    with TCPPeer(script, banner=BANNER) as peer, TopticaDLCPro(peer.resource) as laser:
        assert laser.exec("laser1:dl:lock:close") == "0"


def test_toptica_safe_state_stops_scan_and_current() -> None:
    script = [
        Step(b"(param-set! 'laser1:scan:enabled #f)\n", b"0\n> "),
        Step(b"(param-set! 'laser1:dl:cc:enabled #f)\n", b"0\n> "),
    ]
    with TCPPeer(script, banner=BANNER) as peer, TopticaDLCPro(peer.resource) as laser:
        laser.safe_state()


def test_decof_values_round_trip() -> None:
    for value in (True, False, 3, -2.5, 'a "quoted" text'):
        assert decode_decof(encode_decof(value)) == value
    with pytest.raises(InstrumentProtocolError):
        decode_decof("(a b")


def test_pm100d_split_measurement_configures_initiates_and_fetches() -> None:
    script = steps(
        PM_HELLO,
        (b"CONF:POW\n", b""),
        (b"INIT\n", b""),
        NO_ERROR,
        (b"FETC?\n", b"5.0E-04\n"),
    )
    with TCPPeer(script) as peer, ThorlabsPM100D(peer.resource) as meter:
        meter.start_measurement()
        assert meter.fetch_power_w() == pytest.approx(5e-4)
