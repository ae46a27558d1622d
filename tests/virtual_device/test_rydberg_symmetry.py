"""The blockade subspace's symmetric sector (virtual_device.rydberg.symmetry).

Checked against the plain subspace: the sector Hamiltonian is the projection Pᵀ H P of the
kept-set H onto the orbit states, and whole simulations agree in every observable.
"""

import itertools

import numpy as np
import pytest

from virtual_device.errors import SimulationError
from virtual_device.rydberg import NoiseModel, cutoff_for_distance, simulate
from virtual_device.rydberg.space import BlockadeSubspace, pair_interactions
from virtual_device.rydberg.symmetry import (
    SymmetricSubspace,
    drive_symmetries,
    orbit_index,
    orbit_tables,
    prefer_symmetric,
    register_symmetries,
)

C6 = 865723.02


def grid(nx, ny, a=6.0):
    return np.array([(a * i, a * j) for j in range(ny) for i in range(nx)], float)


def chain(n, a=5.5):
    return np.stack([np.arange(n) * a, np.zeros(n)], axis=1)


def hexagon(a=5.0):
    angles = np.arange(6) * np.pi / 3
    return np.vstack([[0.0, 0.0], a * np.stack([np.cos(angles), np.sin(angles)], axis=1)])


def compose(p, q):
    """Apply q, then p."""
    return p[q]


def apply_perm(state, perm, n):
    out = 0
    for i in range(n):
        if (state >> (n - 1 - i)) & 1:
            out |= 1 << (n - 1 - perm[i])
    return out


@pytest.mark.parametrize(
    ("coords", "order"),
    [
        (grid(3, 3), 8),
        (grid(4, 4), 8),
        (grid(4, 3), 4),
        (chain(7), 2),
        (hexagon(), 12),
        (np.array([[0.0, 0.0], [5.0, 0.0]]), 2),
        (np.array([[0.0, 0.0], [5.0, 0.0], [1.0, 7.0]]), 1),
    ],
)
def test_register_symmetries_are_the_point_group(coords, order):
    perms = register_symmetries(coords)
    assert perms.shape == (order, len(coords))
    assert np.array_equal(perms[0], np.arange(len(coords)))
    assert len({tuple(p) for p in perms}) == order
    found = {tuple(p) for p in perms}
    for p, q in itertools.product(perms, perms):  # a group: closed under composition
        assert tuple(compose(p, q)) in found
    rel = coords - coords.mean(axis=0)
    dist = np.linalg.norm(rel[:, None] - rel[None], axis=-1)
    for p in perms:  # distances and distances to the centre are kept
        assert np.allclose(dist[np.ix_(p, p)], dist, atol=1e-9)
        assert np.allclose(np.linalg.norm(rel[p], axis=1), np.linalg.norm(rel, axis=1))


def test_register_symmetries_in_3d():
    flat = np.hstack([grid(3, 3), np.full((9, 1), 2.0)])
    assert len(register_symmetries(flat)) == 8  # one plane: as in 2D
    bent = flat.copy()
    bent[4, 2] = 3.0
    assert len(register_symmetries(bent)) == 1
    assert register_symmetries(np.zeros((1, 2))).shape == (1, 1)


def test_orbit_tables_permute_bits():
    coords = grid(3, 3)
    perms = register_symmetries(coords)
    tables = orbit_tables(perms)
    rng = np.random.default_rng(4)
    for state in rng.integers(0, 1 << 9, size=40):
        for g, p in enumerate(perms):
            image = 0
            for b in range(tables.shape[1]):
                image |= int(tables[g, b, (int(state) >> (8 * b)) & 255])
            assert image == apply_perm(int(state), p, 9)


