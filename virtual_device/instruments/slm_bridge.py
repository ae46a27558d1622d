r"""Emulated SLM bridge: the reference server of atomstack's SLM bridge protocol.

Real SLMs are driven through vendor SDKs; a lab runs a small bridge server beside the SDK,
and this is the reference. TCP, ``\n``-terminated, SCPI-like:

- ``*IDN?`` → ``atomstack,SLM bridge,<serial>,<version>``
- ``SLM:SHAPE?`` → ``<height>,<width>``; ``SLM:BITS?`` → bit depth
- ``SLM:MASK #<n><len><bytes>`` -- the phase levels as little-endian uint16, row-major,
  ``len = 2·height·width``, then ``\n``; each level must be below ``2**bits``
- ``SLM:MASK?`` → the same block back (what is shown), then ``\n``
- ``SYST:ERR?`` → ``0,"No error"`` or ``<code>,"<message>"``; ``*CLS``, ``*OPC?``

Errors: a block of the wrong length is ``-161,"Invalid block data; …"``, a level out of range
``-222,"Data out of range; …"``, an unknown command ``-113,"Undefined header"``.

Faults: :meth:`~Faults.corrupt_next_block` damages the next ``SLM:MASK?`` reply: its
length field becomes non-digits (``#7XXXXXXX…``), which a client must reject.

Hook: :meth:`on_change` reports ``mask`` (the new ``(height, width)`` uint16 array) so the
virtual lab can recompute the tweezer intensities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from virtual_device.instruments._framework import Session
from virtual_device.instruments._scpi import ScpiEmulator, ScpiError, format_block, parse_block

__all__ = ["SLMBridgeEmulator", "SLMState"]


@dataclass
class SLMState:
    """The mask shown (uint16 phase levels, row-major) and how many were written."""

    mask: np.ndarray = field(default_factory=lambda: np.zeros((1, 1), np.uint16))
    masks_written: int = 0


class SLMBridgeEmulator(ScpiEmulator):
    """An SLM bridge on TCP (``TCPIP::127.0.0.1::<port>::SOCKET``).

    ``shape`` is (height, width) in pixels (default 1152 × 1920, a Meadowlark-size panel),
    ``bits`` the phase resolution (default 8: levels 0…255).
    """

    name = "slm_bridge"
    default_transport = "tcp"
    signed_error_codes = False

    def __init__(
        self,
        *,
        shape: tuple[int, int] = (1152, 1920),
        bits: int = 8,
        serial_number: str = "SLM0001",
        **kwargs: Any,
    ) -> None:
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"SLM shape {shape}: need (height ≥ 1, width ≥ 1)")
        if not 1 <= bits <= 16:
            raise ValueError(f"SLM bit depth {bits}: allowed 1…16")
        self.shape = (int(shape[0]), int(shape[1]))
        self.bits = bits
        self.serial_number = serial_number
        self.state = SLMState()
        super().__init__(**kwargs)

    def reset_state(self) -> None:
        """Power-on: a blank (all-zero) mask."""
        self.state = SLMState(mask=np.zeros(self.shape, np.uint16))
        self.errors.clear()

    def build_commands(self) -> None:
        """The bridge protocol (see the module docstring)."""
        super().build_commands()
        add = self.commands.add
        add("*IDN", query=lambda a, s: f"atomstack,SLM bridge,{self.serial_number},1.0")
        add("*RST", set=lambda a, s: self.reset_state())
        add("SLM:SHAPE", query=lambda a, s: f"{self.shape[0]},{self.shape[1]}")
        add("SLM:BITS", query=lambda a, s: str(self.bits))
        add(
            "SLM:MASK",
            query=lambda a, s: self._mask_block(),
            set=lambda a, s: self._load(a.encode("latin-1")),
        )

    def execute_binary(self, session: Session, header: str, args: bytes) -> str | bytes | None:
        """``SLM:MASK <block>``."""
        if header.upper() in ("SLM:MASK", ":SLM:MASK"):
            self._load(args)
            return None
        return super().execute_binary(session, header, args)

    def _load(self, args: bytes) -> None:
        payload, rest = parse_block(args.lstrip())
        if rest.strip():
            raise ScpiError(-108, "data after the block")
        height, width = self.shape
        expected = 2 * height * width
        if len(payload) != expected:
            raise ScpiError(
                -161, f"mask of {len(payload)} bytes; expected {expected} (2 × {height} × {width})"
            )
        mask = np.frombuffer(payload, dtype="<u2").reshape(height, width)
        top = int(mask.max()) if mask.size else 0
        if top >= 1 << self.bits:
            raise ScpiError(-222, f"phase level {top} ≥ 2**{self.bits}")
        old = self.state.mask
        self.state.mask = mask.astype(np.uint16)
        self.state.masks_written += 1
        self.notify("mask", old, self.state.mask)

    def _mask_block(self) -> bytes:
        block = format_block(self.state.mask.astype("<u2").tobytes())
        if self.faults.take_corrupt_block():
            n = block[1] - 0x30
            block = block[:2] + b"X" * n + block[2 + n :]
        return block
