"""Calibration of the encoding test on pure noise: false-positive rate per regime.

Runs :func:`bids_app.synthetic.calibration.false_positive_rates` on regimes that vary one
factor at a time around the default (white targets, smooth features, width 10, 5 folds,
layer PCA 50, TRF mode, 120 s, circular-shift null), and the refit null on the regimes where
the shift null is not calibrated, over several seeds, and prints per regime the rate of
p <= 0.01 and p <= 0.05 with its 95 % binomial interval under a calibrated test, and the rate
of FDR-significant tests (about 0 when calibrated)::

    python benchmarks/calibration.py            # about 10 min on 2 cores
    python benchmarks/calibration.py --seeds 5 --seconds 300

Word-mode tests (every lag of every electrode) are not independent, so their binomial
interval is too narrow; read their rate, not the flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import pandas as pd
from scipy import stats

from bids_app.synthetic.calibration import Regime, false_positive_rates

VARIATIONS = [{}, {"targets": "pink"}, {"features": "white"}, {"width": 200},
              {"width": 2000}, {"width": 200, "layer_pca": None}, {"n_folds": 3},
              {"n_folds": 10}, {"targets": "pink", "n_folds": 3}, {"mode": "word"},
              {"mode": "word", "targets": "pink"}, {"mode": "word", "n_folds": 10},
              {"mode": "word", "seconds": 600}, {"mode": "word", "seconds": 1800},
              {"method": "refit"}, {"method": "refit", "targets": "pink", "n_folds": 3},
              {"method": "refit", "mode": "word"},
              {"method": "refit", "mode": "word", "targets": "pink"}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--electrodes", type=int, default=200)
    args = parser.parse_args()
    rows = []
    for change in VARIATIONS:
        regime = dataclasses.replace(Regime(seconds=args.seconds), **change)
        start = time.perf_counter()
        runs = [false_positive_rates(regime, n_electrodes=args.electrodes, seed=seed)
                for seed in range(args.seeds)]
        n = sum(run["n_tests"] for run in runs)
        row = {"regime": ", ".join(f"{k}={v}" for k, v in change.items()) or "default",
               "tests": n}
        for key, alpha in (("01", 0.01), ("05", 0.05)):
            rate = sum(run[f"fpr_{key}"] * run["n_tests"] for run in runs) / n
            low, high = stats.binom.interval(0.95, n, alpha)
            row[f"p<={alpha:g}"] = f"{rate:.3f}"
            row[f"95% CI ({alpha:g})"] = f"{low / n:.3f}-{high / n:.3f}"
            row[f"in CI ({alpha:g})"] = low / n <= rate <= high / n
        row["FDR 0.05"] = f"{sum(run['fdr_05'] for run in runs) / len(runs):.3f}"
        row["s"] = round(time.perf_counter() - start, 1)
        rows.append(row)
        print(pd.DataFrame([row]).to_string(index=False, header=len(rows) == 1), flush=True)
    print()
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
