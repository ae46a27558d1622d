"""Hilbert spaces the simulator evolves in: the full 2^N space and the blockade subspace.

A basis state is an integer whose binary representation is the bitstring, first atom = most
significant (leftmost) bit, 1 = Rydberg (Pulser's convention). Both spaces provide the same
small interface, so the integrator does not care which one it runs in:

* ``interaction``: diagonal of Σ_{i<j} C6/r_ij⁶ n_i n_j (rad/µs), shape (dim,);
* ``detuning_diagonal(δ)``: diagonal of Σ_i δ_i n_i for per-atom δ (rad/µs), shape (dim,);
* ``apply_drive(ψ, c, out)``: out += Σ_i (c_i |r⟩⟨g|_i + c_i* |g⟩⟨r|_i) ψ;
* ``diagonal(v_scale, δ, out)``: out = v_scale·interaction − Σ_i δ_i n_i (compiled);
* ``hpsi(u, s, prev, c_prev, diag, c, out)``: out = s·H u + c_prev·prev in one compiled pass,
  returning ⟨u, out⟩ (the fused Lanczos product, see :mod:`.kernels`);
* ``occupations(p)``: per-atom Rydberg occupation from basis-state probabilities;
* optionally ``krylov_args(c)``: the arguments of the compiled Lanczos loop
  (:func:`.kernels.lanczos_expm`), or None; a space without it (or returning None) is
  evolved by the integrator's Python Lanczos loop over ``hpsi``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from virtual_device.errors import SimulationError
from virtual_device.rydberg import kernels
from virtual_device.rydberg.layered import find_layers, layered_plan

__all__ = ["BlockadeSubspace", "FullSpace", "TruncationInfo", "pair_interactions"]

_MAX_FULL_ATOMS = 24  # 2^24 complex128 = 256 MiB per vector; Lanczos keeps up to ~40
_MAX_SUBSPACE_ATOMS = 62  # basis states are int64 bit masks


def pair_interactions(coords: NDArray[np.float64], c6: float) -> NDArray[np.float64]:
    """Matrix of C6/r_ij⁶ (rad/µs) for positions in µm; zero on the diagonal."""
    diff = coords[:, None, :] - coords[None, :, :]
    r2 = np.sum(diff * diff, axis=-1)
    v = np.where(r2 > 0, c6 / np.where(r2 > 0, r2, 1.0) ** 3, 0.0)
    np.fill_diagonal(v, 0.0)
    return np.asarray(v, dtype=np.float64)


def _kron_sum(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Σ_i values_i · bit_i(s) for every s in 0..2^N-1, first value = most significant bit."""
    out = np.zeros(1, dtype=np.float64)
    for v in values:
        out = (out[:, None] + np.array([0.0, v])[None, :]).ravel()
    return out


@dataclass(frozen=True)
class TruncationInfo:
    """What the blockade-subspace truncation keeps and drops.

    ``dropped_states`` counts basis states of the full 2^N space left out;
    ``leaky_transitions`` counts single-atom flips from a kept state into a dropped one
    (the channels through which the truncation can lose amplitude); ``product_layout`` is
    which H·ψ ran: ``"chain"`` or ``"layered"`` (streaming, see :class:`BlockadeSubspace`)
    or ``"gather"``;
    ``rule`` how the cutoff applies: ``"energy"`` (to a state's total interaction energy) or
    ``"pair"`` (to each doubly excited pair); ``symmetry_order`` the number of register
    symmetries the evolution used (1: none) and ``sector_states`` the orbits it evolved
    (the kept states otherwise; see :mod:`.symmetry`).
    """

    energy_cutoff: float
    kept_states: int
    dropped_states: int
    leaky_transitions: int
    product_layout: str = "gather"
    rule: str = "energy"
    symmetry_order: int = 1
    sector_states: int | None = None

    def __post_init__(self) -> None:
        if self.sector_states is None:
            object.__setattr__(self, "sector_states", self.kept_states)


_CHUNK_BITS = 16
_TAIL_BITS = 4
_TAIL_MIN_ATOMS = 14  # below this the dense tail costs more than it saves


