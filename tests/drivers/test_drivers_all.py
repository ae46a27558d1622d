"""One test over every driver class: declared parameters, units, safe state, emulator twin."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from drivers.awg import Keysight33600A, Keysight33600AChannel
from drivers.base import Instrument, Parameter, Range, parameters_of
from drivers.camera import HamamatsuOrcaFlash4
from drivers.lasers import CoherentOBIS, TopticaDLCPro
from drivers.powermeter import ThorlabsPM100D
from drivers.rf import WindfreakChannel, WindfreakSynthHD
from drivers.slm import SLMBridge

DRIVERS: dict[type[Instrument], tuple[type, ...]] = {
    Keysight33600A: (Keysight33600AChannel,),
    WindfreakSynthHD: (WindfreakChannel,),
    CoherentOBIS: (),
    TopticaDLCPro: (),
    ThorlabsPM100D: (),
    HamamatsuOrcaFlash4: (),
    SLMBridge: (),
}
HERE = Path(__file__).parent


def _declared(cls: type[Instrument]) -> dict[str, Parameter[object]]:
    found: dict[str, Parameter[object]] = {}
    for klass in (cls, *DRIVERS[cls]):
        for name, parameter in parameters_of(klass).items():
            found[f"{klass.__name__}.{name}"] = parameter
    return found


def _safe_state_calls_by_class() -> dict[str, int]:
    """How many protocol tests construct each driver class and call safe_state()."""
    counts: dict[str, int] = {}
    for path in HERE.glob("test_drivers_*_protocol.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
                continue
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            calls_safe_state = any(
                isinstance(n, ast.Attribute) and n.attr == "safe_state" for n in ast.walk(node)
            )
            if calls_safe_state:
                for name in names:
                    counts[name] = counts.get(name, 0) + 1
    return counts


@pytest.mark.parametrize("cls", list(DRIVERS), ids=lambda c: c.__name__)
def test_every_parameter_has_a_docstring_that_states_its_unit(cls: type[Instrument]) -> None:
    parameters = _declared(cls)
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") or isinstance(member, Parameter):
            continue
        if callable(member) or isinstance(member, property):
            assert inspect.getdoc(member), f"{cls.__name__}.{name} has no docstring"
    for name, parameter in parameters.items():
        doc = parameter.__doc__ or ""
        assert len(doc) > 10, f"{name}: missing docstring"
        if parameter.unit:
            assert parameter.unit in doc, f"{name}: docstring does not mention {parameter.unit!r}"
        else:
            assert "no unit" in doc, f"{name}: no unit declared and the docstring does not say so"
        if isinstance(parameter.validator, Range):
            assert parameter.validator.unit == parameter.unit, (
                f"{name}: range unit {parameter.validator.unit!r} != {parameter.unit!r}"
            )


@pytest.mark.parametrize("cls", list(DRIVERS), ids=lambda c: c.__name__)
def test_every_driver_defines_safe_state_and_a_protocol_test_exercises_it(
    cls: type[Instrument],
) -> None:
    assert "safe_state" in vars(cls), f"{cls.__name__} does not define safe_state()"
    assert not getattr(cls.safe_state, "__isabstractmethod__", False)
    assert not inspect.isabstract(cls), f"{cls.__name__} is still abstract"
    assert _safe_state_calls_by_class().get(cls.__name__, 0) >= 1, (
        f"no protocol test calls safe_state() on {cls.__name__}"
    )


@pytest.mark.parametrize("cls", list(DRIVERS), ids=lambda c: c.__name__)
def test_every_driver_names_a_registered_emulator(cls: type[Instrument]) -> None:
    from virtual_device.instruments import EMULATORS

    assert cls.emulator_name, f"{cls.__name__}.emulator_name is empty"
    assert cls.emulator_name in EMULATORS, (
        f"{cls.__name__}.emulator_name={cls.emulator_name!r} is not in EMULATORS "
        f"({sorted(EMULATORS)})"
    )


@pytest.mark.parametrize("cls", list(DRIVERS), ids=lambda c: c.__name__)
def test_every_driver_is_a_context_manager_built_from_a_resource_string(
    cls: type[Instrument],
) -> None:
    args: tuple[str, ...] = ("tcp://127.0.0.1:9",) if cls is HamamatsuOrcaFlash4 else ()
    driver = cls("TCPIP::127.0.0.1::9::SOCKET", *args, timeout_s=0.5)  # type: ignore[call-arg]
    assert driver.resource == "TCPIP::127.0.0.1::9::SOCKET"
    assert hasattr(driver, "__enter__") and hasattr(driver, "__exit__")
    assert not driver.is_connected
