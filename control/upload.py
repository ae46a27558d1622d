"""From a compiled :class:`~sequencer.compiler.HardwareProgram` to what AWG drivers upload.

The compiler's program is per AWG (segments of shape (channels, length) and one step table);
a per-channel sequence AWG (:class:`drivers.awg.SequenceAWG`, e.g. a 33600A output) takes
one channel's segments and steps as a :class:`drivers.awg.SequenceProgram`. Step tables of
such instruments wrap from the last step to the first, so the program starts with a dark
wait: step 0 plays a short segment of zeros until the trigger, then the shot plays once and
the table returns to the dark wait for the next trigger.
"""

from __future__ import annotations

import numpy as np

from drivers.awg import Segment, SequenceAWG, SequenceProgram, SequenceStep
from sequencer.compiler import HardwareConfig, HardwareProgram

__all__ = ["DARK_SEGMENT", "sequence_program", "upload_awg_channel"]

#: Name of the zero segment the wrapped step table waits on.
DARK_SEGMENT = "dark"


def sequence_program(
    program: HardwareProgram,
    hardware: HardwareConfig,
    awg: str,
    channel: int,
    *,
    name: str = "shot",
) -> SequenceProgram:
    """Output ``channel`` (0-based) of AWG ``awg`` as a driver-level sequence program.

    Segments are named ``seg<i>`` as in :meth:`AWGProgram.channel_payload`; a
    :data:`DARK_SEGMENT` of ``min_segment_samples`` zeros (rounded up to the segment
    granularity) is step 0 and waits for the trigger. Raises ``KeyError`` naming the
    known AWGs, or ``ValueError`` if the channel plays no AOM.
    """
    if awg not in program.awgs:
        raise KeyError(f"the program has no AWG {awg!r}; it has {sorted(program.awgs)}")
    prog = program.awgs[awg]
    if not 0 <= channel < len(prog.channel_aoms) or not prog.channel_aoms[channel]:
        used = [i for i, aom in enumerate(prog.channel_aoms) if aom]
        raise ValueError(f"{awg} channel {channel} plays nothing; channels in use: {used}")
    config = hardware.awg(awg)
    granularity = config.segment_granularity
    dark_samples = -(-config.min_segment_samples // granularity) * granularity
    payload = prog.channel_payload(channel)
    segments = [Segment(DARK_SEGMENT, np.zeros(dark_samples, np.int16))]
    segments += [Segment(n, codes) for n, codes in payload["segments"].items()]
    steps = [SequenceStep(DARK_SEGMENT, advance="trigger")]
    steps += [SequenceStep(segment, loops=loops) for segment, loops in payload["steps"]]
    return SequenceProgram(tuple(segments), tuple(steps), name=name)


def upload_awg_channel(
    driver: SequenceAWG,
    program: HardwareProgram,
    hardware: HardwareConfig,
    awg: str,
    channel: int,
    *,
    name: str = "shot",
) -> SequenceProgram:
    """Scale the output, upload the channel's segments and write its step table.

    The output plays at the AWG's sample rate with code 32767 at its ``full_scale_v``, as
    the compiler assumed. Returns the :class:`SequenceProgram` that was loaded. Driver
    errors (limits, the instrument's own errors, a dropped link) propagate unchanged.
    """
    loaded = sequence_program(program, hardware, awg, channel, name=name)
    config = hardware.awg(awg)
    driver.set_output_scale(program.awgs[awg].sample_rate_hz, config.full_scale_v)
    driver.load_program(loaded)
    return loaded
