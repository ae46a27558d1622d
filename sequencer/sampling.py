"""``sample(seq)``: every declared channel's Ω(t), Δ(t), φ(t) on a 1 ns grid.

Conventions are pulser-core 1.9.1's (``pulser.sampler.sample``):

- Each channel's arrays run to the end of its last instruction and are then padded to the
  sequence duration: Ω and Δ with zeros, φ with its last value.
- φ switches to a pulse's phase ``phase_jump_time`` before the pulse starts (or at the end of
  the previous pulse, whichever is later), and keeps the last phase after it.
- With ``modulation=True``, Ω and Δ go through each channel's AOM response (Gaussian transfer
  function of bandwidth ``mod_bandwidth``): the output is delayed by the rise time and spreads
  over the fall time, so the arrays extend to the end including fall times. Channels without
  a bandwidth are unchanged.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from sequencer.errors import ParameterError
from sequencer.pulse import Pulse
from sequencer.sampled import ChannelSamples, SampledSequence, TargetSlot
from sequencer.sequence import (
    Sequence,
    _ChannelSchedule,
    apply_modulation,
    fall_time,
    is_detuned_delay,
)

__all__ = ["sample"]


def _channel_arrays(
    sched: _ChannelSchedule,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], list[TargetSlot]]:
    pulses = sched.pulse_slots()
    dt = sched.duration()
    amp = np.zeros(dt)
    det = np.zeros(dt)
    phase = np.zeros(dt)
    slots: list[TargetSlot] = []
    jump = sched.channel.phase_jump_time
    for i, s in enumerate(pulses):
        pulse: Pulse = s.kind
        amp[s.ti : s.tf] += pulse.amplitude.samples
        det[s.ti : s.tf] += pulse.detuning.samples
        ft = fall_time(pulse, sched.channel)
        tf = s.tf + (min(ft, pulses[i + 1].ti - s.tf) if i < len(pulses) - 1 else ft)
        slots.append(TargetSlot(s.ti, tf, frozenset(s.targets)))
        if is_detuned_delay(pulse):
            continue  # Pulser ignores the phase of Ω = 0 constant-Δ pulses
        t_start = 0
        for prev in reversed(pulses[:i]):
            if not is_detuned_delay(prev.kind):
                t_start = max(s.ti - jump, prev.tf)
                break
        phase[t_start:] = pulse.phase
    return amp, det, phase, slots


def sample(seq: Sequence, *, modulation: bool = False) -> SampledSequence:
    """Sample ``seq`` (built, not parametrised) into a :class:`SampledSequence`.

    Arrays are in rad/µs (Ω, Δ) and rad (φ), one sample per ns. Global channels get one slot
    over the whole sequence and every atom; local channels one slot per pulse with its
    targets (extended by the modulation fall time, as Pulser does).
    """
    if seq.is_parametrized():
        raise ParameterError(
            "a parametrised sequence cannot be sampled; call build(**values) first "
            f"(variables: {sorted(seq.declared_variables)})"
        )
    raw = {}
    for name, sched in seq._channel_schedules().items():
        amp, det, phase, slots = _channel_arrays(sched)
        ch = sched.channel
        if modulation and ch.mod_bandwidth and len(amp):  # (Pulser fails on empty ones)
            tr = ch.rise_time
            amp = apply_modulation(np.pad(amp, tr), ch.mod_bandwidth)
            det = apply_modulation(np.pad(det, 2 * tr, mode="edge"), ch.mod_bandwidth)[tr:-tr]
            limit = sched.duration(include_fall_time=True)
            amp, det = amp[:limit], det[:limit]
            n = len(amp)
            phase = (
                np.pad(phase, (0, max(n - len(phase), 0)), mode="edge")[:n]
                if len(phase)
                else np.zeros(n)
            )
        raw[name] = (amp, det, phase, slots)
    total = max((len(a) for a, *_ in raw.values()), default=0)
    total = max(total, seq.get_duration())
    all_atoms = frozenset(seq.register.ids)
    channels = {}
    for name, (amp, det, phase, slots) in raw.items():
        ext = total - len(amp)
        last_phase = float(phase[-1]) if len(phase) else 0.0
        amp = np.pad(amp, (0, ext))
        det = np.pad(det, (0, ext))
        phase = np.concatenate([phase, np.full(ext, last_phase)])
        ch = seq.declared_channels[name]
        if ch.addressing == "Global":
            out_slots: tuple[TargetSlot, ...] = (TargetSlot(0, total, all_atoms),) if total else ()
        else:
            out_slots = tuple(
                TargetSlot(s.start_ns, min(s.stop_ns, total), s.targets) for s in slots
            )
        channels[name] = ChannelSamples(
            name=name,
            basis=ch.basis,
            addressing=ch.addressing,
            amplitude=amp,
            detuning=det,
            phase=phase,
            slots=out_slots,
        )
    return SampledSequence(
        register=seq.register,
        channels=channels,
        device_name=seq.device.name,
        measurement_basis=seq.measurement_basis,
        metadata={"modulation": modulation},
    )
