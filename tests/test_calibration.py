"""The encoding test is calibrated on pure noise in fast regimes (benchmarks/calibration.py
prints the full table; docs/statistics.md records it).

Each regime fits 200 independent noise electrodes; a calibrated test rejects a fraction
``alpha`` of them, so the rate must fall in the 99 % binomial interval of ``alpha`` (the wider
level keeps the test from failing once in twenty runs by chance).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from bids_app.encoding import EncodingConfig, cross_validate, permutation_test
from bids_app.synthetic import calibration
from bids_app.synthetic.calibration import Regime, false_positive_rates

N_ELECTRODES = 200


@pytest.mark.parametrize("regime", [Regime(), Regime(targets="pink"), Regime(features="white"),
                                    Regime(n_folds=3), Regime(n_folds=10),
                                    Regime(width=200)], ids=str)
def test_trf_false_positive_rate_is_nominal_on_noise(regime):
    row = false_positive_rates(regime, n_electrodes=N_ELECTRODES, seed=1)
    low, high = stats.binom.interval(0.99, N_ELECTRODES, 0.05)
    assert low / N_ELECTRODES <= row["fpr_05"] <= high / N_ELECTRODES
    assert row["fdr_05"] <= 0.01  # nothing (or one electrode) survives FDR on noise


def test_calibration_detects_an_anti_conservative_test():
    # without the cross-fitting correction the same engine is anti-conservative: the check
    # above can fail
    rng = np.random.default_rng(3)
    Y = calibration._noise(rng, (12000, N_ELECTRODES), "white")
    X = calibration._features(rng, (12000, 10), "smooth")
    config = EncodingConfig()
    result = cross_validate(X, Y, lags=config.lags_samples(100.0), config=config)
    p = permutation_test(result, Y, n_permutations=200, cross_fit_correction=False)
    assert (p <= 0.05).mean() > stats.binom.interval(0.99, N_ELECTRODES, 0.05)[1] / N_ELECTRODES


@pytest.mark.slow
@pytest.mark.parametrize("regime", [Regime(targets="pink", n_folds=3, method="refit"),
                                    Regime(mode="word", method="refit")], ids=str)
def test_refit_null_is_nominal_where_the_shift_null_is_not(regime):
    n_electrodes = N_ELECTRODES if regime.mode == "trf" else 50
    row = false_positive_rates(regime, n_electrodes=n_electrodes, n_refits=50, seed=1)
    # word mode: every lag of an electrode is a test, and neighbouring lags are correlated,
    # so the interval is that of the electrodes, not of the tests
    low, high = stats.binom.interval(0.99, n_electrodes, 0.05)
    assert low / n_electrodes <= row["fpr_05"] <= high / n_electrodes
    shift = false_positive_rates(dataclasses.replace(regime, method="circular_shift"),
                                 n_electrodes=n_electrodes, seed=1)
    assert row["fpr_05"] < shift["fpr_05"]