@pytest.mark.parametrize("rule", ["energy", "pair"])
@pytest.mark.parametrize(
    ("coords", "spacing"), [(grid(4, 4, 6.0), 6.0), (grid(3, 3, 5.0), 5.0), (hexagon(), 5.0)]
)
def test_orbits_partition_the_kept_states(coords, spacing, rule):
    """Σ|O| = kept states, and the number of orbits is Burnside's count."""
    v = pair_interactions(coords, C6)
    cut = cutoff_for_distance(C6, spacing * 1.01)
    perms = register_symmetries(coords)
    plain = BlockadeSubspace(v, cut, rule=rule)
    sym = SymmetricSubspace(v, cut, perms, rule=rule)
    n = len(coords)
    assert np.array_equal(sym.kept_states(), plain.states())
    assert int(sym.orbit_sizes.sum()) == plain.dim
    fixed = sum(sum(apply_perm(int(s), p, n) == int(s) for s in plain.states()) for p in perms)
    assert sym.dim * len(perms) == fixed
    # each representative is its orbit's least member, and all orbits are distinct
    for s, size in zip(sym.states()[:50], sym.orbit_sizes[:50]):
        images = {apply_perm(int(s), p, n) for p in perms}
        assert min(images) == int(s)
        assert len(images) == size
    assert sym.truncation.kept_states == plain.dim
    assert sym.truncation.leaky_transitions == plain.truncation.leaky_transitions
    assert sym.truncation.symmetry_order == len(perms)
    assert sym.truncation.sector_states == sym.dim


def _dense(space, coeffs, delta):
    dim = space.dim
    h = np.zeros((dim, dim), dtype=complex)
    diag = space.diagonal(1.0, delta, np.empty(dim))
    for k in range(dim):
        e = np.zeros(dim, dtype=complex)
        e[k] = 1.0
        out = np.zeros(dim, dtype=complex)
        space.hpsi(e, 1.0, out, 0.0, diag, coeffs, out)
        h[:, k] = out
    return h


def _isometry(sym, plain):
    """P: orbit basis → kept states, P[s, A] = |A|^{-1/2} for s ∈ A."""
    idx = sym._rank[orbit_index(sym.kept_states(), sym._tables, sym._sorted_reps)]
    p = np.zeros((plain.dim, sym.dim))
    p[np.arange(plain.dim), idx] = 1.0 / np.sqrt(sym.orbit_sizes[idx])
    return p


def _drive(coords, kind):
    """Per-atom (coeffs, delta): equal on every atom, or a function of the distance from the
    centroid (which every symmetry keeps: different on each class of atoms)."""
    n = len(coords)
    if kind == "uniform":
        return np.full(n, 3.1 * np.exp(0.7j)), np.full(n, -2.3)
    r = np.hypot(*(coords - coords.mean(axis=0)).T)
    r = r / r.max()
    return 3.1 * np.exp(0.7j) * (1 + 0.4 * r) * np.exp(0.9j * r), -2.3 + 1.7 * r**2


class _FewTags(SymmetricSubspace):
    max_tags = 8  # forces the fall-back: tags (lower, size classes), one coefficient


@pytest.mark.parametrize("drive", ["uniform", "invariant"])
@pytest.mark.parametrize("rule", ["energy", "pair"])
@pytest.mark.parametrize(
    ("coords", "spacing"),
    [(grid(3, 3, 5.0), 5.0), (chain(8), 5.5), (grid(4, 4, 6.0), 6.0), (hexagon(), 5.0)],
)
def test_sector_hamiltonian_is_the_projection(coords, spacing, rule, drive):
    v = pair_interactions(coords, C6)
    cut = cutoff_for_distance(C6, spacing * 1.01)
    plain = BlockadeSubspace(v, cut, layout="gather", rule=rule)
    sym = SymmetricSubspace(v, cut, register_symmetries(coords), rule=rule)
    assert sym.per_atom_drives
    coeffs, delta = _drive(coords, drive)
    if drive == "invariant":  # the classes really differ
        assert len(np.unique(np.round(np.abs(coeffs), 9))) > 1
    h_plain = _dense(plain, coeffs, delta)
    h_sym = _dense(sym, coeffs, delta)
    p = _isometry(sym, plain)
    assert np.allclose(p.T @ p, np.eye(sym.dim), atol=1e-14)
    assert np.abs(h_sym - p.T @ h_plain @ p).max() < 1e-12 * np.abs(h_plain).max()
    assert np.abs(h_sym - h_sym.conj().T).max() < 1e-14 * np.abs(h_plain).max()
    # the sector is invariant: H P = P H_sym (P Pᵀ projects onto symmetric vectors)
    assert np.abs(h_plain @ p - p @ h_sym).max() < 1e-12 * np.abs(h_plain).max()
    # the ground state, occupations and expansion
    g = sym.ground_state()
    assert np.array_equal(sym.expand(g), plain.ground_state())
    rng = np.random.default_rng(1)
    psi = rng.normal(size=sym.dim) + 1j * rng.normal(size=sym.dim)
    full = sym.expand(psi)
    assert np.allclose(full, p @ psi, atol=1e-14)
    assert np.allclose(sym.occupations(np.abs(psi) ** 2), plain.occupations(np.abs(full) ** 2))
    # the leakage estimate is the kept set's
    est_sym = sym.leakage(psi, coeffs, delta, norm2=float(np.vdot(psi, psi).real))
    est_plain = plain.leakage(full, coeffs, delta, norm2=float(np.vdot(full, full).real))
    assert np.allclose(est_sym, est_plain, rtol=1e-9)


