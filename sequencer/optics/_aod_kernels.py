"""Compiled kernel of the AOD multi-tone synthesis (private; see :mod:`sequencer.optics.aod`).

Each tone's phase is evaluated exactly in float64 turns from the closed form

    turns_k(m) = φ_k / 2π + (f_k0 / fs) m + Δf_k T · (S(m / M) - S(0))

(``S`` the integral of the minimum-jerk profile, ``T = M / fs``), reduced to [-½, ½] and
fed to a degree-7 polynomial in r² for cos(2π r) (Chebyshev interpolant, max error 1.2e-10).
There is no recurrence, so nothing drifts: the phase error does not grow with the segment's
length. Work is done in chunks of ``g`` samples (an L1-resident accumulator); per chunk the
phase is re-anchored so the float64 arguments stay small, and each tone's amplitude is
interpolated linearly between chunk nodes.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange
from numpy.polynomial import chebyshev, polynomial
from numpy.typing import NDArray

__all__ = ["COS_POLY_MAX_ERROR", "chunk_length", "cos_turns_coefficients", "synthesize"]


def _cos_of_t(t: NDArray[np.float64]) -> NDArray[np.float64]:
    # cos(2π r) as a function of t = 8 r² - 1 ∈ [-1, 1]
    return np.asarray(np.cos(2.0 * np.pi * np.sqrt((t + 1.0) / 8.0)))


def cos_turns_coefficients(degree: int = 7) -> NDArray[np.float64]:
    """Monomial coefficients c_i of cos(2π r) ≈ Σ c_i (r²)^i on r ∈ [-½, ½].

    Chebyshev interpolation in y = r² ∈ [0, ¼] (near-minimax), converted to monomials.
    """
    nodes = np.cos(np.pi * (np.arange(degree + 1) + 0.5) / (degree + 1))
    in_t = np.asarray(chebyshev.cheb2poly(chebyshev.chebfit(nodes, _cos_of_t(nodes), degree)))
    coeffs = np.zeros(1)
    for c in in_t[::-1]:  # Horner composition with t = 8y - 1
        coeffs = polynomial.polyadd(polynomial.polymul(coeffs, [-1.0, 8.0]), [c])
    return np.asarray(coeffs, dtype=np.float64)


_C = cos_turns_coefficients(7)
_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7 = (float(c) for c in _C)
#: Largest |poly - cos(2π r)| on [-½, ½] (measured on a dense grid when this was written).
COS_POLY_MAX_ERROR = 1.2e-10


@njit(cache=True, fastmath=True, inline="always")
def _cos_turns(x: float) -> float:
    r = x - np.rint(x)
    y = r * r
    y2 = y * y
    y4 = y2 * y2
    return (_C0 + _C1 * y) + y2 * (_C2 + _C3 * y) + y4 * ((_C4 + _C5 * y) + y2 * (_C6 + _C7 * y))


@njit(cache=True, fastmath=True, inline="always")
def _s_integral(u: float) -> float:
    # S(u) = ∫₀ᵘ (10v³ - 15v⁴ + 6v⁵) dv = u⁴ (5/2 - 3u + u²)
    return u * u * u * u * (2.5 + u * (-3.0 + u))


@njit(cache=True, fastmath=True)
def _synth_chunks(
    t0: NDArray[np.float64],
    f1: NDArray[np.float64],
    f2: NDArray[np.float64],
    amp: NDArray[np.float64],
    n_samples: int,
    g: int,
    env: NDArray[np.float64],
    out: NDArray[np.int16],
    c_lo: int,
    c_hi: int,
) -> float:
    n = t0.shape[0]
    inv_m = 1.0 / n_samples
    jf = np.arange(g).astype(np.float64)
    acc = np.zeros(g)
    dps = np.zeros(g)
    has_env = env.shape[0] > 0
    peak = 0.0
    for c in range(c_lo, c_hi):
        m0 = c * g
        length = min(g, n_samples - m0)
        p0 = _s_integral(m0 * inv_m)
        for j in range(length):
            dps[j] = _s_integral((m0 + j) * inv_m) - p0
            acc[j] = 0.0
        for k in range(n):
            base = t0[k] + f1[k] * m0 + f2[k] * p0
            base -= np.floor(base)
            a0 = amp[k, c]
            da = (amp[k, c + 1] - a0) / g
            fk = f1[k]
            hk = f2[k]
            for j in range(length):
                acc[j] += (a0 + da * jf[j]) * _cos_turns(base + fk * jf[j] + hk * dps[j])
        if has_env:
            for j in range(length):
                acc[j] *= env[m0 + j]
        for j in range(length):
            v = acc[j]
            peak = max(peak, abs(v))
            # clamped only so the store is defined; a peak beyond the range is refused
            out[m0 + j] = np.int16(min(max(np.rint(v), -32767.0), 32767.0))
    return peak


@njit(cache=True, parallel=True)
def _synth_parallel(
    t0: NDArray[np.float64],
    f1: NDArray[np.float64],
    f2: NDArray[np.float64],
    amp: NDArray[np.float64],
    n_samples: int,
    g: int,
    env: NDArray[np.float64],
    out: NDArray[np.int16],
    peaks: NDArray[np.float64],
) -> None:
    n_chunks = (n_samples + g - 1) // g
    blocks = peaks.shape[0]
    for b in prange(blocks):
        lo = b * n_chunks // blocks
        hi = (b + 1) * n_chunks // blocks
        peaks[b] = _synth_chunks(t0, f1, f2, amp, n_samples, g, env, out, lo, hi)


def chunk_length(n_samples: int) -> int:
    """Samples per chunk (amplitude node spacing): a power of two in [16, 128], ≥ 256 nodes."""
    g = 128
    while g > 16 and n_samples < 256 * g:
        g //= 2
    return g


def synthesize(
    start_turns: NDArray[np.float64],
    freq_per_sample: NDArray[np.float64],
    sweep_turns: NDArray[np.float64],
    amp_nodes: NDArray[np.float64],
    n_samples: int,
    g: int,
    envelope: NDArray[np.float64] | None,
    threads: int,
) -> tuple[NDArray[np.int16], float]:
    """Codes rint(Σ_k a_k(m) cos 2π turns_k(m) · env(m)), m < n_samples, and max |sum|.

    Codes beyond ±32767 are clamped in the returned array: the caller must refuse the result
    when the peak is beyond its DAC range.

    ``freq_per_sample`` = f_k0 / fs, ``sweep_turns`` = Δf_k T, ``amp_nodes`` shape
    (n_tones, ceil(n_samples / g) + 1): amplitude at samples 0, g, 2g, ….
    """
    out = np.empty(n_samples, dtype=np.int16)
    env = np.zeros(0) if envelope is None else np.ascontiguousarray(envelope, dtype=np.float64)
    args = (
        np.ascontiguousarray(start_turns, dtype=np.float64),
        np.ascontiguousarray(freq_per_sample, dtype=np.float64),
        np.ascontiguousarray(sweep_turns, dtype=np.float64),
        np.ascontiguousarray(amp_nodes, dtype=np.float64),
    )
    n_chunks = math.ceil(n_samples / g)
    blocks = max(1, min(threads, n_chunks))
    if blocks == 1:
        peak = _synth_chunks(*args, n_samples, g, env, out, 0, n_chunks)
    else:
        peaks = np.zeros(blocks)
        _synth_parallel(*args, n_samples, g, env, out, peaks)
        peak = float(np.max(peaks))
    return out, float(peak)
