"""The three-level g–h–r case: Rydberg (g↔r) and Raman (h↔g) drives at once, in the 3^N space.

Pulser's ``"all"`` basis. Per atom, with Pulser's conventions (``pulser_simulation``'s
``build_coeffs_ops`` followed by ``H + H†``)::

    H = Σ_i [ Ω^R_i/2 (e^{-iφ^R_i} |g⟩⟨r|_i + h.c.) − Δ^R_i |r⟩⟨r|_i
            + Ω^D_i/2 (e^{-iφ^D_i} |h⟩⟨g|_i + h.c.) − Δ^D_i |g⟩⟨g|_i ]
        + Σ_{i<j} C6/r_ij⁶ |r⟩⟨r|_i |r⟩⟨r|_j

(R = Rydberg channels, D = digital/Raman channels). A basis state is an integer whose base-3
digits are the atoms' levels, first atom the most significant digit, **0 = g, 1 = r, 2 = h**
(so on {g, r} it is the two-level ground–Rydberg labelling; Pulser orders each atom's levels
(r, g, h)). The initial state is |g…g⟩ (index 0).

:class:`QutritSpace` provides the space interface of :mod:`.space` that
:class:`~virtual_device.rydberg.integrator.Evolver` works through, so the same
error-controlled CF4-Magnus/Lanczos integrator evolves it. The Evolver treats the rows of its
``coeff``/``delta`` arrays generically, so this space takes 2N rows: rows 0..N−1 are the
Rydberg coefficients c^R_i = Ω^R_i e^{iφ^R_i}/2 and detunings Δ^R_i, rows N..2N−1 the Raman
ones c^D_i, Δ^D_i. In those terms the drive is c^R |r⟩⟨g| + c^D |g⟩⟨h| + h.c.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from sequencer.register import Register
from sequencer.sampled import SampledSequence
from virtual_device.errors import SimulationError
from virtual_device.rydberg.integrator import EvolutionStats, Evolver
from virtual_device.rydberg.kernels import qutrit_hpsi, qutrit_krylov_args
from virtual_device.rydberg.lindblad import (
    MAX_LINDBLAD_QUTRIT_ATOMS,
    QutritLiouvilleSpace,
    add_relabelled,
    amplification_bound,
    evolve_density_matrix,
)
from virtual_device.rydberg.noise import NoiseModel
from virtual_device.rydberg.result import SimulationResult
from virtual_device.rydberg.space import pair_interactions

if TYPE_CHECKING:
    pass

__all__ = ["QutritSpace", "ThreeLevelResult", "simulate_three_level"]

Measure = Literal["ground-rydberg", "digital"]
G, R, H = 0, 1, 2  # digit of each level in a basis-state index
_MAX_ATOMS = 14  # 3^14 = 4.8 M amplitudes, 77 MiB per vector


def _kron_digits(per_atom: NDArray[np.float64]) -> NDArray[np.float64]:
    """Σ_i per_atom[i, d_i(s)] for every s in 0..3^N−1 (per_atom: shape (N, 3))."""
    out = np.zeros(1, dtype=np.float64)
    for row in per_atom:
        out = (out[:, None] + row[None, :]).ravel()
    return out


@njit(cache=True, fastmath=True, error_model="numpy")
def _qutrit_diag(inter, v_scale, d_ryd, d_ram, out, n):
    dim = out.shape[0]
    for k in range(dim):
        out[k] = v_scale * inter[k]
    st = dim
    for i in range(n):
        st //= 3
        a, b = d_ryd[i], d_ram[i]
        if a == 0.0 and b == 0.0:
            continue
        for base in range(0, dim, 3 * st):
            for k in range(base, base + st):
                out[k] -= b  # g: −Δ^D
                out[k + st] -= a  # r: −Δ^R
    return out


class QutritSpace:
    """The full 3^N g–r–h space; H·ψ applied matrix-free (compiled, one pass per atom).

    Implements the space interface of :mod:`virtual_device.rydberg.space` with per-atom
    arrays of length 2N (Rydberg rows, then Raman rows; see the module docstring).
    """

    def __init__(self, pair_v: NDArray[np.float64]) -> None:
        """``pair_v``: symmetric matrix of pair interactions C6/r⁶ (rad/µs), shape (N, N)."""
        n = pair_v.shape[0]
        if n > _MAX_ATOMS:
            raise SimulationError(
                f"the three-level space of {n} atoms has 3^{n} states; at most {_MAX_ATOMS} "
                "atoms are allowed"
            )
        self.n_atoms = n
        self.dim = 3**n
        self.pair_v = pair_v
        # Σ_{i<j} V_ij n^r_i n^r_j, atom by atom: appending atom k as the least significant
        # digit adds, when it is in r, Σ_{j<k} V_jk n^r_j.
        inter = np.zeros(1, dtype=np.float64)
        for k in range(n):
            rows = np.zeros((k, 3))
            rows[:, R] = pair_v[:k, k]
            added = _kron_digits(rows)
            inter = np.stack([inter, inter + added, inter], axis=-1).ravel()
        self.interaction = inter
        self.truncation = None

    def states(self) -> NDArray[np.int64]:
        """Every basis state (base-3 digits 0 = g, 1 = r, 2 = h; first atom leftmost)."""
        return np.arange(self.dim, dtype=np.int64)

    def _split(self, x: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
        if x.shape != (2 * self.n_atoms,):
            raise SimulationError(
                f"three-level space: expected 2N = {2 * self.n_atoms} per-atom values "
                f"(Rydberg then Raman); got shape {x.shape}"
            )
        return x[: self.n_atoms], x[self.n_atoms :]

    def detuning_diagonal(self, delta: NDArray[np.float64]) -> NDArray[np.float64]:
        """Diagonal of Σ_i (δ^R_i n^r_i + δ^D_i n^g_i), δ of length 2N."""
        d_ryd, d_ram = self._split(np.asarray(delta, dtype=np.float64))
        per_atom = np.zeros((self.n_atoms, 3))
        per_atom[:, R], per_atom[:, G] = d_ryd, d_ram
        return _kron_digits(per_atom)

    def diagonal(
        self, v_scale: float, delta: NDArray[np.float64], out: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Set out = v_scale·interaction − Σ_i (δ^R_i n^r_i + δ^D_i n^g_i) (compiled)."""
        d_ryd, d_ram = self._split(delta)
        return _qutrit_diag(
            self.interaction,
            float(v_scale),
            np.ascontiguousarray(d_ryd),
            np.ascontiguousarray(d_ram),
            out,
            self.n_atoms,
        )

    def hpsi(
        self,
        u: NDArray[np.complex128],
        s: float,
        prev: NDArray[np.complex128],
        cprev: float,
        diag: NDArray[np.float64],
        coeffs: NDArray[np.complex128],
        out: NDArray[np.complex128],
    ) -> complex:
        """Set out = s·(diag + drive) u + cprev·prev (compiled); returns ⟨u, out⟩.

        ``out`` must not alias ``u``.
        """
        c_ryd, c_ram = self._split(coeffs)
        return complex(
            qutrit_hpsi(
                u,
                float(s),
                prev,
                float(cprev),
                diag,
                np.ascontiguousarray(c_ryd),
                np.ascontiguousarray(c_ram),
                out,
                self.n_atoms,
            )
        )

    def krylov_args(self, coeffs: NDArray[np.complex128]) -> tuple[int, tuple[Any, ...]] | None:
        """The arguments of the compiled Lanczos loop (:func:`.kernels.lanczos_expm`)."""
        c_ryd, c_ram = self._split(coeffs)
        return qutrit_krylov_args(c_ryd, c_ram, self.n_atoms)

    def apply_drive(
        self,
        psi: NDArray[np.complex128],
        coeffs: NDArray[np.complex128],
        out: NDArray[np.complex128],
    ) -> None:
        """Add Σ_i (c^R_i |r⟩⟨g| + c^D_i |g⟩⟨h| + h.c.) ψ to ``out`` (numpy reference)."""
        c_ryd, c_ram = self._split(coeffs)
        for i in range(self.n_atoms):
            p = psi.reshape(3**i, 3, -1)
            o = out.reshape(3**i, 3, -1)
            a, b = complex(c_ryd[i]), complex(c_ram[i])
            o[:, R, :] += a * p[:, G, :]
            o[:, G, :] += np.conj(a) * p[:, R, :] + b * p[:, H, :]
            o[:, H, :] += np.conj(b) * p[:, G, :]

    def level_populations(self, probs: NDArray[np.float64]) -> NDArray[np.float64]:
        """Populations of (g, r, h) per atom from basis-state probabilities, shape (3, N)."""
        out = np.empty((3, self.n_atoms))
        for i in range(self.n_atoms):
            out[:, i] = probs.reshape(3**i, 3, -1).sum(axis=(0, 2))
        return out

    def occupations(self, probs: NDArray[np.float64]) -> NDArray[np.float64]:
        """Rydberg occupation ⟨n^r_i⟩ per atom."""
        return np.asarray(self.level_populations(probs)[R])

    def measured_index(self, measure: Measure) -> NDArray[np.int64]:
        """For every qutrit state, the bitstring integer it reads as (1 = r, or 1 = h)."""
        return self.measured_index_for(self.n_atoms, measure)

    @staticmethod
    def measured_index_for(n_atoms: int, measure: Measure) -> NDArray[np.int64]:
        """:meth:`measured_index` for ``n_atoms`` atoms."""
        one = R if measure == "ground-rydberg" else H
        bit = np.zeros(3, dtype=np.int64)
        bit[one] = 1
        out = np.zeros(1, dtype=np.int64)
        for _ in range(n_atoms):
            out = (2 * out[:, None] + bit[None, :]).ravel()
        return out

    def apply_jump(self, psi: NDArray[np.complex128], atom: int, kind: str) -> None:
        """Apply a quantum jump on ``atom``, in place (see :func:`~.simulate._run_one`).

        ``"dephasing"``: 1 − 2|r⟩⟨r|; ``"hyperfine_dephasing"``: 1 − 2|h⟩⟨h| (both at rate
        γ/2, the unravelling of Pulser's √(2γ)|·⟩⟨·|); ``"relaxation"``: |g⟩⟨r|.
        """
        v = psi.reshape(3**atom, 3, -1)
        if kind == "dephasing":
            v[:, R, :] *= -1.0
        elif kind == "hyperfine_dephasing":
            v[:, H, :] *= -1.0
        elif kind == "relaxation":
            v[:, G, :] = v[:, R, :]
            v[:, R, :] = 0.0
            v[:, H, :] = 0.0
        else:
            raise SimulationError(f"unknown quantum jump {kind!r}")

    def ground_state(self) -> NDArray[np.complex128]:
        """|gg…g⟩."""
        psi = np.zeros(self.dim, dtype=np.complex128)
        psi[0] = 1.0
        return psi


