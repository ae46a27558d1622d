"""Fused numba kernels of the synthesis (private to :mod:`sequencer.compiler`).

One compiled pass per chunk of AWG samples replaces the numpy formulation (kept, for the
tests, as ``pre_emphasize`` / ``rf_codes`` in :mod:`sequencer.compiler.synth`):

* sample j plays the 1 ns request ``t = ⌊(j − offset)/rate + 10⁻⁹⌋`` (zero-order hold; Ω is 0
  outside the sequence, Δ and φ hold their end values — the semantics of
  ``CompactSequence.values_at``);
* RF amplitude through the inverse sin² response, A = (2/π) A_sat asin(Ω/Ω_max) (or the
  per-ns values of a measured table), and the exact discrete-time pre-emphasis;
* RF phase in **cycles**, float64: the carrier ``frac((j − offset) f_c/f_s)``, the baseband
  prefix sum ``Σ_{i<j} (f_i − f_c)/f_s`` (chunk-local from 0, added to the chunk's start
  phase, which is wrapped to [0, 1) between chunks, so precision never degrades with the
  length of a segment) and −φ/(2π · order · passes) (the light carries φ as −φ);
* cos by a polynomial after exact reduction, codes by round-half-even, and the per-chunk
  reductions (largest amplitude, undershoots, largest |code|, largest rounding error) from
  which the caller raises exactly the errors the numpy formulation raised;
* the range check of the inputs, folded into the pass that reads them: every input ns of
  ``[range_lo, range_hi]`` (played or not) is compared with conservative limits and counted
  if near or beyond one; the caller then runs the exact up-front check.

Accuracy (measured against numpy's float64 functions on dense grids, see the tests): the
asin polynomial (degree 6) is within 3·10⁻¹¹ absolute (6·10⁻¹¹ through the √ reduction), the
sin polynomial (degree 5) within 3·10⁻¹¹; the phase argument carries ≤ 2.3·10⁻¹³ cycles of
rounding within a 32 Ki-sample chunk. At the full scale of a 16-bit DAC (32767 codes) that is
< 3·10⁻⁶ LSB of amplitude error — the numpy path's float32 cos was ≈ 10⁻² LSB, a real DAC's
INL is ≈ 1 LSB. (Degrees 10 and 7 gave 10⁻¹⁵; the lower ones cost ≈ 6 fewer FMAs a sample.)

Two parallel drivers. With two threads, the split driver runs two tasks in one launch: the
first synthesises from the start, the second first sums the first's phase steps, then
synthesises the rest. With more, the two-pass driver sums each chunk's phase steps (prange),
prefix-sums the chunk start phases serially, then synthesises the chunks (prange). The
per-chunk sums are the very same float operations, in the same order, as the synthesis
pass's own running sum, so every driver gives the serial codes bit for bit and the phase is
continuous across chunk boundaries to the last bit.
"""

from __future__ import annotations

import math
import os
import threading
from typing import Any

import numba as nb
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CHUNK_SAMPLES",
    "FPAR",
    "IPAR",
    "get_threads",
    "lit_span",
    "set_threads",
    "synth_explicit",
    "value_ranges",
    "zero_fill",
]

CHUNK_SAMPLES = 1 << 15  # AWG samples per chunk (the unit of parallel work and of checks)
_BLOCK = 4096  # samples per sub-block inside a chunk (its scratch, 160 KiB, stays in L2)

# asin(z) = z + z w P(w), w = z², z ∈ [0, 1/2]: Chebyshev fit of degree 6 (|err| ≤ 3e-11)
_A0 = 0.16666666690589851
_A1 = 0.07499991673732241
_A2 = 0.044647953621525814
_A3 = 0.030264555731180844
_A4 = 0.02364567500230433
_A5 = 0.010457304979359386
_A6 = 0.031127760526862547
# sin(2πv) = v Q(v²), v ∈ [−1/4, 1/4]: Chebyshev fit of degree 5 in v² (|err| ≤ 3e-11)
_S0 = 6.283185307072565
_S1 = -41.341702116990255
_S2 = 81.60522620569927
_S3 = -76.70428129684174
_S4 = 42.00980529359267
_S5 = -14.394132626843437
_HALF_PI = 0.5 * math.pi

