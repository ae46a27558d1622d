"""Run-length form of a sampled sequence: explicit stretches and constant holds.

A 100 ms hold on the 1 ns grid is 10⁸ samples per quantity; here it is one :class:`Block`
with ``hold=True`` whose arrays have length 1. The compiler works on this form, and
:func:`sequencer.compiler.decode` returns it, so neither needs memory proportional to the
length of the holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from sequencer.compiler.errors import CompileError
from sequencer.register import Register
from sequencer.sampled import Addressing, Basis, ChannelSamples, SampledSequence, TargetSlot

if TYPE_CHECKING:
    from sequencer.compiler.addressing import BeamStream
    from sequencer.compiler.hardware import HardwareConfig

__all__ = ["Block", "ChannelInfo", "CompactSequence"]

Arrays = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]
_CHUNK = 1 << 22  # samples per pass when scanning for constant runs (bounds temporaries)


@dataclass(frozen=True)
class ChannelInfo:
    """A channel's identity: name, basis, addressing.

    A per-beam stream of a local channel (``addressing == "Local"``, see
    :mod:`sequencer.compiler.addressing`) also names the pulse-level channel it comes from
    (``source``), the beam that plays it (``beam``) and the atoms that beam lights
    (``targets``).
    """

    name: str
    basis: Basis = "ground-rydberg"
    addressing: Addressing = "Global"
    targets: tuple[str, ...] = ()
    beam: str | None = None
    source: str | None = None


@dataclass(frozen=True, eq=False)
class Block:
    """``[start_ns, stop_ns)`` of every channel: explicit 1 ns samples, or one held value.

    ``values[name] = (amplitude, detuning, phase)`` in rad/µs, rad/µs, rad; each of length
    ``stop_ns - start_ns``, or of length 1 when ``hold``.
    """

    start_ns: int
    stop_ns: int
    hold: bool
    values: Mapping[str, Arrays]

    @property
    def duration_ns(self) -> int:
        """Length of the block, ns."""
        return self.stop_ns - self.start_ns


@dataclass(frozen=True, eq=False)
class CompactSequence:
    """A sampled sequence as consecutive :class:`Block` s.

    Global channels, and the per-beam streams of local channels (:meth:`from_sampled` with
    ``hardware``).
    """

    register: Register
    channels: Mapping[str, ChannelInfo]
    blocks: tuple[Block, ...]
    device_name: str = ""
    measurement_basis: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = 0
        for b in self.blocks:
            if b.start_ns != t or b.stop_ns <= b.start_ns:
                raise CompileError(f"blocks must tile the sequence; block at {b.start_ns} ns")
            t = b.stop_ns

    @property
    def duration_ns(self) -> int:
        """Length of the sequence, ns."""
        return self.blocks[-1].stop_ns if self.blocks else 0

    @property
    def explicit_samples(self) -> int:
        """Number of 1 ns samples held explicitly (not in holds)."""
        return sum(b.duration_ns for b in self.blocks if not b.hold)

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_sampled(
        cls,
        sampled: SampledSequence,
        min_hold_ns: int = 2000,
        *,
        hardware: HardwareConfig | None = None,
    ) -> CompactSequence:
        """Find runs where every channel is constant for >= ``min_hold_ns`` and make them holds.

        Vectorised over samples (``np.diff`` / ``np.flatnonzero`` in chunks). With
        ``hardware``, every channel made by addressing beams (a local channel) is first
        expanded into one stream per beam, ``C@beam``
        (:func:`sequencer.compiler.addressing.expand_addressed`, which refuses what those
        beams cannot play); without it a local channel raises :class:`CompileError`.
        """
        streams: dict[str, BeamStream] = {}
        if hardware is not None:
            from sequencer.compiler.addressing import expand_addressed

            sampled, streams = expand_addressed(sampled, hardware)
        for ch in sampled.channels.values():
            if ch.addressing != "Global" and ch.name not in streams:
                raise CompileError(
                    f"channel {ch.name!r} is {ch.addressing}-addressed: give the hardware "
                    "(CompactSequence.from_sampled(sampled, hardware=hw)) so that it is "
                    "expanded onto its addressing beams"
                )
        names = list(sampled.channels)
        n = sampled.duration_ns
        change_points = [np.zeros(1, dtype=np.int64)]
        for lo in range(0, max(n - 1, 0), _CHUNK):
            hi = min(lo + _CHUNK, n - 1)
            changed = np.zeros(hi - lo, dtype=bool)
            for name in names:
                ch = sampled.channels[name]
                for arr in (ch.amplitude, ch.detuning, ch.phase):
                    changed |= arr[lo + 1 : hi + 1] != arr[lo:hi]
            change_points.append(np.flatnonzero(changed).astype(np.int64) + lo + 1)
        starts = np.concatenate(change_points)
        stops = np.append(starts[1:], n)
        long_runs = np.flatnonzero(stops - starts >= min_hold_ns)
        blocks: list[Block] = []
        t = 0

        def explicit(a: int, b: int) -> Block:
            vals = {
                nm: (
                    sampled.channels[nm].amplitude[a:b].copy(),
                    sampled.channels[nm].detuning[a:b].copy(),
                    sampled.channels[nm].phase[a:b].copy(),
                )
                for nm in names
            }
            return Block(a, b, False, vals)

        for i in long_runs:
            a, b = int(starts[i]), int(stops[i])
            if a > t:
                blocks.append(explicit(t, a))
            vals = {
                nm: (
                    sampled.channels[nm].amplitude[a : a + 1].copy(),
                    sampled.channels[nm].detuning[a : a + 1].copy(),
                    sampled.channels[nm].phase[a : a + 1].copy(),
                )
                for nm in names
            }
            blocks.append(Block(a, b, True, vals))
            t = b
        if n > t:
            blocks.append(explicit(t, n))
        info = {}
        for nm in names:
            basis = sampled.channels[nm].basis
            if nm in streams:
                s = streams[nm]
                info[nm] = ChannelInfo(nm, basis, "Local", s.targets, s.beam, s.source)
            else:
                info[nm] = ChannelInfo(nm, basis, "Global")
        return cls(
            sampled.register,
            info,
            tuple(blocks),
            sampled.device_name,
            sampled.measurement_basis,
            dict(sampled.metadata),
        )

    def with_hold(self, duration_ns: int, *, amplitude_zero: bool = False) -> CompactSequence:
        """A copy with a hold of ``duration_ns`` appended, holding the last values.

        With ``amplitude_zero`` the hold is dark (Ω = 0) and keeps the last Δ and φ.
        """
        if duration_ns <= 0:
            raise CompileError(f"hold duration must be > 0 ns; got {duration_ns}")
        t = self.duration_ns
        last = self.blocks[-1]
        vals = {}
        for nm, (a, d, p) in last.values.items():
            amp = np.zeros(1) if amplitude_zero else a[-1:].copy()
            vals[nm] = (amp, d[-1:].copy(), p[-1:].copy())
        block = Block(t, t + duration_ns, True, vals)
        return CompactSequence(
            self.register,
            self.channels,
            (*self.blocks, block),
            self.device_name,
            self.measurement_basis,
            self.metadata,
        )

    @classmethod
    def concatenate(cls, parts: list[CompactSequence]) -> CompactSequence:
        """Play ``parts`` one after the other (same register and channels)."""
        if not parts:
            raise CompileError("nothing to concatenate")
        first = parts[0]
        blocks: list[Block] = []
        t = 0
        for part in parts:
            if part.register != first.register or set(part.channels) != set(first.channels):
                raise CompileError("concatenated parts must share register and channels")
            for b in part.blocks:
                blocks.append(Block(b.start_ns + t, b.stop_ns + t, b.hold, b.values))
            t += part.duration_ns
        return cls(
            first.register,
            first.channels,
            tuple(blocks),
            first.device_name,
            first.measurement_basis,
            first.metadata,
        )

    # -- evaluation ----------------------------------------------------------------------
    def values_at(self, name: str, t_ns: NDArray[np.int64]) -> Arrays:
        """(Ω, Δ, φ) of channel ``name`` during the 1 ns samples ``t_ns`` (any order).

        Outside ``[0, duration)`` Ω is 0 and Δ, φ hold their first/last values.
        """
        t_ns = np.asarray(t_ns, dtype=np.int64)
        amp = np.zeros(t_ns.shape)
        det = np.zeros(t_ns.shape)
        ph = np.zeros(t_ns.shape)
        if not self.blocks:
            return amp, det, ph
        starts = np.array([b.start_ns for b in self.blocks], dtype=np.int64)
        clipped = np.clip(t_ns, 0, self.duration_ns - 1)
        if clipped.ndim == 1 and clipped.size and bool(np.all(clipped[1:] >= clipped[:-1])):
            # sorted times (the compiler's case): one contiguous slice per block
            cuts = np.searchsorted(clipped, starts, side="left")
            cuts = np.append(cuts, clipped.size)
            for bi, block in enumerate(self.blocks):
                lo, hi = int(cuts[bi]), int(cuts[bi + 1])
                if hi <= lo:
                    continue
                a, d, p = block.values[name]
                if block.hold:
                    amp[lo:hi], det[lo:hi], ph[lo:hi] = a[0], d[0], p[0]
                else:
                    local = clipped[lo:hi] - block.start_ns
                    if local[-1] - local[0] == hi - lo - 1:
                        sl = slice(int(local[0]), int(local[-1]) + 1)
                        amp[lo:hi], det[lo:hi], ph[lo:hi] = a[sl], d[sl], p[sl]
                    else:
                        amp[lo:hi], det[lo:hi], ph[lo:hi] = a[local], d[local], p[local]
            outside = (t_ns < 0) | (t_ns >= self.duration_ns)
            amp[outside] = 0.0
            return amp, det, ph
        idx = np.searchsorted(starts, clipped, side="right") - 1
        for bi in np.unique(idx):
            block = self.blocks[int(bi)]
            sel = idx == bi
            a, d, p = block.values[name]
            local = (
                np.zeros(int(sel.sum()), dtype=np.int64)
                if block.hold
                else clipped[sel] - block.start_ns
            )
            amp[sel], det[sel], ph[sel] = a[local], d[local], p[local]
        outside = (t_ns < 0) | (t_ns >= self.duration_ns)
        amp[outside] = 0.0
        return amp, det, ph

    def detuning_integral(self, name: str, t_ns: NDArray[np.int64]) -> NDArray[np.float64]:
        """∫Δ dt of channel ``name`` from 0 to the middle of each 1 ns sample ``t_ns``, rad."""
        t_ns = np.clip(np.asarray(t_ns, dtype=np.int64), 0, max(self.duration_ns - 1, 0))
        at_start: list[float] = [0.0]
        cums: list[NDArray[np.float64] | None] = []
        for b in self.blocks:
            d = b.values[name][1]
            if b.hold:
                cums.append(None)
                at_start.append(at_start[-1] + float(d[0]) * b.duration_ns * 1e-3)
            else:
                c = np.cumsum(d) * 1e-3
                cums.append(c)
                at_start.append(at_start[-1] + float(c[-1]))
        out = np.zeros(t_ns.shape)
        starts = np.array([b.start_ns for b in self.blocks], dtype=np.int64)
        idx = np.searchsorted(starts, t_ns, side="right") - 1
        for bi in np.unique(idx):
            b = self.blocks[int(bi)]
            sel = idx == bi
            local = t_ns[sel] - b.start_ns
            d = b.values[name][1]
            if b.hold:
                out[sel] = at_start[bi] + float(d[0]) * (local + 0.5) * 1e-3
            else:
                cum = cums[int(bi)]
                assert cum is not None
                out[sel] = at_start[bi] + cum[local] - 0.5e-3 * d[local]
        return out

    def to_sampled(self, max_samples: int = 50_000_000) -> SampledSequence:
        """Expand to a :class:`SampledSequence` (refused beyond ``max_samples`` ns)."""
        n = self.duration_ns
        if n > max_samples:
            raise CompileError(
                f"expanding {n} ns to 1 ns samples exceeds max_samples={max_samples}; "
                "work on the compact form instead"
            )
        t = np.arange(n, dtype=np.int64)
        channels = {}
        for nm, info in self.channels.items():
            a, d, p = self.values_at(nm, t)
            if info.addressing == "Local":  # a beam's stream: the atoms that beam lights
                slots = (TargetSlot(0, n, frozenset(info.targets)),)
                channels[nm] = ChannelSamples(nm, info.basis, "Local", a, d, p, slots)
            else:
                slots = (TargetSlot(0, n, frozenset(self.register.ids)),)
                channels[nm] = ChannelSamples(nm, info.basis, "Global", a, d, p, slots)
        return SampledSequence(
            self.register, channels, self.device_name, self.measurement_basis, dict(self.metadata)
        )
