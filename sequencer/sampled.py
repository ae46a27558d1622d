"""Sampled sequences: what each channel drives, on a 1 ns grid.

Sample ``k`` of every array holds the value during ``[k, k+1)`` ns from the start of the
sequence. Units as Pulser: Ω (``amplitude``) and Δ (``detuning``) in rad/µs, φ (``phase``) in rad.

This is the hand-over point between the pulse level and everything below it: the compiler
turns a :class:`SampledSequence` into instrument programs, and the Rydberg simulator evolves
atoms under :meth:`SampledSequence.atom_drives`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from sequencer.errors import SequenceError
from sequencer.register import Register

__all__ = ["AtomDrives", "ChannelSamples", "SampledSequence", "TargetSlot"]

Basis = Literal["ground-rydberg", "digital", "XY"]
Addressing = Literal["Global", "Local"]


@dataclass(frozen=True)
class TargetSlot:
    """During ``[start_ns, stop_ns)`` the channel addresses the atoms in ``targets``."""

    start_ns: int
    stop_ns: int
    targets: frozenset[str]


@dataclass(frozen=True, eq=False)
class ChannelSamples:
    """One channel's Ω(t), Δ(t), φ(t), each of shape (T,), and whom it addresses when.

    A global channel has one slot covering the whole sequence and every atom. A local
    channel's slots say which atoms it targets while each pulse plays; outside every slot its
    amplitude is zero.
    """

    name: str
    basis: Basis
    addressing: Addressing
    amplitude: NDArray[np.float64]
    detuning: NDArray[np.float64]
    phase: NDArray[np.float64]
    slots: tuple[TargetSlot, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.amplitude)
        for qty in ("amplitude", "detuning", "phase"):
            arr = np.asarray(getattr(self, qty), dtype=np.float64)
            if arr.ndim != 1 or len(arr) != n:
                raise SequenceError(
                    f"channel {self.name!r}: {qty} must be 1-D of length {n}; got shape {arr.shape}"
                )
            object.__setattr__(self, qty, arr)

    @property
    def duration_ns(self) -> int:
        """Number of 1 ns samples."""
        return len(self.amplitude)

    def targets_at(self, t_ns: int) -> frozenset[str]:
        """Atoms addressed at time ``t_ns``."""
        for slot in self.slots:
            if slot.start_ns <= t_ns < slot.stop_ns:
                return slot.targets
        return frozenset()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChannelSamples):
            return NotImplemented
        return (
            (self.name, self.basis, self.addressing, self.slots)
            == (other.name, other.basis, other.addressing, other.slots)
            and np.array_equal(self.amplitude, other.amplitude)
            and np.array_equal(self.detuning, other.detuning)
            and np.array_equal(self.phase, other.phase)
        )


@dataclass(frozen=True)
class AtomDrives:
    """Per-atom drive in one basis: arrays of shape (N_atoms, T) in register order.

    ``amplitude`` (rad/µs) and ``phase`` (rad) are those of the summed complex Rabi frequency
    Σ_c Ω_c e^{iφ_c} of every channel addressing the atom; ``detuning`` (rad/µs) is Σ_c Δ_c.
    """

    atom_ids: tuple[str, ...]
    amplitude: NDArray[np.float64]
    detuning: NDArray[np.float64]
    phase: NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class SampledSequence:
    """Every channel of a sequence sampled on a 1 ns grid, with the register it drives."""

    register: Register
    channels: Mapping[str, ChannelSamples]
    device_name: str = ""
    measurement_basis: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        lengths = {ch.duration_ns for ch in self.channels.values()}
        if len(lengths) > 1:
            raise SequenceError(f"channels have different lengths: {sorted(lengths)} ns")
        for ch in self.channels.values():
            unknown = set().union(*(s.targets for s in ch.slots)) - set(self.register.ids)
            if unknown:
                raise SequenceError(
                    f"channel {ch.name!r} targets atoms not in the register: {sorted(unknown)}"
                )

    @property
    def duration_ns(self) -> int:
        """Length of the sequence in ns (= number of samples per array)."""
        return next(iter(self.channels.values())).duration_ns if self.channels else 0

    @property
    def times_ns(self) -> NDArray[np.float64]:
        """Start time of each sample, ns."""
        return np.arange(self.duration_ns, dtype=np.float64)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SampledSequence):
            return NotImplemented
        return (
            self.register == other.register
            and dict(self.channels) == dict(other.channels)
            and self.measurement_basis == other.measurement_basis
        )

    def atom_drives(self, basis: Basis = "ground-rydberg") -> AtomDrives:
        """Sum every channel of ``basis`` into per-atom Ω, Δ, φ arrays, shape (N, T)."""
        ids = self.register.ids
        n, t = len(ids), self.duration_ns
        complex_rabi = np.zeros((n, t), dtype=np.complex128)
        detuning = np.zeros((n, t), dtype=np.float64)
        for ch in self.channels.values():
            if ch.basis != basis:
                continue
            field_ = ch.amplitude * np.exp(1j * ch.phase)
            for slot in ch.slots:
                rows = sorted(ids.index(a) for a in slot.targets)
                sl = slice(slot.start_ns, slot.stop_ns)
                complex_rabi[rows, sl] += field_[sl]
                detuning[rows, sl] += ch.detuning[sl]
        amplitude = np.abs(complex_rabi)
        phase = np.where(amplitude > 0, np.angle(complex_rabi), 0.0)
        return AtomDrives(ids, amplitude, detuning, phase)

    # -- storage -------------------------------------------------------------------------
    def to_npz_dict(self) -> dict[str, NDArray[Any]]:
        """Arrays keyed ``{channel}/{amplitude|detuning|phase}`` plus ``__meta__`` (JSON).

        Per-atom arrays for each basis are under ``atoms/{basis}/{amplitude|detuning|phase}``
        with shape (N, T) and rows in ``register`` order. All time series are on a 1 ns grid.
        """
        out: dict[str, NDArray[Any]] = {}
        meta: dict[str, Any] = {
            "register": self.register.to_dict(),
            "device_name": self.device_name,
            "measurement_basis": self.measurement_basis,
            "duration_ns": self.duration_ns,
            "units": {"amplitude": "rad/us", "detuning": "rad/us", "phase": "rad", "time": "ns"},
            "channels": {},
        }
        for name, ch in self.channels.items():
            out[f"{name}/amplitude"] = ch.amplitude
            out[f"{name}/detuning"] = ch.detuning
            out[f"{name}/phase"] = ch.phase
            meta["channels"][name] = {
                "basis": ch.basis,
                "addressing": ch.addressing,
                "slots": [[s.start_ns, s.stop_ns, sorted(s.targets)] for s in ch.slots],
            }
        for basis in sorted({ch.basis for ch in self.channels.values()}):
            drives = self.atom_drives(basis)
            out[f"atoms/{basis}/amplitude"] = drives.amplitude
            out[f"atoms/{basis}/detuning"] = drives.detuning
            out[f"atoms/{basis}/phase"] = drives.phase
        out["atom_ids"] = np.array(self.register.ids)
        out["__meta__"] = np.array(json.dumps(meta))
        return out

    def save_npz(self, path: str | Path) -> None:
        """Write :meth:`to_npz_dict` to ``path`` (compressed)."""
        np.savez_compressed(path, **self.to_npz_dict())  # type: ignore[arg-type]

    @classmethod
    def load_npz(cls, source: str | Path | io.BytesIO) -> SampledSequence:
        """Read a file written by :meth:`save_npz`."""
        with np.load(source, allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"]))
            channels = {
                name: ChannelSamples(
                    name=name,
                    basis=info["basis"],
                    addressing=info["addressing"],
                    amplitude=data[f"{name}/amplitude"],
                    detuning=data[f"{name}/detuning"],
                    phase=data[f"{name}/phase"],
                    slots=tuple(TargetSlot(a, b, frozenset(t)) for a, b, t in info["slots"]),
                )
                for name, info in meta["channels"].items()
            }
        return cls(
            register=Register.from_dict(meta["register"]),
            channels=channels,
            device_name=meta["device_name"],
            measurement_basis=meta["measurement_basis"],
        )
