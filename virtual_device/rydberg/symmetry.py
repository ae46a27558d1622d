"""Symmetry sectors of the blockade subspace: a register's point group and a drive it keeps.

When the register is symmetric — a square under its eight rotations and reflections, a
chain under its reversal — and the drive is left unchanged by those symmetries (the same on
every atom, as a global channel without per-atom noise; or, for the subgroup that keeps it,
a beam profile centred on the register: :func:`drive_symmetries`), H commutes with the
permutations of the atoms that the symmetries make, and |g…g⟩ is invariant, so the state
stays in the totally symmetric sector: every state of an orbit {g(s)} carries the same
amplitude. The evolution then needs one amplitude per orbit, in the orthonormal basis
|O⟩ = |O|^{-1/2} Σ_{s∈O} |s⟩, which is exact, not an approximation. In that basis

    ⟨A|H|B⟩ = Σ_{i : flip_i(a) ∈ B} c_i^{(±)} √(|A|/|B|)   (a the representative of A),

so the product is the subspace gather over the representatives' flips with the coefficient
c_i of the flipped atom times a weight per entry. The packed entry's tag numbers the
combinations (raise or lower, class of the atom under the group, orbit-size classes of A and
B) that occur, c being the same on the atoms of one class; where more than 128 occur, the
tag holds only (raise or lower, size classes) and the sector takes only a drive equal on
every atom. The 6×6 square's 5,598,861 kept states (pair rule) are 704,126 orbits, so the
vectors and the gather are 8× shorter. Occupations are the group average of the
representatives' ones; :meth:`SymmetricSubspace.expand` gives the amplitudes of every kept
state at the end.

The group is found from the coordinates (:func:`register_symmetries`): the plane's rotations
and reflections about the register's centroid that map the atoms onto atoms.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

from virtual_device.errors import SimulationError
from virtual_device.rydberg import kernels
from virtual_device.rydberg.space import (
    BlockadeSubspace,
    TruncationInfo,
    _layer_plan,
    kept_states,
)

__all__ = [
    "SymmetricSubspace",
    "drive_symmetries",
    "orbit_tables",
    "prefer_symmetric",
    "register_symmetries",
]

_MAX_SIZE_CLASSES = 8  # distinct orbit sizes: their ordered pairs are the 64 entry tags


def register_symmetries(coords: NDArray[np.float64], tol_um: float = 1e-6) -> NDArray[np.int64]:
    """The atom permutations (G, N) that the register's planar symmetries make, identity first.

    Row g maps atom i to atom ``perms[g, i]``. The candidates are the rotations and
    reflections about the centroid that take one atom farthest from it onto each atom at the
    same radius (every symmetry is one of these); a candidate counts if it maps every atom
    within ``tol_um`` of an atom, one to one. Coordinates (N, 2), or (N, 3) in one plane;
    a register off one plane gets the identity alone.
    """
    xyz = np.asarray(coords, dtype=np.float64)
    n = len(xyz)
    ident = np.arange(n, dtype=np.int64)[None, :]
    if xyz.shape[1] == 3:
        if np.ptp(xyz[:, 2]) > tol_um:
            return ident
        xyz = xyz[:, :2]
    rel = xyz - xyz.mean(axis=0)
    radius = np.hypot(rel[:, 0], rel[:, 1])
    if n < 2 or radius.max() <= tol_um:
        return ident
    p = int(np.argmax(radius))
    ang_p = np.arctan2(rel[p, 1], rel[p, 0])
    found = {tuple(ident[0])}
    perms = [ident[0]]
    for q in np.flatnonzero(np.abs(radius - radius[p]) <= tol_um):
        ang_q = np.arctan2(rel[q, 1], rel[q, 0])
        rot = ang_q - ang_p
        axis2 = ang_p + ang_q  # reflection about the line at angle (ang_p + ang_q)/2
        for m in (
            np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]]),
            np.array([[np.cos(axis2), np.sin(axis2)], [np.sin(axis2), -np.cos(axis2)]]),
        ):
            image = rel @ m.T
            dist = np.hypot(*(image[:, None, :] - rel[None, :, :]).transpose(2, 0, 1))
            target = np.argmin(dist, axis=1)
            if dist[np.arange(n), target].max() > tol_um:
                continue
            if len(np.unique(target)) != n:
                continue
            key = tuple(int(t) for t in target)
            if key not in found:
                found.add(key)
                perms.append(target.astype(np.int64))
    return np.array(perms, dtype=np.int64)


def prefer_symmetric(
    pair_v: NDArray[np.float64],
    energy_cutoff: float,
    rule: Literal["energy", "pair"],
    order: int,
) -> bool:
    """Whether the symmetric sector of ``order`` symmetries beats the plain subspace.

    Measured (two threads, per product in the compiled loop): on the 6×6 square (8
    symmetries) the sector's gather over 704,126 orbits takes 45–60 ms against 171 ms for the
    layered product over the 5,598,861 kept states; on the 30-chain (2 symmetries) 85 ms over
    1,089,648 orbits against 48 ms for the chain layout over 2,178,309 states (the streaming
    product costs a third as much per state as the gather). So: with 4 or more symmetries
    always; with 2 only where the plain subspace would run the gather too (no chain or
    layered layout fits).
    """
    if order >= 4:
        return True
    if order < 2:
        return False
    states, _ = kept_states(pair_v, energy_cutoff, rule)
    n = pair_v.shape[0]
    return not (kernels.is_chain_space(states, n) or _layer_plan(states, n) is not None)


def orbit_tables(perms: NDArray[np.int64]) -> NDArray[np.int64]:
    """tables[g, b, v]: the image under permutation g of the atoms set in byte b of a state.

    A state's bit for atom i is 1 << (N − 1 − i), first atom most significant.
    """
    g_count, n = perms.shape
    n_bytes = (n + 7) // 8
    tables = np.zeros((g_count, n_bytes, 256), dtype=np.int64)
    values = np.arange(256)
    for g in range(g_count):
        for b in range(n_bytes):
            for k in range(8):
                pos = 8 * b + k  # bit position, atom n − 1 − pos
                if pos >= n:
                    break
                target = np.int64(1) << np.int64(n - 1 - perms[g, n - 1 - pos])
                tables[g, b, (values >> k) & 1 == 1] |= target
    return tables


@njit(cache=True, inline="always", error_model="numpy")
def _canonical(x, tables):
    """(min over the group of g(x), number of g with g(x) = x)."""
    best = x
    stab = 0
    for g in range(tables.shape[0]):
        y = np.int64(0)
        for b in range(tables.shape[1]):
            y |= tables[g, b, (x >> (8 * b)) & 255]
        if y < best:
            best = y
        if y == x:
            stab += 1
    return best, stab


@njit(cache=True, parallel=True, error_model="numpy")
def _representatives(states, tables):
    """Mask of the states that are their orbit's least member, and each orbit's stabiliser."""
    dim = len(states)
    is_rep = np.zeros(dim, dtype=np.bool_)
    stab = np.zeros(dim, dtype=np.int64)
    for k in prange(dim):
        c, st = _canonical(states[k], tables)
        if c == states[k]:
            is_rep[k] = True
            stab[k] = st
    return is_rep, stab


@njit(cache=True, parallel=True, error_model="numpy")
def orbit_index(states, tables, reps):
    """For each state, the index in ``reps`` (sorted) of its orbit's representative."""
    out = np.empty(len(states), dtype=np.int64)
    for k in prange(len(states)):
        c, _ = _canonical(states[k], tables)
        out[k] = np.searchsorted(reps, c)
    return out


