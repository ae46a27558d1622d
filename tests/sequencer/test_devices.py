"""Device presets equal Pulser's; channel properties; register validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from sequencer import AnalogDevice, DigitalAnalogDevice, MockDevice, Register, get_device
from sequencer.devices import Channel, Device, Raman, Rydberg
from sequencer.errors import ChannelError, DeviceConstraintError

pulser_devices = pytest.importorskip("pulser.devices")

FIELDS = (
    "max_amp",
    "max_abs_detuning",
    "clock_period",
    "min_duration",
    "max_duration",
    "min_retarget_interval",
    "fixed_retarget_t",
    "max_targets",
    "mod_bandwidth",
    "addressing",
    "basis",
)


@pytest.mark.parametrize("name", ["AnalogDevice", "DigitalAnalogDevice", "MockDevice"])
def test_preset_equals_pulser_field_by_field(name: str) -> None:
    ours = get_device(name)
    theirs = getattr(pulser_devices, name)
    for key in ("dimensions", "rydberg_level", "max_atom_num", "min_atom_distance"):
        assert getattr(ours, key) == getattr(theirs, key), key
    assert ours.max_radial_distance == theirs.max_radial_distance
    assert ours.max_sequence_duration == theirs.max_sequence_duration
    assert ours.interaction_coeff == theirs.interaction_coeff
    their_channels = {
        ch_id: ch
        for ch_id, ch in theirs.channels.items()
        if ch.basis in ("ground-rydberg", "digital")
    }
    assert set(ours.channels) == set(their_channels)
    for ch_id, ch in ours.channels.items():
        for key in FIELDS:
            assert getattr(ch, key) == getattr(their_channels[ch_id], key), (ch_id, key)
        assert ch.rise_time == their_channels[ch_id].rise_time
        assert ch.phase_jump_time == their_channels[ch_id].phase_jump_time


def test_analog_device_numbers() -> None:
    ch = AnalogDevice.channels["rydberg_global"]
    assert AnalogDevice.rydberg_level == 60
    assert AnalogDevice.interaction_coeff == 865723.02
    assert ch.max_amp == pytest.approx(2 * math.pi * 2)
    assert ch.max_abs_detuning == pytest.approx(2 * math.pi * 20)
    assert (ch.clock_period, ch.min_duration, AnalogDevice.min_atom_distance) == (4, 16, 5)
    # 0.48 / 8 MHz = 60 ns intensity rise time; ×√2 for the amplitude.
    assert ch.rise_time == round(60 * math.sqrt(2))
    assert DigitalAnalogDevice.interaction_coeff == 5420158.53


def test_blockade_radius_is_sixth_root_of_c6_over_omega() -> None:
    omega = 2 * math.pi
    r = AnalogDevice.rydberg_blockade_radius(omega)
    assert r == pytest.approx((865723.02 / omega) ** (1 / 6))
    with pytest.raises(DeviceConstraintError):
        AnalogDevice.rydberg_blockade_radius(0.0)


def test_devices_and_channels_are_frozen_and_validated() -> None:
    with pytest.raises(ValidationError):
        AnalogDevice.name = "x"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Channel(basis="ground-rydberg", addressing="Global", max_amp=-1.0)
    with pytest.raises(ValidationError):
        Rydberg.Global(None, None, min_retarget_interval=10)
    with pytest.raises(ValidationError):
        Raman.Local(None, None, min_duration=20, max_duration=10)
    with pytest.raises(ValidationError):
        Device(name="x", rydberg_level=10, channels={})


def test_unknown_channel_and_device_are_refused_with_names() -> None:
    with pytest.raises(ChannelError, match="raman_local"):
        AnalogDevice.channel("raman_local")
    with pytest.raises(DeviceConstraintError, match="Nope"):
        get_device("Nope")


def test_validate_register_refuses_close_far_and_too_many_atoms() -> None:
    AnalogDevice.validate_register(Register.square(3, spacing=5.0).centered())
    with pytest.raises(DeviceConstraintError, match="5"):
        AnalogDevice.validate_register(Register.square(2, spacing=4.0))
    with pytest.raises(DeviceConstraintError, match="38"):
        AnalogDevice.validate_register(Register.line(2, spacing=80.0).centered())
    with pytest.raises(DeviceConstraintError, match="80"):
        AnalogDevice.validate_register(Register.square(10, spacing=5.0).centered())
    MockDevice.validate_register(Register.from_coordinates(np.array([[0.0, 0.0], [0.1, 0.0]])))


def test_device_json_round_trip_is_identity() -> None:
    for dev in (AnalogDevice, DigitalAnalogDevice, MockDevice):
        assert Device.model_validate_json(dev.model_dump_json()) == dev
