"""Calibration of the comparisons' tests on null electrodes, pooled over planted recordings.

Each seed is a :func:`bids_app.synthetic.partition.planted_comparison` recording analysed with
the default comparison settings (given L, untrained twins on). Its negative electrodes, whose
drive carries no information shared by the two models beyond L (envelope louder during
words, constant-gain onsets, sound onsets outside L's span, the untrained twin's random
filter, speech-only, language-only, both of these at one electrode, noise), are pooled, and
for each test the rate of p <= 0.05 and of FDR significance is printed with the 99 %
binomial quantile of a calibrated test; then the detection of the shared-content classes
(strong, and weak: r about 0.15 on top of stronger low-level responses), and the summed
``shared_only`` R² of the negative classes as a fraction of their planted variance::

    python benchmarks/comparisons.py                      # 5 seeds, 20 rotations: ~15 min
    python benchmarks/comparisons.py --seeds 2 --refits 10

Not yet covered: real model architectures (random-weight wav2vec2-base and GPT-2 on speech
audio), which issue 23 asks for.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats

from bids_app.analysis import ComparisonConfig, ComparisonInputs, compare_models
from bids_app.encoding import EncodingConfig, StatisticsConfig, cross_validate
from bids_app.synthetic.partition import SFREQ, planted_comparison

NEGATIVE = ("acoustic", "onset", "outside", "untrained", "speech", "language", "both",
            "noise")
#: The classes under the null of each test: no shared information beyond L, or nothing that
#: model (a: speech, b: language) adds beyond L (the onset class is left out of gain_a: the
#: speech features' word-presence steps refine L's smooth onset response).
NULL_CLASSES = {"shared_beyond_low": NEGATIVE,
                "gain_a": ("acoustic", "language", "untrained", "noise"),
                "gain_b": ("acoustic", "onset", "outside", "speech", "untrained", "noise")}


def run(seed: int, n_refits: int, n_noise: int) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """The beyond and varpart tables of one planted recording, and the comparisons' time."""
    planted = planted_comparison(n_noise=n_noise, seed=seed)
    encoding = EncodingConfig()
    lags = encoding.lags_samples(SFREQ)
    results = {space: {layer: cross_validate(
        X, planted.Y, lags=lags, segments=planted.segments, config=encoding,
        word_rows=planted.words.onsets if planted.spaces[space].word_level else None)}
        for (space, layer), X in planted.designs.items()}
    inputs = ComparisonInputs(lambda space, layer: planted.designs[(space, layer)],
                              planted.spaces, results, planted.Y, planted.segments, lags,
                              planted.channels, planted.words, SFREQ)
    start = time.perf_counter()
    out = compare_models(inputs, config=ComparisonConfig(prediction_correlation=[],
                                                         n_refits=n_refits),
                         encoding=encoding, statistics=StatisticsConfig(seed=seed))
    return out.tables["beyond"], out.tables["varpart"], time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--refits", type=int, default=20)
    parser.add_argument("--noise", type=int, default=16, help="noise electrodes per seed")
    args = parser.parse_args()
    beyond, varpart, seconds = [], [], []
    for seed in range(args.seeds):
        table, partition, elapsed = run(seed, args.refits, args.noise)
        beyond.append(table.assign(seed=seed))
        varpart.append(partition.assign(seed=seed))
        seconds.append(elapsed)
        print(f"seed {seed}: comparisons {elapsed:.0f} s ({len(table)} electrodes, "
              f"{args.refits} rotations)", flush=True)
    beyond, varpart = pd.concat(beyond), pd.concat(varpart)
    classes = beyond["channel"].str.rstrip("0123456789")
    print("\ntest                 null electrodes  p<=0.05  FDR-significant  99% bound of 5%")
    for test, null_classes in NULL_CLASSES.items():
        null = beyond[classes.isin(null_classes)]
        n, bound = len(null), stats.binom.ppf(0.99, len(null), 0.05)
        significant = int(null[f"significant_{test}"].astype(bool).sum())
        print(f"{test:<20} {n:>15}  {(null[f'p_{test}'] <= 0.05).mean():7.1%}  "
              f"{significant:>8} of {n}  {bound:.0f} ({bound / n:.1%})")
    print("(significant_shared_beyond_low is the intersection-union rule: the statistic and "
          "both gains)")
    for name in NEGATIVE:
        mine = beyond[classes == name]
        print(f"  {name:<10} shared beyond L: {int(mine['significant_shared_beyond_low'].sum())}"
              f" of {len(mine)}; twins: "
              f"{int(mine['significant_shared_beyond_low_untrained'].sum())}")
    for name in ("shared", "shared_weak"):
        shared = beyond[classes == name]
        print(f"\n{name} class: {int(shared['significant_shared_beyond_low'].sum())} of "
              f"{len(shared)} found; reproduced by the twins: "
              f"{int(shared['reproduced_by_untrained'].sum())}")
    vp_class = varpart["channel"].str.rstrip("0123456789")
    negative = varpart[vp_class.isin(NEGATIVE) & (vp_class != "noise")]
    n_electrodes = negative.groupby(["seed", "channel"]).ngroups
    leak = negative.loc[negative["region"] == "shared_only", "r2"].sum() / (n_electrodes * 0.5)
    print(f"summed shared_only R² of the driven negative classes: {leak:.2%} of their planted "
          f"variance")
    print(f"comparisons: median {np.median(seconds):.0f} s per recording")


if __name__ == "__main__":
    main()
