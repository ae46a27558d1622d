"""Hardware description: AWGs, AOM paths, beams and TTL lines, as frozen pydantic models.

Every number the compiler uses about the apparatus lives here (instrument level, SI units with
the unit in the name, except times on the shot's timeline, which are in ns like the pulse
level). Load one from TOML (or JSON, or YAML when PyYAML is installed) with
:func:`load_hardware`.
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sequencer.compiler.errors import HardwareConfigError

__all__ = [
    "AOMConfig",
    "AWGConfig",
    "BeamConfig",
    "CameraTiming",
    "HardwareConfig",
    "TTLLine",
    "load_hardware",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AWGConfig(_Frozen):
    """An arbitrary waveform generator with segment memory and a sequence-step table.

    Modelled on tabular AWGs (Spectrum's sequence mode: segments, a step table of
    ``(segment, loops, next)``, segment granularity and minimum length) and on SCPI arbitrary
    generators (Keysight 33600A: int16 DAC codes ±32767, ``DATA:SEQ``).
    """

    name: str
    model: str = Field("generic", description="Driver family, e.g. 'spectrum-m4i66' or '33600A'.")
    sample_rate_hz: float = Field(gt=0, description="Output sample rate, S/s.")
    channels: int = Field(2, ge=1, le=64, description="Analog output channels.")
    dac_bits: int = Field(16, ge=2, le=32, description="DAC resolution, bits (codes ±2^(b-1)-1).")
    full_scale_v: float = Field(gt=0, description="Peak output voltage at the largest code, V.")
    memory_samples: int = Field(gt=0, description="Waveform memory per channel, samples.")
    segment_granularity: int = Field(32, ge=1, description="Segment lengths are multiples of it.")
    min_segment_samples: int = Field(384, ge=1, description="Shortest segment, samples.")
    max_segments: int = Field(4096, ge=1, description="Segments the memory can be split into.")
    max_steps: int = Field(4096, ge=1, description="Entries of the sequence-step table.")
    max_loops: int = Field(1_048_575, ge=1, description="Largest loop count of one step.")
    hold_segment_max_samples: int = Field(
        65536, ge=1, description="Longest segment the compiler uses for a looped hold, samples."
    )
    trigger_line: str | None = Field(None, description="TTL line that starts this AWG.")

    @property
    def max_code(self) -> int:
        """Largest DAC code (symmetric range ±max_code)."""
        return int(2 ** (self.dac_bits - 1) - 1)

    @property
    def lsb_v(self) -> float:
        """Voltage of one DAC code, V."""
        return self.full_scale_v / self.max_code

    @model_validator(mode="after")
    def _check(self) -> AWGConfig:
        if self.min_segment_samples % self.segment_granularity:
            raise ValueError(
                f"AWG {self.name!r}: min_segment_samples={self.min_segment_samples} must be a "
                f"multiple of segment_granularity={self.segment_granularity}"
            )
        if self.hold_segment_max_samples < self.min_segment_samples:
            raise ValueError(
                f"AWG {self.name!r}: hold_segment_max_samples={self.hold_segment_max_samples} "
                f"must be >= min_segment_samples={self.min_segment_samples}"
            )
        return self


class AOMConfig(_Frozen):
    """One acousto-optic modulator driven by one AWG channel.

    The optical frequency shift is ``order * passes * f_RF`` (double pass: twice the RF); the
    laser is set so that ``f_RF = rf_center_hz`` is resonant (Δ = 0).
    """

    name: str
    awg: str = Field(description="Name of the AWG that drives it.")
    awg_channel: int = Field(ge=0, description="0-based channel index on that AWG.")
    rf_center_hz: float = Field(gt=0, description="RF frequency at Δ = 0, Hz.")
    rf_bandwidth_hz: float = Field(gt=0, description="Usable RF band, centred on rf_center_hz, Hz.")
    passes: Literal[1, 2] = Field(2, description="1 = single pass, 2 = double pass.")
    order: Literal[-1, 1] = Field(1, description="Sign of the diffraction order used.")
    rf_amplitude_max_v: float = Field(gt=0, description="Largest RF amplitude allowed, V peak.")
    rise_time_ns: float = Field(
        0.0, ge=0, description="10-90 % rise time of the diffracted amplitude, ns."
    )
    latency_ns: float = Field(0.0, ge=0, description="AWG output to light at the atoms, ns.")

    @property
    def rf_band_hz(self) -> tuple[float, float]:
        """(lowest, highest) allowed RF frequency, Hz."""
        half = self.rf_bandwidth_hz / 2
        return (self.rf_center_hz - half, self.rf_center_hz + half)

    @property
    def optical_factor(self) -> int:
        """``order * passes``: optical shift (and phase) per unit RF shift (and phase)."""
        return int(self.order * self.passes)

    @property
    def time_constant_ns(self) -> float:
        """First-order time constant τ with 10-90 % rise time = τ ln 9, ns."""
        return self.rise_time_ns / math.log(9.0)


class BeamConfig(_Frozen):
    """An optical path: which AOM shapes it and which pulse-level channel it makes.

    Ω of the channel comes from the AOM's RF amplitude, Δ from its RF frequency and φ from its
    RF phase. ``rabi_per_sqrt_w`` is the nominal Ω at the beam centre per √(optical power);
    the calibration may override it.

    ``targets`` names the atoms (register ids, e.g. ``"q0"``) an addressing beam lights; empty
    (the default) is a global beam that lights every atom. Several beams may make one channel
    (a local channel: one addressing beam per site or group of sites) when each has targets
    and no atom is in two of them. The Gaussian profile about ``center_um`` applies to every
    atom whatever ``targets`` says, so an addressing beam's crosstalk onto its neighbours is
    part of the model (:func:`sequencer.compiler.atom_rabi_factors`).
    """

    name: str
    channel: str = Field(description="Pulse-level channel it makes, e.g. 'rydberg_global'.")
    aom: str
    max_power_w: float = Field(gt=0, description="Optical power at the atoms at 100 % AOM η, W.")
    rabi_per_sqrt_w: float = Field(gt=0, description="Ω at the beam centre per √W, rad/µs/√W.")
    waist_um: float = Field(gt=0, description="1/e² intensity radius at the atoms, µm.")
    center_um: tuple[float, float] = Field((0.0, 0.0), description="Beam centre in the plane, µm.")
    shutter_line: str | None = Field(None, description="TTL line of this beam's shutter.")
    targets: tuple[str, ...] = Field(
        (), description="Atom ids an addressing beam lights; empty = every atom (a global beam)."
    )

    @model_validator(mode="after")
    def _check_targets(self) -> BeamConfig:
        if "@" in self.name:
            raise ValueError(
                f"beam {self.name!r}: '@' is not allowed in beam names (the compiler names a "
                "local channel's per-beam streams 'channel@beam')"
            )
        if any(not t for t in self.targets):
            raise ValueError(f"beam {self.name!r}: targets must be non-empty atom ids")
        dup = sorted({t for t in self.targets if self.targets.count(t) > 1})
        if dup:
            raise ValueError(f"beam {self.name!r}: atoms {dup} are listed twice in targets")
        return self


class TTLLine(_Frozen):
    """A digital output line (trigger or shutter) and its latency to the effect."""

    name: str
    device: str = Field("", description="Instrument it triggers, informative.")
    latency_ns: float = Field(0.0, ge=0, description="TTL edge to effect (start, opening), ns.")
    pulse_ns: float = Field(1000.0, gt=0, description="Width of a trigger pulse, ns.")


class CameraTiming(_Frozen):
    """When the camera is triggered relative to the end of the sequence."""

    line: str
    delay_after_sequence_ns: float = Field(1000.0, ge=0)
    exposure_ns: float = Field(20_000_000.0, gt=0)


class HardwareConfig(_Frozen):
    """The whole apparatus as the compiler sees it."""

    name: str = "atomstack-lab"
    awgs: tuple[AWGConfig, ...]
    aoms: tuple[AOMConfig, ...]
    beams: tuple[BeamConfig, ...]
    ttl_lines: tuple[TTLLine, ...] = ()
    camera: CameraTiming | None = None
    ttl_resolution_ns: float = Field(1.0, gt=0, description="Time step of the TTL table, ns.")
    shutter_margin_ns: float = Field(
        1000.0, ge=0, description="Shutter open before first light and after last, ns."
    )
    min_hold_ns: int = Field(
        2000, ge=1, description="Constant stretches at least this long become looped segments."
    )

    @model_validator(mode="after")
    def _check_references(self) -> HardwareConfig:
        for kind, items in (("AWG", self.awgs), ("AOM", self.aoms), ("beam", self.beams)):
            names = [i.name for i in items]
            if len(set(names)) != len(names):
                raise ValueError(f"duplicate {kind} names: {names}")
        awgs = {a.name: a for a in self.awgs}
        lines = {t.name for t in self.ttl_lines}
        used: dict[tuple[str, int], str] = {}
        for aom in self.aoms:
            if aom.awg not in awgs:
                raise ValueError(f"AOM {aom.name!r}: unknown AWG {aom.awg!r}; have {sorted(awgs)}")
            awg = awgs[aom.awg]
            if aom.awg_channel >= awg.channels:
                raise ValueError(
                    f"AOM {aom.name!r}: awg_channel={aom.awg_channel} outside 0..{awg.channels - 1}"
                    f" of AWG {awg.name!r}"
                )
            key = (aom.awg, aom.awg_channel)
            if key in used:
                raise ValueError(f"AOMs {used[key]!r} and {aom.name!r} share AWG channel {key}")
            used[key] = aom.name
            nyquist = awg.sample_rate_hz / 2
            if aom.rf_band_hz[1] >= nyquist or aom.rf_band_hz[0] <= 0:
                raise ValueError(
                    f"AOM {aom.name!r}: RF band {aom.rf_band_hz} Hz must lie in (0, {nyquist}) Hz "
                    f"(Nyquist of AWG {awg.name!r})"
                )
            if aom.rf_amplitude_max_v > awg.full_scale_v:
                raise ValueError(
                    f"AOM {aom.name!r}: rf_amplitude_max_v={aom.rf_amplitude_max_v} V exceeds the "
                    f"AWG full scale {awg.full_scale_v} V"
                )
        aoms = {a.name for a in self.aoms}
        by_channel: dict[str, list[BeamConfig]] = {}
        for beam in self.beams:
            if beam.aom not in aoms:
                raise ValueError(f"beam {beam.name!r}: unknown AOM {beam.aom!r}")
            by_channel.setdefault(beam.channel, []).append(beam)
            if beam.shutter_line is not None and beam.shutter_line not in lines:
                raise ValueError(f"beam {beam.name!r}: unknown TTL line {beam.shutter_line!r}")
        beams_on_aom: dict[str, str] = {}
        for beam in self.beams:
            if beam.aom in beams_on_aom:
                raise ValueError(
                    f"beams {beams_on_aom[beam.aom]!r} and {beam.name!r} share AOM {beam.aom!r}; "
                    "each beam needs its own AOM"
                )
            beams_on_aom[beam.aom] = beam.name
        for channel, group in by_channel.items():
            if len(group) < 2:
                continue
            untargeted = [b.name for b in group if not b.targets]
            if untargeted:
                raise ValueError(
                    f"beams {[b.name for b in group]} all make channel {channel!r}, but "
                    f"beams {untargeted} have no targets (global beams); several beams may make "
                    "one channel only if each addresses its own atoms (non-empty, disjoint "
                    "targets)"
                )
            for i, a in enumerate(group):
                for b in group[i + 1 :]:
                    shared = sorted(set(a.targets) & set(b.targets))
                    if shared:
                        raise ValueError(
                            f"beams {a.name!r} and {b.name!r} of channel {channel!r} both "
                            f"address atoms {shared}; the targets of a channel's beams must be "
                            "disjoint"
                        )
        for awg in self.awgs:
            if awg.trigger_line is not None and awg.trigger_line not in lines:
                raise ValueError(f"AWG {awg.name!r}: unknown TTL line {awg.trigger_line!r}")
        if self.camera is not None and self.camera.line not in lines:
            raise ValueError(f"camera: unknown TTL line {self.camera.line!r}")
        return self

    def awg(self, name: str) -> AWGConfig:
        """The AWG called ``name``."""
        return next(a for a in self.awgs if a.name == name)

    def aom(self, name: str) -> AOMConfig:
        """The AOM called ``name``."""
        return next(a for a in self.aoms if a.name == name)

    def ttl_line(self, name: str) -> TTLLine:
        """The TTL line called ``name``."""
        return next(t for t in self.ttl_lines if t.name == name)

    def beam(self, name: str) -> BeamConfig | None:
        """The beam called ``name``, or None."""
        return next((b for b in self.beams if b.name == name), None)

    def beams_for_channel(self, channel: str) -> tuple[BeamConfig, ...]:
        """Every beam that makes pulse-level ``channel`` (several for a local channel)."""
        return tuple(b for b in self.beams if b.channel == channel)

    def beam_for_channel(self, channel: str) -> BeamConfig | None:
        """The beam that makes pulse-level ``channel``, or None.

        Raises :class:`HardwareConfigError` when several addressing beams make it: use
        :meth:`beams_for_channel` then.
        """
        beams = self.beams_for_channel(channel)
        if len(beams) > 1:
            raise HardwareConfigError(
                f"channel {channel!r} is made by {len(beams)} addressing beams "
                f"{[b.name for b in beams]}; use beams_for_channel"
            )
        return beams[0] if beams else None


def _read_mapping(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix == ".json":
            data = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError as exc:
                raise HardwareConfigError(
                    f"{path}: reading YAML needs PyYAML (pip install pyyaml); or use TOML/JSON"
                ) from exc
            data = yaml.safe_load(text)
        else:
            raise HardwareConfigError(f"{path}: unknown format {suffix!r}; use .toml, .json, .yaml")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise HardwareConfigError(f"{path}: cannot parse: {exc}") from exc
    if not isinstance(data, dict):
        raise HardwareConfigError(f"{path}: top level must be a table/mapping")
    return data


def load_hardware(path: str | Path) -> HardwareConfig:
    """Read a :class:`HardwareConfig` from a TOML, JSON or YAML file."""
    path = Path(path)
    data = _read_mapping(path)
    try:
        return HardwareConfig.model_validate(data)
    except ValidationError as exc:
        raise HardwareConfigError(f"{path}: invalid hardware description:\n{exc}") from exc