@dataclass(frozen=True, eq=False)
class ThreeLevelResult(SimulationResult):
    """A :class:`SimulationResult` of the g–h–r simulation.

    ``basis_states``/``probabilities`` are bitstrings in the *measured* basis
    (``measurement_basis`` "ground-rydberg": 1 = r; "digital": 1 = h; the other two levels
    read 0, as Pulser), readout errors applied by :meth:`bitstring_probabilities` and
    :meth:`sample_shots` as usual. ``occupations`` is the population of the level that reads
    1; ``rydberg_occupations`` and ``hyperfine_occupations`` are those of r and h (same
    shape). ``qutrit_state`` holds the final 3^N amplitudes (digits 0 = g, 1 = r, 2 = h,
    first atom most significant; None after noise runs); ``final_state`` is None. With
    ``method="lindblad"``: ``density_matrix`` is the final qutrit ρ (3^N × 3^N, same indices,
    averaged over the shot-to-shot runs; a lost atom sits in the level that reads 1) and
    ``qutrit_state`` is None.
    """

    measurement_basis: str = "digital"
    rydberg_occupations: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 0)))
    hyperfine_occupations: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 0)))
    qutrit_state: NDArray[np.complex128] | None = None

    def to_dict(self, *, min_probability: float = 1e-9, shots: Any = None) -> dict[str, Any]:
        """As :meth:`SimulationResult.to_dict`, plus the r and h occupations."""
        out = super().to_dict(min_probability=min_probability, shots=shots)
        one = "Rydberg (r)" if self.measurement_basis == "ground-rydberg" else "hyperfine (h)"
        out["bitstring_convention"] = f"first atom = leftmost bit, 1 = {one}"
        out["basis"] = "all"
        out["measurement_basis"] = self.measurement_basis
        out["final_rydberg_occupations"] = dict(
            zip(self.atom_ids, map(float, self.rydberg_occupations[-1]))
        )
        out["final_hyperfine_occupations"] = dict(
            zip(self.atom_ids, map(float, self.hyperfine_occupations[-1]))
        )
        out["rydberg_occupations"] = self.rydberg_occupations.tolist()
        out["hyperfine_occupations"] = self.hyperfine_occupations.tolist()
        return out