def _tail_matrix(coeffs: NDArray[np.complex128]) -> NDArray[np.complex128] | None:
    """Σ_j (c_j σ⁺_j + h.c.) on the last len(coeffs) atoms as a dense matrix (first = MSB)."""
    if not np.any(coeffs != 0):
        return None
    k = len(coeffs)
    out = np.zeros((1 << k, 1 << k), dtype=np.complex128)
    for j, c in enumerate(coeffs):
        local = np.array([[0.0, np.conj(c)], [c, 0.0]])  # rows: g, r ← columns: g, r
        out += np.kron(np.kron(np.eye(1 << j), local), np.eye(1 << (k - 1 - j)))
    return out


def _flip_site(
    psi: NDArray[np.complex128],
    out: NDArray[np.complex128],
    tmp: NDArray[np.complex128],
    before: int,
    after: int,
    c: complex,
) -> None:
    """Add (c σ⁺ + c* σ⁻) ψ to ``out`` for the site splitting the vector as (before, 2, after)."""
    if c == 0:
        return
    p = psi.reshape(before, 2, after)
    o = out.reshape(before, 2, after)
    t = tmp.reshape(before, after)
    np.multiply(p[:, 0, :], c, out=t)
    o[:, 1, :] += t
    np.multiply(p[:, 1, :], np.conj(c), out=t)
    o[:, 0, :] += t


