"""Tests for the SLM description and weighted Gerchberg-Saxton holograms."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft

from sequencer.errors import SequenceError
from sequencer.optics import HologramCache, HologramGenerator, OpticsError, SLMSpec, hologram
from sequencer.register import RegisterLayout

SLM = SLMSpec(resolution=(256, 256), affine_offset_um=(3000.0, 2000.0))


def _simulated_powers(h_phase: np.ndarray, layout: RegisterLayout, slm: SLMSpec) -> np.ndarray:
    """Independent focal-plane simulation: FFT of the quantised mask, power at each trap pixel."""
    n = slm.grid
    field = np.zeros((n, n), dtype=np.complex128)
    ny, nx = slm.resolution
    field[:ny, :nx] = np.exp(1j * h_phase)
    far = np.fft.fft2(field) / n
    k = np.rint(slm.trap_to_kspace(layout.coords)).astype(int) % n
    return np.abs(far[k[:, 1], k[:, 0]]) ** 2


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_layouts_reach_uniformity(seed: int) -> None:
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(np.arange(12), np.arange(12)), axis=-1).reshape(-1, 2) * 6.0
    pick = rng.choice(len(grid), size=40, replace=False)
    layout = RegisterLayout(grid[pick] + rng.uniform(-1, 1, size=(40, 2)))
    h = hologram(layout, SLM, iterations=25, seed=seed)
    powers = _simulated_powers(h.phase, layout, SLM)
    assert np.std(powers) / np.mean(powers) <= 0.01
    assert h.non_uniformity == pytest.approx(np.std(powers) / np.mean(powers), rel=1e-6, abs=1e-9)
    assert 0.3 < h.efficiency <= 1.0
    assert h.levels.min() >= 0 and h.levels.max() < SLM.phase_levels
    assert len(np.unique(h.levels)) <= SLM.phase_levels


def test_one_percent_within_fifteen_iterations() -> None:
    layout = RegisterLayout.square(10, spacing=5.0)
    h = hologram(layout, SLM, iterations=25)
    first_1pct = next(i for i, u in enumerate(h.history, start=1) if u <= 0.01)
    assert first_1pct <= 15


def test_weights_shape_the_spot_powers() -> None:
    layout = RegisterLayout.square(5, spacing=6.0)
    weights = np.linspace(0.5, 1.5, layout.n_traps)
    h = hologram(layout, SLM, weights, iterations=30)
    powers = _simulated_powers(h.phase, layout, SLM)
    np.testing.assert_allclose(powers / powers.mean(), weights / weights.mean(), rtol=0.02)


def test_low_bit_depth_degrades_uniformity() -> None:
    layout = RegisterLayout.square(6, spacing=6.0)
    fine = hologram(layout, SLM, iterations=25)
    coarse = hologram(layout, SLM.model_copy(update={"bit_depth": 2}), iterations=25)
    assert len(np.unique(coarse.levels)) <= 4
    assert coarse.non_uniformity > fine.non_uniformity


def test_generator_caches_by_layout_and_weights() -> None:
    cache = HologramCache()
    gen = HologramGenerator(SLM, cache=cache, iterations=5)
    layout = RegisterLayout.square(3, spacing=6.0)
    a = gen(layout)
    assert gen(RegisterLayout.square(3, spacing=6.0)) is a
    assert len(cache) == 1
    gen(layout, np.linspace(1, 2, 9))
    assert len(cache) == 2
    other = HologramGenerator(SLM.model_copy(update={"bit_depth": 4}), cache=cache, iterations=5)
    assert other(layout) is not a
    assert len(cache) == 3


def test_bad_inputs_raise_optics_errors() -> None:
    layout = RegisterLayout.square(3, spacing=6.0)
    with pytest.raises(OpticsError, match="weights"):
        hologram(layout, SLM, np.ones(4))
    with pytest.raises(OpticsError, match="weights"):
        hologram(layout, SLM, -np.ones(9))
    with pytest.raises(OpticsError, match="outside"):
        hologram(RegisterLayout.square(3, spacing=500.0), SLM)
    with pytest.raises(OpticsError, match="same k-space pixel"):
        hologram(RegisterLayout.square(3, spacing=0.2), SLM)
    with pytest.raises(SequenceError):
        SLM.trap_to_kspace(np.zeros((3, 3)))


def test_fft_convention_matches_numpy() -> None:
    x = np.random.default_rng(0).normal(size=(16, 16)) + 0j
    np.testing.assert_allclose(scipy.fft.fft2(x, norm="ortho"), np.fft.fft2(x) / 16)


def test_tolerance_stops_early_and_the_mask_is_the_one_reported() -> None:
    layout = RegisterLayout.square(6, spacing=6.0)
    h = hologram(layout, SLM, iterations=40, tolerance=0.02)
    assert h.iterations < 40 and h.history[-1] <= 0.02
    powers = _simulated_powers(h.phase, layout, SLM)
    assert np.std(powers) / np.mean(powers) <= 0.03  # the converged field, not a focal plane
    assert h.non_uniformity == pytest.approx(np.std(powers) / np.mean(powers), rel=1e-6, abs=1e-9)
