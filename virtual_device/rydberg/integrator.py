"""Time evolution under a piecewise-constant (1 ns) drive, with a stated, controlled error.

The physics is Pulser's: every drive sample is constant during its nanosecond. Blocks of M
samples are propagated with the fourth-order commutator-free Magnus integrator (Blanes & Moan)
written in moments of the Hamiltonian over the block,

    U ≈ exp(-i (M0/2 + 2 M1/h)) · exp(-i (M0/2 - 2 M1/h)),
    M0 = ∫ H dt,  M1 = ∫ (t - t_mid) H dt,

where the moments are computed *exactly* from the staircase of samples — so the scheme is
exact for constant blocks and reproduces the staircase's second-order Magnus term exactly for
linear ramps. Each exponential is applied with a Lanczos (Krylov) approximation whose
dimension grows until Saad's a-posteriori estimate of its error (the leading term of the error's
expansion, β₀·β_m·h·|e_mᵀ φ₁(−ihT_m) e₁|; Saad 1992, SIAM J. Numer. Anal. 29, 209) is within its
share of the error budget (measured within 13 % of the true error where it accepts, from basis
size 2 on). The block length is chosen by step doubling: one block of M samples is compared
with two blocks of M/2; their difference ``err`` bounds the local error of the (kept)
two-half-block result, and blocks are accepted only if ``err ≤ tolerance · M / T``.

Because every propagator is unitary (a contraction, with the trajectories' decay in the
exponent), local errors add up without amplification: the reported
``error_estimate`` (sum of accepted ``err`` plus the Lanczos estimates) bounds ‖ψ − ψ_exact‖ to
within the reliability of the estimates, and any probability is then off by at most twice that.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import eigh_tridiagonal, expm
from scipy.linalg.blas import dznrm2 as _dznrm2
from scipy.linalg.blas import zgemv as _zgemv

from virtual_device.errors import SimulationError
from virtual_device.rydberg.kernels import (
    AdaptiveThreads,
    adaptive_for,
    arnoldi_expm,
    axpy_norm2,
    combine4,
    lanczos_expm,
    parallel_for,
)
from virtual_device.rydberg.space import BlockadeSubspace, FullSpace

__all__ = ["EvolutionStats", "Evolver"]

_DT_US = 1e-3  # one sample = 1 ns
_M_MAX = 40  # largest Lanczos basis before the exponential is split
_KEEP_WORK = 16  # Lanczos work vectors kept between exponentials
_KRYLOV_SHARE = 0.05  # of a Magnus block's error allowance, for each of its exponentials
_REORTH = 0.5  # second Gram–Schmidt pass when an Arnoldi step loses more than this of its norm
# Longer vectors take the decay Arnoldi in Python, whose Gram–Schmidt is two BLAS products:
# faster there than the compiled loops (one trajectory of the 4 µs sweep at tolerance 1e-6,
# 16 atoms: 15.4 s vs 18.7 s; but two at 14 atoms: 9.7 s vs 8.8 s)
_ARNOLDI_COMPILED_MAX = 1 << 14


def _phi1(z: NDArray[np.complex128]) -> NDArray[np.complex128]:
    """φ₁(z) = (e^z − 1)/z elementwise, by its series near 0 (as :func:`.kernels.phi1`)."""
    small = np.abs(z) < 1e-5
    safe = np.where(small, 1.0, z)
    return np.where(small, 1.0 + z * (0.5 + z / 6.0), np.expm1(safe) / safe)


def krylov_exp_first(
    x: NDArray[Any], beta0: float, h_next: float, scale: float
) -> tuple[NDArray[np.complex128], float]:
    """exp(X) e₁ and Saad's error estimate β₀·h_{m+1,m}·scale·|e_mᵀ φ₁(X) e₁|.

    X: the m×m Krylov matrix, already times its scale. One exponential of X bordered by e₁
    gives both: exp([[X, e₁], [0, 0]]) = [[exp(X), φ₁(X) e₁], [0, 1]].
    """
    m = x.shape[0]
    bordered = np.zeros((m + 1, m + 1), dtype=x.dtype)
    bordered[:m, :m] = x
    bordered[0, m] = 1.0
    e = expm(bordered)
    err = beta0 * h_next * scale * float(abs(e[m - 1, m]))
    return np.ascontiguousarray(e[:m, 0], dtype=np.complex128), err


def arnoldi_exp(
    psi: NDArray[np.complex128],
    rows: NDArray[np.complex128],
    apply: Callable[[NDArray[np.complex128], NDArray[np.complex128]], None],
    scale: float,
    tol: float,
    *,
    factor: complex = 1.0,
    real_coefficients: bool = False,
) -> tuple[NDArray[np.complex128], float] | None:
    """exp(factor·scale·B) ψ by Arnoldi; None if ``len(rows) − 1`` vectors do not reach ``tol``.

    ``apply(v, w)`` sets w = B v. The basis is the rows of ``rows`` (pages are touched only as
    rows are used); classical Gram–Schmidt as two BLAS matrix–vector products, repeated once
    when a step loses more than half of its norm, with the coefficients kept real if
    ``real_coefficients``. Acceptance: Saad's estimate (:func:`krylov_exp_first`) ≤ ``tol``
    from two vectors on, or breakdown.
    """
    beta0 = float(_dznrm2(psi))
    if beta0 == 0.0:
        return psi.copy(), 0.0
    m_max = rows.shape[0] - 1
    np.multiply(psi, 1.0 / beta0, out=rows[0])
    hess = np.zeros((m_max + 1, m_max), dtype=np.float64 if real_coefficients else np.complex128)
    for j in range(m_max):
        w = rows[j + 1]
        apply(rows[j], w)
        basis_t = rows[: j + 1].T  # Fortran order: BLAS without copies
        norm_in = hn = float(_dznrm2(w))
        for _ in range(2):
            before = hn
            h = _zgemv(1.0, basis_t, w, trans=2)
            if real_coefficients:
                h = h.real.astype(np.complex128)
            _zgemv(-1.0, basis_t, h, beta=1.0, y=w, overwrite_y=1)
            hess[: j + 1, j] += h.real if real_coefficients else h
            hn = float(_dznrm2(w))
            if hn >= _REORTH * before:
                break
        hess[j + 1, j] = hn
        breakdown = hn <= 1e-13 * max(norm_in, 1e-300)
        if j == 0 and not breakdown:  # one vector is never accepted: no estimate needed
            w *= 1.0 / hn
            continue
        m = j + 1
        y, err = krylov_exp_first(factor * scale * hess[:m, :m], beta0, hn, scale)
        if (j >= 1 and err <= tol) or breakdown:
            return _zgemv(beta0, basis_t, y), (0.0 if breakdown else err)
        w *= 1.0 / hn
    return None


@dataclass
class EvolutionStats:
    """Book-keeping of one evolution: work done and error accounted."""

    matvecs: int = 0
    blocks_accepted: int = 0
    blocks_rejected: int = 0
    magnus_error: float = 0.0
    krylov_error: float = 0.0
    leakage_amplitude: float = 0.0
    max_dropped_population: float = 0.0
    jumps: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def error_estimate(self) -> float:
        """Estimated bound on ‖ψ − ψ_exact‖ (dimensionless, state norm 1)."""
        return self.magnus_error + self.krylov_error


class Evolver:
    """Propagates states of ``space`` under per-atom drive arrays.

    ``coeff[i, k]`` = Ω_i e^{iφ_i} / 2 and ``delta[i, k]`` = Δ_i (rad/µs) for atom i during
    sample k (ns); the Hamiltonian is H_k = V + Σ_i (coeff σ⁺_i + h.c.) − Σ_i Δ_i n_i.
    """

    def __init__(
        self,
        space: FullSpace | BlockadeSubspace,
        coeff: NDArray[np.complex128],
        delta: NDArray[np.float64],
        *,
        tolerance: float,
        decay_rates: NDArray[np.float64] | None = None,
        max_block_ns: int = 4096,
        check_every: int = 8,
    ) -> None:
        """``tolerance`` is the target bound on ‖ψ − ψ_exact‖ over the whole evolution."""
        if not (tolerance > 0 and np.isfinite(tolerance)):
            raise SimulationError(f"tolerance must be a positive number; got {tolerance!r}")
        self.space = space
        self.coeff = np.ascontiguousarray(coeff, dtype=np.complex128)
        self.delta = np.ascontiguousarray(delta, dtype=np.float64)
        self.n_samples = self.coeff.shape[1]
        self.tolerance = float(tolerance)
        self.stats = EvolutionStats()
        self.decay_rates = decay_rates
        self.max_block_ns = max_block_ns
        self._decay_diag = (
            space.detuning_diagonal(decay_rates)
            if decay_rates is not None and np.any(decay_rates > 0)
            else None
        )
        # A block whose samples are all equal needs no Magnus correction: mark where they change.
        change = np.any(self.coeff[:, 1:] != self.coeff[:, :-1], axis=0) | np.any(
            self.delta[:, 1:] != self.delta[:, :-1], axis=0
        )
        self._n_changes = np.concatenate([[0], np.cumsum(change)])
        # Where the slope of the drive changes (beyond rounding): blocks across such points
        # always get a step-doubling check, since the error constant there is not that of
        # the neighbouring blocks.
        scale = 1e-9 * (np.abs(self.coeff).max(initial=0.0) + np.abs(self.delta).max(initial=0.0))
        second = np.zeros(self.n_samples)
        if self.n_samples > 2:
            second[1:-1] = np.max(
                np.abs(np.diff(self.coeff, 2, axis=1)) + np.abs(np.diff(self.delta, 2, axis=1)),
                axis=0,
            )
        self._kinks = np.cumsum(second > scale + 1e-300)
        self._diag = np.empty(space.dim)
        self._work: list[NDArray[np.complex128]] = []
        self._cwork: NDArray[np.complex128] | None = None  # rows: compiled Lanczos vectors
        self._arows: NDArray[np.complex128] | None = None  # rows: Arnoldi vectors (decay)
        self._h_ns = 8
        self._coef: float | None = None
        self._since_check = 0
        self._checked_m = 2
        self.check_every = check_every
        # serial or threaded kernels, chosen by measurement (simulate(threads="auto"))
        self._threads_choice = AdaptiveThreads() if adaptive_for(space.dim) else None

    # -- exponentials --------------------------------------------------------------------
    def _expm(
        self,
        psi: NDArray[np.complex128],
        c: NDArray[np.complex128],
        d: NDArray[np.float64],
        v_scale: float,
        tol: float,
    ) -> NDArray[np.complex128]:
        """exp(-i A) ψ where A = v_scale·V + Σ(c σ⁺ + h.c.) − Σ d n (A dimensionless).

        With decay rates, A also holds −i·v_scale·Γ/2 (Γ = Σ_i γ_i n_i, the no-jump
        evolution of the trajectories): the exponential is then taken by Arnoldi, so the
        decay is integrated with the drive, not split off it.
        """
        diag = self.space.diagonal(v_scale, np.ascontiguousarray(d), self._diag)
        c = np.ascontiguousarray(c, dtype=np.complex128)
        compiled = getattr(self.space, "krylov_args", None)
        kargs = compiled(c) if compiled is not None else None
        gam = None if self._decay_diag is None else (0.5 * v_scale) * self._decay_diag
        pieces = 1
        try:
            while True:
                out = psi
                total_err = 0.0
                ok = True
                for _ in range(pieces):
                    if gam is None:
                        res = self._lanczos(diag, c, out, 1.0 / pieces, tol / pieces, kargs)
                    else:
                        res = self._decay_arnoldi(
                            diag, gam, c, out, 1.0 / pieces, tol / pieces, kargs
                        )
                    if res is None:
                        ok = False
                        break
                    out, err = res
                    total_err += err
                if ok:
                    self.stats.krylov_error += total_err
                    return out
                pieces *= 2
                if pieces > 1 << 16:
                    raise SimulationError("Krylov exponential did not converge")
        finally:
            del self._work[_KEEP_WORK:]  # a rare long Krylov basis is not kept around
            if self._cwork is not None and len(self._cwork) > _KEEP_WORK:
                self._cwork = None

    def _work_vector(self, j: int) -> NDArray[np.complex128]:
        while len(self._work) <= j:
            self._work.append(np.empty(self.space.dim, dtype=np.complex128))
        return self._work[j]

    def _lanczos(
        self,
        diag: NDArray[np.float64],
        c: NDArray[np.complex128],
        psi: NDArray[np.complex128],
        scale: float,
        tol: float,
        kargs: tuple[int, tuple[Any, ...]] | None = None,
    ) -> tuple[NDArray[np.complex128], float] | None:
        """exp(−i·scale·A) ψ by Lanczos; None if _M_MAX vectors do not reach ``tol``.

        With ``kargs`` (from the space's ``krylov_args``) the whole loop below runs compiled
        in :func:`.kernels.lanczos_expm`, the same steps and acceptance test.

        The basis is kept unnormalised, v_j = s_j u_j (u_0 = ψ itself, no copy), so that a
        step is two compiled passes: w = s_j A u_j − β_{j−1} v_{j−1} with ⟨v_j, w⟩ on the fly,
        then w −= α v_j with ‖w‖² on the fly; w becomes u_{j+1} with s_{j+1} = 1/β_j.
        """
        if kargs is not None:
            return self._lanczos_compiled(diag, psi, scale, tol, kargs)
        beta0 = float(_dznrm2(psi))
        if beta0 == 0.0:
            return psi.copy(), 0.0
        space = self.space
        us = [psi]
        ss = [1.0 / beta0]
        alphas: list[float] = []
        betas: list[float] = []
        for j in range(_M_MAX):
            w = self._work_vector(j)
            if j == 0:
                prev, cprev = psi, 0.0
            else:
                prev, cprev = us[j - 1], -betas[j - 1] * ss[j - 1]
            dot = space.hpsi(us[j], ss[j], prev, cprev, diag, c, w)
            self.stats.matvecs += 1
            alpha = ss[j] * dot.real
            beta = float(np.sqrt(max(axpy_norm2(w, -alpha * ss[j], us[j]), 0.0)))
            alphas.append(alpha)
            evals, evecs = eigh_tridiagonal(np.array(alphas), np.array(betas))
            y = evecs @ (np.exp(-1j * scale * evals) * evecs[0])
            # Saad's estimate of this approximation's error: the leading term of its expansion
            last = evecs[-1] @ (_phi1(-1j * scale * evals) * evecs[0])
            err = beta0 * beta * scale * float(abs(last))
            breakdown = beta <= 1e-13 * beta0
            if (j >= 1 and err <= tol) or breakdown:
                weights = beta0 * y * np.asarray(ss[: len(y)])
                out = np.empty_like(psi)
                combine4(out, weights, us[: len(y)])
                return out, (0.0 if breakdown else err)
            betas.append(beta)
            us.append(w)
            ss.append(1.0 / beta)
        return None

    def _decay_arnoldi(
        self,
        diag: NDArray[np.float64],
        gam: NDArray[np.float64],
        c: NDArray[np.complex128],
        psi: NDArray[np.complex128],
        scale: float,
        tol: float,
        kargs: tuple[int, tuple[Any, ...]] | None = None,
    ) -> tuple[NDArray[np.complex128], float] | None:
        """exp(−i·scale·(A − i·gam)) ψ by Arnoldi; None if _M_MAX vectors do not reach ``tol``.

        With ``kargs`` the loop runs compiled in :func:`.kernels.arnoldi_expm`, the same steps.

        ``gam`` ≥ 0 is the diagonal decay part; the matrix is not Hermitian, so the basis is
        orthogonalised against all its vectors (:func:`arnoldi_exp`).
        """
        if self._arows is None:  # pages are touched only as rows are used
            self._arows = np.empty((_M_MAX + 1, self.space.dim), dtype=np.complex128)
        rows = self._arows
        if kargs is not None and len(psi) <= _ARNOLDI_COMPILED_MAX:
            out = np.empty_like(psi)
            par = 1 if parallel_for(len(psi)) else None  # see kernels._product
            status, err, products, _ = arnoldi_expm(
                psi, gam, float(scale), float(tol), rows, kargs[0], par, diag, kargs[1], out
            )
            self.stats.matvecs += int(products)
            if status == 2:
                return psi.copy(), 0.0
            return (out, float(err)) if status == 1 else None
        space, stats = self.space, self.stats

        def apply(v: NDArray[np.complex128], w: NDArray[np.complex128]) -> None:
            space.hpsi(v, 1.0, v, 0.0, diag, c, w)
            w -= 1j * gam * v
            stats.matvecs += 1

        return arnoldi_exp(psi, rows, apply, scale, tol, factor=-1j)

    def _lanczos_compiled(
        self,
        diag: NDArray[np.float64],
        psi: NDArray[np.complex128],
        scale: float,
        tol: float,
        kargs: tuple[int, tuple[Any, ...]],
    ) -> tuple[NDArray[np.complex128], float] | None:
        """:meth:`_lanczos` in :func:`.kernels.lanczos_expm`, on rows of a 2-D work array.

        The array has _KEEP_WORK rows (pages touched only as rows are used); a longer basis
        makes the kernel stop, the array is enlarged to _M_MAX rows and the loop resumes
        where it stopped (no product is repeated).
        """
        if self._cwork is None:
            self._cwork = np.empty((_KEEP_WORK, self.space.dim), dtype=np.complex128)
        out = np.empty_like(psi)
        threaded = parallel_for(len(psi))
        if self._threads_choice is not None:
            threaded = self._threads_choice.choose()
        par = 1 if threaded else None  # see kernels._product
        fstate = np.zeros((3, _M_MAX + 1))
        j = 0
        t0 = time.perf_counter()
        m0 = self.stats.matvecs
        while True:
            status, err, products, j = lanczos_expm(
                psi, float(scale), float(tol), _M_MAX, self._cwork, kargs[0], par, diag,
                kargs[1], out, fstate, j,
            )  # fmt: skip
            self.stats.matvecs += int(products)
            if status != 3:
                break
            bigger = np.empty((_M_MAX, self.space.dim), dtype=np.complex128)
            bigger[: len(self._cwork)] = self._cwork
            self._cwork = bigger
        if self._threads_choice is not None:
            self._threads_choice.record(threaded, time.perf_counter() - t0, self.stats.matvecs - m0)
        if status == 2:
            return psi.copy(), 0.0
        return (out, float(err)) if status == 1 else None

    # -- Magnus blocks -------------------------------------------------------------------
    def _is_constant(self, k0: int, k1: int) -> bool:
        return bool(self._n_changes[k1 - 1] == self._n_changes[k0])

    def _block(
        self, psi: NDArray[np.complex128], k0: int, k1: int, tol: float
    ) -> NDArray[np.complex128]:
        """Propagate over samples [k0, k1) with CF-Magnus-4 (exact if the block is constant)."""
        m = k1 - k0
        h = m * _DT_US
        if self._is_constant(k0, k1):
            return self._expm(psi, self.coeff[:, k0] * h, self.delta[:, k0] * h, h, tol)
        # Moments of the staircase, exact: M0 = Σ_k H_k dt, M1 = Σ_k (t_k − t_mid) H_k dt with
        # t_k the sample's centre (each sample is constant, so ∫ over it of (t − t_mid) is that).
        # Only the drive and the detuning vary; the interaction contributes h·V to M0 alone.
        c = self.coeff[:, k0:k1]
        d = self.delta[:, k0:k1]
        tau = (np.arange(m) + 0.5) * _DT_US - h / 2
        m0c, m0d = c.sum(axis=1) * _DT_US, d.sum(axis=1) * _DT_US
        m1c, m1d = (c @ tau) * _DT_US, (d @ tau) * _DT_US
        psi = self._expm(psi, m0c / 2 - 2 * m1c / h, m0d / 2 - 2 * m1d / h, h / 2, tol / 2)
        return self._expm(psi, m0c / 2 + 2 * m1c / h, m0d / 2 + 2 * m1d / h, h / 2, tol / 2)

    def advance(
        self,
        psi: NDArray[np.complex128],
        k0: int,
        k1: int,
        on_block: Callable[[NDArray[np.complex128], int, int], None] | None = None,
    ) -> NDArray[np.complex128]:
        """Propagate ψ from the start of sample ``k0`` to the start of ``k1``.

        ``on_block(ψ, start, stop)`` is called after each accepted block.
        """
        if k1 <= k0:
            return psi
        budget_per_ns = self.tolerance / max(self.n_samples, 1)
        t = k0
        while t < k1:
            m = min(self._h_ns, k1 - t, self.max_block_ns)
            if m == 1 or self._is_constant(t, t + m):
                # exact up to the Lanczos error: no Magnus truncation on a constant block
                psi = self._block(psi, t, t + m, 0.5 * budget_per_ns * m)
                self._accepted(psi, t, t + m, 0.0, on_block)
                t += m
                self._h_ns = min(2 * self._h_ns, self.max_block_ns)
                continue
            if m % 2:
                m -= 1
            needs_check = (
                self._coef is None
                or self._since_check >= self.check_every
                or self._has_kink(t, t + m)
            )
            if not needs_check:
                assert self._coef is not None
                best = self._best_block(budget_per_ns)
                if best < 2:
                    # even two samples would exceed their share: one sample (exact) at a time,
                    # with a new check at two after check_every of them
                    self._h_ns = 1
                    self._since_check += 1
                    continue
                m = min(m, best, self._checked_m)
                predicted = self._coef * m**5
                allowed = budget_per_ns * m
                psi = self._block(psi, t, t + m, _KRYLOV_SHARE * allowed)
                self._since_check += 1
                self._accepted(psi, t, t + m, predicted, on_block)
                t += m
                self._h_ns = max(2, min(best, 2 * m, self.max_block_ns))
                continue
            half = m // 2
            allowed = budget_per_ns * m
            ktol = _KRYLOV_SHARE * allowed
            big = self._block(psi, t, t + m, ktol)
            small = self._block(self._block(psi, t, t + half, ktol), t + half, t + m, ktol)
            err = float(np.linalg.norm(big - small))
            # err ≈ C m⁵ (1 − 2⁻⁴): the local error constant of one CF-Magnus-4 block
            self._coef = 1.1 * err / m**5 * 16 / 15
            self._checked_m = m
            self._since_check = 0
            factor = 2.0 if err == 0 else min(2.0, max(0.25, 0.9 * (0.5 * allowed / err) ** 0.2))
            if err <= 0.5 * allowed:
                psi = small
                self._accepted(psi, t, t + m, err, on_block)
                t += m
            else:
                self.stats.blocks_rejected += 1
            self._h_ns = max(1, min(int(m * factor), self.max_block_ns))
        return psi

    def _best_block(self, budget_per_ns: float) -> int:
        """Largest block whose predicted error C m⁵ stays within half its share C m⁵ ≤ b m/2."""
        assert self._coef is not None
        if self._coef <= 0:
            return self.max_block_ns
        return int((0.5 * budget_per_ns / self._coef) ** 0.25)

    def _has_kink(self, k0: int, k1: int) -> bool:
        """Whether the drive's slope changes inside [k0, k1) (between its samples)."""
        lo, hi = k0 + 1, k1 - 1  # kink[k]: slope differs between k-1→k and k→k+1
        return hi > lo and bool(self._kinks[hi - 1] != self._kinks[lo - 1])

    def _accepted(
        self,
        psi: NDArray[np.complex128],
        k0: int,
        k1: int,
        err: float,
        on_block: Callable[[NDArray[np.complex128], int, int], None] | None,
    ) -> None:
        self.stats.magnus_error += err
        self.stats.blocks_accepted += 1
        if on_block is not None:
            on_block(psi, k0, k1)