Drives = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]


def simulate_three_level(
    sequence: SampledSequence | None,
    *,
    amplitude: ArrayLike | None,
    detuning: ArrayLike | None,
    phase: ArrayLike | None,
    raman_amplitude: ArrayLike | None,
    raman_detuning: ArrayLike | None,
    raman_phase: ArrayLike | None,
    register: Register | ArrayLike | None,
    interaction_coeff: float | None,
    measure: str | None,
    noise: NoiseModel | None,
    subspace_cutoff: float | None,
    tolerance: float,
    method: str = "state-vector",
    record_every_ns: int | None,
    seed: int | np.random.Generator | None,
    progress: bool | None,
) -> ThreeLevelResult:
    """``simulate(..., basis="all")``: see :func:`virtual_device.rydberg.simulate`."""
    from virtual_device.rydberg.simulate import (
        _amplitude_factors,
        _as_rows,
        _atoms,
        _channel_drives,
        _interaction_coeff,
        _progress_bar,
        _record_times,
        _run_one,
        _waist_factor,
    )

    t_start = time.perf_counter()
    noise = noise or NoiseModel()
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if subspace_cutoff is not None:
        raise SimulationError("subspace_cutoff is not available with basis='all' (3^N space)")
    lindblad = method == "lindblad"

    raman_arrays = (raman_amplitude, raman_detuning, raman_phase)
    if sequence is not None:
        if any(x is not None for x in (amplitude, detuning, phase, *raman_arrays)):
            raise SimulationError("give either a sampled sequence or drive arrays, not both")
        reg: Register | ArrayLike | None = sequence.register if register is None else register
        bases = {ch.basis for ch in sequence.channels.values()}
        other = bases - {"ground-rydberg", "digital"}
        if other:
            raise SimulationError(f"basis='all' cannot simulate channels of basis {sorted(other)}")
        default_measure = sequence.measurement_basis
    elif amplitude is None and raman_amplitude is None:
        raise SimulationError(
            "nothing to simulate: give a sampled sequence, amplitude (Rydberg) or "
            "raman_amplitude arrays"
        )
    else:
        reg = register
        default_measure = None
    # Pulser's default for an unmeasured sequence in the "all" basis is "digital"
    meas = measure if measure is not None else (default_measure or "digital")
    if meas not in ("ground-rydberg", "digital"):
        raise SimulationError(
            f"measure must be 'ground-rydberg' (1 = r) or 'digital' (1 = h); got {meas!r}"
        )
    ids, coords = _atoms(reg)
    n = len(ids)
    c6 = _interaction_coeff(interaction_coeff, sequence)

    if sequence is not None:
        t_total = sequence.duration_ns
        seq = sequence

        def base_drives(factors: dict[str, float], waist: NDArray[np.float64]) -> Drives:
            ryd = _channel_drives(seq, "ground-rydberg", factors, waist)
            ram = _channel_drives(seq, "digital", factors, waist)
            return (
                np.concatenate([ryd[0], ram[0]]),
                np.concatenate([ryd[1], ram[1]]),
                np.concatenate([ryd[2], ram[2]]),
            )

        channel_names = list(sequence.channels)
    else:
        first = amplitude if amplitude is not None else raman_amplitude
        t_total = _as_rows(first, n, None, "amplitude").shape[1]
        ryd_rows = [
            _as_rows(x, n, t_total, what)
            for x, what in zip((amplitude, detuning, phase), ("amplitude", "detuning", "phase"))
        ]
        ram_rows = [
            _as_rows(x, n, t_total, what)
            for x, what in zip(raman_arrays, ("raman_amplitude", "raman_detuning", "raman_phase"))
        ]
        if np.any(ryd_rows[0] < 0) or np.any(ram_rows[0] < 0):
            raise SimulationError("amplitudes must be ≥ 0 rad/µs (put the sign in the phase)")

        def base_drives(factors: dict[str, float], waist: NDArray[np.float64]) -> Drives:
            amp = np.concatenate(
                [
                    ryd_rows[0] * factors.get("rydberg", 1.0) * waist[:, None],
                    ram_rows[0] * factors.get("raman", 1.0) * waist[:, None],
                ]
            )
            return (
                amp,
                np.concatenate([ryd_rows[1], ram_rows[1]]),
                np.concatenate([ryd_rows[2], ram_rows[2]]),
            )

        channel_names = ["rydberg", "raman"]
    record = _record_times(t_total, record_every_ns)
    pair_v = pair_interactions(coords[:, :2], c6)
    waist = _waist_factor(coords, noise)
    if lindblad and n > MAX_LINDBLAD_QUTRIT_ATOMS:
        raise SimulationError(
            "method='lindblad' with basis='all' evolves the 3^N × 3^N density matrix: at most "
            f"{MAX_LINDBLAD_QUTRIT_ATOMS} atoms; got N = {n} (use method='state-vector')"
        )
    stochastic = noise.has_shot_to_shot_noise if lindblad else noise.is_stochastic
    runs = noise.runs if stochastic else 1
    label = "simulating (g–h–r, Lindblad)" if lindblad else "simulating (g–h–r)"
    bar, task = _progress_bar(progress, label, runs * t_total)
    one = R if meas == "ground-rydberg" else H
    amplification = amplification_bound(n, noise.relaxation_rate, t_total * 1e-3, levels=3)
    decay = (
        np.concatenate([np.full(n, noise.relaxation_rate), np.zeros(n)])
        if noise.relaxation_rate > 0
        else None
    )

    pops_sum = np.zeros((len(record), 3, n))
    probs_sum = np.zeros(1 << n)
    rho_sum: NDArray[np.complex128] | None = (
        np.zeros((3**n, 3**n), dtype=np.complex128) if lindblad else None
    )
    stats_total = EvolutionStats()
    final: NDArray[np.complex128] | None = None
    space_cache: dict[bytes, QutritSpace] = {}
    lspace_cache: dict[bytes, QutritLiouvilleSpace] = {}
    measured: NDArray[np.int64] | None = None

    def advance_bar(k: int) -> None:
        if bar is not None:
            bar.advance(task, k)

    try:
        for _ in range(runs):
            # the same draws, in the same order, as the two-level simulator
            absent = rng.random(n) < noise.state_prep_error if noise.state_prep_error else None
            lost = rng.random(n) < noise.atom_loss_prob if noise.atom_loss_prob else None
            inactive = np.zeros(n, dtype=bool)
            for mask in (absent, lost):
                if mask is not None:
                    inactive |= mask
            factors = _amplitude_factors(noise, channel_names, rng)
            amp, det, ph = base_drives(factors, waist)
            det = np.array(det)
            if noise.temperature > 0:  # Doppler shift of the Rydberg transition only
                det[:n] += rng.normal(0.0, noise.doppler_sigma, size=n)[:, None]
            coeff = 0.5 * amp * np.exp(1j * ph)
            off = np.concatenate([inactive, inactive])  # absent or lost: no drive
            coeff[off] = 0.0
            det[off] = 0.0
            key = inactive.tobytes()
            v = pair_v.copy()
            v[inactive, :] = 0.0
            v[:, inactive] = 0.0
            if measured is None:
                measured = QutritSpace.measured_index_for(n, meas)  # type: ignore[arg-type]
            # a lost atom is dark: it reads 1 in either measurement basis, as in two levels
            lost_atoms = np.nonzero(lost)[0] if lost is not None else np.zeros(0, dtype=int)
            lost_bits = int(np.sum(1 << (n - 1 - lost_atoms)))
            if lindblad:
                assert rho_sum is not None
                lspace = lspace_cache.get(key)
                if lspace is None:
                    lspace = QutritLiouvilleSpace(
                        v,
                        noise.dephasing_rate,
                        noise.relaxation_rate,
                        noise.hyperfine_dephasing_rate,
                    )
                    lspace_cache[key] = lspace
                rho, seen, stats = evolve_density_matrix(
                    lspace,
                    coeff,
                    det,
                    tolerance=tolerance,
                    record=record,
                    observe=lspace.level_populations,
                    amplification=amplification,
                    on_progress=advance_bar,
                )
                pops_sum += np.asarray(seen)
                p = np.clip(lspace.populations(rho), 0.0, None)
                offset = int(np.sum(one * 3 ** (n - 1 - lost_atoms)))
                idx = np.arange(3**n)
                keep = idx[_digits_zero(idx, n, lost_atoms)]
                add_relabelled(rho_sum, rho.reshape(rho_sum.shape), keep, keep + offset)
            else:
                space = space_cache.get(key)
                if space is None:
                    space = QutritSpace(v)
                    space_cache[key] = space
                # The Evolver is annotated for the two-level spaces; QutritSpace implements
                # the same interface (diagonal, hpsi, detuning_diagonal, dim) with 2N rows.
                evolver = Evolver(
                    space,  # type: ignore[arg-type]
                    coeff,
                    det,
                    tolerance=tolerance,
                    decay_rates=decay,
                )
                psi, occ, stats = _run_one(
                    evolver,
                    space,  # type: ignore[arg-type]
                    record,
                    noise,
                    rng,
                    bar,
                    task,
                    observe=space.level_populations,
                )
                pops_sum += occ
                p = np.abs(psi) ** 2
                final = psi / np.linalg.norm(psi)
            probs_sum += np.bincount(measured | lost_bits, weights=p / p.sum(), minlength=1 << n)
            for name in ("matvecs", "blocks_accepted", "blocks_rejected"):
                setattr(stats_total, name, getattr(stats_total, name) + getattr(stats, name))
            stats_total.magnus_error = max(stats_total.magnus_error, stats.magnus_error)
            stats_total.krylov_error = max(stats_total.krylov_error, stats.krylov_error)
    finally:
        if bar is not None:
            bar.stop()

    pops = pops_sum / runs
    return ThreeLevelResult(
        atom_ids=ids,
        basis_states=np.arange(1 << n, dtype=np.int64),
        probabilities=probs_sum / runs,
        final_state=None,
        times_ns=np.asarray(record, dtype=np.float64),
        occupations=np.ascontiguousarray(pops[:, one, :]),
        error_estimate=stats_total.error_estimate,
        tolerance=tolerance,
        wall_time_s=time.perf_counter() - t_start,
        runs=runs,
        matvecs=stats_total.matvecs,
        p_false_pos=noise.p_false_pos,
        p_false_neg=noise.p_false_neg,
        extra={
            "blocks": stats_total.blocks_accepted,
            "rejected_blocks": stats_total.blocks_rejected,
            **({"method": "lindblad"} if lindblad else {}),
        },
        density_matrix=None if rho_sum is None else rho_sum / runs,
        measurement_basis=meas,
        rydberg_occupations=np.ascontiguousarray(pops[:, R, :]),
        hyperfine_occupations=np.ascontiguousarray(pops[:, H, :]),
        qutrit_state=final if runs == 1 and not noise.atom_loss_prob else None,
    )


def _digits_zero(states: NDArray[np.int64], n: int, atoms: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Whether each base-3 state has digit 0 (g) at every one of ``atoms``."""
    ok = np.ones(len(states), dtype=bool)
    for i in atoms:
        ok &= (states // 3 ** (n - 1 - int(i))) % 3 == G
    return ok
