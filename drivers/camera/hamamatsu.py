r"""Hamamatsu ORCA-Flash4.0 (C11440), Camera Link: serial control plus a frame source.

Control travels on the Camera Link serial channel (38400 baud at SLAC; through the frame
grabber's ``clser`` port in a lab, a pty here). Commands end with CR, replies end with CR
and echo the command with its value (``?AET`` → ``AET 0.010000``; ``AET 0.02`` →
``AET 0.020000``). Errors are ``E<n>`` (C9300 family convention: ``E3`` undefined
command, ``E4`` not allowed in this mode, ``E5`` undefined parameter, ``E6`` parameter not
allowed in this mode). ``RES Y`` (sent on every connect) makes setters answer, so every
command gets exactly one reply.

Pixels never travel on the serial link: a :class:`~drivers.camera.FrameSource` delivers
them (the emulator's TCP stream via :class:`~drivers.camera.TCPFrameSource` here). The
camera free-runs in ``AMD N``; "acquisition" is the frame source capturing, as with a
frame grabber.

ROI: the sensor reads full rows; ``SMD W`` with ``SDV bo,to,size`` reads a band of
``2·size`` rows centred on the sensor (``bo`` = first row = height/2 − size, ``to`` = 0),
all multiples of 4. Binning ``SPX 1|2|4`` with ``SMD S``, equal in both directions.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from drivers.base import Choice, Instrument, Parameter, Range
from drivers.camera.frames import TCPFrameSource
from drivers.camera.interface import Camera, FrameSource, Roi, TriggerMode
from drivers.errors import (
    InstrumentCommandError,
    InstrumentProtocolError,
    ParameterValidationError,
)

__all__ = ["HamamatsuOrcaFlash4"]

_ERROR = re.compile(r"^E(\d+)$")
_ERROR_TEXT = {
    1: "framing, parity or overrun error",
    2: "input buffer overflow",
    3: "undefined command or parameter",
    4: "command not allowed in this mode",
    5: "undefined parameter",
    6: "parameter not allowed in this mode",
}


def _echo_value(name: str) -> Any:
    """Parser for a reply that must echo ``name`` and then carry the value."""

    def parse(reply: str) -> str:
        head, _, value = reply.strip().partition(" ")
        if head.upper() != name:
            raise InstrumentProtocolError(f"expected an echo of {name}, got {reply!r}")
        return value.strip()

    return parse


class OrcaParameter(Parameter[Any]):
    """``?NAME`` / ``NAME value``, reply ``NAME value``; the echo is checked both ways."""

    def __init__(self, command: str, *, value_parser: Any = str, **kwargs: Any) -> None:
        echo = _echo_value(command)
        super().__init__(
            f"?{command}",
            f"{command} {{}}",
            parser=lambda reply: value_parser(echo(reply)),
            **kwargs,
        )
        self.command = command


class HamamatsuOrcaFlash4(Instrument, Camera):
    """ORCA-Flash4.0: serial control at ``resource``, frames from ``frame_source``.

    ``frame_source``: a :class:`FrameSource` or a ``tcp://host:port`` address (the
    emulator reports it as its frame address).
    """

    emulator_name: ClassVar[str] = "hamamatsu_orca"
    write_termination: ClassVar[bytes] = b"\r"
    read_termination: ClassVar[bytes] = b"\r"
    default_baud_rate: ClassVar[int] = 38400

    exposure_s = OrcaParameter(
        "AET",
        value_parser=float,
        formatter=lambda v: f"{v:.6f}",
        validator=Range(1e-6, 10.0, "s"),
        unit="s",
        doc="Exposure time in s (1 µs … 10 s; the camera's own limits apply too).",
    )
    trigger_delay_s = OrcaParameter(
        "ATD",
        value_parser=float,
        formatter=lambda v: f"{v:.6f}",
        validator=Range(0.0, 10.0, "s"),
        unit="s",
        doc="Delay from external trigger to exposure start, in s (0 … 10 s).",
    )
    trigger_source = OrcaParameter(
        "AMD",
        value_parser=str.upper,
        validator=Choice(("N", "E", "S", "L"), normalise=lambda v: str(v).upper()),
        doc="Trigger mode: N free run, E external, S start, L light sheet; no unit.",
    )
    external_exposure_mode = OrcaParameter(
        "EMD",
        value_parser=str.upper,
        validator=Choice(("E", "L", "S"), normalise=lambda v: str(v).upper()),
        doc="External exposure: E edge (AET), L level (pulse width), S synchronous; no unit.",
    )
    scan_mode = OrcaParameter(
        "SMD",
        value_parser=str.upper,
        validator=Choice(("N", "S", "W"), normalise=lambda v: str(v).upper()),
        doc="Scan mode: N normal, S binning, W sub-array; no unit.",
    )
    binning = OrcaParameter(
        "SPX",
        value_parser=int,
        validator=Choice((1, 2, 4)),
        doc="Binning factor (1, 2 or 4) in both directions, in pixels per side.",
        unit="pixels",
    )

    def __init__(
        self,
        resource: str,
        frame_source: FrameSource | str,
        *,
        timeout_s: float = 2.0,
        retries: int = 1,
        name: str | None = None,
        baud_rate: int | None = None,
        safe_state_on_exit: bool = False,
    ) -> None:
        super().__init__(
            resource,
            timeout_s=timeout_s,
            retries=retries,
            name=name,
            baud_rate=baud_rate,
            safe_state_on_exit=safe_state_on_exit,
        )
        self.frames = (
            TCPFrameSource(frame_source) if isinstance(frame_source, str) else frame_source
        )
        self._size: tuple[int, int] | None = None

    # -- framing ------------------------------------------------------------------------

    def _check_reply(self, reply: str) -> str:
        text = reply.strip()
        match = _ERROR.match(text)
        if match:
            code = int(match.group(1))
            raise InstrumentCommandError(
                f"{self.name} answered {text} ({_ERROR_TEXT.get(code, 'unknown error')})",
                ((code, _ERROR_TEXT.get(code, "")),),
            )
        return text

    def _apply_set(self, command: str, parameter: Parameter[Any], value: Any) -> None:
        name = command.split(" ", 1)[0]
        self.query(command, parser=_echo_value(name), idempotent=parameter.idempotent_set)

    def _on_connect(self) -> None:
        self.query("RES Y", parser=_echo_value("RES"))

    def close(self) -> None:
        """Stop any acquisition and close the serial link."""
        self.frames.stop()
        super().close()

    # -- identity -----------------------------------------------------------------------

    def camera_info(self, field: str) -> str:
        """``?CAI <field>``: T model, N serial number, H width, V height."""
        if field not in ("T", "N", "H", "V"):
            raise ParameterValidationError(f"camera info {field!r}: allowed T, N, H, V")
        return self.query(f"?CAI {field}", parser=_echo_value("CAI")).partition(" ")[2].strip()

    def frame_rate_hz(self) -> float:
        """``?RAT``: the frame rate the current settings give, in frames/s."""
        return self.query("?RAT", parser=lambda r: float(_echo_value("RAT")(r)))

    # -- Camera ---------------------------------------------------------------------------

    def get_detector_size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels (``?CAI H``, ``?CAI V``)."""
        if self._size is None:
            self._size = (int(self.camera_info("H")), int(self.camera_info("V")))
        return self._size

    def get_exposure(self) -> float:
        """Exposure time in s."""
        return float(self.exposure_s)

    def set_exposure(self, exposure_s: float) -> float:
        """Set the exposure in s; returns what the camera echoed, in s."""
        self.exposure_s = exposure_s
        return self.get_exposure()

    def get_roi(self) -> Roi:
        """The read-out region from ``SMD``, ``SDV`` and ``SPX``."""
        width, height = self.get_detector_size()
        binning = int(self.binning)
        if self.scan_mode == "W":
            values = self.query("?SDV", parser=_echo_value("SDV")).split(",")
            _, to, size = (int(v) for v in values)
            centre = height // 2
            return Roi(0, width, centre - to - size, centre + to + size, binning, binning)
        return Roi(0, width, 0, height, binning, binning)

    def set_roi(
        self,
        hstart: int = 0,
        hend: int | None = None,
        vstart: int = 0,
        vend: int | None = None,
        hbin: int = 1,
        vbin: int = 1,
    ) -> Roi:
        """Full rows, a band centred on the sensor (multiples of 4 rows), equal binning."""
        width, height = self.get_detector_size()
        hend = width if hend is None else hend
        vend = height if vend is None else vend
        if (hstart, hend) != (0, width):
            raise ParameterValidationError(
                f"columns [{hstart}, {hend}): the ORCA's serial control reads full rows "
                f"[0, {width})"
            )
        if hbin != vbin or hbin not in (1, 2, 4):
            raise ParameterValidationError(
                f"binning {hbin}×{vbin}: allowed equal binning 1, 2 or 4"
            )
        centre = height // 2
        half = vend - centre
        if (vstart, vend) == (0, height):
            mode = "S" if hbin > 1 else "N"
        elif vstart == centre - half and half > 0 and half % 4 == 0:
            mode = "W"
        else:
            raise ParameterValidationError(
                f"rows [{vstart}, {vend}): allowed the full sensor or a band centred on row "
                f"{centre} whose half-height is a positive multiple of 4"
            )
        with self.lock:
            if mode == "W":
                self.query(f"SDV {centre - half},0,{half}", parser=_echo_value("SDV"))
            self.scan_mode = mode
            self.binning = hbin
        return self.get_roi()

    def get_trigger_mode(self) -> TriggerMode:
        """``"int"`` for free run (``AMD N``), ``"ext"`` for external (``AMD E``)."""
        mode = self.trigger_source
        if mode == "N":
            return "int"
        if mode == "E":
            return "ext"
        raise InstrumentProtocolError(f"{self.name}: trigger mode AMD {mode} is neither N nor E")

    def set_trigger_mode(self, mode: TriggerMode) -> None:
        """``"int"`` → ``AMD N``; ``"ext"`` → ``AMD E`` with edge exposure (``EMD E``)."""
        if mode == "int":
            self.trigger_source = "N"
        elif mode == "ext":
            with self.lock:
                self.trigger_source = "E"
                self.external_exposure_mode = "E"
        else:
            raise ParameterValidationError(f"trigger mode {mode!r}: allowed 'int', 'ext'")

    def start_acquisition(self) -> None:
        """Start capturing frames into the buffer (emptied first)."""
        if not self.is_connected:
            raise InstrumentCommandError(f"{self.name}: connect() before acquiring")
        self.frames.start()

    def stop_acquisition(self) -> None:
        """Stop capturing."""
        self.frames.stop()

    def acquisition_in_progress(self) -> bool:
        """Whether frames are being captured."""
        return self.frames.running

    def wait_for_frame(self, nframes: int = 1, timeout_s: float = 5.0) -> None:
        """Block until ``nframes`` unread frames are buffered (``InstrumentTimeout`` if not)."""
        self.frames.wait_for_frames(nframes, timeout_s)

    def read_newest_image(self) -> npt.NDArray[np.generic] | None:
        """The newest unread image, or ``None``."""
        frame = self.frames.read_newest()
        return None if frame is None else frame.image

    def read_multiple_images(self) -> list[npt.NDArray[np.generic]]:
        """Every unread image, oldest first."""
        return [frame.image for frame in self.frames.read_unread()]

    def safe_state(self) -> None:
        """Stop capturing and return to free run: the camera holds nothing dangerous."""
        self.stop_acquisition()
        self.trigger_source = "N"
