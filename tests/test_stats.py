"""Permutation statistics and FDR of cross-validated encoding scores."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import scipy.stats

from bids_app.encoding import (
    EncodingConfig,
    StatisticsConfig,
    cross_validate,
    fdr_bh,
    permutation_test,
    refit_null,
    refit_p_values,
    significance,
)
from bids_app.encoding.stats import ShiftNull, max_t_p_values
from bids_app.errors import UsageError


def smooth_noise(rng, shape, width=5):
    """Autocorrelated Gaussian noise (moving average), like a high-gamma envelope."""
    white = rng.standard_normal((shape[0] + width - 1, *shape[1:]))
    return scipy.signal.lfilter(np.ones(width) / width, 1, white, axis=0)[width - 1:]


def test_shift_null_matches_a_loop_and_serves_every_model_of_the_data():
    """Each null value is the fold mean of r with the predictions rotated (float32 FFTs, to
    1e-5), on a fold of a fast FFT length and on folds of prime length (correlated at a
    longer fast length, then folded); one ShiftNull, built once, gives every model's null as
    a fresh one would."""
    rng = np.random.default_rng(0)
    y = rng.standard_normal((120, 3)) + 5.0
    folds = [np.arange(0, 50), np.arange(50, 103), np.arange(103, 120)]
    null = ShiftNull(y, folds, n_permutations=20, seed=3, cross_fit_correction=False)
    assert [size for _, size, *_ in null.folds] == [50, 108, 36]  # 53 and 17 are prime
    for model in range(2):
        pred = rng.standard_normal((120, 3)) + model
        fast = null(pred)
        slow = np.zeros_like(fast)
        for fold, (*_, shifts) in zip(folds, null.folds, strict=True):
            for i, shift in enumerate(shifts):
                rolled = np.roll(pred[fold], shift, axis=0)
                slow[i] += [np.corrcoef(y[fold, j], rolled[:, j])[0, 1] / 3 for j in range(3)]
        np.testing.assert_allclose(fast, slow, atol=1e-5)
        fresh = ShiftNull(y, folds, n_permutations=20, seed=3, cross_fit_correction=False)
        np.testing.assert_array_equal(fresh(pred), fast)
    assert not null.fits(folds, 20, seed=4) and not null.fits(folds[::-1], 20, seed=3)


def test_no_leakage_on_pure_noise():
    """Pure-noise electrodes: mean CV r ≈ 0 and at most 6% false positives at p < 0.05."""
    rng = np.random.default_rng(3)
    n, n_targets = 3000, 500
    X = smooth_noise(rng, (n, 4))
    Y = smooth_noise(rng, (n, n_targets))
    result = cross_validate(X, Y, lags=range(5), config=EncodingConfig())
    p = permutation_test(result, Y, n_permutations=500, seed=1)
    assert abs(result.r.mean()) < 0.01
    assert (p < 0.05).mean() <= 0.06
    assert p.min() >= 1 / 501


def test_permutation_detects_a_real_effect():
    rng = np.random.default_rng(4)
    X = smooth_noise(rng, (2000, 2))
    Y = np.c_[X[:, :1] + rng.standard_normal((2000, 1)), rng.standard_normal((2000, 1))]
    result = cross_validate(X, Y, lags=[0, 1], config=EncodingConfig())
    p = permutation_test(result, Y, n_permutations=200)
    assert p[0] == pytest.approx(1 / 201)
    assert p[1] > 0.01


def test_fdr_bh_matches_scipy_and_keeps_nan():
    rng = np.random.default_rng(5)
    p = np.r_[rng.uniform(size=40), rng.uniform(0, 1e-3, size=10)]
    p_fdr, significant = fdr_bh(p, alpha=0.05)
    np.testing.assert_allclose(p_fdr, scipy.stats.false_discovery_control(p), rtol=1e-12)
    np.testing.assert_array_equal(significant, p_fdr <= 0.05)
    with_nan = np.r_[np.nan, p]
    p_fdr_nan, sig_nan = fdr_bh(with_nan)
    assert np.isnan(p_fdr_nan[0]) and not sig_nan[0]
    np.testing.assert_allclose(p_fdr_nan[1:], p_fdr)


def test_statistics_config_validation():
    with pytest.raises(UsageError, match=r"statistics\.n_permutations"):
        StatisticsConfig(n_permutations=0)
    with pytest.raises(UsageError, match=r"statistics\.fdr_alpha"):
        StatisticsConfig(fdr_alpha=1.5)
    with pytest.raises(UsageError, match=r"statistics\.method"):
        StatisticsConfig(method="bootstrap")
    assert StatisticsConfig().null("word") == "refit"
    assert StatisticsConfig().null("word", words_per_fold=100) == "refit"
    assert StatisticsConfig().null("word", words_per_fold=1000) == "circular_shift"
    assert StatisticsConfig().null("trf") == "circular_shift"
    assert StatisticsConfig(method="refit").null("trf") == "refit"


def test_refit_null_rotates_the_modelled_samples_in_batches():
    Y = np.arange(24, dtype=np.float32).reshape(12, 2)
    segments = np.r_[np.full(2, -1), np.zeros(10, int)]
    calls = []

    def statistic(shifted):
        calls.append(shifted.copy())
        return shifted.sum(0)  # the column sums, the same for every rotation

    null = refit_null(statistic, Y, segments=segments, n_refits=5, seed=0, max_columns=4)
    assert null.shape == (5, 2) and [c.shape[1] for c in calls] == [4, 4, 2]
    np.testing.assert_allclose(null, np.broadcast_to(Y[2:].sum(0), (5, 2)))
    shifted = np.concatenate(calls, axis=1)
    assert not shifted[:2].any(), "unmodelled samples stay zero"
    for refit in range(5):
        column = shifted[2:, 2 * refit]
        shift = int(np.flatnonzero(Y[2:, 0] == column[0])[0])
        assert 1 <= shift <= 9, "never the unshifted data"
        np.testing.assert_array_equal(column, np.roll(Y[2:, 0], -shift))
        np.testing.assert_array_equal(shifted[2:, 2 * refit + 1], np.roll(Y[2:, 1], -shift))


def test_refit_p_values_use_the_prediction_interval_of_a_normal_null():
    draws = np.random.default_rng(0).standard_normal((400, 3))
    draws = (draws - draws.mean(0)) / draws.std(0, ddof=1)  # mean 0.1 and sd 0.02 exactly
    p = refit_p_values(np.array([0.1, 0.16, np.nan]), 0.1 + 0.02 * draws)
    assert p[0] == pytest.approx(0.5)
    assert p[1] == pytest.approx(scipy.stats.t.sf(3 / np.sqrt(1 + 1 / 400), 399))
    assert p[1] == pytest.approx(scipy.stats.norm.sf(3), rel=0.1)  # many refits: about normal
    assert np.isnan(p[2])
    assert np.isnan(refit_p_values(np.array([0.2]), np.zeros((10, 1))))[0]
    with pytest.raises(UsageError, match="at least 2 refits"):
        refit_p_values(np.array([0.2]), np.zeros((1, 1)))


def test_refit_p_values_are_uniform_with_few_refits():
    """A draw from the null's own distribution gets a uniform p, even with 10 refits."""
    rng = np.random.default_rng(1)
    null, observed = rng.standard_normal((10, 20000)), rng.standard_normal(20000)
    p = refit_p_values(observed, null)
    for alpha in (0.01, 0.05, 0.2):
        assert abs((p <= alpha).mean() - alpha) < 4 * np.sqrt(alpha * (1 - alpha) / 20000)
    z_only = scipy.stats.norm.sf((observed - null.mean(0)) / null.std(0, ddof=1))
    assert (z_only <= 0.01).mean() > 0.015, "the plain normal approximation is not"