@pytest.mark.parametrize(("coords", "spacing"), [(grid(4, 4, 6.0), 6.0), (hexagon(), 5.0)])
def test_with_too_many_tags_the_sector_takes_one_drive_for_all(coords, spacing):
    v = pair_interactions(coords, C6)
    cut = cutoff_for_distance(C6, spacing * 1.01)
    plain = BlockadeSubspace(v, cut, layout="gather", rule="pair")
    sym = _FewTags(v, cut, register_symmetries(coords), rule="pair")
    full = SymmetricSubspace(v, cut, register_symmetries(coords), rule="pair")
    assert not sym.per_atom_drives and full.per_atom_drives
    coeffs, delta = _drive(coords, "uniform")
    p = _isometry(sym, plain)
    h_plain = _dense(plain, coeffs, delta)
    h_sym = _dense(sym, coeffs, delta)
    assert np.abs(h_sym - p.T @ h_plain @ p).max() < 1e-12 * np.abs(h_plain).max()
    assert np.abs(h_sym - _dense(full, coeffs, delta)).max() < 1e-12 * np.abs(h_plain).max()
    coeffs, delta = _drive(coords, "invariant")
    out = np.zeros(sym.dim, dtype=complex)
    diag = sym.diagonal(1.0, np.zeros(len(coords)), np.empty(sym.dim))
    with pytest.raises(SimulationError, match="same drive on every atom"):
        sym.hpsi(sym.ground_state(), 1.0, out, 0.0, diag, coeffs, out)
    with pytest.raises(SimulationError, match="same detuning on every atom"):
        sym.diagonal(1.0, delta, np.empty(sym.dim))


def test_drive_symmetries_are_the_stabiliser():
    coords = grid(3, 3, 5.0)
    perms = register_symmetries(coords)
    n = len(coords)
    assert np.array_equal(drive_symmetries(perms, np.ones(n), np.zeros(n)), perms)
    # a profile in y alone (a beam along x, centred): x → −x, y → −y and the half turn
    profile = np.exp(-(((coords[:, 1] - 5.0) / 7.0) ** 2))
    kept = drive_symmetries(perms, profile[:, None] * np.ones((1, 4)), np.zeros(n))
    assert len(kept) == 4 and np.array_equal(kept[0], np.arange(n))
    for g in kept:
        assert np.allclose(profile[g], profile)
    for g in perms:  # the four dropped ones change it
        if not any(np.array_equal(g, k) for k in kept):
            assert not np.allclose(profile[g], profile)
    # closed under composition: a group
    for a in kept:
        for b in kept:
            assert any(np.array_equal(compose(a, b), k) for k in kept)
    # one atom apart: only the symmetries that fix that atom's class
    local = np.ones(n)
    local[0] = 0.5  # a corner: the reflection through the diagonal 0–8 keeps it
    assert len(drive_symmetries(perms, local)) == 2


