"""The simulator's entry point: drives + register + noise → :class:`SimulationResult`."""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sequencer.register import Register
from sequencer.sampled import SampledSequence
from virtual_device.errors import SimulationError
from virtual_device.rydberg.integrator import EvolutionStats, Evolver
from virtual_device.rydberg.kernels import kernel_threads
from virtual_device.rydberg.lindblad import (
    MAX_LINDBLAD_ATOMS,
    LiouvilleSpace,
    add_relabelled,
    amplification_bound,
    evolve_density_matrix,
)
from virtual_device.rydberg.noise import NoiseModel
from virtual_device.rydberg.result import SimulationResult, TruncationReport
from virtual_device.rydberg.space import BlockadeSubspace, FullSpace, pair_interactions
from virtual_device.rydberg.symmetry import (
    SymmetricSubspace,
    drive_symmetries,
    prefer_symmetric,
    register_symmetries,
)

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = ["cutoff_for_distance", "simulate"]

Basis = Literal["ground-rydberg", "digital", "all"]
Method = Literal["state-vector", "lindblad"]
METHODS = ("state-vector", "lindblad")


def cutoff_for_distance(interaction_coeff: float, distance_um: float) -> float:
    """The energy cutoff (rad/µs) that keeps exactly the pairs farther apart than ``distance_um``.

    A pair closer than ``distance_um`` alone costs more than C6/d⁶, so using this as
    ``subspace_cutoff`` drops every state with such a pair doubly excited. With the default
    energy rule it also drops states whose farther pairs add up beyond it; with
    ``subspace_rule="pair"`` exactly the states with such a pair are dropped.
    """
    if not distance_um > 0:
        raise SimulationError(f"distance must be > 0 µm; got {distance_um!r}")
    return float(interaction_coeff / distance_um**6 * (1 - 1e-9))


def _as_rows(x: ArrayLike | None, n: int, t: int | None, what: str) -> NDArray[np.float64]:
    if x is None:
        if t is None:
            raise SimulationError(f"{what}: no length to infer; give amplitude as an array")
        return np.zeros((n, t))
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = np.broadcast_to(arr, (n, arr.shape[0]))
    if arr.ndim != 2 or arr.shape[0] != n or (t is not None and arr.shape[1] != t):
        shape = f"({n}, {t if t is not None else 'T'}) or (T,)"
        raise SimulationError(f"{what} must have shape {shape}; got {np.shape(x)}")
    if not np.all(np.isfinite(arr)):
        raise SimulationError(f"{what} must be finite")
    return np.array(arr, dtype=np.float64)


def _lookup_c6(device_name: str) -> float:
    import sequencer

    get_device = getattr(sequencer, "get_device", None)
    if get_device is None:  # the device catalogue is not in this checkout
        raise SimulationError(
            "interaction_coeff not given and sequencer.get_device is unavailable; "
            "pass interaction_coeff (rad/µs·µm⁶) explicitly"
        )
    try:
        return float(get_device(device_name).interaction_coeff)
    except Exception as exc:
        raise SimulationError(
            f"cannot look up C6 for device {device_name!r}: {exc}; pass interaction_coeff"
        ) from exc