# float parameters (FPAR) and integer parameters (IPAR) of a channel's synthesis, by index
FPAR = (
    "rate",  # AWG samples per ns
    "kappa",  # Ω per √W, rad/µs/√W
    "light_shift",  # rad/µs per W
    "offset_scale",  # RF offset (Hz) per rad/µs of laser detuning: 10⁶ / (2π order passes)
    "inv_fs",  # 1 / f_s: the phase step (cycles) per Hz of RF offset
    "carrier_cycles",  # f_c / f_s
    "phase_to_cycles",  # RF cycles per rad of φ: −1 / (2π order passes)
    "amp_scale",  # (2/π) A_sat, V (sin² model)
    "inv_max_rabi",  # 1 / Ω_max
    "alpha",  # pre-emphasis α (1: off)
    "inv_lsb",  # 1 / LSB, codes per V
    "flag_rabi_lo",  # range check: an input ns with Ω outside [lo, hi] or a phase step
    "flag_rabi_hi",  # (cycles/sample) outside [lo, hi] is counted; the limits sit at or
    "flag_step_lo",  # just inside the up-front check's, so every ns it would refuse counts
    "flag_step_hi",
)
IPAR = (
    "offset",  # AWG samples by which the channel is delayed
    "base",  # ns of element 0 of the input arrays
    "clamp_lo",  # input ns are clamped to [clamp_lo, clamp_hi] before indexing
    "clamp_hi",
    "lit_lo",  # Ω is 0 outside [lit_lo, lit_hi)
    "lit_hi",
    "table",  # 1: amplitude from the per-ns ``amp_ns`` array (measured table response)
    "pre_emphasis",  # 1: invert the first-order AOM rise
    "max_code",  # largest DAC code
    "range_lo",  # input indices range_lo … range_hi are range-checked (the "flag_*"
    "range_hi",  # limits of FPAR); empty if range_hi < range_lo
)
# per chunk: largest amplitude (V), undershoots, largest |code|, largest rounding error,
# input ns near or beyond a limit (see FPAR "flag_*")
_N_STATS = 5


@nb.njit(cache=True, nogil=True, inline="always")
def _asin_half(z: float) -> float:  # pragma: no cover - compiled
    """asin(z) for z ∈ [0, 1/2]: :func:`_asin01`'s polynomial alone (no √ reduction)."""
    w = z * z
    p = _A6
    p = p * w + _A5
    p = p * w + _A4
    p = p * w + _A3
    p = p * w + _A2
    p = p * w + _A1
    p = p * w + _A0
    return z + z * w * p


@nb.njit(cache=True, nogil=True, inline="always")
def _asin01(r: float) -> float:  # pragma: no cover - compiled
    """asin(r) for r ∈ [0, 1], branch-free (vectorisable)."""
    big = r > 0.5
    zs = math.sqrt(0.5 * (1.0 - r))
    a = _asin_half(zs if big else r)
    return (_HALF_PI - 2.0 * a) if big else a


@nb.njit(cache=True, nogil=True, inline="always")
def _cos_cycles(psi: float) -> float:  # pragma: no cover - compiled
    """cos(2π ψ) for ψ in cycles: exact reduction to |u| ≤ 1/2, then −sin(2π(|u| − 1/4))."""
    u = psi - np.floor(psi + 0.5)
    v = abs(u) - 0.25
    s = v * v
    q = _S5
    q = q * s + _S4
    q = q * s + _S3
    q = q * s + _S2
    q = q * s + _S1
    q = q * s + _S0
    return -(v * q)


@nb.njit(cache=True, nogil=True, inline="always")
def _ns_index(j: int, ipar: NDArray[np.int64], rate: float) -> tuple[int, bool]:  # pragma: no cover
    """(index into the input arrays, lit) of the request AWG sample ``j`` plays."""
    t = math.floor((j - ipar[0]) / rate + 1e-9)
    lit = t >= ipar[4] and t < ipar[5]
    c = min(max(t, ipar[2]), ipar[3]) - ipar[1]
    return c, lit


@nb.njit(cache=True, nogil=True, inline="always")
def _step_cycles(om: float, de: float, kappa: float, h2c: float) -> float:  # pragma: no cover
    """Baseband phase step (cycles per AWG sample) for Ω, Δ: (Δ − k_LS (Ω/κ)²) · scale / f_s.

    ``h2c`` = scale / f_s, ``kappa`` = k_LS h2c / κ² (precomputed: no division per sample).
    """
    return de * h2c - (om * om) * kappa


@nb.njit(cache=True, nogil=True)
def _target_amp(
    j: int,
    rabi: NDArray[np.float64],
    amp_ns: NDArray[np.float64],
    fpar: NDArray[np.float64],
    ipar: NDArray[np.int64],
) -> float:  # pragma: no cover - compiled
    """RF amplitude (V) that AWG sample ``j`` asks for, before pre-emphasis."""
    c, lit = _ns_index(j, ipar, fpar[0])
    if not lit:
        return 0.0
    if ipar[6]:
        return amp_ns[c]
    return fpar[7] * _asin01(min(rabi[c] * fpar[8], 1.0))


_IOTA = np.arange(_BLOCK, dtype=np.float64)  # 0, 1, …: sample numbers within a block


@nb.njit(cache=True, nogil=True, inline="always")
def _block_requests(
    j0: int,
    m: int,
    fpar: NDArray[np.float64],
    ipar: NDArray[np.int64],
    tix: NDArray[np.float64],
    lit: NDArray[np.float64],
) -> None:  # pragma: no cover - compiled
    """The request each sample of a block plays, t = ⌊(j − offset)/rate + 10⁻⁹⌋.

    ``tix[i]``: its index into the input arrays (clamped), as a float — a vectorised loop:
    AVX2 has no packed double → int64 conversion, so the gathers convert one by one;
    ``lit[i]``: 1 where the request is inside the sequence (Ω is 0 outside), else 0.
    """
    rate = fpar[0]
    jf0 = float(j0 - ipar[0])  # exact: sample numbers are far below 2**53
    base = float(ipar[1])
    clo, chi = float(ipar[2]) - base, float(ipar[3]) - base
    lit_lo, lit_hi = float(ipar[4]), float(ipar[5])
    for i in range(m):
        t = np.floor((jf0 + _IOTA[i]) / rate + 1e-9)
        lit[i] = 1.0 if (t >= lit_lo and t < lit_hi) else 0.0
        tix[i] = min(max(t - base, clo), chi)