def test_drives_the_group_changes_and_jumps_are_refused():
    coords = grid(3, 3, 5.0)
    v = pair_interactions(coords, C6)
    sym = SymmetricSubspace(v, cutoff_for_distance(C6, 5.05), register_symmetries(coords))
    diag = sym.diagonal(1.0, np.zeros(9), np.empty(sym.dim))
    u = sym.ground_state()
    out = np.zeros(sym.dim, dtype=complex)
    local = np.ones(9, dtype=complex)
    local[3] = 0.5
    with pytest.raises(SimulationError, match="drive that its 8 symmetries leave unchanged"):
        sym.hpsi(u, 1.0, out, 0.0, diag, local, out)
    with pytest.raises(SimulationError, match="detuning that its 8 symmetries leave unchanged"):
        sym.diagonal(1.0, np.arange(9.0), np.empty(sym.dim))
    invariant, _ = _drive(coords, "invariant")  # different per class, kept by the group
    sym.hpsi(u, 1.0, out, 0.0, diag, invariant, out)
    assert np.abs(out).max() > 0
    with pytest.raises(SimulationError, match="breaks the register's symmetry"):
        sym.apply_jump(u, 0, "dephasing")
    bad = np.arange(9)
    bad[[0, 1]] = [1, 0]  # swaps two atoms: not a symmetry of the square
    with pytest.raises(SimulationError, match="changes the interactions"):
        SymmetricSubspace(v, 10.0, np.array([np.arange(9), bad]))
    with pytest.raises(SimulationError, match="not a permutation"):
        SymmetricSubspace(v, 10.0, np.zeros((1, 9), dtype=np.int64))


def _sweep(t_total=1200):
    t = np.arange(t_total)
    ramp = np.minimum(1.0, np.minimum(t / 250, (t_total - t) / 250))
    return 2 * np.pi * 1.8 * ramp, 2 * np.pi * np.linspace(-5.0, 6.0, t_total)


def _run(coords, spacing, symmetry, rule="pair", cutoff=None, **kw):
    amp, det = _sweep()
    kw.setdefault("phase", np.full_like(amp, 0.4))
    return simulate(
        amplitude=amp,
        detuning=det,
        register=coords,
        interaction_coeff=C6,
        subspace_cutoff=cutoff_for_distance(C6, spacing * 1.01) if cutoff is None else cutoff,
        subspace_rule=rule,
        symmetry=symmetry,
        tolerance=1e-9,
        record_every_ns=100,
        progress=False,
        **kw,
    )


V_CHAIN = C6 / 5.5**6


@pytest.mark.parametrize(
    ("coords", "spacing", "order", "threads", "rule", "cutoff"),
    [
        (grid(4, 4, 5.0), 5.0, 8, 1, "pair", None),
        (grid(4, 4, 5.0), 5.0, 8, 2, "pair", None),
        (grid(4, 3, 5.0), 5.0, 4, 1, "energy", None),
        (chain(11), 5.5, 2, 1, "energy", 5 * V_CHAIN),  # the gather: 2 symmetries pay
    ],
)
def test_simulation_in_the_sector_equals_the_kept_set(
    coords, spacing, order, threads, rule, cutoff
):
    on = _run(coords, spacing, "auto", rule=rule, cutoff=cutoff, threads=threads)
    off = _run(coords, spacing, "off", rule=rule, cutoff=cutoff, threads=threads)
    assert on.truncation.info.symmetry_order == order
    assert off.truncation.info.symmetry_order == 1
    assert on.truncation.info.sector_states < off.truncation.info.sector_states
    assert np.array_equal(on.basis_states, off.basis_states)
    assert np.abs(on.probabilities - off.probabilities).max() < 1e-8
    assert np.abs(on.occupations - off.occupations).max() < 1e-8
    assert np.abs(on.final_state - off.final_state).max() < 1e-8
    assert on.error_estimate <= 1e-9 and off.error_estimate <= 1e-9
    assert on.truncation.max_dropped_population == pytest.approx(
        off.truncation.max_dropped_population, rel=1e-6
    )
    assert on.truncation.leakage_amplitude == pytest.approx(
        off.truncation.leakage_amplitude, rel=1e-6
    )
    assert on.occupations[-1].max() > 0.2  # the sweep did excite atoms
    # symmetric occupations: the corners of the square alike, the chain's ends alike
    occ = on.final_occupations
    assert occ[0] == pytest.approx(occ[len(coords) - 1], abs=1e-10)