@njit(cache=True, inline="always", error_model="numpy")
def _flip_target(reps, tables, x):
    """Index of x's orbit among ``reps``, or −1 if x is not kept (its orbit is absent)."""
    c, _ = _canonical(x, tables)
    j = np.searchsorted(reps, c)
    if j < len(reps) and reps[j] == c:
        return j
    return -1


@njit(cache=True, inline="always", error_model="numpy")
def _raise_target(reps, tables, x, bit, blocked):
    """Orbit index of x | bit, or −1 if that state is dropped.

    ``blocked`` (pair rule): the atoms this one may not join, so a dropped flip costs no
    search; empty (energy rule): whether the raised state is kept is whether its orbit is.
    """
    if len(blocked) and x & blocked[0]:
        return -1
    return _flip_target(reps, tables, x | bit)


@njit(cache=True, parallel=True, error_model="numpy")
def _sym_counts(reps, n, tables, blocked):
    """Per-row counts (CSR pointers) of kept and of leaky flips of each representative."""
    dim = len(reps)
    count = np.zeros(dim + 1, dtype=np.int64)
    leak = np.zeros(dim + 1, dtype=np.int64)
    for a in prange(dim):
        x = reps[a]
        kept = 0
        lk = 0
        for i in range(n):
            bit = np.int64(1) << (n - 1 - i)
            if x & bit:
                kept += 1  # lowering: a subset of a kept state is kept
            elif _raise_target(reps, tables, x, bit, blocked[i : i + 1]) >= 0:
                kept += 1
            else:
                lk += 1
        count[a + 1] = kept
        leak[a + 1] = lk
    for a in range(dim):
        count[a + 1] += count[a]
        leak[a + 1] += leak[a]
    return count, leak


