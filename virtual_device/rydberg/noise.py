"""Noise settings for the Rydberg simulator, with Pulser's parameter names and units."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["NoiseModel"]

_KB = 1.38e-23  # J/K, as pulser.constants.KB


class NoiseModel(BaseModel):
    """Stochastic and SPAM noise, named as in ``pulser.NoiseModel`` so settings carry over.

    Every quantity defaults to "off". Parameters that vary from shot to shot (state preparation,
    atom loss, Doppler, amplitude fluctuation, dephasing, hyperfine dephasing and relaxation
    jumps) are drawn anew for each of ``runs`` noise realisations and the results are averaged;
    readout errors are applied exactly to probabilities and per shot when sampling.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    runs: int = Field(15, ge=1, le=100_000, description="noise realisations averaged")
    samples_per_run: int = Field(
        5, ge=1, description="shots per realisation when sampling (Pulser's name)"
    )
    state_prep_error: float = Field(
        0.0, ge=0.0, lt=1.0, description="η: probability an atom is badly prepared (absent)"
    )
    p_false_pos: float = Field(0.0, ge=0.0, lt=1.0, description="ε: ground read as Rydberg")
    p_false_neg: float = Field(0.0, ge=0.0, lt=1.0, description="ε′: Rydberg read as ground")
    temperature: float = Field(
        0.0, ge=0.0, le=10_000.0, description="atom temperature, µK (Doppler detuning)"
    )
    laser_waist: float | None = Field(
        None, gt=0.0, description="Gaussian waist of global beams, µm (axis along y through 0)"
    )
    amp_sigma: float = Field(
        0.0, ge=0.0, lt=1.0, description="relative shot-to-shot amplitude fluctuation per channel"
    )
    dephasing_rate: float = Field(0.0, ge=0.0, description="Rydberg dephasing rate, 1/µs")
    relaxation_rate: float = Field(0.0, ge=0.0, description="Rydberg → ground decay rate, 1/µs")
    # Pulser's collapse operator √(2γ)·|h⟩⟨h| per atom, added only when h is in the basis
    # (pulser-core 1.9.1, pulser/_hamiltonian_data/hamiltonian_data.py,
    # HamiltonianData._build_local_collapse_operators): the g–h coherence decays as e^{−γt}.
    hyperfine_dephasing_rate: float = Field(
        0.0,
        ge=0.0,
        description=(
            "hyperfine (g–h) dephasing rate, 1/µs: √(2γ)|h⟩⟨h| per atom, as Pulser; acts in "
            "runs with the h level (basis 'all' or 'digital'), ignored in 'ground-rydberg'"
        ),
    )
    atom_loss_prob: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="probability an atom is lost before the drive; it reads as 1 (dark)",
    )
    doppler_k_eff: float = Field(8.7, gt=0.0, description="effective wavenumber, µm⁻¹ (Pulser)")
    atom_mass_kg: float = Field(1.45e-25, gt=0.0, description="atom mass, kg (Pulser's Rb-87)")

    @property
    def doppler_sigma(self) -> float:
        """Standard deviation of the Doppler detuning, rad/µs (k_eff·√(k_B T / m))."""
        return self.doppler_k_eff * math.sqrt(_KB * self.temperature * 1e-6 / self.atom_mass_kg)

    @property
    def is_stochastic(self) -> bool:
        """Whether results need averaging over ``runs`` noise realisations."""
        return any(
            v > 0
            for v in (
                self.state_prep_error,
                self.temperature,
                self.amp_sigma,
                self.dephasing_rate,
                self.hyperfine_dephasing_rate,
                self.relaxation_rate,
                self.atom_loss_prob,
            )
        )

    @property
    def has_shot_to_shot_noise(self) -> bool:
        """Whether some noise is drawn per realisation (not a master-equation term).

        State preparation, atom loss, Doppler and amplitude noise; ``method="lindblad"``
        averages ``runs`` realisations only then (dephasing, hyperfine dephasing and relaxation
        are exact there).
        """
        return any(
            v > 0
            for v in (self.state_prep_error, self.temperature, self.amp_sigma, self.atom_loss_prob)
        )

    @property
    def has_readout_errors(self) -> bool:
        """Whether ε or ε′ is non-zero."""
        return self.p_false_pos > 0 or self.p_false_neg > 0
