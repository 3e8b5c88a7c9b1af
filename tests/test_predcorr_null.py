"""The prediction-correlation test is null on noise electrodes, even for correlated models.

Two feature spaces that share a latent (the planted wav2vec2 and GPT-2 of
:mod:`bids_app.synthetic.partition`) fitted to the same pure-noise electrode give correlated
predictions. Shifting one prediction against the other tests only that, and rejects on noise;
refitting both models on shifted data
(:func:`~bids_app.analysis.predcorr.prediction_correlation_null`) keeps the feature
correlation in the null, so its p-values are uniform on noise.

Measured (100 noise electrodes, 120 s and 60 s, seeds 1-3, 39 shifts): the shift null
rejected 23-53 % at p <= 0.05, the refit null 2-6 %.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bids_app.analysis.predcorr import fold_mean_correlation, prediction_correlation_null
from bids_app.encoding import EncodingConfig, EncodingResult, cross_validate, permutation_test
from bids_app.synthetic.partition import SFREQ, planted_comparison

ALPHA = 0.05
N_REFITS = 39  # p = 2/40 = 0.05 is reachable exactly


def _binomial_interval(n: int, p: float, level: float = 0.99) -> tuple[float, float]:
    """Range of the rejection rate of ``n`` independent tests at level ``p``."""
    low, high = stats.binom.interval(level, n, p)
    return low / n, high / n


@pytest.mark.slow  # about 15 s: 2 x 39 refits of two models on 100 electrodes
def test_refit_null_is_calibrated_on_noise_where_a_shift_null_is_not():
    planted = planted_comparison(120.0, n_per_class=0, n_noise=100, seed=1)
    encoding = EncodingConfig(n_folds=5)
    lags = encoding.lags_samples(SFREQ)
    design_a = planted.designs[("wav2vec2", "layer07")]
    design_b = planted.designs[("gpt2", "layer06")]

    def fit(X, Y) -> EncodingResult:
        return cross_validate(X, Y, lags=lags, segments=planted.segments, config=encoding)

    a, b = fit(design_a, planted.Y), fit(design_b, planted.Y)
    r_pred = fold_mean_correlation(a.predictions, b.predictions, a.test_folds)
    assert np.median(r_pred) > 0.01  # the fits to the same noise correlate

    # shifting one prediction against the other rejects on noise
    pair = EncodingResult(r=r_pred, r2=r_pred * np.nan, r_folds=np.empty(0),
                          r2_folds=np.empty(0), alphas=np.empty(0), predictions=b.predictions,
                          test_folds=a.test_folds, lags=lags)
    shift_p = permutation_test(pair, a.predictions, n_permutations=N_REFITS,
                               cross_fit_correction=False)
    assert (shift_p <= ALPHA).mean() > 0.3

    # refitting both models on shifted data does not
    null = prediction_correlation_null(lambda Y: fit(design_a, Y), lambda Y: fit(design_b, Y),
                                       planted.Y, segments=planted.segments,
                                       n_refits=N_REFITS, seed=2)
    assert null.shape == (N_REFITS, 100)
    p = ((null >= r_pred[None, :]).sum(0) + 1) / (N_REFITS + 1)
    low, high = _binomial_interval(100, ALPHA)
    assert low <= (p <= ALPHA).mean() <= high
    assert stats.kstest(p, "uniform").pvalue > 0.001  # discrete (1/40 steps), roughly uniform
