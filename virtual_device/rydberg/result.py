"""What a simulation returns: states, occupations, probabilities, shots, error report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from virtual_device.errors import SimulationError
from virtual_device.rydberg.space import TruncationInfo

__all__ = ["SimulationResult", "TruncationReport"]

_MAX_EXACT_READOUT_ATOMS = 24


@dataclass(frozen=True)
class TruncationReport:
    """Effect of the blockade-subspace truncation.

    ``leakage_amplitude`` = ∫ ‖P_dropped H ψ‖ dt, an upper estimate of the amplitude the
    truncation would let flow into dropped states (first order, no return); for an
    off-resonant penalty the real loss is much smaller and ``max_dropped_population``, the
    largest population the dropped states carry in adiabatic elimination (Σ |Ω/2 ψ / ΔE|²),
    is the better estimate of the error in probabilities.
    """

    info: TruncationInfo
    leakage_amplitude: float
    max_dropped_population: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "energy_cutoff_rad_per_us": self.info.energy_cutoff,
            "rule": self.info.rule,
            "kept_states": self.info.kept_states,
            "dropped_states": self.info.dropped_states,
            "leaky_transitions": self.info.leaky_transitions,
            "product_layout": self.info.product_layout,
            "symmetry_order": self.info.symmetry_order,
            "sector_states": self.info.sector_states,
            "leakage_amplitude": self.leakage_amplitude,
            "max_dropped_population": self.max_dropped_population,
        }


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """The outcome of :func:`~virtual_device.rydberg.simulate`.

    Basis states are integers whose binary form is the bitstring (first atom = leftmost bit,
    1 = Rydberg). ``probabilities`` are those of ``basis_states`` after the evolution, averaged
    over noise runs, *before* readout errors; :meth:`bitstring_probabilities` and
    :meth:`sample_shots` apply ε, ε′.

    ``method="lindblad"`` results have ``final_state`` None and ``density_matrix`` the final ρ
    (2^N × 2^N, indices as ``basis_states``), averaged over the ``runs`` shot-to-shot noise
    realisations, without readout errors; a lost atom appears in it as 1 (dark). Its diagonal,
    clipped at 0 and normalised, is ``probabilities``; error ≤ ``error_estimate`` in ‖·‖_F.
    """

    atom_ids: tuple[str, ...]
    basis_states: NDArray[np.int64]
    probabilities: NDArray[np.float64]
    final_state: NDArray[np.complex128] | None
    times_ns: NDArray[np.float64]
    occupations: NDArray[np.float64]
    error_estimate: float
    tolerance: float
    wall_time_s: float
    runs: int
    matvecs: int
    p_false_pos: float = 0.0
    p_false_neg: float = 0.0
    truncation: TruncationReport | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    density_matrix: NDArray[np.complex128] | None = None

    @property
    def n_atoms(self) -> int:
        """Number of atoms."""
        return len(self.atom_ids)

    @property
    def final_occupations(self) -> NDArray[np.float64]:
        """⟨n_i⟩ at the end, one per atom."""
        return np.asarray(self.occupations[-1])

    def bitstring(self, state: int) -> str:
        """The bitstring of a basis-state integer."""
        return format(int(state), f"0{self.n_atoms}b")

    def _bits(self, states: NDArray[np.int64]) -> NDArray[np.bool_]:
        n = self.n_atoms
        return ((states[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1).astype(bool)

    def bitstring_probabilities(
        self, *, measurement_errors: bool = True, min_probability: float = 0.0
    ) -> dict[str, float]:
        """Probability of each bitstring, largest first; readout errors applied if asked.

        Readout errors are applied exactly (a 2×2 confusion matrix per atom), which needs the
        full 2^N vector: at most 24 atoms when ε or ε′ is non-zero.
        """
        states, probs = self.basis_states, self.probabilities
        if measurement_errors and (self.p_false_pos > 0 or self.p_false_neg > 0):
            states, probs = self._apply_readout()
        keep = probs > min_probability
        order = np.argsort(-probs[keep], kind="stable")
        return {
            self.bitstring(s): float(p) for s, p in zip(states[keep][order], probs[keep][order])
        }

    def _apply_readout(self) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        n = self.n_atoms
        if n > _MAX_EXACT_READOUT_ATOMS:
            raise SimulationError(
                f"exact readout errors need the full 2^{n} vector; at most "
                f"{_MAX_EXACT_READOUT_ATOMS} atoms — use sample_shots for larger registers"
            )
        full = np.zeros(1 << n)
        np.add.at(full, self.basis_states, self.probabilities)
        eps, eps2 = self.p_false_pos, self.p_false_neg
        confusion = np.array([[1 - eps, eps2], [eps, 1 - eps2]])  # [measured, true]
        t = full.reshape((2,) * n)
        for i in range(n):
            t = np.moveaxis(np.tensordot(confusion, t, axes=([1], [i])), 0, i)
        return np.arange(1 << n, dtype=np.int64), t.reshape(-1)

    def sample_shots(
        self, n_shots: int, rng: np.random.Generator | int | None = None
    ) -> Counter[str]:
        """Draw ``n_shots`` bitstrings (readout errors included) with a seeded generator."""
        if n_shots < 0:
            raise SimulationError(f"n_shots must be ≥ 0; got {n_shots}")
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        p = self.probabilities / self.probabilities.sum()
        idx = gen.choice(len(p), size=n_shots, p=p)
        bits = self._bits(self.basis_states[idx])
        if self.p_false_pos > 0 or self.p_false_neg > 0:
            u = gen.random(bits.shape)
            flip = np.where(bits, u < self.p_false_neg, u < self.p_false_pos)
            bits = bits ^ flip
        weights = 1 << (self.n_atoms - 1 - np.arange(self.n_atoms))
        states = bits.astype(np.int64) @ weights
        values, counts = np.unique(states, return_counts=True)
        return Counter({self.bitstring(v): int(c) for v, c in zip(values, counts)})

    def correlations(self) -> NDArray[np.float64]:
        """Connected correlations ⟨n_i n_j⟩ − ⟨n_i⟩⟨n_j⟩ at the end, shape (N, N)."""
        bits = self._bits(self.basis_states).astype(np.float64)
        pn = bits * self.probabilities[:, None]
        nn = bits.T @ pn
        n = pn.sum(axis=0)
        return np.asarray(nn - np.outer(n, n))

    def to_dict(
        self, *, min_probability: float = 1e-9, shots: Counter[str] | None = None
    ) -> dict[str, Any]:
        """A JSON-ready summary: occupations, bitstring probabilities, counts, timing, errors."""
        out: dict[str, Any] = {
            "atom_ids": list(self.atom_ids),
            "bitstring_convention": "first atom = leftmost bit, 1 = Rydberg",
            "final_occupations": dict(zip(self.atom_ids, map(float, self.final_occupations))),
            "times_ns": self.times_ns.tolist(),
            "occupations": self.occupations.tolist(),
            "bitstring_probabilities": self.bitstring_probabilities(
                measurement_errors=False, min_probability=min_probability
            ),
            "error_estimate": self.error_estimate,
            "tolerance": self.tolerance,
            "runs": self.runs,
            "timing": {"wall_time_s": self.wall_time_s, "matvecs": self.matvecs},
        }
        if (
            self.p_false_pos > 0 or self.p_false_neg > 0
        ) and self.n_atoms <= _MAX_EXACT_READOUT_ATOMS:
            out["measured_bitstring_probabilities"] = self.bitstring_probabilities(
                measurement_errors=True, min_probability=min_probability
            )
        if self.truncation is not None:
            out["truncation"] = self.truncation.to_dict()
        if shots is not None:
            out["counts"] = dict(shots.most_common())
        out.update(self.extra)
        return out
