"""The minimum-jerk move profile shared by the planner and the AOD synthesiser."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

PEAK_SPEED_FACTOR = 15.0 / 8.0
"""Peak speed of a minimum-jerk move of length d and duration T is this · d / T."""
PEAK_ACCEL_FACTOR = 10.0 / math.sqrt(3.0)
"""Peak acceleration of a minimum-jerk move of length d and duration T is this · d / T²."""


def min_jerk(u: ArrayLike) -> NDArray[np.float64]:
    """Fraction of the way s(u) = 10u³ − 15u⁴ + 6u⁵ at u = t/T (clipped to [0, 1]).

    Zero speed and acceleration at both ends.
    """
    x = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
    return np.asarray(x * x * x * (10.0 + x * (-15.0 + 6.0 * x)))


def min_jerk_integral(u: ArrayLike) -> NDArray[np.float64]:
    """S(u) = ∫₀ᵘ s(v) dv = u⁴ (5/2 − 3u + u²) for u in [0, 1]; S(1) = ½."""
    x = np.asarray(u, dtype=np.float64)
    return np.asarray(x**4 * (2.5 + x * (-3.0 + x)))


def min_jerk_duration_us(
    distance_um: ArrayLike, max_speed_um_per_us: float, max_accel_um_per_us2: float
) -> NDArray[np.float64]:
    """Shortest minimum-jerk duration (µs) over ``distance_um`` within both peak limits."""
    d = np.abs(np.asarray(distance_um, dtype=np.float64))
    return np.asarray(
        np.maximum(
            PEAK_SPEED_FACTOR * d / max_speed_um_per_us,
            np.sqrt(PEAK_ACCEL_FACTOR * d / max_accel_um_per_us2),
        )
    )