def test_refit_test_keeps_the_cross_fitting_dependence():
    """On noise, refits give the spread the √2 factor corrects the shift null to."""
    rng = np.random.default_rng(3)
    X, Y = smooth_noise(rng, (3000, 4)), rng.standard_normal((3000, 300)).astype(np.float32)
    config = EncodingConfig()
    result = cross_validate(X, Y, lags=range(5), config=config)
    null = refit_null(lambda shifted: cross_validate(X, shifted, lags=range(5),
                                                     config=config).r,
                      Y, n_refits=20, seed=1, max_columns=3000)
    p = refit_p_values(result.r, null)
    assert (p <= 0.05).mean() <= scipy.stats.binom.interval(0.99, 300, 0.05)[1] / 300
    spread = null.std(0, ddof=1).mean()
    assert spread == pytest.approx(result.r.std(), rel=0.25)


def test_max_t_reuses_the_null_each_layers_test_kept():
    rng = np.random.default_rng(4)
    Y = smooth_noise(rng, (3000, 40)).astype(np.float32)
    X = smooth_noise(rng, (3000, 6))
    layers = [cross_validate(X + 0.5 * smooth_noise(rng, (3000, 6)), Y, lags=[0, 1, 2],
                             config=EncodingConfig(n_folds=5)) for _ in range(3)]
    recomputed = max_t_p_values(layers, Y, n_permutations=200, seed=0)
    statistics = StatisticsConfig(n_permutations=200, seed=0)
    layer_p = [significance(result, Y, None, Y, statistics, "trf") for result in layers]
    assert all(result.shift_null.shape == (200, 40) for result in layers)
    kept = max_t_p_values(layers, Y, n_permutations=200, seed=0)
    np.testing.assert_allclose(kept, recomputed, atol=1 / 201)  # float32 ties at most
    # one test per electrode: never below the smallest of its layers' p
    assert (kept >= np.min(layer_p, axis=0) - 1e-12).all()
