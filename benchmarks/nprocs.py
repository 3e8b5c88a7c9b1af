"""``--nprocs`` speed-up of the encoding stage: one ds005574-sized layer at 1 and 2 threads.

One 768-dim layer (a smooth latent-driven design like a model layer) against 235 channels,
default configuration (in-fold PCA to 50, 9 lag bumps, 5 folds, 20 alphas, 1,000
permutations), timed in a fresh process per thread count::

    python benchmarks/nprocs.py --seconds 1800 --threads 1 2
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def _child(seconds: float, threads: int) -> dict:
    from bids_app.encoding import EncodingConfig, StatisticsConfig, cross_validate, permutation_test

    rng = np.random.default_rng(0)
    n = int(seconds * 100)
    latent = rng.standard_normal((n, 20)).astype(np.float32)
    X = latent @ rng.standard_normal((20, 768)).astype(np.float32)
    X += rng.standard_normal(X.shape).astype(np.float32)
    Y = 0.2 * np.roll(latent[:, :1], 15, axis=0) + rng.standard_normal((n, 235))
    Y = Y.astype(np.float32)
    start = time.perf_counter()
    result = cross_validate(X, Y, lags=np.arange(41), config=EncodingConfig(), n_jobs=threads)
    fit = time.perf_counter() - start
    permutation_test(result, Y, n_permutations=StatisticsConfig().n_permutations)
    return {"threads": threads, "fit_s": fit, "total_s": time.perf_counter() - start,
            "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1800.0)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.seconds, args.child)))
        return
    rows = []
    for threads in args.threads:
        done = subprocess.run([sys.executable, __file__, "--seconds", str(args.seconds),
                               "--child", str(threads)], capture_output=True, text=True,
                              check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["total_s"]
    print(f"\nthreads  fit_s  fit+permutations_s  speed-up  peak_GB  ({args.seconds:.0f} s)")
    for row in rows:
        print(f"{row['threads']:7d} {row['fit_s']:6.1f} {row['total_s']:19.1f} "
              f"{base / row['total_s']:9.2f} {row['peak_gb']:8.2f}")


if __name__ == "__main__":
    main()