def _channel_drives(
    sampled: SampledSequence,
    basis: Basis,
    channel_factor: dict[str, float],
    waist_factor: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Per-atom Ω, Δ, φ with per-channel amplitude factors (waist only on global channels)."""
    ids = sampled.register.ids
    n, t = len(ids), sampled.duration_ns
    field_ = np.zeros((n, t), dtype=np.complex128)
    det = np.zeros((n, t))
    for name, ch in sampled.channels.items():
        if ch.basis != basis:
            continue
        f = ch.amplitude * np.exp(1j * ch.phase) * channel_factor.get(name, 1.0)
        for slot in ch.slots:
            rows = sorted(ids.index(a) for a in slot.targets)
            sl = slice(slot.start_ns, slot.stop_ns)
            w = waist_factor[rows, None] if ch.addressing == "Global" else 1.0
            field_[rows, sl] += w * f[sl]
            det[rows, sl] += ch.detuning[sl]
    amp = np.abs(field_)
    return amp, det, np.where(amp > 0, np.angle(field_), 0.0)


def _atoms(reg: Register | ArrayLike | None) -> tuple[tuple[str, ...], NDArray[np.float64]]:
    """Atom ids and coordinates (N, 2|3) µm of a Register or of bare coordinates."""
    if reg is None:
        raise SimulationError("a register (or coordinates in µm) is needed with drive arrays")
    if isinstance(reg, Register):
        return tuple(reg.ids), np.asarray(reg.coords, dtype=float)
    coords = np.asarray(reg, dtype=float)
    if coords.ndim != 2 or coords.shape[1] not in (2, 3):
        raise SimulationError(f"coordinates must have shape (N, 2); got {coords.shape}")
    return tuple(f"q{i}" for i in range(len(coords))), coords


def _interaction_coeff(given: float | None, sequence: SampledSequence | None) -> float:
    """C6 (rad/µs·µm⁶): as given, else the sequence's device's, checked to be ≥ 0."""
    if given is not None:
        c6 = float(given)
    elif sequence is not None:
        c6 = _lookup_c6(sequence.device_name)
    else:
        raise SimulationError("interaction_coeff (C6, rad/µs·µm⁶) is needed with drive arrays")
    if not (np.isfinite(c6) and c6 >= 0):
        raise SimulationError(f"interaction_coeff must be ≥ 0 rad/µs·µm⁶; got {c6!r}")
    return c6


def _record_times(t_total: int, record_every_ns: int | None) -> list[int]:
    """The ns at which occupations are recorded (about 50 points by default; 0 = final only)."""
    if t_total < 1:
        raise SimulationError("the drive is empty (0 ns)")
    step = max(1, -(-t_total // 50)) if record_every_ns is None else int(record_every_ns)
    if step < 0:
        raise SimulationError(f"record_every_ns must be ≥ 0; got {record_every_ns}")
    return [t_total] if step == 0 else sorted(set(range(0, t_total, step)) | {t_total})


def _waist_factor(coords: NDArray[np.float64], noise: NoiseModel) -> NDArray[np.float64]:
    """Ω factor per atom of a Gaussian global beam along y through the origin (1 without)."""
    if noise.laser_waist is None:
        return np.ones(len(coords))
    return np.asarray(np.exp(-((coords[:, 0] / noise.laser_waist) ** 2)))


def _amplitude_factors(
    noise: NoiseModel, names: Sequence[str], rng: np.random.Generator
) -> dict[str, float]:
    """Shot-to-shot amplitude factor max(0, N(1, amp_sigma)) per channel name, for one run."""
    return {
        name: max(0.0, float(rng.normal(1.0, noise.amp_sigma))) if noise.amp_sigma else 1.0
        for name in names
    }


def _progress_bar(progress: bool | None, label: str, total: int) -> tuple[Progress | None, Any]:
    """A started rich progress bar and its task (default: only when stderr is a terminal)."""
    show = progress if progress is not None else sys.stderr.isatty()
    if not show:
        return None, None
    from rich.progress import Progress

    bar = Progress(transient=True)
    bar.start()
    return bar, bar.add_task(label, total=total)


def simulate(
    sequence: SampledSequence | None = None,
    *,
    amplitude: ArrayLike | None = None,
    detuning: ArrayLike | None = None,
    phase: ArrayLike | None = None,
    register: Register | ArrayLike | None = None,
    interaction_coeff: float | None = None,
    basis: Basis = "ground-rydberg",
    raman_amplitude: ArrayLike | None = None,
    raman_detuning: ArrayLike | None = None,
    raman_phase: ArrayLike | None = None,
    measure: str | None = None,
    noise: NoiseModel | None = None,
    method: Method = "state-vector",
    subspace_cutoff: float | None = None,
    subspace_rule: Literal["energy", "pair"] = "energy",
    symmetry: Literal["auto", "off"] = "auto",
    tolerance: float = 1e-6,
    record_every_ns: int | None = None,
    seed: int | np.random.Generator | None = None,
    progress: bool | None = None,
    blas_threads: int | None = 1,
    threads: int | Literal["auto"] | None = "auto",
) -> SimulationResult:
    """Evolve atoms from |g…g⟩ under the drive and return states, occupations and statistics.

    Drive, from ``sequence`` (a :class:`SampledSequence`) or from arrays on a 1 ns grid (sample
    k is the value during [k, k+1) ns): ``amplitude`` Ω (rad/µs), ``detuning`` Δ (rad/µs) and
    ``phase`` φ (rad), each of shape (N, T) or (T,) for every atom alike. The Hamiltonian is
    H = Σ_i Ω_i/2 (cos φ_i σˣ_i − sin φ_i σʸ_i) − Σ_i Δ_i n_i + Σ_{i<j} C6/r_ij⁶ n_i n_j,
    in Pulser's conventions; the ``"digital"`` basis is the same without interactions.

    ``basis="all"`` (Pulser's name): the three-level g–h–r case in the 3^N space (see
    :mod:`.three_level`), Rydberg and Raman (``"digital"``) channels of ``sequence`` at once, or
    arrays ``amplitude``/``detuning``/``phase`` (Rydberg, g↔r) and ``raman_amplitude``/
    ``raman_detuning``/``raman_phase`` (Raman, h↔g); ``measure`` "ground-rydberg" (1 = r) or
    "digital" (1 = h; default: the sequence's measurement basis, else "digital" as Pulser).
    It returns a :class:`~.three_level.ThreeLevelResult`; every noise kind as in two levels
    (Doppler on the Rydberg transition, dephasing of r, r → g relaxation), plus
    ``noise.hyperfine_dephasing_rate`` (Pulser's √(2γ)|h⟩⟨h|); no ``subspace_cutoff``. In two
    levels, as Pulser: in ``"digital"`` it is the dephasing (of h; ``dephasing_rate``, of r,
    is ignored with a warning, ``relaxation_rate`` refused), in ``"ground-rydberg"`` it is
    ignored. ``"digital"`` has Pulser's Raman term Ω/2 (e^{-iφ}|h⟩⟨g| + h.c.) − Δ|g⟩⟨g|.

    ``method``: ``"state-vector"`` (default) evolves amplitudes; dephasing and relaxation are
    Monte-Carlo trajectories averaged over ``noise.runs``. ``"lindblad"`` evolves the density
    matrix under the master equation with the same collapse operators (see
    :mod:`.lindblad`), so dephasing and relaxation are exact and ``noise.runs`` realisations
    are drawn only for shot-to-shot noise (state preparation, loss, Doppler, ``amp_sigma``);
    at most 10 atoms (6 with ``basis="all"``), no ``subspace_cutoff``. Its result has
    ``density_matrix`` (the final ρ, averaged over those runs) and ``final_state`` None;
    ``tolerance`` then bounds ‖ρ − ρ_exact‖_F of each run, so every probability is within it.

    ``register``: a :class:`Register` or coordinates (N, 2) in µm (taken from ``sequence`` if
    omitted). ``interaction_coeff``: C6 in rad/µs·µm⁶; by default looked up with
    ``sequencer.get_device(sequence.device_name)``.

    ``subspace_cutoff`` (rad/µs): evolve only in the basis states whose interaction energy is at
    most this (see :func:`cutoff_for_distance`); the result's ``truncation`` reports what it
    dropped. ``subspace_rule="pair"`` applies the cutoff to each pair instead (drop a state
    only if two of its Rydberg atoms interact by more than it: a blockade radius). Use it for
    2D arrays: there the energy rule also drops ordered states whose many weak, distant pairs
    add up beyond the cutoff (a 6×6 square's checkerboard at 6 µm carries 3.57 V_nn); on a
    chain the two agree. ``symmetry="auto"`` (default) evolves a subspace run in the
    register's totally symmetric sector (:mod:`.symmetry`: one amplitude per orbit of its
    rotations and reflections, 8× fewer on a square) whenever that is exact — under the
    symmetries that leave the run's drive unchanged (all of them for a drive equal on every
    atom; 4 of a square's 8 for a beam waist centred on it, its axis along y; none with a
    local channel off the symmetry or Doppler shifts), with no state-preparation error or
    atom loss in that run and no dephasing or relaxation jumps — and faster (4 or more
    symmetries, or 2 where no chain or layered layout applies: see
    :func:`.symmetry.prefer_symmetric`); the result is the same (the truncation report gives
    ``symmetry_order`` and ``sector_states``). ``"off"`` never does. ``tolerance`` bounds
    ‖ψ − ψ_exact‖ of each run (probabilities are then within 2·tolerance).
    ``record_every_ns``: spacing of the occupation time series (default: about 50 points; 0
    records the final state only). ``seed`` drives every random
    draw.
    ``blas_threads``: BLAS threads while simulating (default 1: the vector operations are
    memory-bound, and spinning BLAS threads on a busy machine cost more than they give;
    ``None`` leaves the setting alone). ``threads``: threads of the compiled H·ψ and vector
    kernels (numba) for vectors of 2^15 amplitudes or more. ``"auto"`` (default): the
    two-level integrator measures the serial and the threaded kernels (numba's
    ``NUMBA_NUM_THREADS``) as it runs and uses the faster, re-measuring every 16th
    exponential — threads gain 1.4–1.9× at N = 16–20 on an idle 2-core machine but lose 2×
    when another job holds a core; the three-level path stays serial. An int forces that
    many threads (1 = serial: bit-for-bit reproducible runs; the serial and threaded sums
    differ in rounding, ~1e-13); ``None`` = ``NUMBA_NUM_THREADS``.
    """
    call: dict[str, Any] = {
        k: v for k, v in locals().items() if k not in ("blas_threads", "threads")
    }
    with kernel_threads(threads):
        if blas_threads is None:
            return _simulate(**call)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=blas_threads, user_api="blas"):
            return _simulate(**call)


def _simulate(
    sequence: SampledSequence | None,
    *,
    amplitude: ArrayLike | None,
    detuning: ArrayLike | None,
    phase: ArrayLike | None,
    register: Register | ArrayLike | None,
    interaction_coeff: float | None,
    basis: Basis,
    raman_amplitude: ArrayLike | None,
    raman_detuning: ArrayLike | None,
    raman_phase: ArrayLike | None,
    measure: str | None,
    noise: NoiseModel | None,
    method: Method,
    subspace_cutoff: float | None,
    subspace_rule: Literal["energy", "pair"],
    symmetry: Literal["auto", "off"],
    tolerance: float,
    record_every_ns: int | None,
    seed: int | np.random.Generator | None,
    progress: bool | None,
) -> SimulationResult:
    if method not in METHODS:
        raise SimulationError(f"method must be one of {list(METHODS)}; got {method!r}")
    if subspace_rule not in ("energy", "pair"):
        raise SimulationError(f"subspace_rule must be 'energy' or 'pair'; got {subspace_rule!r}")
    if symmetry not in ("auto", "off"):
        raise SimulationError(f"symmetry must be 'auto' or 'off'; got {symmetry!r}")
    if method == "lindblad" and subspace_cutoff is not None:
        raise SimulationError(
            f"subspace_cutoff={subspace_cutoff!r} is not available with method='lindblad' "
            "(the density matrix is evolved in the full space); leave it None"
        )
    if basis == "all":
        from virtual_device.rydberg.three_level import simulate_three_level

        return simulate_three_level(
            sequence,
            amplitude=amplitude,
            detuning=detuning,
            phase=phase,
            raman_amplitude=raman_amplitude,
            raman_detuning=raman_detuning,
            raman_phase=raman_phase,
            register=register,
            interaction_coeff=interaction_coeff,
            measure=measure,
            noise=noise,
            method=method,
            subspace_cutoff=subspace_cutoff,
            tolerance=tolerance,
            record_every_ns=record_every_ns,
            seed=seed,
            progress=progress,
        )
    if any(x is not None for x in (raman_amplitude, raman_detuning, raman_phase)):
        raise SimulationError(f"raman_* drive arrays need basis='all'; got basis={basis!r}")
    if measure not in (None, basis):
        raise SimulationError(f"measure={measure!r} needs basis='all'; got basis={basis!r}")
    t_start = time.perf_counter()
    noise = _two_level_noise(noise or NoiseModel(), basis)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    # -- inputs ------------------------------------------------------------------------
    if sequence is not None:
        if any(x is not None for x in (amplitude, detuning, phase)):
            raise SimulationError("give either a sampled sequence or drive arrays, not both")
        reg: Register | ArrayLike | None = sequence.register if register is None else register
        if basis not in {ch.basis for ch in sequence.channels.values()} and sequence.channels:
            raise SimulationError(
                f"the sequence has no {basis!r} channel; its bases are "
                f"{sorted({ch.basis for ch in sequence.channels.values()})}"
            )
    elif amplitude is None:
        raise SimulationError("nothing to simulate: give a sampled sequence or an amplitude array")
    else:
        reg = register
    ids, coords = _atoms(reg)
    n = len(ids)
    if basis == "digital":
        c6 = 0.0
    else:
        c6 = _interaction_coeff(interaction_coeff, sequence)

    if sequence is not None:
        t_total = sequence.duration_ns

        def base_drives(
            factors: dict[str, float], waist: NDArray[np.float64]
        ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
            return _channel_drives(sequence, basis, factors, waist)

        channel_names = list(sequence.channels)
    else:
        amp0 = _as_rows(amplitude, n, None, "amplitude")
        t_total = amp0.shape[1]
        det0 = _as_rows(detuning, n, t_total, "detuning")
        ph0 = _as_rows(phase, n, t_total, "phase")
        if np.any(amp0 < 0):
            raise SimulationError("amplitude must be ≥ 0 rad/µs (put the sign in the phase)")

        def base_drives(
            factors: dict[str, float], waist: NDArray[np.float64]
        ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
            return amp0 * factors.get("all", 1.0) * waist[:, None], det0, ph0

        channel_names = ["all"]
    record = _record_times(t_total, record_every_ns)
    pair_v = pair_interactions(coords[:, :2], c6)
    waist = _waist_factor(coords, noise)
    lindblad = method == "lindblad"
    if lindblad and n > MAX_LINDBLAD_ATOMS:
        raise SimulationError(
            f"method='lindblad' evolves the 2^N × 2^N density matrix: at most "
            f"{MAX_LINDBLAD_ATOMS} atoms; got N = {n} (use method='state-vector')"
        )
    # Lindblad: dephasing and relaxation are exact, only shot-to-shot noise needs runs
    stochastic = noise.has_shot_to_shot_noise if lindblad else noise.is_stochastic
    runs = noise.runs if stochastic else 1
    label = "simulating (Lindblad)" if lindblad else "simulating"
    bar, task = _progress_bar(progress, label, runs * t_total)
    rho_sum = np.zeros((1 << n, 1 << n), dtype=np.complex128) if lindblad else None
    lspace_cache: dict[bytes, LiouvilleSpace] = {}
    amplification = amplification_bound(n, noise.relaxation_rate, t_total * 1e-3)

    def advance_bar(k: int) -> None:
        if bar is not None:
            bar.advance(task, k)

    all_states: list[NDArray[np.int64]] = []
    all_probs: list[NDArray[np.float64]] = []
    occ_sum = np.zeros((len(record), n))
    stats_total = EvolutionStats()
    final_state: NDArray[np.complex128] | None = None
    trunc_report: TruncationReport | None = None
    space_cache: dict[bytes, FullSpace | BlockadeSubspace] = {}
    prefer_cache: dict[bytes, bool] = {}
    # symmetric sectors: only without jumps (one atom's jump leaves the sector), and per run
    # under the symmetries that leave its drive unchanged
    perms = (
        register_symmetries(coords[:, :2])
        if symmetry == "auto"
        and subspace_cutoff is not None
        and not lindblad
        and noise.dephasing_rate == 0
        and noise.relaxation_rate == 0
        else None
    )
    try:
        for _ in range(runs):
            absent = rng.random(n) < noise.state_prep_error if noise.state_prep_error else None
            lost = rng.random(n) < noise.atom_loss_prob if noise.atom_loss_prob else None
            inactive = np.zeros(n, dtype=bool)
            for mask in (absent, lost):
                if mask is not None:
                    inactive |= mask
            factors = _amplitude_factors(noise, channel_names, rng)
            amp, det, ph = base_drives(factors, waist)
            if noise.temperature > 0:
                det = det + rng.normal(0.0, noise.doppler_sigma, size=n)[:, None]
            coeff = 0.5 * amp * np.exp(1j * ph)
            det = np.array(det)
            if basis == "digital":
                # Pulser's digital term, as the three-level Raman one: Ω/2 (e^{-iφ}|h⟩⟨g| +
                # h.c.) − Δ|g⟩⟨g|. On the qubit {g, h = 1} that is this H with φ → −φ and
                # Δ → −Δ, up to the global phase of −Δ·1 (Doppler included, as Pulser adds it)
                coeff = np.conj(coeff)
                det = -det
            coeff[inactive] = 0.0
            det[inactive] = 0.0
            v = pair_v.copy()
            v[inactive, :] = 0.0
            v[:, inactive] = 0.0
            key = inactive.tobytes()
            lost_bits = (
                int(np.sum(1 << (n - 1 - np.nonzero(lost)[0])))
                if lost is not None and lost.any()
                else 0
            )
            if lindblad:
                assert rho_sum is not None
                lspace = lspace_cache.get(key)
                if lspace is None:
                    lspace = LiouvilleSpace(v, noise.dephasing_rate, noise.relaxation_rate)
                    lspace_cache[key] = lspace
                rho, seen, stats = evolve_density_matrix(
                    lspace,
                    coeff,
                    det,
                    tolerance=tolerance,
                    record=record,
                    observe=lspace.occupations,
                    amplification=amplification,
                    on_progress=advance_bar,
                )
                occ = np.asarray(seen)
                probs = np.clip(lspace.populations(rho), 0.0, None)
                probs /= probs.sum()
                states = np.arange(lspace.hilbert_dim, dtype=np.int64)
                if lost_bits:
                    keep = states[(states & lost_bits) == 0]
                    add_relabelled(rho_sum, rho.reshape(rho_sum.shape), keep, keep | lost_bits)
                else:
                    add_relabelled(rho_sum, rho.reshape(rho_sum.shape))
            else:
                space: FullSpace | BlockadeSubspace | None = None
                if perms is not None:
                    space = _symmetric_space(
                        perms,
                        inactive,
                        coeff,
                        det,
                        key,
                        space_cache,
                        prefer_cache,
                        v,
                        subspace_cutoff,
                        subspace_rule,
                    )
                if space is None:
                    space = space_cache.get(key)
                if space is None:
                    if subspace_cutoff is None:
                        space = FullSpace(v)
                    else:
                        space = BlockadeSubspace(v, float(subspace_cutoff), rule=subspace_rule)
                    space_cache[key] = space
                decay = np.full(n, noise.relaxation_rate) if noise.relaxation_rate > 0 else None
                evolver = Evolver(
                    space,
                    coeff,
                    det,
                    tolerance=tolerance,
                    decay_rates=decay,
                )
                psi, occ, stats = _run_one(evolver, space, record, noise, rng, bar, task)
                if isinstance(space, SymmetricSubspace):
                    psi, states = space.expand(psi), space.kept_states()
                else:
                    states = space.states()
                probs = np.abs(psi) ** 2
                probs /= probs.sum()
                final_state = psi / np.linalg.norm(psi)
            occ_sum += occ
            if lost_bits:
                states = states | lost_bits
            all_states.append(states)
            all_probs.append(probs)
            for name in ("matvecs", "blocks_accepted", "blocks_rejected"):
                setattr(stats_total, name, getattr(stats_total, name) + getattr(stats, name))
            stats_total.magnus_error = max(stats_total.magnus_error, stats.magnus_error)
            stats_total.krylov_error = max(stats_total.krylov_error, stats.krylov_error)
            if not lindblad and isinstance(space, BlockadeSubspace):
                prev = trunc_report
                trunc_report = TruncationReport(
                    info=space.truncation,
                    leakage_amplitude=max(
                        stats.leakage_amplitude, prev.leakage_amplitude if prev else 0.0
                    ),
                    max_dropped_population=max(
                        stats.max_dropped_population, prev.max_dropped_population if prev else 0.0
                    ),
                )
    finally:
        if bar is not None:
            bar.stop()

    cat = np.concatenate(all_states)
    basis_states, inverse = np.unique(cat, return_inverse=True)
    probabilities = np.bincount(inverse, weights=np.concatenate(all_probs)) / runs
    if runs > 1 or len(basis_states) != len(cat):
        final_state = None  # a mixture (noise runs) or a relabelled state (atom loss)
    return SimulationResult(
        atom_ids=ids,
        basis_states=np.asarray(basis_states, dtype=np.int64),
        probabilities=np.asarray(probabilities, dtype=np.float64),
        final_state=final_state,
        times_ns=np.asarray(record, dtype=np.float64),
        occupations=occ_sum / runs,
        error_estimate=stats_total.error_estimate,
        tolerance=tolerance,
        wall_time_s=time.perf_counter() - t_start,
        runs=runs,
        matvecs=stats_total.matvecs,
        p_false_pos=noise.p_false_pos,
        p_false_neg=noise.p_false_neg,
        truncation=trunc_report,
        extra={
            "blocks": stats_total.blocks_accepted,
            "rejected_blocks": stats_total.blocks_rejected,
            **({"method": "lindblad"} if lindblad else {}),
        },
        density_matrix=None if rho_sum is None else rho_sum / runs,
    )


def _symmetric_space(
    perms: NDArray[np.int64],
    inactive: NDArray[np.bool_],
    coeff: NDArray[np.complex128],
    det: NDArray[np.float64],
    key: bytes,
    space_cache: dict[bytes, FullSpace | BlockadeSubspace],
    prefer_cache: dict[bytes, bool],
    pair_v: NDArray[np.float64],
    cutoff: float | None,
    rule: Literal["energy", "pair"],
) -> SymmetricSubspace | None:
    """The symmetric sector this run evolves in (built once, cached), or None for none.

    Exact: under the register's symmetries that leave this run's drive unchanged
    (:func:`.symmetry.drive_symmetries`: all of them for a drive equal on every atom), with
    every atom present, and for a drive that differs between atoms only where the sector's
    tags hold atom classes (``per_atom_drives``). Faster: :func:`.symmetry.prefer_symmetric`
    for that many symmetries, decided once per ``key`` (set of absent atoms) and group.
    """
    if len(perms) < 2 or cutoff is None or inactive.any():
        return None
    group = drive_symmetries(perms, coeff, det)
    if len(group) < 2:
        return None
    sym_key = key + b"s" + group.tobytes()
    if sym_key not in prefer_cache:
        prefer_cache[sym_key] = prefer_symmetric(pair_v, float(cutoff), rule, len(group))
    if not prefer_cache[sym_key]:
        return None
    space = space_cache.get(sym_key)
    if space is None:
        space = SymmetricSubspace(pair_v, float(cutoff), group, rule=rule)
        space_cache[sym_key] = space
    assert isinstance(space, SymmetricSubspace)
    if space.per_atom_drives or (np.all(coeff == coeff[:1]) and np.all(det == det[:1])):
        return space
    return None


def _two_level_noise(noise: NoiseModel, basis: str) -> NoiseModel:
    """``noise`` resolved for a two-level run as Pulser does.

    Pulser (pulser-core 1.9.1, ``pulser/_hamiltonian_data/hamiltonian_data.py``,
    ``_build_local_collapse_operators``) adds √(2γ)·|s⟩⟨s| per atom for each level s of the
    basis that has a rate: r with ``dephasing_rate``, h with ``hyperfine_dephasing_rate``.
    So in ``"ground-rydberg"`` (g, r) the hyperfine rate is ignored; in ``"digital"`` (g, h)
    the dephasing is the hyperfine rate on h (which reads 1, the level our
    ``dephasing_rate`` acts on in two levels), a ``dephasing_rate`` is ignored (with a
    warning: there is no r), and relaxation (r → g) is refused, as Pulser refuses it.
    """
    if basis != "digital":
        if noise.hyperfine_dephasing_rate == 0:
            return noise
        return noise.model_copy(update={"hyperfine_dephasing_rate": 0.0})
    if noise.relaxation_rate > 0:
        raise SimulationError(
            f"relaxation_rate={noise.relaxation_rate} (r → g) needs the Rydberg level; a "
            "'digital' (g–h) run has none (Pulser refuses it too): set it to 0, or simulate "
            "basis='all'"
        )
    if noise.dephasing_rate > 0:
        warnings.warn(
            f"dephasing_rate={noise.dephasing_rate} acts on the Rydberg level, which a "
            "'digital' (g–h) run does not have: ignored, as Pulser does; the g–h qubit "
            "dephases with hyperfine_dephasing_rate",
            stacklevel=4,
        )
    return noise.model_copy(
        update={"dephasing_rate": noise.hyperfine_dephasing_rate, "hyperfine_dephasing_rate": 0.0}
    )


class _ThresholdCrossed(Exception):
    """Raised from a block callback: the trajectory's norm² fell below its jump threshold."""

    def __init__(self, k0: int, k1: int, state: NDArray[np.complex128]) -> None:
        super().__init__(k0, k1)
        self.k0, self.k1, self.state = k0, k1, state


def _run_one(
    evolver: Evolver,
    space: FullSpace | BlockadeSubspace,
    record: Sequence[int],
    noise: NoiseModel,
    rng: np.random.Generator,
    bar: Progress | None,
    task: object,
    observe: Callable[[NDArray[np.float64]], NDArray[np.float64]] | None = None,
) -> tuple[NDArray[np.complex128], NDArray[np.float64], EvolutionStats]:
    """One trajectory: evolve, record occupations, apply quantum jumps.

    A relaxation jump happens at the end of the nanosecond in which the norm² crosses the
    drawn threshold: the block in which it crossed is bisected down to one sample.

    ``observe(probabilities)`` is what is recorded at each ns of ``record`` (default: the
    space's per-atom Rydberg occupations); relaxation jumps go to an atom with probability
    ∝ its ``space.occupations``.
    """
    n = space.n_atoms
    t_total = evolver.n_samples
    psi = space.ground_state()
    obs = observe if observe is not None else space.occupations
    occ = np.zeros((len(record), *np.shape(obs(np.abs(psi) ** 2))))
    # Dephasing: D[√(2γ) P] = D[√(γ/2) (1 − 2P)] for a projector P (P = n: σz), whose jump
    # rate γ/2 per atom does not depend on the state, so jump times are a Poisson process drawn
    # up front (rounded to the ns grid). Rydberg dephasing (P = |r⟩⟨r|, or |h⟩⟨h| in the
    # digital basis), then hyperfine dephasing (P = |h⟩⟨h|, three-level spaces only: the
    # two-level entry point folds it into dephasing_rate or drops it, see _two_level_noise).
    stops = set(record)
    dephasing_jumps: dict[int, list[tuple[int, str]]] = {}
    for kind, gamma in (
        ("dephasing", noise.dephasing_rate),
        ("hyperfine_dephasing", noise.hyperfine_dephasing_rate),
    ):
        if gamma <= 0:
            continue
        rate = gamma / 2 * n  # per µs
        n_jumps = rng.poisson(rate * t_total * 1e-3)
        for t_j, atom in zip(
            np.sort(rng.integers(1, t_total, size=n_jumps)), rng.integers(0, n, size=n_jumps)
        ):
            dephasing_jumps.setdefault(int(t_j), []).append((int(atom), kind))
    stops |= set(dephasing_jumps)
    relax = noise.relaxation_rate > 0
    threshold = rng.random() if relax else 0.0
    is_subspace = isinstance(space, BlockadeSubspace)
    stats = evolver.stats
    # with relaxation: the state at the start of the current block, and its ns (to go back to)
    saved = np.empty_like(psi) if relax else psi
    saved_at = [0]

    def on_block(state: NDArray[np.complex128], k0: int, k1: int) -> None:
        if relax and float(np.vdot(state, state).real) < threshold:
            raise _ThresholdCrossed(k0, k1, state.copy())  # this block is redone to the jump
        if bar is not None:
            bar.advance(task, k1 - k0)  # type: ignore[arg-type]
        if is_subspace:
            assert isinstance(space, BlockadeSubspace)
            rate, pop = space.leakage(
                state,
                evolver.coeff[:, k1 - 1],
                evolver.delta[:, k1 - 1],
                norm2=float(np.vdot(state, state).real),
            )
            stats.leakage_amplitude += rate * (k1 - k0) * 1e-3
            stats.max_dropped_population = max(stats.max_dropped_population, pop)
        if relax:
            np.copyto(saved, state)
            saved_at[0] = k1

    def jump_in(
        lo: int, hi: int, s_lo: NDArray[np.complex128], s_hi: NDArray[np.complex128]
    ) -> NDArray[np.complex128]:
        """The norm² crossed the threshold in [lo, hi): find the ns by bisection, jump there."""
        nonlocal threshold
        while hi - lo > 1:
            mid = (lo + hi) // 2
            s_mid = evolver.advance(s_lo.copy(), lo, mid)
            if float(np.vdot(s_mid, s_mid).real) < threshold:
                hi, s_hi = mid, s_mid
            else:
                lo, s_lo = mid, s_mid
        weights = space.occupations(np.abs(s_hi) ** 2)
        if weights.sum() > 0:
            atom = int(rng.choice(n, p=weights / weights.sum()))
            space.apply_jump(s_hi, atom, "relaxation")
            stats.jumps.append((hi, atom, "relaxation"))
        s_hi /= np.linalg.norm(s_hi)
        threshold = rng.random()
        jumped_at[0] = hi
        return s_hi

    jumped_at = [0]
    t = 0
    ri = 0
    if record and record[0] == 0:
        occ[0] = obs(np.abs(psi) ** 2)
        ri = 1
    for stop in sorted(s for s in stops if s > 0):
        while True:
            if relax:
                np.copyto(saved, psi)
                saved_at[0] = t
            try:
                psi = evolver.advance(psi, t, stop, on_block)
                break
            except _ThresholdCrossed as hit:
                assert hit.k0 == saved_at[0]
                psi = jump_in(hit.k0, hit.k1, saved.copy(), hit.state)
                t = jumped_at[0]
                if bar is not None:
                    bar.advance(task, t - hit.k0)  # type: ignore[arg-type]
        t = stop
        for atom, kind in dephasing_jumps.get(stop, []):
            space.apply_jump(psi, atom, kind)
            stats.jumps.append((stop, atom, kind))
        if ri < len(record) and record[ri] == stop:
            p = np.abs(psi) ** 2
            occ[ri] = obs(p / p.sum())
            ri += 1
    return psi, occ, stats
