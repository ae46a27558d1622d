"""Benchmark: AOD multi-tone synthesis vs naive numpy, crest factors, decode accuracy.

Run: ``.venv/bin/python benchmarks/optics_aod.py``. One axis, 100 tones, 100 µs at 625 MS/s
(62,500 samples x 100 tones), every tone moving (min-jerk), efficiency equalised.
"""

from __future__ import annotations

import time

import numpy as np

from sequencer.optics import (
    AODAxisSpec,
    AODSpec,
    crest_factor,
    decode_move,
    hold_waveform,
    min_jerk,
    min_jerk_integral,
    move_waveform,
    schroeder_phases,
)


def _best(fn, repeats: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.min(ts)), float(np.median(ts))


def _naive(axis: AODAxisSpec, x0, x1, n: int, phases) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Naive float64 numpy: (tones, samples) arrays, np.cos, sum."""
    fs = axis.sample_rate_hz
    u = np.arange(n) / n
    t = np.arange(n) / fs
    f0 = axis.freq_hz(x0)[:, None]
    df = axis.freq_hz(x1)[:, None] - f0
    amp = axis.tone_amplitude_v / axis.lsb_v * axis.equalisation(f0 + df * min_jerk(u))
    ph = phases[:, None] + 2 * np.pi * (f0 * t + df * (n / fs) * min_jerk_integral(u))
    return np.asarray(np.sum(amp * np.cos(ph), axis=0))


def _naive_plain(axis: AODAxisSpec, x0, x1, n: int, phases) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The issue's naive numpy (86 ms there): equal amplitudes, no equalisation."""
    fs = axis.sample_rate_hz
    u = np.arange(n) / n
    t = np.arange(n) / fs
    f0 = axis.freq_hz(x0)[:, None]
    df = axis.freq_hz(x1)[:, None] - f0
    ph = phases[:, None] + 2 * np.pi * (f0 * t + df * (n / fs) * min_jerk_integral(u))
    return np.asarray(np.sum(np.cos(ph), axis=0))


def main() -> None:
    """Print the tables."""
    axis = AODAxisSpec(name="x", tone_amplitude_v=0.008)
    aod = AODSpec(x=axis, y=AODAxisSpec(name="y"))
    n_tones, dur_us = 100, 100.0
    x0 = np.linspace(-60.0, 60.0, n_tones)
    x1 = x0 * 0.98 + 0.5
    n = round(dur_us * 1e-6 * axis.sample_rate_hz)
    ph = schroeder_phases(n_tones)
    move_waveform(aod, x0, x1, [0.0], [0.0], dur_us)  # compile / load the cache
    naive_best, naive_med = _best(lambda: _naive(axis, x0, x1, n, ph), 5)
    plain_best, plain_med = _best(lambda: _naive_plain(axis, x0, x1, n, ph), 5)
    print(f"## synthesis: {n_tones} tones x {dur_us:g} µs at 625 MS/s, one axis ({n} samples)\n")
    print("| variant | best ms | median ms | naive / ours (best) | plain naive / ours (best) |")
    print("|---|---|---|---|---|")
    print(
        f"| naive numpy float64, equalised | {naive_best * 1e3:.1f} | "
        f"{naive_med * 1e3:.1f} | 1.0 | |"
    )
    print(
        f"| naive numpy float64, plain (the issue's 86 ms) | {plain_best * 1e3:.1f} | "
        f"{plain_med * 1e3:.1f} | | 1.0 |"
    )
    for threads in (1, 2):
        best, med = _best(
            lambda th=threads: move_waveform(aod, x0, x1, [0.0], [0.0], dur_us, threads=th), 25
        )
        print(
            f"| move_waveform, threads={threads} (both axes; y = 1 tone) | {best * 1e3:.2f} | "
            f"{med * 1e3:.2f} | {naive_best / best:.1f} | {plain_best / best:.1f} |"
        )
    print(
        f"\ntarget ≤ 5 ms where plain naive took 86 ms, i.e. ≥ {86 / 5:.1f}× faster than "
        "plain naive measured in the same run"
    )
    # accuracy vs the float64 reference
    ref = _naive(axis, x0, x1, n, ph)
    codes = move_waveform(aod, x0, x1, [0.0], [0.0], dur_us).x.codes
    err = np.abs(codes - ref)
    per_tone = axis.tone_amplitude_v / axis.lsb_v
    print(
        f"\naccuracy: max |codes - float64 reference| = {err.max():.6f} codes "
        f"(rounding alone: 0.5); codes differing from rint(reference): "
        f"{int(np.sum(codes != np.rint(ref)))} of {n}; per-tone amplitude {per_tone:.0f} codes"
    )
    # crest factors (static hold, equally spaced tones)
    print("\n## crest factor of a static hold (equally spaced tones, equalised)\n")
    print("| tones | Schroeder | equal phases |")
    print("|---|---|---|")
    for k in (5, 10, 20, 50, 100):
        xs = np.linspace(-60.0, 60.0, k)
        sch = hold_waveform(aod, xs, [0.0], 100.0).x.codes
        eq = hold_waveform(aod, xs, [0.0], 100.0, x_phases_rad=np.zeros(k)).x.codes
        print(f"| {k} | {crest_factor(sch):.2f} | {crest_factor(eq):.2f} |")
    cf_move = crest_factor(codes)
    print(f"\nmoving 100 tones (Schroeder start): crest factor {cf_move:.2f}")
    # decode accuracy: 12 columns x 8 rows, 7 µm pitch, hold 10 µs / move 100 µs / hold 10 µs
    print("\n## decode (12 x 8 tweezers, 7 µm pitch, hold-move-hold)\n")
    print("| case | max position error µm | max depth error | decode s |")
    print("|---|---|---|---|")
    spec = AODSpec()
    xs0 = (np.arange(12) - 5.5) * 7.0
    ys0 = (np.arange(8) - 3.5) * 7.0
    for label, dx, dy, d_us in (
        ("parallel shift 5 µm / 100 µs", 5.0, -3.0, 100.0),
        ("compress 10 % / 60 µs", None, None, 60.0),
    ):
        xs1 = xs0 + dx if dx is not None else xs0 * 1.1
        ys1 = ys0 + dy if dy is not None else ys0 * 1.1
        h0 = hold_waveform(spec, xs0, ys0, 10.0)
        mv = move_waveform(
            spec, xs0, xs1, ys0, ys1, d_us,
            x_phases_rad=h0.x.phases_end_rad, y_phases_rad=h0.y.phases_end_rad,
        )  # fmt: skip
        h1 = hold_waveform(
            spec, xs1, ys1, 10.0, x_phases_rad=mv.x.phases_end_rad,
            y_phases_rad=mv.y.phases_end_rad,
        )  # fmt: skip
        cx = np.concatenate([h0.x.codes, mv.x.codes, h1.x.codes])
        cy = np.concatenate([h0.y.codes, mv.y.codes, h1.y.codes])
        t = time.perf_counter()
        dec = decode_move((cx, cy), spec, n_tones=(12, 8), time_step_us=0.5)
        elapsed = time.perf_counter() - t
        u = np.clip((dec.times_us - 10.0) / d_us, 0, 1)[:, None]
        ex = np.abs(dec.x_um - (xs0 + (xs1 - xs0) * min_jerk(u))).max()
        ey = np.abs(dec.y_um - (ys0 + (ys1 - ys0) * min_jerk(u))).max()
        print(
            f"| {label} | {max(ex, ey):.4f} | {np.abs(dec.depth - 1).max():.2e} | {elapsed:.2f} |"
        )


if __name__ == "__main__":
    main()
