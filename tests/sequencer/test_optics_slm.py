"""SLM optics: Zernike aberration correction and a measured phase LUT in the holograms."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from sequencer.optics import OpticsError, SLMSpec, hologram
from sequencer.optics.slm import noll_to_nm, zernike
from sequencer.register import RegisterLayout

BASE = SLMSpec(resolution=(256, 256), affine_offset_um=(3000.0, 2000.0))
ABERRATED = BASE.model_copy(update={"zernike_rad": {4: 3.0, 5: 1.5, 7: -1.2, 11: 0.8}})
LAYOUT = RegisterLayout.square(6, spacing=6.0)


def _seen_powers(shown_phase: np.ndarray, slm: SLMSpec) -> np.ndarray:
    """Independent model of the optics: the shown phase plus the aberration, FFT, trap powers."""
    n = slm.grid
    ny, nx = slm.resolution
    radius = min(ny, nx) / 2.0
    y = (np.arange(ny) - (ny - 1) / 2.0)[:, None] / radius
    x = (np.arange(nx) - (nx - 1) / 2.0)[None, :] / radius
    aberration = sum(c * zernike(j, x, y) for j, c in slm.zernike_rad.items())
    field = np.zeros((n, n), dtype=np.complex128)
    field[:ny, :nx] = np.exp(1j * (shown_phase + aberration)) / np.sqrt(ny * nx)
    far = np.fft.fft2(field, norm="ortho")
    k = np.rint(slm.trap_to_kspace(LAYOUT.coords)).astype(int) % n
    return np.abs(far[k[:, 1], k[:, 0]]) ** 2


def _non_uniformity(p: np.ndarray) -> float:
    return float(np.std(p) / np.mean(p))


def test_noll_indices_name_the_usual_aberrations() -> None:
    expected = {1: (0, 0), 2: (1, 1), 3: (1, -1), 4: (2, 0), 5: (2, -2), 6: (2, 2)}
    expected |= {7: (3, -1), 8: (3, 1), 9: (3, -3), 10: (3, 3), 11: (4, 0)}
    assert {j: noll_to_nm(j) for j in expected} == expected


def test_zernikes_are_orthonormal_on_the_unit_disc() -> None:
    x, y = np.meshgrid(np.linspace(-1, 1, 601), np.linspace(-1, 1, 601))
    inside = x**2 + y**2 <= 1.0
    z = np.stack([zernike(j, x[inside], y[inside]) for j in range(1, 12)])
    gram = z @ z.T / inside.sum()
    np.testing.assert_allclose(gram, np.eye(11), atol=0.02)


def test_corrected_hologram_is_uniform_through_the_aberrated_optics() -> None:
    corrected = hologram(LAYOUT, ABERRATED, iterations=25)
    seen = _seen_powers(corrected.phase, ABERRATED)
    assert _non_uniformity(seen) <= 0.01
    assert corrected.non_uniformity == pytest.approx(_non_uniformity(seen), abs=1e-6)
    # The same array computed without knowing the aberration is spoiled by it.
    naive = hologram(LAYOUT, BASE, iterations=25)
    spoiled = _seen_powers(naive.phase, ABERRATED)
    assert _non_uniformity(spoiled) > 5 * max(_non_uniformity(seen), 1e-3)
    assert spoiled.sum() < 0.5 * seen.sum()


def test_a_measured_lut_picks_the_nearest_shown_phase() -> None:
    levels = np.arange(256)
    lut = 2.1 * np.pi * (levels / 255) ** 1.15  # a nonlinear SLM reaching a bit past 2π
    slm = BASE.model_copy(update={"phase_lut_rad": tuple(lut)})
    want = np.random.default_rng(4).uniform(0, 2 * np.pi, 5000)
    got = slm.level_phase(slm.quantise(want))
    error = np.abs(np.angle(np.exp(1j * (got - want))))
    assert error.max() <= np.max(np.diff(lut)) / 2 + 2 * np.pi / 4096
    h = hologram(LAYOUT, slm, iterations=25)
    np.testing.assert_allclose(h.phase, np.mod(lut[h.levels], 2 * np.pi))
    assert _non_uniformity(_seen_powers(h.phase, slm)) <= 0.01


def test_bad_optics_descriptions_are_refused_naming_the_value() -> None:
    with pytest.raises(ValidationError, match="need 256 finite phases"):
        SLMSpec(phase_lut_rad=(0.0, 1.0))
    with pytest.raises(ValidationError, match="Noll indices start at 1"):
        SLMSpec(zernike_rad={0: 1.0})
    with pytest.raises(OpticsError, match="start at 1"):
        noll_to_nm(0)


def test_the_spec_round_trips_through_json_with_its_corrections() -> None:
    slm = ABERRATED.model_copy(update={"phase_lut_rad": tuple(np.linspace(0, 6.2, 256))})
    assert SLMSpec.model_validate_json(slm.model_dump_json()) == slm
