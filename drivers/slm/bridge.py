r"""Spatial light modulators: the :class:`SLM` interface and the atomstack SLM bridge.

Real SLMs are driven through vendor SDKs; a lab runs a small bridge server beside the SDK
(the emulator is the reference). The bridge protocol, TCP with ``\n`` termination:
``*IDN?``; ``SLM:SHAPE?`` → ``<height>,<width>``; ``SLM:BITS?`` → bit depth;
``SLM:MASK #<n><len><bytes>`` with the phase levels as little-endian uint16, row-major
(``len = 2·h·w``); ``SLM:MASK?`` → the same block back; ``SYST:ERR?``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from drivers.base import SCPIInstrument
from drivers.errors import InstrumentProtocolError, ParameterValidationError

__all__ = ["SLM", "SLMBridge"]


class SLM(ABC):
    """A phase-only SLM showing integer phase levels ``0 … 2**bit_depth − 1``."""

    @property
    @abstractmethod
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` in pixels."""

    @property
    @abstractmethod
    def bit_depth(self) -> int:
        """Bits per phase level (levels span one 2π wrap)."""

    @abstractmethod
    def write_mask(self, levels: npt.ArrayLike) -> None:
        """Show ``levels`` (integers, shape :attr:`shape`)."""

    @abstractmethod
    def read_mask(self) -> npt.NDArray[np.uint16]:
        """The levels shown now."""

    def phase_to_levels(self, phase_rad: npt.ArrayLike) -> npt.NDArray[np.uint16]:
        """Phase in rad (any real values, wrapped mod 2π) → levels ``0 … 2**bits − 1``."""
        phase = np.asarray(phase_rad, dtype=np.float64)
        if not np.all(np.isfinite(phase)):
            raise ParameterValidationError("phase mask contains NaN or infinite values (rad)")
        n_levels = 1 << self.bit_depth
        levels = np.rint(np.mod(phase, 2 * np.pi) * (n_levels / (2 * np.pi))).astype(np.int64)
        return np.mod(levels, n_levels).astype(np.uint16)

    def write_phase(self, phase_rad: npt.ArrayLike) -> None:
        """Show a phase mask given in rad (quantised to the SLM's levels)."""
        self.write_mask(self.phase_to_levels(phase_rad))


class SLMBridge(SCPIInstrument, SLM):
    """An SLM behind the atomstack bridge (``TCPIP::host::port::SOCKET``).

    The shape and bit depth are read on every (re)connect. Masks go up as one binary
    block, followed by ``*OPC?`` and the error queue; read-back is retried (after a
    reconnect) if the block arrives damaged.
    """

    emulator_name: ClassVar[str] = "slm_bridge"

    def __init__(
        self,
        resource: str,
        *,
        timeout_s: float = 5.0,
        retries: int = 1,
        name: str | None = None,
        safe_state_on_exit: bool = False,
    ) -> None:
        super().__init__(
            resource,
            timeout_s=timeout_s,
            retries=retries,
            name=name,
            safe_state_on_exit=safe_state_on_exit,
        )
        self._shape: tuple[int, int] | None = None
        self._bits: int | None = None

    def _on_connect(self) -> None:
        def parse_shape(reply: str) -> tuple[int, int]:
            height, width = (int(v) for v in reply.split(","))
            if height < 1 or width < 1:
                raise ValueError(f"shape {height}×{width}")
            return height, width

        self._shape = self.query("SLM:SHAPE?", parser=parse_shape)
        self._bits = self.query("SLM:BITS?", parser=int)
        if not 1 <= self._bits <= 16:
            raise InstrumentProtocolError(f"{self.name}: bit depth {self._bits} not in 1 … 16")

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` in pixels, as the bridge reported at connect."""
        if self._shape is None:
            raise InstrumentProtocolError(f"{self.name}: shape unknown; connect() first")
        return self._shape

    @property
    def bit_depth(self) -> int:
        """Bits per level, as the bridge reported at connect."""
        if self._bits is None:
            raise InstrumentProtocolError(f"{self.name}: bit depth unknown; connect() first")
        return self._bits

    def write_mask(self, levels: npt.ArrayLike) -> None:
        """Show ``levels`` (integers in ``0 … 2**bit_depth − 1``, shape :attr:`shape`)."""
        array = np.asarray(levels)
        if array.shape != self.shape:
            raise ParameterValidationError(
                f"mask shape {array.shape}, the SLM shows {self.shape} (height, width) pixels"
            )
        if not np.issubdtype(array.dtype, np.integer):
            raise ParameterValidationError(
                f"mask dtype {array.dtype}: expected integer phase levels (use write_phase for rad)"
            )
        top = (1 << self.bit_depth) - 1
        if array.size and (int(array.min()) < 0 or int(array.max()) > top):
            raise ParameterValidationError(
                f"mask levels span [{int(array.min())}, {int(array.max())}], allowed [0, {top}]"
            )
        data = np.ascontiguousarray(array, dtype="<u2")
        self.write_block("SLM:MASK ", data.data)

    def read_mask(self) -> npt.NDArray[np.uint16]:
        """The levels shown now (``SLM:MASK?``)."""
        payload = self.query_block("SLM:MASK?")
        height, width = self.shape
        if len(payload) != 2 * height * width:
            raise InstrumentProtocolError(
                f"{self.name}: mask block of {len(payload)} bytes, expected {2 * height * width}"
            )
        return np.frombuffer(payload, dtype="<u2").reshape(height, width).astype(np.uint16)

    def safe_state(self) -> None:
        """Show a flat mask (all levels 0): no hologram, no steered traps."""
        self.write_mask(np.zeros(self.shape, dtype=np.uint16))