class FullSpace:
    """The full 2^N ground–Rydberg space, H·ψ applied matrix-free by per-site reshapes."""

    def __init__(self, pair_v: NDArray[np.float64]) -> None:
        """``pair_v``: symmetric matrix of pair interactions (rad/µs), shape (N, N)."""
        n = pair_v.shape[0]
        if n > _MAX_FULL_ATOMS:
            raise SimulationError(
                f"the full space of {n} atoms has 2^{n} states; at most {_MAX_FULL_ATOMS} atoms "
                "are allowed — use the blockade subspace (subspace_cutoff) for larger registers"
            )
        self.n_atoms = n
        self.dim = 1 << n
        self.pair_v = pair_v
        # Σ_{i<j} V_ij n_i n_j, built atom by atom: appending atom k as the new least
        # significant bit adds n_k Σ_{j<k} V_jk n_j.
        inter = np.zeros(1, dtype=np.float64)
        for k in range(n):
            added = _kron_sum(pair_v[:k, k])
            inter = np.stack([inter, inter + added], axis=-1).ravel()
        self.interaction = inter
        self.truncation: TruncationInfo | None = None

    def states(self) -> NDArray[np.int64]:
        """Every basis state, as integers (bitstring = binary, first atom leftmost)."""
        return np.arange(self.dim, dtype=np.int64)

    def detuning_diagonal(self, delta: NDArray[np.float64]) -> NDArray[np.float64]:
        """Diagonal of Σ_i δ_i n_i (same units as ``delta``)."""
        if np.all(delta == delta[0]):
            return delta[0] * self._popcount()
        return _kron_sum(delta)

    def _popcount(self) -> NDArray[np.float64]:
        if not hasattr(self, "_pc"):
            self._pc = _kron_sum(np.ones(self.n_atoms))
        return self._pc

    def diagonal(
        self, v_scale: float, delta: NDArray[np.float64], out: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Set out = v_scale·interaction − Σ_i δ_i n_i (compiled, one pass)."""
        return kernels.full_diag(self.interaction, v_scale, delta, out)

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
        """Set out = s·(diag + drive) u + cprev·prev (compiled, chunked); returns ⟨u, out⟩."""
        return kernels.full_hpsi(u, s, prev, cprev, diag, coeffs, out)

    def krylov_args(self, coeffs: NDArray[np.complex128]) -> tuple[int, tuple[Any, ...]] | None:
        """Arguments of the compiled Lanczos loop for this drive, or None.

        See :func:`.kernels.lanczos_expm` (None would make the integrator run its own Python
        loop over :meth:`hpsi`).
        """
        return kernels.full_krylov_args(coeffs, self.n_atoms)

    def apply_drive(
        self,
        psi: NDArray[np.complex128],
        coeffs: NDArray[np.complex128],
        out: NDArray[np.complex128],
    ) -> None:
        """Add Σ_i (c_i σ⁺_i + c_i* σ⁻_i) ψ to ``out``, with σ⁺ = |r⟩⟨g|.

        The numpy reference for the compiled :meth:`hpsi` (which the integrator uses). The
        last atoms' flips stay inside contiguous chunks of 2^16 amplitudes (1 MiB), which are
        processed one chunk at a time while they sit in cache; only the first N − 16 atoms'
        flips stream the whole vector through memory.
        """
        n = self.n_atoms
        n_tail = _TAIL_BITS if n >= _TAIL_MIN_ATOMS else 0
        n_body = n - n_tail
        n_outer = max(0, n_body - (_CHUNK_BITS - n_tail))
        tmp = np.empty(self.dim // 2, dtype=np.complex128)
        for i in range(n_outer):
            _flip_site(psi, out, tmp, 1 << i, self.dim >> (i + 1), coeffs[i])
        chunk = self.dim >> n_outer
        if n_outer == 0:
            chunks_p, chunks_o = [psi], [out]
        else:
            chunks_p, chunks_o = list(psi.reshape(-1, chunk)), list(out.reshape(-1, chunk))
        tmp_c = tmp[: chunk // 2]
        for p_c, o_c in zip(chunks_p, chunks_o, strict=True):
            for i in range(n_outer, n_body):
                j = i - n_outer
                _flip_site(p_c, o_c, tmp_c, 1 << j, chunk >> (j + 1), coeffs[i])
        # The last atoms' flips move amplitudes by 1, 2, 4, … places, where numpy's strided
        # loops are slow; together they are one small dense matrix on contiguous rows.
        block = _tail_matrix(coeffs[n_body:])
        if block is not None:
            width = 1 << n_tail
            o2 = out.reshape(-1, width)
            o2 += psi.reshape(-1, width) @ block.T

    def apply_jump(self, psi: NDArray[np.complex128], atom: int, kind: str) -> None:
        """Apply σz (``"dephasing"``) or |g⟩⟨r| (``"relaxation"``) on ``atom`` in place."""
        v = psi.reshape(1 << atom, 2, self.dim >> (atom + 1))
        if kind == "dephasing":
            v[:, 1, :] *= -1.0
        else:
            v[:, 0, :] = v[:, 1, :]
            v[:, 1, :] = 0.0

    def occupations(self, probs: NDArray[np.float64]) -> NDArray[np.float64]:
        """⟨n_i⟩ for each atom from the basis-state probabilities."""
        out = np.empty(self.n_atoms)
        for i in range(self.n_atoms):
            out[i] = probs.reshape(1 << i, 2, -1)[:, 1, :].sum()
        return out

    def ground_state(self) -> NDArray[np.complex128]:
        """|gg…g⟩."""
        psi = np.zeros(self.dim, dtype=np.complex128)
        psi[0] = 1.0
        return psi


def _layer_plan(states: NDArray[np.int64], n: int) -> NDArray[np.int64] | None:
    """The layered layout's plan if it applies to these kept states (see :mod:`.layered`)."""
    w, edges = find_layers(states, n)
    if not w:
        return None
    plan, order = layered_plan(n, w, edges)
    return plan if np.array_equal(order, states) else None


def kept_states(
    pair_v: NDArray[np.float64], energy_cutoff: float, rule: Literal["energy", "pair"]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The blockade subspace's kept states (sorted) and their interaction energies (rad/µs).

    ``rule="energy"``: states whose total interaction energy is ≤ ``energy_cutoff``;
    ``"pair"``: states with no doubly excited pair above it (see :class:`BlockadeSubspace`).
    """
    n = pair_v.shape[0]
    if n > _MAX_SUBSPACE_ATOMS:
        raise SimulationError(f"at most {_MAX_SUBSPACE_ATOMS} atoms; got {n}")
    if not energy_cutoff >= 0:
        raise SimulationError(f"subspace cutoff must be ≥ 0 rad/µs; got {energy_cutoff!r}")
    if rule not in ("energy", "pair"):
        raise SimulationError(f"subspace rule must be 'energy' or 'pair'; got {rule!r}")
    # tables[k, g, byte]: Σ_j V_jk over the atoms j set in byte g of a state; for the
    # enumeration only the atoms before k count (row k of the upper triangle)
    v_upper = np.triu(pair_v, 1)
    enum_tables = np.stack([kernels.byte_tables(v_upper[:, k]) for k in range(n)])
    blocked = np.zeros(n if rule == "pair" else 0, dtype=np.int64)
    for k in range(len(blocked)):  # atoms j < k that atom k may not join (pair rule)
        for j in np.flatnonzero(v_upper[:k, k] > energy_cutoff):
            blocked[k] |= np.int64(1) << np.int64(n - 1 - j)
    states, energy = kernels.enumerate_states(n, enum_tables, float(energy_cutoff), blocked)
    return states, energy


class BlockadeSubspace:
    """Basis states whose total interaction energy is at most ``energy_cutoff`` (rad/µs).

    Interactions are repulsive (C6 > 0), so the energy only grows as atoms are excited: the
    kept set is enumerated atom by atom, pruning any partial state already above the cutoff.
    With ``rule="pair"`` the cutoff applies to each pair instead: a state is kept unless two
    of its Rydberg atoms interact by more than the cutoff (the independent sets of the
    blockade graph, as a blockade radius defines them). The two rules agree on chains, but
    not in 2D: in a 6×6 square at 6 µm the checkerboard (the Z2 state a sweep prepares) has
    3.57 V_nn of diagonal and longer-range energy, so the energy rule at 0.99 V_nn drops it.
    H·ψ is a compiled row-wise gather over each kept state's kept single-flip neighbours
    (one packed int32 per neighbour: its index and which atom flips which way); flips that
    would leave the set are the truncation's leakage channels and are tracked for the report.

    Chain layout (``layout == "chain"``): when the kept states are exactly the bit strings
    without two adjacent Rydberg atoms — a chain numbered along itself, nearest neighbours
    blockaded and nothing else cut (F(N+2) states) — a state's sorted index is its
    Zeckendorf value, every flip is a constant index offset over contiguous runs, and H·ψ is
    a compiled streaming product without neighbour lists (:func:`.kernels.chain_hpsi`; on
    the 30-atom chain 2–3× faster than the gather, and the lists' memory is not held). Any
    other kept set, or ``layout="gather"``, uses the gather.

    Layered layout (``layout == "layered"``): when the atoms fall into rows of w consecutive
    atoms (a 2D array numbered row by row), every blockaded pair lies within a row or between
    neighbouring rows, and the kept states are exactly the independent sets of that blockade
    graph (``rule="pair"``), the states sharing their first rows form contiguous blocks and
    every flip is a stream or a few runs between blocks (:mod:`.layered`; on the 6×6 square
    2× faster than the gather with two threads, without its neighbour lists).
    """

    truncation: TruncationInfo

    def __init__(
        self,
        pair_v: NDArray[np.float64],
        energy_cutoff: float,
        layout: Literal["auto", "gather", "chain", "layered"] = "auto",
        rule: Literal["energy", "pair"] = "energy",
    ) -> None:
        """Enumerate the kept states; ``pair_v`` as for :class:`FullSpace`.

        ``layout``: ``"auto"`` uses the chain layout where it applies, else the layered
        layout where that applies, else the gather; ``"gather"`` always the gather;
        ``"chain"`` and ``"layered"`` require their layout. ``rule``:
        ``"energy"`` bounds each state's total interaction energy by the cutoff, ``"pair"``
        each pair's.
        """
        if layout not in ("auto", "gather", "chain", "layered"):
            raise SimulationError(
                f"layout must be 'auto', 'gather', 'chain' or 'layered'; got {layout!r}"
            )
        n = pair_v.shape[0]
        self.n_atoms = n
        self.pair_v = pair_v
        self._states, self.interaction = kept_states(pair_v, energy_cutoff, rule)
        self.dim = len(self._states)
        self.energy_cutoff = float(energy_cutoff)
        self.rule = rule

        chain = layout in ("auto", "chain") and kernels.is_chain_space(self._states, n)
        if layout == "chain" and not chain:
            raise SimulationError(
                "the chain layout needs the kept states to be exactly the bit strings without "
                "two adjacent Rydberg atoms (atoms numbered along the chain)"
            )
        self._layer_plan: NDArray[np.int64] | None = None
        if layout in ("auto", "layered") and not chain:
            self._layer_plan = _layer_plan(self._states, n)
        if layout == "layered" and self._layer_plan is None:
            raise SimulationError(
                "the layered layout needs the kept states to be exactly the independent sets "
                "of a blockade graph linking only atoms of the same or of neighbouring layers "
                "(rows of consecutive atoms: number a 2D array row by row, and use "
                "subspace_rule='pair')"
            )
        self._layout: Literal["gather", "chain", "layered"] = (
            "chain" if chain else "layered" if self._layer_plan is not None else "gather"
        )
        self._neighbours: tuple[NDArray[np.int64], NDArray[Any]] | None = None
        self._chain_plan: NDArray[np.int64] | None = None
        if chain:
            self._chain_plan = kernels.chain_plan(n)
        if chain or self._layer_plan is not None:
            self._leak_ptr, self._leak_atom = kernels.leak_lists(self._states, n)
        else:
            indptr, ent, self._leak_ptr, self._leak_atom = kernels.neighbour_lists(self._states, n)
            self._neighbours = (indptr, ent)
        # interaction cost of each leaky flip (float32: an estimate's input), for the
        # dropped-population estimate
        pen_tables = np.stack([kernels.byte_tables(pair_v[i]) for i in range(n)])
        self._leak_penalty = kernels.leak_penalties(
            self._states, self._leak_ptr, self._leak_atom, pen_tables
        )
        self.truncation = TruncationInfo(
            energy_cutoff=self.energy_cutoff,
            kept_states=self.dim,
            dropped_states=(1 << n) - self.dim if n < 63 else -1,
            leaky_transitions=len(self._leak_atom),
            product_layout=self._layout,
            rule=rule,
        )
        self._bits_cache: NDArray[np.float64] | None = None

    @property
    def layout(self) -> Literal["gather", "chain", "layered"]:
        """Which product runs: ``"chain"``, ``"layered"`` (streaming) or ``"gather"``."""
        return self._layout

    @property
    def _indptr(self) -> NDArray[np.int64]:
        return self._neighbour_lists()[0]

    @property
    def _ent(self) -> NDArray[Any]:
        return self._neighbour_lists()[1]

    def _neighbour_lists(self) -> tuple[NDArray[np.int64], NDArray[Any]]:
        """The gather's neighbour lists (CSR); in the chain layout built on first use only."""
        if self._neighbours is None:
            indptr, ent, _, _ = kernels.neighbour_lists(self._states, self.n_atoms)
            self._neighbours = (indptr, ent)
        return self._neighbours

    @property
    def memory_bytes(self) -> int:
        """Bytes held by the basis, the product's tables and the leak bookkeeping.

        The gather's neighbour lists (about 4 bytes per kept flip and 8 per state) count
        while held; the chain layout holds only its schedule instead (76 KiB for 30 atoms,
        under 0.1 % of the lists).
        """
        arrays = [
            self._states,
            self.interaction,
            self._leak_ptr,
            self._leak_atom,
            self._leak_penalty,
        ]
        if self._neighbours is not None:
            arrays += list(self._neighbours)
        if self._chain_plan is not None:
            arrays.append(self._chain_plan)
        if self._layer_plan is not None:
            arrays.append(self._layer_plan)
        return int(sum(a.nbytes for a in arrays))

    def states(self) -> NDArray[np.int64]:
        """The kept basis states, sorted, as integers."""
        return self._states

    def bits(self) -> NDArray[np.float64]:
        """Occupation matrix, shape (dim, N): 1 where the atom is in the Rydberg state.

        Built on first use (dim × N × 8 bytes); the simulator itself does not need it.
        """
        if self._bits_cache is None:
            n = self.n_atoms
            self._bits_cache = (
                (self._states[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1
            ).astype(np.float64)
        return self._bits_cache

    def detuning_diagonal(self, delta: NDArray[np.float64]) -> NDArray[np.float64]:
        """Diagonal of Σ_i δ_i n_i."""
        return -self.diagonal(0.0, delta, np.empty(self.dim))

    def diagonal(
        self, v_scale: float, delta: NDArray[np.float64], out: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Set out = v_scale·interaction − Σ_i δ_i n_i (compiled, one pass)."""
        return kernels.full_diag(self.interaction, v_scale, delta, out, self._states)

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

        The chain product in the chain layout, else the gather; ``prev`` may be ``out``.
        """
        if self._chain_plan is not None:
            return kernels.chain_hpsi(u, s, prev, cprev, diag, coeffs, self._chain_plan, out)
        if self._layer_plan is not None:
            return kernels.layer_hpsi(u, s, prev, cprev, diag, coeffs, self._layer_plan, out)
        indptr, ent = self._neighbour_lists()
        table = self._table(coeffs)
        return kernels.subspace_hpsi(u, s, prev, cprev, diag, table, indptr, ent, out)

    def _table(self, coeffs: NDArray[np.complex128]) -> NDArray[np.complex128]:
        """The gather's coefficient per packed entry tag (:func:`.kernels.subspace_table`)."""
        return kernels.subspace_table(coeffs)

    def krylov_args(self, coeffs: NDArray[np.complex128]) -> tuple[int, tuple[Any, ...]] | None:
        """As :meth:`FullSpace.krylov_args`, for the chain product or the gather."""
        if self._chain_plan is not None:
            return kernels.chain_krylov_args(coeffs, self._chain_plan)
        if self._layer_plan is not None:
            return kernels.layered_krylov_args(coeffs, self._layer_plan)
        indptr, ent = self._neighbour_lists()
        return kernels.subspace_krylov_args(coeffs, indptr, ent, table=self._table(coeffs))

    def apply_drive(
        self,
        psi: NDArray[np.complex128],
        coeffs: NDArray[np.complex128],
        out: NDArray[np.complex128],
    ) -> None:
        """Add Σ_i (c_i σ⁺_i + c_i* σ⁻_i) ψ over the kept states to ``out``.

        Through :meth:`hpsi` (the chain product or the gather), with ``prev`` = ``out``.
        """
        self.hpsi(psi, 1.0, out, 1.0, np.zeros(self.dim), coeffs, out)

    def _excited(self, atom: int) -> NDArray[np.bool_]:
        return ((self._states >> (self.n_atoms - 1 - atom)) & 1).astype(bool)

    def apply_jump(self, psi: NDArray[np.complex128], atom: int, kind: str) -> None:
        """Apply σz (``"dephasing"``) or |g⟩⟨r| (``"relaxation"``) on ``atom`` in place."""
        excited = self._excited(atom)
        if kind == "dephasing":
            psi[excited] *= -1.0
            return
        bit = 1 << (self.n_atoms - 1 - atom)
        src = np.nonzero(excited)[0]
        dst = np.searchsorted(self._states, self._states[src] ^ bit)
        new = np.zeros_like(psi)
        new[dst] = psi[src]
        psi[:] = new

    def occupations(self, probs: NDArray[np.float64]) -> NDArray[np.float64]:
        """⟨n_i⟩ for each atom."""
        w = np.ascontiguousarray(probs, dtype=np.float64)
        return np.asarray(kernels.bit_sums(self._states, self.n_atoms, w))

    def ground_state(self) -> NDArray[np.complex128]:
        """|gg…g⟩ (state 0 is always kept)."""
        psi = np.zeros(self.dim, dtype=np.complex128)
        psi[0] = 1.0
        return psi

    def leakage(
        self,
        psi: NDArray[np.complex128],
        coeffs: NDArray[np.complex128],
        delta: NDArray[np.float64],
        norm2: float = 1.0,
    ) -> tuple[float, float]:
        """(rate, population) estimates of what the truncation misses at this instant.

        ``rate`` = ‖P_dropped H ψ‖ counting each leaky flip separately (rad/µs): how fast
        amplitude would flow out of the kept set. ``population`` = Σ |c_i ψ_a / ΔE|² over
        leaky flips a → a + i with energy penalty ΔE = Σ_j V_ij n_j − δ_i: the population the
        dropped states would carry in adiabatic elimination (second-order perturbation theory),
        each term capped at |ψ_a|² and the sum at 1. ψ is taken as ψ/√norm2.
        """
        if len(self._leak_atom) == 0:
            return 0.0, 0.0
        amp2 = np.ascontiguousarray(np.abs(coeffs) ** 2, dtype=np.float64)
        rate2, pop = kernels.leakage_sums(
            psi,
            1.0 / norm2,
            amp2,
            np.ascontiguousarray(delta, dtype=np.float64),
            self._leak_ptr,
            self._leak_atom,
            self._leak_penalty,
        )
        # a flip cannot move more than its source's population: each term is capped there,
        # which also keeps near-resonant (penalty ≈ 0) flips finite — they signal a bad cutoff
        return float(np.sqrt(rate2)), min(1.0, float(pop))


Space = FullSpace | BlockadeSubspace
