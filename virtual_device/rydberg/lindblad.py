"""Density-matrix (Lindblad) evolution for small registers: the exact master-equation average.

``simulate(..., method="lindblad")`` evolves ρ under

    dρ/dt = −i[H(t), ρ] + Σ_k (L_k ρ L_k† − ½{L_k† L_k, ρ}),

H(t) the simulator's Hamiltonian (same staircase, conventions and inputs as the state-vector
path) and, per atom i, the collapse operators our Monte-Carlo trajectories unravel:

* dephasing (``dephasing_rate`` γ_φ, 1/µs): √(2γ_φ)·|r⟩⟨r|_i (Pulser's; the trajectories use
  the equivalent √(γ_φ/2)·σᶻ_i, the same master equation). On ρ_ab (a, b basis states) it
  multiplies by −γ_φ·#{atoms where a and b differ in being excited};
* relaxation (``relaxation_rate`` γ_r, 1/µs): √γ_r·|g⟩⟨r|_i, r → g;
* hyperfine dephasing (``hyperfine_dephasing_rate`` γ_h, 1/µs; three levels): √(2γ_h)·|h⟩⟨h|_i,
  Pulser's operator and factor (pulser-core 1.9.1, ``pulser/_hamiltonian_data/
  hamiltonian_data.py``, ``_build_local_collapse_operators``). On ρ_ab it multiplies by
  −γ_h·#{atoms where a and b differ in being in h}: the g–h coherence decays as e^{−γ_h t}.

In the two-level digital basis the dephasing acts on the level that reads 1 (h), as in the
trajectory code, with the rate ``hyperfine_dephasing_rate`` (the caller resolves the rates
as Pulser: see ``simulate._two_level_noise``); in the three-level basis (g, r, h) dephasing
and relaxation act on r, hyperfine dephasing on h.

Numerics. The generator 𝓛(t) is linear in the drive, so the state-vector integrator's scheme
carries over unchanged (:class:`LindbladEvolver` subclasses
:class:`~virtual_device.rydberg.integrator.Evolver`): blocks of the 1 ns staircase are
propagated with the fourth-order commutator-free Magnus integrator in the *exact* moments of
𝓛 over the block (constant blocks exactly), the block length is chosen by step doubling,
and only the exponential differs: exp(𝓐)·vec(ρ) for the non-normal 𝓐 = −i[A, ·] + τ𝓓 is an
Arnoldi (Krylov) approximation, grown until Saad's estimate of its error is within its error
share (the Lanczos test, from the Hessenberg matrix), after splitting the
exponential in pieces of spectral radius ≤ ``_PIECE_RADIUS``. No superoperator is built:
for two levels with one drive coefficient on every atom, −i[A, ·] is −i times a 2N-atom
Hamiltonian on vec ρ, applied by the state-vector kernel (:func:`.kernels.full_hpsi`, in a
frame where its 2N coefficients are equal), then one compiled pass adds 𝓓; per-atom drives
and the three-level case use compiled passes on the d×d matrix.

Error. Local errors are measured in the Frobenius norm ‖·‖_F of ρ (the 2-norm of vec ρ). The
exact flow does not expand ‖·‖_F when there is no relaxation (its Hamiltonian part is
unitary, the dephasing parts, of r and of h, self-adjoint negative operators); relaxation
can, by at most e^{Nγ_r t/4} over t, and every CPTP flow contracts the trace norm,
‖·‖_F ≤ ‖·‖₁ ≤ √d‖·‖_F, so an error made at any time grows by at most A = min(e^{Nγ_r T/4}, √d)
by the end (T the duration, d = 2^N or 3^N). The integrator runs at ``tolerance / A`` and
reports ``error_estimate`` = A × (sum of local estimates), an estimated bound on
‖ρ − ρ_exact‖_F; every probability ρ_ss is then off by at most that. ρ is made exactly
Hermitian after every block (a projection that cannot increase the error).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from numba import njit
from numpy.typing import NDArray

from virtual_device.errors import SimulationError
from virtual_device.rydberg import kernels
from virtual_device.rydberg.integrator import EvolutionStats, Evolver, arnoldi_exp
from virtual_device.rydberg.space import FullSpace

__all__ = [
    "MAX_LINDBLAD_ATOMS",
    "MAX_LINDBLAD_QUTRIT_ATOMS",
    "LindbladEvolver",
    "LiouvilleSpace",
    "QutritLiouvilleSpace",
    "add_relabelled",
    "amplification_bound",
    "evolve_density_matrix",
]

MAX_LINDBLAD_ATOMS = 10  # ρ: 4^10 complex = 16 MiB; the Arnoldi basis keeps up to ~40 of them
MAX_LINDBLAD_QUTRIT_ATOMS = 6  # ρ: 9^6 = 531,441 entries (8 MiB)
_M_MAX = 40  # largest Arnoldi basis before the exponential is split further
_PIECE_RADIUS = 8.0  # spectral radius bound of one exponential piece (typically ≤ 10 vectors)
R_DIGIT = 1  # the digit of r in a qutrit index (three_level: 0 = g, 1 = r, 2 = h)
H_DIGIT = 2  # the digit of h


@njit(cache=True, fastmath=True, error_model="numpy")
def _popcounts(d):
    pc = np.zeros(d, dtype=np.int64)
    for k in range(1, d):
        pc[k] = pc[k >> 1] + (k & 1)
    return pc


# Two levels: in vec ρ (row-major, index a·2^N + b) the coherent part −i(Aρ − ρA) is −i times a
# Hamiltonian of 2N "atoms": A(c) on the row bits, −A(c*) = −Aᵀ on the column bits, diagonal
# diag_a − diag_b. It is applied by the state-vector kernel (:func:`.kernels.full_hpsi`). For
# a global drive (one c) a phase e^{iθ·#excited(b)} on the columns, e^{iθ} = −c/c*, turns the
# column coefficient −c* into c, so that all 2N coefficients are equal and the fast
# additions-only kernel applies; the dissipator is diagonal but for the jumps σ⁻ρσ⁺, which
# pick up e^{−iθ} in that frame. One compiled pass adds the dissipator.
@njit(cache=True, fastmath=True, error_model="numpy")
def _dissipate_two_level(w_f, x_f, damp, scale, relax, jump_phase, n, out_f):
    """Set out = −i·w − scale·damp∘x + relax·e^{−iθ}·Σ_i σ⁻_i x σ⁺_i (float views (d, 2d)).

    ``w`` = K·x (the coherent part, in the frame); ``damp[a, b]`` = γ_φ·#(a ⊕ b) +
    ½γ_r·(#a + #b) (1/µs), ``scale`` the duration (µs). Row by row, so that a row of ``out``
    stays in L1 while its jump terms are added; interleaved floats, which LLVM vectorises.
    """
    d = damp.shape[0]
    fr, fi = relax * jump_phase.real, relax * jump_phase.imag
    for a in range(d):
        for b in range(d):
            k = scale * damp[a, b]
            out_f[a, 2 * b] = w_f[a, 2 * b + 1] - k * x_f[a, 2 * b]
            out_f[a, 2 * b + 1] = -w_f[a, 2 * b] - k * x_f[a, 2 * b + 1]
        if relax == 0.0:
            continue
        for i in range(n):
            m = 1 << (n - 1 - i)
            if a & m:
                continue
            q = a + m  # atom i in g in row a, from r in row q; in g in column b too:
            for b0 in range(0, d, 2 * m):
                for b in range(b0, b0 + m):
                    xr = x_f[q, 2 * (b + m)]
                    xi = x_f[q, 2 * (b + m) + 1]
                    out_f[a, 2 * b] += fr * xr - fi * xi
                    out_f[a, 2 * b + 1] += fr * xi + fi * xr
    return out_f


@njit(cache=True, fastmath=True, error_model="numpy")
def _liouville_two_level(rho, diag, c, deph, relax, pc, n, out):
    """Set out = 𝓐ρ directly on ρ (d, d), for per-atom coefficients (no doubled kernel).

    𝓐ρ = −i(Aρ − ρA) + deph·Σ_i D[√2 n_i]ρ + relax·Σ_i D[σ⁻_i]ρ, A = diag + Σ_i (c_i σ⁺_i +
    h.c.): −i·X_{a, a^m}·ρ[a^m, b] with X = c if atom i is excited in a, else c*, and
    +i·ρ[a, b^m]·X_{b^m, b} with X = c if it is not excited in b, else c*. Row by row. For
    drives that differ between atoms this is faster than the general doubled-space kernel.
    """
    d = diag.shape[0]
    left_up, left_dn = -1j * c, -1j * np.conj(c)
    right_dn, right_up = 1j * c, 1j * np.conj(c)
    for a in range(d):
        da = diag[a]
        ra = 0.5 * relax * pc[a]
        for b in range(d):
            damp = deph * pc[a ^ b] + ra + 0.5 * relax * pc[b]
            out[a, b] = complex(-damp, diag[b] - da) * rho[a, b]
        for i in range(n):
            m = 1 << (n - 1 - i)
            excited = (a & m) != 0
            if c[i] != 0:
                p = a ^ m
                f = left_up[i] if excited else left_dn[i]
                for b in range(d):
                    out[a, b] += f * rho[p, b]
                g_dn, g_up = right_dn[i], right_up[i]
                for b in range(d):
                    out[a, b] += (g_up if b & m else g_dn) * rho[a, b ^ m]
            if relax != 0.0 and not excited:
                q = a + m
                for b in range(d):
                    if not b & m:
                        out[a, b] += relax * rho[q, b + m]
    return out


# Three levels: 𝓐ρ for Hermitian ρ (every Arnoldi vector is: 𝓐 maps Hermitian matrices to
# Hermitian ones and the Gram–Schmidt coefficients are real). Then ρA = (Aρ)†, so −i[A, ρ] =
# −i(M − M†) with M = Aρ: row operations only (contiguous rows), then one pass over 32 × 32
# tiles for the transpose, with both dephasings (diagonal in the basis: D[√(2γ) P] multiplies
# ρ_ab by −γ·(P_a − P_b)², per atom) and the anticommutator of relaxation; the relaxation
# jumps σ⁻ρσ⁺ are a last pass.
_TILE = 32


@njit(cache=True, fastmath=True, error_model="numpy")
def _hermitian_part(m_work, rho, rmask, hmask, pc, deph, hdeph, half_relax, out):
    """Set out = −i(M − M†) − damp·ρ, tile by tile.

    damp = deph·#(r differs) + hdeph·#(h differs) + ½relax·(#r(a) + #r(b)); ``hmask``: the
    atoms in h, as ``rmask`` for r (read only if hdeph ≠ 0).
    """
    d = rho.shape[0]
    for a0 in range(0, d, _TILE):
        a1 = min(a0 + _TILE, d)
        for b0 in range(0, d, _TILE):
            b1 = min(b0 + _TILE, d)
            for a in range(a0, a1):
                ma = rmask[a]
                ha = half_relax * pc[ma]
                if hdeph == 0.0:
                    for b in range(b0, b1):
                        mb = rmask[b]
                        damp = deph * pc[ma ^ mb] + ha + half_relax * pc[mb]
                        x = m_work[a, b] - np.conj(m_work[b, a])
                        out[a, b] = complex(x.imag, -x.real) - damp * rho[a, b]
                else:
                    qa = hmask[a]
                    for b in range(b0, b1):
                        mb = rmask[b]
                        damp = (
                            deph * pc[ma ^ mb]
                            + ha
                            + half_relax * pc[mb]
                            + hdeph * pc[qa ^ hmask[b]]
                        )
                        x = m_work[a, b] - np.conj(m_work[b, a])
                        out[a, b] = complex(x.imag, -x.real) - damp * rho[a, b]


@njit(cache=True, fastmath=True, error_model="numpy")
def _liouville_qutrit(
    rho, diag, c_ryd, c_ram, deph, relax, hdeph, rmask, hmask, pc, n, m_work, out
):
    """Set out = 𝓐ρ for Hermitian ρ in the 3^N space (digits 0 = g, 1 = r, 2 = h).

    A = diag + Σ_i (c^R_i |r⟩⟨g| + c^D_i |g⟩⟨h| + h.c.); dephasing √(2·deph)|r⟩⟨r|_i,
    relaxation √relax |g⟩⟨r|_i and hyperfine dephasing √(2·hdeph)|h⟩⟨h|_i per atom.
    ``rmask[s]``/``hmask[s]``: bit masks of the atoms in r/in h in state s.
    (Aρ) on rows: ⟨g| gets c^R* ρ_r + c^D ρ_h, ⟨r| gets c^R ρ_g, ⟨h| gets c^D* ρ_g.
    """
    d = diag.shape[0]
    for a in range(d):
        da = diag[a]
        for b in range(d):
            m_work[a, b] = da * rho[a, b]
        st = d
        for i in range(n):
            st //= 3
            cr, cd = c_ryd[i], c_ram[i]
            if cr == 0 and cd == 0:
                continue
            digit = (a // st) % 3
            if digit == 0:  # g
                f1, f2 = np.conj(cr), cd
                for b in range(d):
                    m_work[a, b] += f1 * rho[a + st, b] + f2 * rho[a + 2 * st, b]
            elif digit == 1:  # r
                for b in range(d):
                    m_work[a, b] += cr * rho[a - st, b]
            else:  # h
                f = np.conj(cd)
                for b in range(d):
                    m_work[a, b] += f * rho[a - 2 * st, b]
    _hermitian_part(m_work, rho, rmask, hmask, pc, deph, hdeph, 0.5 * relax, out)
    if relax != 0.0:
        st = d
        for _ in range(n):  # atoms, first = most significant digit
            st //= 3
            # relax·ρ[a_i→r, b_i→r] into (a, b) with atom i in g in both
            for a in range(d):
                if (a // st) % 3 != 0:
                    continue
                for b in range(d):
                    if (b // st) % 3 == 0:
                        out[a, b] += relax * rho[a + st, b + st]
    return out


class _Generator:
    """𝓐 of one exponential: ``apply(x, out)`` sets out = 𝓐x in the frame of ``enter``.

    ``enter(ρ)`` returns vec ρ in the frame the product works in (a copy), ``leave(x)`` turns
    a result back, in place. Frame changes are unitary, so norms and the Arnoldi error
    estimates are those of the original frame.
    """

    def __init__(
        self,
        apply: Callable[[NDArray[np.complex128], NDArray[np.complex128]], None],
        phase: NDArray[np.complex128] | None = None,
    ) -> None:
        self.apply = apply
        self._phase = phase  # per entry of vec ρ, or None (no frame change)

    def enter(self, rho: NDArray[np.complex128]) -> NDArray[np.complex128]:
        return rho * self._phase if self._phase is not None else rho.copy()

    def leave(self, x: NDArray[np.complex128]) -> NDArray[np.complex128]:
        if self._phase is not None:
            x *= np.conj(self._phase)
        return x


class LiouvilleSpace:
    """Density matrices of N two-level atoms (2^N × 2^N, flattened row-major as vectors).

    Provides what :class:`LindbladEvolver` needs: ``dim`` (= 4^N, the vector length),
    ``hilbert_diagonal``, ``generator`` (𝓐 of one exponential), ``radius_bound``, and the
    read-outs ``populations``, ``occupations``, ``ground_state``.
    """

    def __init__(
        self,
        pair_v: NDArray[np.float64],
        dephasing_rate: float = 0.0,
        relaxation_rate: float = 0.0,
    ) -> None:
        """``pair_v``: C6/r⁶ (rad/µs), shape (N, N); rates in 1/µs (see the module docstring)."""
        n = pair_v.shape[0]
        if n > MAX_LINDBLAD_ATOMS:
            raise SimulationError(
                f"method='lindblad' evolves the 2^{n} × 2^{n} density matrix; at most "
                f"{MAX_LINDBLAD_ATOMS} atoms are allowed (got {n}) — use the default "
                "state-vector method (noise by trajectories) for larger registers"
            )
        self._hilbert = FullSpace(pair_v)
        self.n_atoms = n
        self.hilbert_dim = 1 << n
        self.dim = self.hilbert_dim**2
        self.dephasing_rate = float(dephasing_rate)
        self.relaxation_rate = float(relaxation_rate)
        self._pc = _popcounts(self.hilbert_dim)
        self._work = np.empty(self.dim, dtype=np.complex128)
        self._damp: NDArray[np.float64] | None = None

    def hilbert_diagonal(
        self, v_scale: float, delta: NDArray[np.float64], out: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Set out = v_scale·interaction − Σ_i δ_i n_i (length 2^N)."""
        return self._hilbert.diagonal(v_scale, np.ascontiguousarray(delta), out)

    def generator(
        self, diag: NDArray[np.float64], coeffs: NDArray[np.complex128], duration_us: float
    ) -> _Generator:
        """𝓐 = −i[diag + Σ_i (c_i σ⁺_i + h.c.), ·] + duration·𝓓 on vectors of length 4^N.

        See the comment above :func:`_dissipate_two_level` for the doubled-space product and
        the frame used for a global drive.
        """
        d, n = self.hilbert_dim, self.n_atoms
        c = np.ascontiguousarray(coeffs, dtype=np.complex128)
        deph = self.dephasing_rate * duration_us
        relax = self.relaxation_rate * duration_us
        work, pc = self._work, self._pc
        if n == 0 or c[0] == 0 or not np.all(c == c[0]):
            # per-atom drives: the direct kernel (the doubled space's general kernel is slower)

            def apply_direct(x: NDArray[np.complex128], out: NDArray[np.complex128]) -> None:
                _liouville_two_level(
                    x.reshape(d, d), diag, c, deph, relax, pc, n, out.reshape(d, d)
                )

            return _Generator(apply_direct)
        rot = complex(-c[0] / np.conj(c[0]))  # e^{iθ}
        col = rot ** pc.astype(np.float64)  # e^{iθ·#excited(b)}, per column b
        phase = np.ascontiguousarray(np.broadcast_to(col, (d, d)).ravel())
        c2 = np.full(2 * n, c[0])
        jump_phase = np.conj(rot)
        diag2 = np.ascontiguousarray((diag[:, None] - diag[None, :]).ravel())

        damp = self._damping()

        def apply(x: NDArray[np.complex128], out: NDArray[np.complex128]) -> None:
            kernels.full_hpsi(x, 1.0, x, 0.0, diag2, c2, work)
            _dissipate_two_level(
                work.view(np.float64).reshape(d, 2 * d), x.view(np.float64).reshape(d, 2 * d),
                damp, duration_us, relax, jump_phase, n, out.view(np.float64).reshape(d, 2 * d),
            )  # fmt: skip

        return _Generator(apply, phase)

    def _damping(self) -> NDArray[np.float64]:
        """γ_φ·#(a ⊕ b) + ½γ_r·(#a + #b) for every entry (a, b), 1/µs (computed once)."""
        if self._damp is None:
            pc = self._pc
            idx = np.arange(self.hilbert_dim)
            self._damp = np.ascontiguousarray(
                self.dephasing_rate * pc[idx[:, None] ^ idx[None, :]]
                + 0.5 * self.relaxation_rate * (pc[:, None] + pc[None, :]),
                dtype=np.float64,
            )
        return self._damp

    def apply(
        self,
        rho: NDArray[np.complex128],
        diag: NDArray[np.float64],
        coeffs: NDArray[np.complex128],
        duration_us: float,
        out: NDArray[np.complex128],
    ) -> None:
        """Set out = 𝓐ρ (vectors of length 4^N; any ρ, not only Hermitian)."""
        gen = self.generator(diag, coeffs, duration_us)
        x = gen.enter(rho)
        gen.apply(x, out)
        gen.leave(out)

    def radius_bound(
        self, diag: NDArray[np.float64], coeffs: NDArray[np.complex128], duration_us: float
    ) -> float:
        """Upper bound on the spectral radius of 𝓐 (dimensionless).

        [A, ·] has eigenvalues λ_a − λ_b, within ±(spread of the diagonal + 2Σ|c_i|); the
        dissipator adds at most N·(γ_φ + γ_r)·duration.
        """
        spread = float(diag.max() - diag.min()) + 2.0 * float(np.abs(coeffs).sum())
        return spread + self.n_atoms * (self.dephasing_rate + self.relaxation_rate) * duration_us

    def populations(self, rho: NDArray[np.complex128]) -> NDArray[np.float64]:
        """The diagonal ρ_ss (real part), length 2^N."""
        d = self.hilbert_dim
        return np.ascontiguousarray(rho.reshape(d, d).diagonal().real)

    def occupations(self, rho: NDArray[np.complex128]) -> NDArray[np.float64]:
        """⟨n_i⟩ = Σ_s n_i(s) ρ_ss / tr ρ per atom."""
        p = self.populations(rho)
        return self._hilbert.occupations(p / p.sum())

    def ground_state(self) -> NDArray[np.complex128]:
        """The initial state |g…g⟩⟨g…g| as a vector."""
        rho = np.zeros(self.dim, dtype=np.complex128)
        rho[0] = 1.0
        return rho


class QutritLiouvilleSpace:
    """Density matrices of N g–r–h atoms (3^N × 3^N).

    The three-level case of :class:`LiouvilleSpace`, with per-atom arrays of length 2N
    (Rydberg rows, then Raman rows) as :class:`~virtual_device.rydberg.three_level.QutritSpace`.
    """

    def __init__(
        self,
        pair_v: NDArray[np.float64],
        dephasing_rate: float = 0.0,
        relaxation_rate: float = 0.0,
        hyperfine_dephasing_rate: float = 0.0,
    ) -> None:
        """``pair_v``: C6/r⁶ (rad/µs), shape (N, N); rates in 1/µs (on r, r → g, on h)."""
        from virtual_device.rydberg.three_level import QutritSpace

        n = pair_v.shape[0]
        if n > MAX_LINDBLAD_QUTRIT_ATOMS:
            raise SimulationError(
                f"method='lindblad' with basis='all' evolves the 3^{n} × 3^{n} density matrix; "
                f"at most {MAX_LINDBLAD_QUTRIT_ATOMS} atoms are allowed (got {n})"
            )
        self._hilbert = QutritSpace(pair_v)
        self.n_atoms = n
        self.hilbert_dim = 3**n
        self.dim = self.hilbert_dim**2
        self.dephasing_rate = float(dephasing_rate)
        self.relaxation_rate = float(relaxation_rate)
        self.hyperfine_dephasing_rate = float(hyperfine_dephasing_rate)
        # bit masks of the atoms in r and in h (first atom = most significant bit), per state
        digits = np.arange(self.hilbert_dim)[:, None] // 3 ** np.arange(n - 1, -1, -1) % 3
        bits = 1 << np.arange(n - 1, -1, -1)
        self._rmask = np.ascontiguousarray((digits == R_DIGIT) @ bits)
        self._hmask = np.ascontiguousarray((digits == H_DIGIT) @ bits)
        self._pc = _popcounts(1 << n)
        self._work = np.empty((self.hilbert_dim, self.hilbert_dim), dtype=np.complex128)

    def hilbert_diagonal(
        self, v_scale: float, delta: NDArray[np.float64], out: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Set out = v_scale·interaction − Σ_i (δ^R_i n^r_i + δ^D_i n^g_i) (length 3^N)."""
        return self._hilbert.diagonal(v_scale, np.ascontiguousarray(delta), out)

    def apply(
        self,
        rho: NDArray[np.complex128],
        diag: NDArray[np.float64],
        coeffs: NDArray[np.complex128],
        duration_us: float,
        out: NDArray[np.complex128],
    ) -> None:
        """Set out = 𝓐ρ for Hermitian ρ (vectors of length 9^N); ``coeffs`` of length 2N."""
        d, n = self.hilbert_dim, self.n_atoms
        c = np.ascontiguousarray(coeffs, dtype=np.complex128)
        _liouville_qutrit(
            rho.reshape(d, d),
            diag,
            np.ascontiguousarray(c[:n]),
            np.ascontiguousarray(c[n:]),
            self.dephasing_rate * duration_us,
            self.relaxation_rate * duration_us,
            self.hyperfine_dephasing_rate * duration_us,
            self._rmask,
            self._hmask,
            self._pc,
            n,
            self._work,
            out.reshape(d, d),
        )

    def generator(
        self, diag: NDArray[np.float64], coeffs: NDArray[np.complex128], duration_us: float
    ) -> _Generator:
        """𝓐 of one exponential (no frame change; the product needs Hermitian vectors)."""

        def apply(x: NDArray[np.complex128], out: NDArray[np.complex128]) -> None:
            self.apply(x, diag, coeffs, duration_us, out)

        return _Generator(apply)

    def radius_bound(
        self, diag: NDArray[np.float64], coeffs: NDArray[np.complex128], duration_us: float
    ) -> float:
        """Upper bound on the spectral radius of 𝓐, as :meth:`LiouvilleSpace.radius_bound`.

        Per atom the drive's norm is at most |c^R| + |c^D|, and the dissipator's at most
        γ_φ + γ_h + γ_r (ρ_rh is damped at γ_φ + γ_h + γ_r/2).
        """
        spread = float(diag.max() - diag.min()) + 2.0 * float(np.abs(coeffs).sum())
        rates = self.dephasing_rate + self.hyperfine_dephasing_rate + self.relaxation_rate
        return spread + self.n_atoms * rates * duration_us

    def populations(self, rho: NDArray[np.complex128]) -> NDArray[np.float64]:
        """The diagonal ρ_ss (real part), length 3^N."""
        d = self.hilbert_dim
        return np.ascontiguousarray(rho.reshape(d, d).diagonal().real)

    def level_populations(self, rho: NDArray[np.complex128]) -> NDArray[np.float64]:
        """Populations of (g, r, h) per atom, shape (3, N), normalised by tr ρ."""
        p = self.populations(rho)
        return self._hilbert.level_populations(p / p.sum())

    def occupations(self, rho: NDArray[np.complex128]) -> NDArray[np.float64]:
        """⟨n^r_i⟩ per atom."""
        return np.asarray(self.level_populations(rho)[1])

    def ground_state(self) -> NDArray[np.complex128]:
        """The initial state |g…g⟩⟨g…g| as a vector."""
        rho = np.zeros(self.dim, dtype=np.complex128)
        rho[0] = 1.0
        return rho


def amplification_bound(
    n_atoms: int, relaxation_rate: float, duration_us: float, levels: int = 2
) -> float:
    """A = min(e^{Nγ_r T/4}, √d), d = levels^N: how much the exact flow can grow a ‖·‖_F error.

    See the module docstring; 1 without relaxation (both dephasings only contract ‖·‖_F, so
    they do not enter). ``duration_us``: T, the whole evolution.
    """
    if relaxation_rate <= 0:
        return 1.0
    growth = n_atoms * relaxation_rate * duration_us / 4
    return math.exp(min(growth, 0.5 * n_atoms * math.log(levels)))


def add_relabelled(
    total: NDArray[np.complex128],
    rho: NDArray[np.complex128],
    keep: NDArray[np.int64] | None = None,
    new: NDArray[np.int64] | None = None,
) -> None:
    """total[new, new] += ρ[keep, keep] (both indices); total += ρ without ``keep``.

    Lost atoms are simulated in g but read 1: ρ lives on the states ``keep`` (lost atoms in
    g), and ``new`` are the same states with the lost atoms in the level that reads 1.
    """
    if keep is None or new is None:
        total += rho
        return
    total[np.ix_(new, new)] += rho[np.ix_(keep, keep)]


class LindbladEvolver(Evolver):
    """:class:`Evolver`'s error-controlled CF4-Magnus scheme on vec(ρ) under 𝓛(t).

    ``coeff[i, k]`` = Ω_i e^{iφ_i}/2 and ``delta[i, k]`` = Δ_i (rad/µs) as for :class:`Evolver`
    (2N rows for the three-level space). ``tolerance`` is the target for ``error_estimate``
    (see the module docstring); ``amplification`` the factor A.
    """

    def __init__(
        self,
        space: LiouvilleSpace | QutritLiouvilleSpace,
        coeff: NDArray[np.complex128],
        delta: NDArray[np.float64],
        *,
        tolerance: float,
        amplification: float = 1.0,
    ) -> None:
        """See the class docstring."""
        if not (tolerance > 0 and np.isfinite(tolerance)):
            raise SimulationError(f"tolerance must be a positive number; got {tolerance!r}")
        # The block logic is the Evolver's; it only calls space.dim and our _expm.
        super().__init__(
            space,  # type: ignore[arg-type]
            coeff,
            delta,
            tolerance=tolerance / amplification,
        )
        self.lspace = space
        self.amplification = float(amplification)
        self._diag = np.empty(space.hilbert_dim)
        self._rows: NDArray[np.complex128] | None = None  # Arnoldi basis, one vector a row

    def _accepted(
        self,
        psi: NDArray[np.complex128],
        k0: int,
        k1: int,
        err: float,
        on_block: Callable[[NDArray[np.complex128], int, int], None] | None,
    ) -> None:
        d = self.lspace.hilbert_dim
        r = psi.reshape(d, d)
        r += r.conj().T  # exactly Hermitian: a projection, it cannot increase the error
        r *= 0.5
        super()._accepted(psi, k0, k1, err * self.amplification, on_block)

    def _expm(
        self,
        psi: NDArray[np.complex128],
        c: NDArray[np.complex128],
        d: NDArray[np.float64],
        v_scale: float,
        tol: float,
    ) -> NDArray[np.complex128]:
        """exp(𝓐) vec ρ, 𝓐 = −i[v_scale·V + Σ(c σ⁺ + h.c.) − Σ d n, ·] + v_scale·𝓓.

        ``v_scale`` is the duration (µs) this exponential stands for: V's and 𝓓's moments
        over it (both are constant in time).
        """
        space = self.lspace
        diag = space.hilbert_diagonal(v_scale, np.ascontiguousarray(d), self._diag)
        c = np.ascontiguousarray(c, dtype=np.complex128)
        radius = space.radius_bound(diag, c, v_scale)
        pieces = max(1, math.ceil(radius / _PIECE_RADIUS))
        gen = space.generator(diag, c, v_scale)
        start = gen.enter(psi)
        while True:
            out = start
            total_err = 0.0
            ok = True
            for _ in range(pieces):
                res = self._arnoldi(out, gen, 1.0 / pieces, tol / pieces)
                if res is None:
                    ok = False
                    break
                out, err = res
                total_err += err
            if ok:
                self.stats.krylov_error += total_err * self.amplification
                return gen.leave(out)
            pieces *= 2
            if pieces > 1 << 16:
                raise SimulationError("Arnoldi exponential did not converge")

    def _arnoldi(
        self, rho: NDArray[np.complex128], gen: _Generator, scale: float, tol: float
    ) -> tuple[NDArray[np.complex128], float] | None:
        """exp(scale·𝓐) ρ by Arnoldi; None if _M_MAX vectors do not reach ``tol``.

        :func:`~.integrator.arnoldi_exp` (acceptance by Saad's estimate, as the Lanczos loop)
        on the rows of a work array kept between exponentials.
        """
        if self._rows is None:
            self._rows = np.empty((_M_MAX + 1, self.lspace.dim), dtype=np.complex128)
        stats = self.stats

        def apply(v: NDArray[np.complex128], w: NDArray[np.complex128]) -> None:
            gen.apply(v, w)
            stats.matvecs += 1

        # ⟨v_k, w⟩ = tr(v_k† w): real for Hermitian matrices, and kept real (the qutrit product
        # needs Hermitian vectors; the two-level frames are unitary)
        return arnoldi_exp(rho, self._rows, apply, scale, tol, real_coefficients=True)


def evolve_density_matrix(
    space: LiouvilleSpace | QutritLiouvilleSpace,
    coeff: NDArray[np.complex128],
    delta: NDArray[np.float64],
    *,
    tolerance: float,
    record: Sequence[int],
    observe: Callable[[NDArray[np.complex128]], NDArray[np.float64]],
    amplification: float,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[NDArray[np.complex128], list[NDArray[np.float64]], EvolutionStats]:
    """Evolve |g…g⟩⟨g…g| over the drive; ``observe(ρ)`` at each ns in ``record``.

    Returns vec ρ at the end, the observations and the evolver's statistics (matvecs =
    applications of 𝓐).
    """
    evolver = LindbladEvolver(space, coeff, delta, tolerance=tolerance, amplification=amplification)

    def on_block(state: NDArray[np.complex128], k0: int, k1: int) -> None:
        if on_progress is not None:
            on_progress(k1 - k0)

    rho = space.ground_state()
    seen: list[NDArray[np.float64]] = []
    t = 0
    for stop in record:
        if stop > t:
            rho = evolver.advance(rho, t, stop, on_block)
            t = stop
        seen.append(observe(rho))
    return rho, seen, evolver.stats
