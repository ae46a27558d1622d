"""emu-sv (Pasqal's PyTorch state-vector emulator) on the benchmark sweep of rydberg_simulator.py.

emu-sv needs PyTorch, which is not a dependency of atomstack: install it in a virtual
environment of its own (``python3 -m venv /tmp/emuenv && /tmp/emuenv/bin/pip install
emu-sv pulser-simulation``) and let the main benchmark call this script with that interpreter:

    .venv/bin/python benchmarks/rydberg_simulator.py --emu-sv-python /tmp/emuenv/bin/python

On its own: ``/tmp/emuenv/bin/python benchmarks/rydberg_emu_sv.py chain 16 OUT.npy`` runs one
case (CPU, ``dt`` = 10 ns as in the issue's figures), saves the final bitstring probabilities
(our basis order: first atom = most significant bit, 1 = Rydberg) and prints one JSON line
with the wall time of ``SVBackend.run()`` (Hamiltonian construction included) and the peak RSS.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rydberg_simulator import build_sequence, coords_for


def main() -> None:
    kind, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    dt = float(sys.argv[4]) if len(sys.argv) > 4 else 10.0
    warnings.simplefilter("ignore")
    import torch
    from emu_sv import StateResult, SVBackend, SVConfig

    seq = build_sequence(coords_for(kind, n))
    config = SVConfig(
        dt=dt, observables=[StateResult(evaluation_times=[1.0])], log_level=40, gpu=False
    )
    t0 = time.perf_counter()
    results = SVBackend(seq, config=config).run()
    wall = time.perf_counter() - t0
    state = results.final_state.data.cpu().numpy()  # type: ignore[attr-defined]
    np.save(out, np.abs(state) ** 2)
    info = {
        "wall_s": wall,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch_threads": torch.get_num_threads(),
        "dt_ns": dt,
    }
    print(json.dumps(info))


if __name__ == "__main__":
    main()