@nb.njit(cache=True, nogil=True, inline="always")
def _periodic_block(
    j0: int, m: int, rate: float, ipar: NDArray[np.int64]
) -> tuple[int, int, int, int]:  # pragma: no cover - compiled
    """(t₀, x₀·Q mod P, P, Q) if the block may take the integer request path, else t₀ = −1.

    Where rate = P/Q exactly with Q a power of two (1.25 = 5/4, 0.625 = 5/8, 1, 2, 2.5 …)
    and x = j − offset is ≥ 0 and below 2⁴⁰, ⌊x/rate + 10⁻⁹⌋ = ⌊x·Q/P⌋ exactly: x/rate is
    x·Q/P correctly rounded, whose fractional part is a multiple of 1/P ≥ 1/4096, far from
    the next integer at this size, and an integer stays exact. The path also needs the
    whole block lit and inside the clamp (a sequence's inside: the common case), and the
    sin² response (a measured table keeps the general path).
    """
    x0 = j0 - ipar[0]
    if ipar[6] != 0 or x0 < 0 or x0 + m >= 1 << 40:
        return -1, 0, 0, 0
    q = 1
    p = 0
    while q <= 64:
        pf = rate * q  # exact: a power-of-two scaling
        if pf == np.floor(pf) and pf <= 4096.0:
            p = int(pf)
            break
        q *= 2
    if p == 0:
        return -1, 0, 0, 0
    t0 = (x0 * q) // p
    t1 = ((x0 + m - 1) * q) // p
    if t0 < ipar[4] or t1 >= ipar[5] or t0 < max(ipar[2], ipar[1]) or t1 > ipar[3]:
        return -1, 0, 0, 0
    return t0, (x0 * q) % p, p, q


@nb.njit(cache=True, nogil=True, inline="always")
def _at(tix: NDArray[np.float64], i: int) -> np.uint64:  # pragma: no cover - compiled
    """Input index of sample ``i`` (non-negative: unsigned, so no wrap-around check)."""
    return np.uint64(np.int64(tix[i]))


@nb.njit(cache=True, nogil=True, inline="always")
def _next_request(
    r: int, c: np.uint64, p: int, q: int
) -> tuple[int, np.uint64]:  # pragma: no cover - compiled
    """The next sample's (remainder, input index) on the integer path: c += ⌊(r + q)/p⌋."""
    r += q
    while r >= p:
        r -= p
        c += np.uint64(1)
    return r, c


@nb.njit(cache=True, nogil=True)
def _fill_periodic(
    c0: int,
    r0: int,
    p: int,
    q: int,
    m: int,
    acc: float,
    rabi: NDArray[np.float64],
    det: NDArray[np.float64],
    phi: NDArray[np.float64],
    fpar: NDArray[np.float64],
    loc: NDArray[np.float64],
    tgt: NDArray[np.float64],
) -> float:  # pragma: no cover - compiled
    """:func:`_fill_block` where sample i plays input index c0 + ⌊(r0 + i·q)/p⌋ (all lit).

    ``acc`` = the running phase before the block; returns it after; ``loc``, ``tgt[1:]`` as
    there (sin² response only). Strict IEEE, the operations of the general loop.
    """
    h2c = fpar[3] * fpar[4]
    ls = fpar[2] * h2c / (fpar[1] * fpar[1])
    ph_c, inv_max = fpar[6], fpar[8]
    c = np.uint64(c0)
    r = r0
    for i in range(m):
        om = rabi[c]
        loc[i] = acc + phi[c] * ph_c
        acc += _step_cycles(om, det[c], ls, h2c)
        tgt[i + 1] = min(om * inv_max, 1.0)
        r, c = _next_request(r, c, p, q)
    return acc