@njit(cache=True, parallel=True, error_model="numpy")
def _sym_fill(
    reps,
    size_class,
    n_classes,
    n,
    tables,
    blocked,
    atom_class,
    n_atom_classes,
    indptr,
    ent,
    ent_key,
    leak_ptr,
    leak_atom,
):
    """Packed entries: target << 7 | (1 if the row gains by lowering) << 6 | weight class.

    ``ent_key[e]``: that tag (0–127) · ``n_atom_classes`` + the class of the atom e flips.
    """
    for a in prange(len(reps)):
        x = reps[a]
        e = indptr[a]
        le = leak_ptr[a]
        for i in range(n):
            bit = np.int64(1) << (n - 1 - i)
            if x & bit:
                b = _flip_target(reps, tables, x ^ bit)
                lower = 0  # row a (atom i up) gains from b by raising
            else:
                b = _raise_target(reps, tables, x, bit, blocked[i : i + 1])
                lower = 64
                if b < 0:
                    leak_atom[le] = i
                    le += 1
                    continue
            weight = size_class[a] * n_classes + size_class[b]
            ent[e] = (b << kernels.ENTRY_SHIFT) | lower | weight
            ent_key[e] = (lower | weight) * n_atom_classes + atom_class[i]
            e += 1


@njit(cache=True, parallel=True, error_model="numpy")
def _key_counts(ent_key, n_keys):
    """How often each key occurs (per-thread histograms, summed)."""
    nb = 64
    step = (len(ent_key) + nb - 1) // nb
    parts = np.zeros((nb, n_keys), dtype=np.int64)
    for b in prange(nb):
        for e in range(b * step, min(len(ent_key), (b + 1) * step)):
            parts[b, ent_key[e]] += 1
    return parts.sum(axis=0)


@njit(cache=True, parallel=True, error_model="numpy")
def _apply_tags(ent, ent_key, lut):
    """Set the tag bits (the low 7) of each entry to lut[its key], in place."""
    for e in prange(len(ent)):
        ent[e] = ((ent[e] >> kernels.ENTRY_SHIFT) << kernels.ENTRY_SHIFT) | lut[ent_key[e]]


@njit(cache=True, error_model="numpy")
def _permute_rows(indptr, ent, order, rank, remap):
    """The CSR rows in ``order``, entries' targets renumbered by ``rank`` if ``remap``."""
    dim = len(order)
    new_ptr = np.zeros(dim + 1, dtype=np.int64)
    for r in range(dim):
        new_ptr[r + 1] = new_ptr[r] + indptr[order[r] + 1] - indptr[order[r]]
    new_ent = np.empty_like(ent)
    for r in range(dim):
        e = new_ptr[r]
        for f in range(indptr[order[r]], indptr[order[r] + 1]):
            x = np.int64(ent[f])
            if remap:
                x = (rank[x >> kernels.ENTRY_SHIFT] << kernels.ENTRY_SHIFT) | (x & 127)
            new_ent[e] = x
            e += 1
    return new_ptr, new_ent


