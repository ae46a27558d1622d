"""Reference helpers shared by the Rydberg-simulator tests (not a test module)."""

from __future__ import annotations

from typing import Any

import numpy as np


def liouvillian(h: np.ndarray, collapse: list[np.ndarray]) -> np.ndarray:
    """Dense Lindblad generator, row-major vec: vec(AρB) = (A ⊗ Bᵀ) vec ρ."""
    eye = np.eye(h.shape[0])
    out = -1j * (np.kron(h, eye) - np.kron(eye, h.T))
    for op in collapse:
        ld = op.conj().T @ op
        out += np.kron(op, op.conj()) - 0.5 * np.kron(ld, eye) - 0.5 * np.kron(eye, ld.T)
    return out


def dense_operator(space: Any, coeffs: np.ndarray, diag: np.ndarray) -> np.ndarray:
    """diag(diag) + the drive of ``coeffs``, column by column from ``space.apply_drive``."""
    h = np.diag(diag).astype(complex)
    e = np.zeros(space.dim, complex)
    col = np.zeros(space.dim, complex)
    for k in range(space.dim):
        e[:] = 0.0
        e[k] = 1.0
        col[:] = 0.0
        space.apply_drive(e, coeffs, col)
        h[:, k] += col
    return h


def pulser_drives(seq: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-atom complex fields Ω e^{iφ} and detunings of a Pulser sequence, by basis.

    ``pulser.sampler.sample`` per channel and slot, summed per atom (rows in the register's
    order), for the "ground-rydberg" and "digital" bases: the arrays our simulator takes.
    """
    from pulser.sampler import sample

    samples = sample(seq)
    ids = list(seq.register.qubit_ids)
    n, t = len(ids), samples.max_duration
    fields = {b: np.zeros((n, t), complex) for b in ("ground-rydberg", "digital")}
    dets = {b: np.zeros((n, t)) for b in fields}
    for name, ch in samples.channel_samples.items():
        b = seq.declared_channels[name].basis
        for slot in ch.slots:
            rows = [ids.index(q) for q in slot.targets]
            sl = slice(slot.ti, slot.tf)
            fields[b][rows, sl] += ch.amp[sl] * np.exp(1j * ch.phase[sl])
            dets[b][rows, sl] += ch.det[sl]
    return fields, dets


def cvec(rng: np.random.Generator, dim: int) -> np.ndarray:
    """A random complex vector."""
    return rng.normal(size=dim) + 1j * rng.normal(size=dim)


def gather_product(space: Any, u, s, prev, cprev, diag, coeffs):
    """Reference: the gather kernel over the neighbour lists (independent of the layout)."""
    from virtual_device.rydberg import kernels

    indptr, ent, _, _ = kernels.neighbour_lists(space.states(), space.n_atoms)
    out = np.empty_like(u)
    table = kernels.subspace_table(coeffs)
    dot = kernels.subspace_hpsi(u, s, prev, cprev, diag, table, indptr, ent, out)
    return out, dot