@nb.njit(cache=True, nogil=True)
def _fill_block(
    j0: int,
    m: int,
    acc: float,
    rabi: NDArray[np.float64],
    det: NDArray[np.float64],
    phi: NDArray[np.float64],
    amp_ns: NDArray[np.float64],
    fpar: NDArray[np.float64],
    ipar: NDArray[np.int64],
    tix: NDArray[np.float64],
    car: NDArray[np.float64],
    loc: NDArray[np.float64],
    tgt: NDArray[np.float64],
) -> float:  # pragma: no cover - compiled
    """Gathers and the running phase of a block (strict IEEE: no fast-math here).

    ``tix``: input index of each sample (float; the integer path of :func:`_fill_periodic`
    sets only ``tix[m − 1]``, the range tile's end, which is all the caller reads after the
    block); ``car``: carrier phase in [0, 1); ``loc``:
    baseband phase before each sample (from ``acc``) plus its φ in cycles; ``tgt[1:]``:
    Ω/Ω_max (clipped at 1) or the table amplitude (V). Returns the running phase after the
    block. The chunk sums of the parallel driver (:func:`_chunk_total`) run the same
    request, step and additions, so their sums agree to the last bit.
    """
    h2c = fpar[3] * fpar[4]
    ls = fpar[2] * h2c / (fpar[1] * fpar[1])
    car_c, ph_c, inv_max = fpar[5], fpar[6], fpar[8]
    jf0 = float(j0 - ipar[0])
    for i in range(m):
        turns = (jf0 + _IOTA[i]) * car_c
        car[i] = turns - np.floor(turns)
    t0, r0, p, q = _periodic_block(j0, m, fpar[0], ipar)
    if t0 >= 0:
        # every sample lit and unclamped, t = ⌊x·Q/P⌋ exactly: the request index by integer
        # steps (no request pass, no float → int conversion, no lit flag); the same loads and
        # the same float operations in the same order as the loop below, so the same bits
        acc = _fill_periodic(t0 - ipar[1], r0, p, q, m, acc, rabi, det, phi, fpar, loc, tgt)
        x1 = j0 + m - 1 - ipar[0]
        tix[m - 1] = float((x1 * q) // p - ipar[1])  # the range tile's end (see _chunk_synth)
        return acc
    _block_requests(j0, m, fpar, ipar, tix, tgt[1:])  # tgt[1:] holds the lit flags first
    if ipar[6] != 0:
        for i in range(m):
            c = _at(tix, i)
            lit = tgt[i + 1] != 0.0
            om = rabi[c] if lit else 0.0
            loc[i] = acc + phi[c] * ph_c
            acc += _step_cycles(om, det[c], ls, h2c)
            tgt[i + 1] = amp_ns[c] if lit else 0.0
    else:
        for i in range(m):
            c = _at(tix, i)
            om = rabi[c] * tgt[i + 1]  # the lit flag, 1 or 0: no branch (Ω ≥ 0, never −0)
            loc[i] = acc + phi[c] * ph_c
            acc += _step_cycles(om, det[c], ls, h2c)
            tgt[i + 1] = min(om * inv_max, 1.0)
    return acc


@nb.njit(cache=True, nogil=True)
def _chunk_total(
    j0: int,
    n: int,
    rabi: NDArray[np.float64],
    det: NDArray[np.float64],
    phi: NDArray[np.float64],
    amp_ns: NDArray[np.float64],
    fpar: NDArray[np.float64],
    ipar: NDArray[np.int64],
) -> float:  # pragma: no cover - compiled
    """Σ of the phase steps (cycles) of AWG samples j0 … j0+n−1, exactly as synthesised.

    The running sum of :func:`_fill_block` alone — the same request index, the same step
    and the same additions in the same order (strict IEEE, as there), so the total equals
    the synthesis pass's to the last bit — without its gathers of φ, amplitude and carrier.
    """
    h2c = fpar[3] * fpar[4]
    ls = fpar[2] * h2c / (fpar[1] * fpar[1])
    tix = np.empty(_BLOCK)
    lit = np.empty(_BLOCK)
    acc = 0.0
    for b0 in range(0, n, _BLOCK):
        m = min(_BLOCK, n - b0)
        t0, r, p, q = _periodic_block(j0 + b0, m, fpar[0], ipar)
        if t0 >= 0:  # as in _fill_block: the same requests by integer steps
            c = np.uint64(t0 - ipar[1])
            for _ in range(m):
                acc += _step_cycles(rabi[c], det[c], ls, h2c)
                r, c = _next_request(r, c, p, q)
            continue
        _block_requests(j0 + b0, m, fpar, ipar, tix, lit)
        for i in range(m):
            c = _at(tix, i)
            om = rabi[c] * lit[i]
            acc += _step_cycles(om, det[c], ls, h2c)
    return acc


@nb.njit(cache=True, nogil=True)
def _max_nonneg(a: NDArray[np.float64]) -> float:  # pragma: no cover - compiled
    """max(a) of values ≥ +0 (0 if empty), exactly, as the max of their bit patterns.

    For non-negative doubles the order of the int64 bit patterns is the order of the values;
    an integer max vectorises (LLVM does not vectorise numba's float max/min reductions,
    which ran scalar at ≈ 1 cycle per element and reduction).
    """
    bits = a.view(np.int64)
    hi = 0
    for i in range(bits.size):
        hi = max(hi, bits[i])
    return np.array([hi]).view(np.float64)[0]


_FAST = {"contract", "nnan", "ninf", "nsz"}  # FMA and vectorised max; never reassociation


@nb.njit(cache=True, nogil=True, fastmath=_FAST)
def _ns_flags(
    r0: int,
    r1: int,
    rabi: NDArray[np.float64],
    det: NDArray[np.float64],
    fpar: NDArray[np.float64],
) -> int:  # pragma: no cover - compiled
    """How many input ns r0 … r1 are near or beyond a limit (the range check, vectorised).

    Ω outside [``flag_rabi_lo``, ``flag_rabi_hi``] or phase step (Δ − k_LS (Ω/κ)²) · scale /
    f_s outside [``flag_step_lo``, ``flag_step_hi``]. The limits are at or just inside the
    up-front check's, so every ns it would refuse is counted (the caller then runs it).
    """
    c1 = fpar[3] * fpar[4]
    c2 = fpar[2] * c1 / (fpar[1] * fpar[1])
    om_lo, om_hi, s_lo, s_hi = fpar[11], fpar[12], fpar[13], fpar[14]
    rv, dv = rabi[r0 : r1 + 1], det[r0 : r1 + 1]
    flagged = 0
    for i in range(rv.size):
        om = rv[i]
        s = dv[i] * c1 - (om * om) * c2
        flagged += (om < om_lo) | (om > om_hi) | (s < s_lo) | (s > s_hi)
    return flagged


@nb.njit(cache=True, nogil=True, fastmath=_FAST)
def _codes_block(
    out: NDArray[np.int32],
    o0: int,
    m: int,
    phase0: float,
    car: NDArray[np.float64],
    loc: NDArray[np.float64],
    tgt: NDArray[np.float64],
    amp: NDArray[np.float64],
    fpar: NDArray[np.float64],
    ipar: NDArray[np.int64],
    red: NDArray[np.float64],
) -> None:  # pragma: no cover - compiled
    """Vectorisable part of a block: amplitude, pre-emphasis, cos, codes, reductions."""
    amp_scale, alpha, inv_lsb = fpar[7], fpar[9], fpar[10]
    table = ipar[6] != 0
    pre = ipar[7] != 0
    limit = float(ipar[8]) + 1.0  # codes are clamped here for the store only (refused later)
    t_max = _max_nonneg(tgt[1 : m + 1])
    if table:
        a_max = t_max
    else:
        if t_max <= 0.5:  # no ratio needs the √ reduction: the same arithmetic without it
            for i in range(1, m + 1):
                tgt[i] = amp_scale * _asin_half(tgt[i])
        else:
            for i in range(1, m + 1):
                tgt[i] = amp_scale * _asin01(tgt[i])
        a_max = amp_scale * _asin01(t_max)  # asin is increasing: the largest amplitude
    if pre:
        src = amp
        a_max = -np.inf
        a_min = np.inf
        for i in range(m):
            x = tgt[i] + (tgt[i + 1] - tgt[i]) / alpha
            amp[i] = x
            a_max = max(a_max, x)
            a_min = min(a_min, x)
        if a_min < 0.0:  # undershoot: clipped at 0 V and counted
            under = 0
            for i in range(m):
                if amp[i] < 0.0:
                    under += 1
                    amp[i] = 0.0
            red[1] += under
    else:
        src = tgt[1:]  # amplitudes ≥ 0 as they are: no copy
    red[0] = max(red[0], a_max)
    # codes; the reductions run in a loop of their own (in the same loop they would keep
    # LLVM from vectorising the polynomial)
    dst = out[o0 : o0 + m]
    for i in range(m):
        ideal = (src[i] * inv_lsb) * _cos_cycles(car[i] + (phase0 + loc[i]))
        code = np.rint(ideal)
        dst[i] = np.int32(min(max(code, -limit), limit))
        amp[i] = abs(ideal)
        car[i] = abs(ideal - code)  # car[i] is read above and not needed after
    # rint is monotonic and odd, so the largest |code| is that of the largest |ideal|
    red[2] = max(red[2], np.rint(_max_nonneg(amp[:m])))
    red[3] = max(red[3], _max_nonneg(car[:m]))


@nb.njit(cache=True, nogil=True)
def _chunk_synth(
    out: NDArray[np.int32],
    o0: int,
    j0: int,
    n: int,
    phase0: float,
    prev_amp: float,
    prev_ns: int,
    last: bool,
    rabi: NDArray[np.float64],
    det: NDArray[np.float64],
    phi: NDArray[np.float64],
    amp_ns: NDArray[np.float64],
    fpar: NDArray[np.float64],
    ipar: NDArray[np.int64],
    stats: NDArray[np.float64],
) -> float:  # pragma: no cover - compiled
    """Codes of AWG samples j0 … j0+n−1 into ``out[o0:o0+n]``; returns the phase-step sum.

    ``stats`` gets the chunk's largest amplitude (V, after pre-emphasis), undershoots,
    largest |code|, largest rounding error (codes), and how many input ns in ``[range_lo,
    range_hi]`` this chunk is responsible for are near or beyond a limit: those after
    ``prev_ns`` (the input index the sample before the chunk plays) up to the one its last
    sample plays — or to ``range_hi`` if ``last``. The chunks of a stretch so tile the input
    ns, played or not (at f_s < 1 GS/s some ns have no sample); each block checks its own
    part while its inputs are in cache.
    """
    tix = np.empty(_BLOCK)
    car = np.empty(_BLOCK)
    loc = np.empty(_BLOCK)
    amp = np.empty(_BLOCK)
    tgt = np.empty(_BLOCK + 1)  # tgt[0]: the target amplitude just before the block
    stats[0] = -np.inf
    stats[1] = 0.0
    stats[2] = 0.0
    stats[3] = 0.0
    rng_lo, rng_hi = ipar[9], ipar[10]
    flagged = 0
    tile_lo = prev_ns + 1
    acc = 0.0
    before = prev_amp
    for b0 in range(0, n, _BLOCK):
        m = min(_BLOCK, n - b0)
        tgt[0] = before
        acc_next = _fill_block(
            j0 + b0, m, acc, rabi, det, phi, amp_ns, fpar, ipar, tix, car, loc, tgt
        )
        # the range check of the input ns this block is responsible for
        k1 = int(tix[m - 1])
        tile_hi = rng_hi if (last and b0 + m == n) else k1
        r0, r1 = max(tile_lo, rng_lo), min(tile_hi, rng_hi)
        if r0 <= r1:
            flagged += _ns_flags(r0, r1, rabi, det, fpar)
        tile_lo = k1 + 1
        _codes_block(out, o0 + b0, m, phase0, car, loc, tgt, amp, fpar, ipar, stats)
        before = tgt[m]
        acc = acc_next
    stats[4] = flagged
    return acc


@nb.njit(cache=True, nogil=True, inline="always")
def _wrap(x: float) -> float:  # pragma: no cover - compiled
    return x - np.floor(x)


@nb.njit(cache=True, nogil=True)
def _chunk_start(
    k: int,
    j0: int,
    prev_amp: float,
    rabi: NDArray[np.float64],
    amp_ns: NDArray[np.float64],
    fpar: NDArray[np.float64],
    ipar: NDArray[np.int64],
) -> tuple[float, int]:  # pragma: no cover - compiled
    """(target amplitude before chunk ``k``, input index the sample before it plays)."""
    if k == 0:
        return prev_amp, ipar[9] - 1
    j = j0 + k * CHUNK_SAMPLES - 1
    c, _ = _ns_index(j, ipar, fpar[0])
    return _target_amp(j, rabi, amp_ns, fpar, ipar), c


@nb.njit(cache=True, nogil=True)
def _run_chunks(
    k0: int,
    k1: int,
    out: NDArray[np.int32],
    j0: int,
    phase0: float,
    prev_amp: float,
    rabi: NDArray[np.float64],
    det: NDArray[np.float64],
    phi: NDArray[np.float64],
    amp_ns: NDArray[np.float64],
    fpar: NDArray[np.float64],
    ipar: NDArray[np.int64],
    stats: NDArray[np.float64],
) -> float:  # pragma: no cover - compiled
    """Sum the phase of chunks [0, k0), synthesise [k0, k1); returns the phase after k1 − 1."""
    n = out.size
    nc = stats.shape[0]
    ph = phase0
    for k in range(k0):
        s = k * CHUNK_SAMPLES
        total = _chunk_total(j0 + s, min(CHUNK_SAMPLES, n - s), rabi, det, phi, amp_ns, fpar, ipar)
        ph = _wrap(ph + total)
    for k in range(k0, k1):
        s = k * CHUNK_SAMPLES
        m = min(CHUNK_SAMPLES, n - s)
        prev, prev_ns = _chunk_start(k, j0, prev_amp, rabi, amp_ns, fpar, ipar)
        total = _chunk_synth(
            out, s, j0 + s, m, ph, prev, prev_ns, k == nc - 1,
            rabi, det, phi, amp_ns, fpar, ipar, stats[k],
        )  # fmt: skip
        ph = _wrap(ph + total)
    return ph


@nb.njit(cache=True, nogil=True)
def _explicit_serial(
    out: NDArray[np.int32],
    j0: int,
    phase0: float,
    prev_amp: float,
    rabi: NDArray[np.float64],
    det: NDArray[np.float64],
    phi: NDArray[np.float64],
    amp_ns: NDArray[np.float64],
    fpar: NDArray[np.float64],
    ipar: NDArray[np.int64],
    stats: NDArray[np.float64],
) -> float:  # pragma: no cover - compiled
    nc = stats.shape[0]
    return _run_chunks(
        0, nc, out, j0, phase0, prev_amp, rabi, det, phi, amp_ns, fpar, ipar, stats
    )  # fmt: skip


@nb.njit(cache=True, nogil=True, parallel=True)
def _explicit_parallel(
    out: NDArray[np.int32],
    j0: int,
    phase0: float,
    prev_amp: float,
    rabi: NDArray[np.float64],
    det: NDArray[np.float64],
    phi: NDArray[np.float64],
    amp_ns: NDArray[np.float64],
    fpar: NDArray[np.float64],
    ipar: NDArray[np.int64],
    stats: NDArray[np.float64],
) -> float:  # pragma: no cover - compiled
    n = out.size
    nc = stats.shape[0]
    totals = np.empty(nc)
    for k in nb.prange(nc):
        s = k * CHUNK_SAMPLES
        m = min(CHUNK_SAMPLES, n - s)
        totals[k] = _chunk_total(j0 + s, m, rabi, det, phi, amp_ns, fpar, ipar)
    starts = np.empty(nc)
    ph = phase0
    for k in range(nc):
        starts[k] = ph
        ph = _wrap(ph + totals[k])
    for k in nb.prange(nc):
        s = k * CHUNK_SAMPLES
        m = min(CHUNK_SAMPLES, n - s)
        prev, prev_ns = _chunk_start(k, j0, prev_amp, rabi, amp_ns, fpar, ipar)
        _chunk_synth(
            out, s, j0 + s, m, starts[k], prev, prev_ns, k == nc - 1,
            rabi, det, phi, amp_ns, fpar, ipar, stats[k],
        )  # fmt: skip
    return ph


@nb.njit(cache=True, nogil=True, parallel=True)
def _explicit_split(
    out: NDArray[np.int32],
    j0: int,
    phase0: float,
    prev_amp: float,
    rabi: NDArray[np.float64],
    det: NDArray[np.float64],
    phi: NDArray[np.float64],
    amp_ns: NDArray[np.float64],
    fpar: NDArray[np.float64],
    ipar: NDArray[np.int64],
    stats: NDArray[np.float64],
    bounds: NDArray[np.int64],
) -> float:  # pragma: no cover - compiled
    """Task t sums the phase of chunks [0, bounds[t]), then synthesises [bounds[t], bounds[t+1]).

    One parallel launch and no second pass: with two tasks the first synthesises from the
    start while the second sums the first's phase (≈ 4× faster than synthesising it) and
    goes on with its own part. The sums are :func:`_chunk_total`'s, so the codes are the
    serial driver's to the last bit.
    """
    tasks = bounds.size - 1
    ends = np.empty(tasks)
    for t in nb.prange(tasks):
        ends[t] = _run_chunks(
            bounds[t], bounds[t + 1],
            out, j0, phase0, prev_amp, rabi, det, phi, amp_ns, fpar, ipar, stats,
        )  # fmt: skip
    return ends[tasks - 1]


@nb.njit(cache=True, nogil=True, fastmath={"nnan", "nsz"})
def _ranges_chunk(
    rabi: NDArray[np.float64],
    det: NDArray[np.float64],
    kappa: float,
    ls: float,
    scale: float,
    lo: int,
    hi: int,
    out: NDArray[np.float64],
) -> None:  # pragma: no cover - compiled
    a_min, a_max = np.inf, -np.inf
    f_min, f_max = np.inf, -np.inf
    for i in range(lo, hi):
        om = rabi[i]
        a_min = min(a_min, om)
        a_max = max(a_max, om)
        x = om / kappa
        f = (det[i] - ls * (x * x)) * scale
        f_min = min(f_min, f)
        f_max = max(f_max, f)
    out[0], out[1], out[2], out[3] = a_min, a_max, f_min, f_max


@nb.njit(cache=True, nogil=True, parallel=True)
def _ranges_parallel(
    rabi: NDArray[np.float64],
    det: NDArray[np.float64],
    kappa: float,
    ls: float,
    scale: float,
    res: NDArray[np.float64],
) -> None:  # pragma: no cover - compiled
    n = rabi.size
    nc = res.shape[0]
    for k in nb.prange(nc):
        lo = k * (4 * CHUNK_SAMPLES)
        _ranges_chunk(rabi, det, kappa, ls, scale, lo, min(n, lo + 4 * CHUNK_SAMPLES), res[k])


@nb.njit(cache=True, nogil=True)
def _lit_span(a: NDArray[np.float64]) -> tuple[int, int]:  # pragma: no cover - compiled
    first = -1
    for i in range(a.size):
        if a[i] > 0:
            first = i
            break
    if first < 0:
        return -1, -1
    last = first
    for i in range(a.size - 1, first - 1, -1):
        if a[i] > 0:
            last = i
            break
    return first, last + 1


def lit_span(a: NDArray[np.float64]) -> tuple[int, int] | None:
    """(first, last + 1) index where ``a > 0``, or None: scans inwards from both ends."""
    first, stop = _lit_span(np.ascontiguousarray(a, dtype=np.float64))
    return None if first < 0 else (int(first), int(stop))


# --- dispatch -----------------------------------------------------------------------------
# numba's default (workqueue) threading layer must not be entered by two Python threads at
# once: a parallel launch takes this lock, and a caller that finds it taken runs serially.
_LAUNCH = threading.Lock()
_threads: int | None = None


def _env_threads() -> int | None:
    raw = os.environ.get("ATOMSTACK_SYNTH_THREADS", "").strip()
    return int(raw) if raw else None


def set_threads(n: int | None) -> None:
    """Threads the synthesis may use (1: serial; None: ``ATOMSTACK_SYNTH_THREADS``, else 1)."""
    global _threads
    if n is not None and n < 1:
        raise ValueError(f"threads must be >= 1; got {n}")
    _threads = n


def get_threads() -> int:
    """Threads the synthesis will use: at most numba's thread count (the machine's cores).

    Serial unless asked: on a small machine shared with other work (the control stack's own
    processes, the simulator) a parallel launch waits for its slowest thread.
    """
    want = _threads if _threads is not None else _env_threads()
    top = int(nb.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    return max(1, min(want or 1, top))


# cost of summing a chunk's phase (:func:`_chunk_total`) relative to synthesising it
# (measured 0.19–0.2 on a Zen 3 at 625 MS/s and 1.25 GS/s)
_TOTAL_COST = 0.2


def _explicit_serial_b(*args: Any) -> Any:
    """:func:`_explicit_serial` called with the split driver's arguments (``bounds`` unused)."""
    return _explicit_serial(*args[:-1])


def _parallel(fn: Any, serial: Any, n_chunks: int, *args: Any) -> Any:
    threads = min(get_threads(), n_chunks)
    if threads > 1 and _LAUNCH.acquire(blocking=False):
        before = nb.get_num_threads()
        try:
            nb.set_num_threads(threads)
            return fn(*args)
        finally:
            nb.set_num_threads(before)
            _LAUNCH.release()
    return serial(*args)


@nb.njit(cache=True, nogil=True)
def _zero_serial(a: NDArray[np.int32]) -> None:  # pragma: no cover - compiled
    a[:] = 0


@nb.njit(cache=True, nogil=True, parallel=True)
def _zero_parallel(a: NDArray[np.int32]) -> None:  # pragma: no cover - compiled
    n = a.size
    for k in nb.prange(-(-n // CHUNK_SAMPLES)):
        a[k * CHUNK_SAMPLES : min(n, (k + 1) * CHUNK_SAMPLES)] = 0


def zero_fill(a: NDArray[np.int32]) -> None:
    """``a[:] = 0`` (contiguous int32), with the synthesis threads: an idle AWG row."""
    _parallel(_zero_parallel, _zero_serial, -(-a.size // CHUNK_SAMPLES), a)


def synth_explicit(
    out: NDArray[np.int32],
    j0: int,
    phase0: float,
    prev_amp: float,
    rabi: NDArray[np.float64],
    det: NDArray[np.float64],
    phi: NDArray[np.float64],
    amp_ns: NDArray[np.float64],
    fpar: NDArray[np.float64],
    ipar: NDArray[np.int64],
) -> tuple[float, NDArray[np.float64]]:
    """Codes of AWG samples ``j0 …`` into ``out`` (contiguous int32); (end phase, stats).

    ``phase0`` and the returned phase are the baseband phase in cycles, in [0, 1). ``stats``
    has one row per chunk of :data:`CHUNK_SAMPLES`: largest amplitude after pre-emphasis (V),
    undershoots below 0 V (clipped), largest |code| (unclamped), largest rounding error, and
    how many of the input indices ``range_lo … range_hi`` (``ipar``), played or not, are near
    or beyond a limit (``fpar`` "flag_*"): every chunk checks the indices after the one its
    previous sample plays, up to the one its last sample plays (the last chunk: up to
    ``range_hi``).
    """
    n_chunks = -(-out.size // CHUNK_SAMPLES)
    stats = np.zeros((n_chunks, _N_STATS))
    if n_chunks == 0:
        return phase0, stats
    threads = min(get_threads(), n_chunks)
    if threads == 2:
        # the second task first sums the first's phase: balance S·b = T·b + S·(n − b)
        split = max(1, min(n_chunks - 1, round(n_chunks / (2.0 - _TOTAL_COST))))
        bounds = np.array([0, split, n_chunks], dtype=np.int64)
        phase = _parallel(
            _explicit_split, _explicit_serial_b, n_chunks,
            out, j0, phase0, prev_amp, rabi, det, phi, amp_ns, fpar, ipar, stats, bounds,
        )  # fmt: skip
        return float(phase), stats
    phase = _parallel(
        _explicit_parallel,
        _explicit_serial,
        n_chunks,
        out,
        j0,
        phase0,
        prev_amp,
        rabi,
        det,
        phi,
        amp_ns,
        fpar,
        ipar,
        stats,
    )
    return float(phase), stats


@nb.njit(cache=True, nogil=True)
def _ranges_serial(
    rabi: NDArray[np.float64],
    det: NDArray[np.float64],
    kappa: float,
    ls: float,
    scale: float,
    res: NDArray[np.float64],
) -> None:  # pragma: no cover - compiled
    n = rabi.size
    for k in range(res.shape[0]):
        lo = k * (4 * CHUNK_SAMPLES)
        _ranges_chunk(rabi, det, kappa, ls, scale, lo, min(n, lo + 4 * CHUNK_SAMPLES), res[k])


def value_ranges(
    rabi: NDArray[np.float64], det: NDArray[np.float64], kappa: float, ls: float, scale: float
) -> tuple[float, float, float, float]:
    """(min Ω, max Ω, min offset, max offset) in one pass; offset = (Δ − ls (Ω/κ)²) · scale."""
    n_chunks = -(-rabi.size // (4 * CHUNK_SAMPLES))
    res = np.empty((max(n_chunks, 1), 4))
    if rabi.size == 0:
        return np.inf, -np.inf, np.inf, -np.inf
    rabi = np.ascontiguousarray(rabi, dtype=np.float64)
    det = np.ascontiguousarray(det, dtype=np.float64)
    _parallel(_ranges_parallel, _ranges_serial, n_chunks, rabi, det, kappa, ls, scale, res)
    return (
        float(res[:, 0].min()),
        float(res[:, 1].max()),
        float(res[:, 2].min()),
        float(res[:, 3].max()),
    )
