"""Every driver names a registered emulator and opens, queries and closes against it."""

from __future__ import annotations

import threading

import pytest

from drivers.awg import Keysight33600A
from drivers.camera import HamamatsuOrcaFlash4
from drivers.lasers import CoherentOBIS, TopticaDLCPro
from drivers.powermeter import ThorlabsPM100D
from drivers.rf import WindfreakSynthHD
from drivers.slm import SLMBridge
from virtual_device.instruments import EMULATORS, OrcaConfig

pytestmark = pytest.mark.timeout(60)

DRIVERS = (
    Keysight33600A,
    WindfreakSynthHD,
    CoherentOBIS,
    TopticaDLCPro,
    ThorlabsPM100D,
    HamamatsuOrcaFlash4,
    SLMBridge,
)


def test_the_drivers_and_the_registry_cover_each_other():
    assert {d.emulator_name for d in DRIVERS} == set(EMULATORS)


@pytest.mark.parametrize("driver_cls", DRIVERS, ids=lambda d: d.__name__)
def test_driver_connects_to_its_emulator_and_reaches_safe_state(driver_cls):
    kwargs = (
        {"config": OrcaConfig(width=32, height=32)} if driver_cls is HamamatsuOrcaFlash4 else {}
    )
    emu = EMULATORS[driver_cls.emulator_name](**kwargs)
    with emu:
        args = (
            (emu.resource, emu.endpoints["frames"])
            if "frames" in emu.endpoints
            else (emu.resource,)
        )
        driver = driver_cls(*args, timeout_s=1.0)
        with driver:
            assert driver.is_connected
            driver.safe_state()
        assert not driver.is_connected
        received = [r for r in emu.log if r.outcome.startswith("executed")]
        assert received and not [r for r in received if r.error]
    assert not [t for t in threading.enumerate() if t.name.startswith(emu.name)]