@pytest.mark.parametrize(
    ("kw", "order"),
    [
        ({"noise": NoiseModel(amp_sigma=0.05, runs=2)}, 8),  # one factor for every atom
        ({"noise": NoiseModel(temperature=50.0, runs=2)}, 1),  # Doppler: per atom
        ({"noise": NoiseModel(dephasing_rate=0.5, runs=2)}, 1),  # jumps on one atom
        # the global beam (axis along y), centred: the 4 symmetries that fix or flip x and y keep it
        ({"noise": NoiseModel(laser_waist=30.0)}, 4),
    ],
)
def test_symmetry_applies_only_where_it_is_exact(kw, order):
    coords = grid(3, 3, 5.0) - 5.0  # centred on the beam
    on = _run(coords, 5.0, "auto", seed=3, **kw)
    off = _run(coords, 5.0, "off", seed=3, **kw)
    assert on.truncation.info.symmetry_order == order
    assert np.abs(on.probabilities - off.probabilities).max() < 1e-8


@pytest.mark.parametrize("threads", [1, 2])
def test_a_centred_beam_profile_runs_in_its_subgroups_sector(threads):
    coords = grid(4, 4, 5.0) - 7.5  # centred on the beam (axis along y)
    waist = {"noise": NoiseModel(laser_waist=12.0), "threads": threads}
    on = _run(coords, 5.0, "auto", **waist)
    off = _run(coords, 5.0, "off", **waist)
    assert on.truncation.info.symmetry_order == 4
    assert on.truncation.info.sector_states < off.truncation.info.sector_states
    assert np.abs(on.probabilities - off.probabilities).max() < 1e-8
    assert np.abs(on.occupations - off.occupations).max() < 1e-8
    assert np.abs(on.final_state - off.final_state).max() < 1e-8
    assert on.truncation.max_dropped_population == pytest.approx(
        off.truncation.max_dropped_population, rel=1e-6
    )
    # the profile matters (against the same sweep without it), and what the 4 symmetries keep
    occ = on.final_occupations
    uniform = _run(coords, 5.0, "auto", threads=threads)
    assert np.abs(uniform.final_occupations - occ).max() > 1e-3
    assert occ[0] == pytest.approx(occ[15], abs=1e-10)  # the half turn keeps corners alike


def test_a_sector_without_per_atom_tags_leaves_a_beam_profile_to_the_plain_subspace(
    monkeypatch,
):
    monkeypatch.setattr(SymmetricSubspace, "max_tags", 8)
    coords = grid(3, 3, 5.0) - 5.0
    waist = {"noise": NoiseModel(laser_waist=30.0)}
    on = _run(coords, 5.0, "auto", seed=3, **waist)
    off = _run(coords, 5.0, "off", seed=3, **waist)
    assert on.truncation.info.symmetry_order == 1
    assert np.abs(on.probabilities - off.probabilities).max() < 1e-8
    uniform = _run(coords, 5.0, "auto", seed=3)  # a drive equal on every atom still uses it
    assert uniform.truncation.info.symmetry_order == 8


def test_two_symmetries_keep_a_streaming_layout():
    """A chain under the nearest-neighbour blockade keeps the chain layout (faster)."""
    coords = chain(9)
    v = pair_interactions(coords, C6)
    nn = 0.99 * V_CHAIN
    assert not prefer_symmetric(v, nn, "energy", 2)
    assert prefer_symmetric(v, 5 * V_CHAIN, "energy", 2)  # the gather: the sector pays
    assert prefer_symmetric(v, nn, "energy", 4)
    assert not prefer_symmetric(v, nn, "energy", 1)
    res = _run(coords, 5.5, "auto", rule="energy", cutoff=nn)
    assert res.truncation.info.symmetry_order == 1
    assert res.truncation.info.product_layout == "chain"


def test_local_drive_keeps_the_plain_subspace():
    coords = grid(3, 3, 5.0)
    amp, _ = _sweep()
    local = np.tile(amp, (9, 1))
    local[0] *= 0.5
    res = simulate(
        amplitude=local,
        detuning=_sweep()[1],
        register=coords,
        interaction_coeff=C6,
        subspace_cutoff=cutoff_for_distance(C6, 5.05),
        progress=False,
    )
    assert res.truncation.info.symmetry_order == 1


def test_symmetry_argument_is_checked():
    with pytest.raises(SimulationError, match="symmetry must be 'auto' or 'off'"):
        _run(grid(2, 2), 6.0, "on")
