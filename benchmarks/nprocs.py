"""``--nprocs`` speed-up of the encoding stage, through the CLI, at 1 and 2 processes.

Uses a dataset and feature cache built by ``participant.py --work DIR`` (the ds005574-shaped
participant at ``--duration`` seconds) and runs the participant level on one feature space
(default: all 15 layers of GPT-2 small) with ``--nprocs 1`` and ``--nprocs 2`` in fresh
output folders, reading the run's own ``stage encoding done`` line::

    python benchmarks/participant.py --duration 600 --work /tmp/bench   # once
    python benchmarks/nprocs.py --work /tmp/bench --duration 600
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import pandas as pd
from participant import _STAGE, _child, _seconds, write_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--duration", type=float, default=1800.0)
    parser.add_argument("--subject", default="03")
    parser.add_argument("--space", default="gpt2")
    parser.add_argument("--nprocs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    root = args.work / f"bids-{args.duration:.0f}"
    cache = args.work / f"out-{args.duration:.0f}" / "stimuli"
    config = write_config(args.work / "nprocs.yaml", args.work, previous=False)
    rows = []
    for nprocs in args.nprocs:
        out = args.work / f"nprocs-{nprocs}"
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(cache, out / "stimuli")
        wall, _, done = _child([sys.executable, "-m", "bids_app", str(root), str(out),
                                "participant", "--participant-label", args.subject,
                                "--config", str(config), "--models", args.space,
                                "--nprocs", str(nprocs), "--skip-bids-validation"])
        stages = {name: (w, c, p) for name, w, c, p in _STAGE.findall(done.stderr)}
        w, c, p = stages["encoding"]
        rows.append({"nprocs": nprocs, "encoding_wall_s": _seconds(w),
                     "encoding_cpu_s": _seconds(c), "peak_gb": float(p), "run_wall_s": wall})
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    table["speed_up"] = table["encoding_wall_s"].iloc[0] / table["encoding_wall_s"]
    print(f"\n{args.space}, {args.duration:.0f} s\n"
          + table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