def _bandwidth_order(indptr: NDArray[np.int64], ent: NDArray[Any]) -> NDArray[np.int64]:
    """Reverse Cuthill–McKee order of the orbit graph: each row's partners lie close by.

    In sorted order an orbit's partners are scattered over the whole vector (the
    re-canonicalised flips), so the gather waits on the memory; in this order they fall
    within a window of ≈ 0.2·dim rows (the 6×6: 132 k rows, 2 MiB, within a core's L2),
    and the product runs 4× faster serially (measured: 172 → 40 ms).
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    dim = len(indptr) - 1
    targets = (ent.astype(np.int64) >> kernels.ENTRY_SHIFT).astype(np.int32)
    graph = csr_matrix((np.ones(len(ent), dtype=np.int8), targets, indptr), shape=(dim, dim))
    return np.asarray(reverse_cuthill_mckee(graph, symmetric_mode=True), dtype=np.int64)


_EQUAL_RTOL = 1e-12  # per-atom values this close are one value (BLAS rounds rows apart)


def _unchanged(values: NDArray[Any], perm: NDArray[np.int64]) -> bool:
    """Whether per-atom ``values`` (atoms first) equal their image under ``perm``."""
    spread = float(np.max(np.abs(values[perm] - values), initial=0.0))
    return spread <= _EQUAL_RTOL * max(float(np.max(np.abs(values), initial=0.0)), 1e-300)


def drive_symmetries(perms: NDArray[np.int64], *per_atom: NDArray[Any]) -> NDArray[np.int64]:
    """The rows of ``perms`` that leave every per-atom array unchanged (identity first).

    Each array has the atoms on its first axis (a drive's (N, T) samples, or (N,) values);
    equal within a relative 1e-12. The rows kept are the drive's stabiliser in the register's
    group, itself a group: its symmetric sector is exact for that drive (a Gaussian beam
    centred on a square, its axis along y, keeps the 4 symmetries that fix or flip x and y).
    """
    keep = [g for g in range(len(perms)) if all(_unchanged(a, perms[g]) for a in per_atom)]
    return np.asarray(perms[keep], dtype=np.int64)


def _atom_classes(perms: NDArray[np.int64]) -> NDArray[np.int64]:
    """The class (orbit under the group, numbered from 0 in order of first atom) of each atom."""
    n = perms.shape[1]
    cls = np.full(n, -1, dtype=np.int64)
    count = 0
    for i in range(n):
        if cls[i] < 0:
            cls[np.unique(perms[:, i])] = count
            count += 1
    return cls


def _common_value(values: NDArray[Any], what: str) -> complex:
    """The one value of a per-atom array that must be the same on every atom (its mean)."""
    if len(values) == 0:
        return 0j
    mean = complex(np.mean(values))
    spread = float(np.max(np.abs(values - mean)))
    if spread > _EQUAL_RTOL * max(float(np.max(np.abs(values))), 1e-300):
        raise SimulationError(
            f"the symmetric sector needs the same {what} on every atom; got values from "
            f"{np.min(values)} to {np.max(values)} (simulate with symmetry='off')"
        )
    return mean


class SymmetricSubspace(BlockadeSubspace):
    """The blockade subspace's totally symmetric sector under atom permutations ``perms``.

    The basis is one orthonormal orbit state per orbit of the kept states (see the module
    docstring); ``states()`` are the orbits' least members, ``dim`` their number,
    ``kept_states()`` every kept state and :meth:`expand` the amplitudes over those. Only
    for drives and detunings that every permutation of ``perms`` leaves unchanged (the
    product and the diagonal refuse others; a drive equal on every atom where
    ``per_atom_drives`` is False) and without quantum jumps on single atoms. The product is
    the gather (:mod:`.kernels`' subspace mode) with the flipped atom's coefficient times
    the weight √(|A|/|B|) in each entry's coefficient; the truncation report and its leakage
    estimate are those of the whole kept set (an orbit's leaky flips, weighted by its
    population, are the sum over its members). The orbits are in reverse Cuthill–McKee
    order, not sorted, so that each row's partners lie close by (4× faster gathers).
    """

    max_tags = 128  # tags of the packed entries (7 bits); fewer only to test the fall-back
    per_atom_drives: bool

    def __init__(
        self,
        pair_v: NDArray[np.float64],
        energy_cutoff: float,
        perms: NDArray[np.int64],
        rule: Literal["energy", "pair"] = "energy",
    ) -> None:
        n = pair_v.shape[0]
        perms = np.asarray(perms, dtype=np.int64)
        if perms.ndim != 2 or perms.shape[1] != n or len(perms) == 0:
            raise SimulationError(f"perms must have shape (G, {n}); got {perms.shape}")
        for p in perms:
            if not np.array_equal(np.sort(p), np.arange(n)):
                raise SimulationError(f"not a permutation of the {n} atoms: {p.tolist()}")
            if not np.allclose(pair_v[np.ix_(p, p)], pair_v, rtol=1e-9, atol=0.0):
                raise SimulationError(f"permutation {p.tolist()} changes the interactions")
        self.n_atoms = n
        self.pair_v = pair_v
        self.energy_cutoff = float(energy_cutoff)
        self.rule = rule
        self.perms = perms
        self._tables = orbit_tables(perms)
        kept, energy = kept_states(pair_v, energy_cutoff, rule)
        is_rep, stab = _representatives(kept, self._tables)
        self._kept = kept
        self._states = kept[is_rep]
        self.interaction = energy[is_rep]
        self.orbit_sizes = (len(perms) // stab[is_rep]).astype(np.int64)
        self.dim = len(self._states)
        sizes, size_class = np.unique(self.orbit_sizes, return_inverse=True)
        if len(sizes) > _MAX_SIZE_CLASSES:
            raise SimulationError(
                f"{len(sizes)} distinct orbit sizes; the packed entries hold at most "
                f"{_MAX_SIZE_CLASSES}"
            )
        n_classes = len(sizes)
        self._weights = np.sqrt(sizes[:, None] / sizes[None, :]).ravel()  # [class_a·K + class_b]
        blocked = np.zeros(n if rule == "pair" else 0, dtype=np.int64)
        for i in range(len(blocked)):  # pair rule: the atoms atom i may not join
            for j in np.flatnonzero(pair_v[i] > energy_cutoff):
                blocked[i] |= np.int64(1) << np.int64(n - 1 - j)
        blocked_row = blocked if len(blocked) else np.zeros(n, dtype=np.int64)[:0]
        indptr, leak_ptr = _sym_counts(self._states, n, self._tables, blocked_row)
        wide = self.dim >= 1 << (31 - kernels.ENTRY_SHIFT)
        ent = np.empty(int(indptr[-1]), dtype=np.int64 if wide else np.int32)
        ent_key = np.empty(len(ent), dtype=np.int16)
        leak_atom = np.empty(int(leak_ptr[-1]), dtype=np.int8)
        self._atom_class = _atom_classes(perms)
        n_cls = int(self._atom_class.max()) + 1
        _sym_fill(
            self._states,
            size_class.astype(np.int64),
            n_classes,
            n,
            self._tables,
            blocked_row,
            self._atom_class,
            n_cls,
            indptr,
            ent,
            ent_key,
            leak_ptr,
            leak_atom,
        )
        self._retag(ent, ent_key, n_cls)
        del ent_key
        # rows (and amplitudes) in bandwidth order; _sorted_reps/_rank map back to it
        order = _bandwidth_order(indptr, ent)
        rank = np.empty(self.dim, dtype=np.int64)
        rank[order] = np.arange(self.dim)
        self._sorted_reps = self._states
        self._rank = rank
        self._states = self._sorted_reps[order]
        self.interaction = self.interaction[order]
        self.orbit_sizes = self.orbit_sizes[order]
        self._neighbours = _permute_rows(indptr, ent, order, rank, True)
        self._leak_ptr, self._leak_atom = _permute_rows(leak_ptr, leak_atom, order, rank, False)
        self._chain_plan = None
        self._layer_plan = None
        self._layout = "gather"
        pen_tables = np.stack([kernels.byte_tables(pair_v[i]) for i in range(n)])
        self._leak_penalty = kernels.leak_penalties(
            self._states, self._leak_ptr, self._leak_atom, pen_tables
        )
        # an orbit's leaky flips stand for |orbit| flips of the kept set
        leaky = int(np.sum(np.diff(self._leak_ptr) * self.orbit_sizes))
        self.truncation = TruncationInfo(
            energy_cutoff=self.energy_cutoff,
            kept_states=len(kept),
            dropped_states=(1 << n) - len(kept) if n < 63 else -1,
            leaky_transitions=leaky,
            product_layout="gather",
            rule=rule,
            symmetry_order=len(perms),
            sector_states=self.dim,
        )
        self._bits_cache = None

    def _retag(self, ent: NDArray[Any], ent_key: NDArray[np.int16], n_cls: int) -> None:
        """Renumber the entries' tags as (raise or lower, atom class, size classes), in place.

        Per tag, ``_tag_class`` / ``_tag_weight`` / ``_tag_lower`` give the class of the
        flipped atom, the index of √(|A|/|B|) and whether the row gains by lowering. Where
        more than :attr:`max_tags` (128) combinations occur, the tags stay (lower, size
        classes) and the sector takes only a drive equal on every atom (``per_atom_drives``
        False).
        """
        counts = _key_counts(ent_key, 128 * n_cls)
        keys = np.flatnonzero(counts)
        self.per_atom_drives = len(keys) <= self.max_tags
        if self.per_atom_drives:
            lut = np.zeros(len(counts), dtype=np.int64)
            lut[keys] = np.arange(len(keys))
            _apply_tags(ent, ent_key, lut)
            slots, tags, classes = np.arange(len(keys)), keys // n_cls, keys % n_cls
        else:  # one coefficient for all atoms: the tags stay as packed
            tags = np.unique(keys // n_cls)
            slots, classes = tags, np.zeros(len(tags), dtype=np.int64)
        self._tag_class = np.zeros(128, dtype=np.int64)
        self._tag_weight = np.zeros(128, dtype=np.int64)
        self._tag_lower = np.zeros(128, dtype=bool)
        self._tag_used = np.zeros(128, dtype=bool)
        self._tag_class[slots] = classes
        self._tag_weight[slots] = tags & 63
        self._tag_lower[slots] = tags >= 64
        self._tag_used[slots] = True
        # the first atom of each class (classes are numbered in order of their first atom)
        self._class_atom = np.unique(self._atom_class, return_index=True)[1].astype(np.int64)

    @property
    def memory_bytes(self) -> int:
        """As :meth:`BlockadeSubspace.memory_bytes`, plus the kept states and the orbits' order."""
        extra = (self._kept, self.orbit_sizes, self._sorted_reps, self._rank)
        return super().memory_bytes + sum(a.nbytes for a in extra)

    def ground_state(self) -> NDArray[np.complex128]:
        """|gg…g⟩, an orbit of its own."""
        psi = np.zeros(self.dim, dtype=np.complex128)
        psi[self._rank[0]] = 1.0
        return psi

    def kept_states(self) -> NDArray[np.int64]:
        """Every kept basis state (sorted): the members of all orbits."""
        return self._kept

    def expand(self, psi: NDArray[np.complex128]) -> NDArray[np.complex128]:
        """Amplitudes over :meth:`kept_states` of the sector state ``psi`` (ψ_A / √|A|)."""
        idx = self._rank[orbit_index(self._kept, self._tables, self._sorted_reps)]
        return np.asarray(psi[idx] / np.sqrt(self.orbit_sizes[idx]), dtype=np.complex128)

    def _invariant(self, values: NDArray[Any], what: str) -> NDArray[Any]:
        """Per-atom ``values`` checked to be the group's (one value per atom class)."""
        if not self.per_atom_drives:
            return np.full(self.n_atoms, _common_value(values, what))
        for g in self.perms:
            if not _unchanged(values, g):
                raise SimulationError(
                    f"the symmetric sector needs a {what} that its {len(self.perms)} "
                    f"symmetries leave unchanged; got per-atom values from {np.min(values)} "
                    f"to {np.max(values)} that permutation {g.tolist()} changes (simulate "
                    "with symmetry='off')"
                )
        return values

    def _table(self, coeffs: NDArray[np.complex128]) -> NDArray[np.complex128]:
        """Per tag: the flipped atom's c (c* where the row lowers) times √(|A|/|B|)."""
        c = np.asarray(self._invariant(coeffs, "drive"), dtype=np.complex128)
        per_tag = c[self._class_atom[self._tag_class]]
        per_tag = np.where(self._tag_lower, np.conj(per_tag), per_tag)
        table = per_tag * self._weights[self._tag_weight]
        return np.where(self._tag_used, table, 0.0).astype(np.complex128)

    def diagonal(
        self, v_scale: float, delta: NDArray[np.float64], out: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """As :meth:`BlockadeSubspace.diagonal`; ``delta`` must be the group's too."""
        d = np.asarray(self._invariant(np.asarray(delta), "detuning").real, dtype=np.float64)
        return super().diagonal(v_scale, d, out)

    def apply_jump(self, psi: NDArray[np.complex128], atom: int, kind: str) -> None:
        """Refused: a jump on one atom leaves the symmetric sector."""
        raise SimulationError(
            "a quantum jump on one atom breaks the register's symmetry; simulate without "
            "symmetry (symmetry='off')"
        )

    def occupations(self, probs: NDArray[np.float64]) -> NDArray[np.float64]:
        """⟨n_i⟩ from orbit populations: the group average of the representatives' bits."""
        occ = super().occupations(probs)
        return np.asarray(occ[self.perms].mean(axis=0))
