"""Word-lag encoding: planted word responses are found at the right lag."""

from __future__ import annotations

import numpy as np

from bids_app.encoding import (
    EncodingConfig,
    cross_validate_word_lags,
    permutation_test,
    word_targets,
)

SFREQ = 100.0


def planted_words(peaks=(30, 60), n_samples=30_000, n_features=6, seed=0):
    """Word onsets, features, and electrodes responding to ``x·β`` at ``peaks`` samples."""
    rng = np.random.default_rng(seed)
    onsets = np.cumsum(rng.integers(25, 45, size=n_samples // 35))
    onsets = onsets[onsets < n_samples - 300]
    word_X = rng.standard_normal((onsets.size, n_features))
    betas = rng.standard_normal((n_features, len(peaks)))
    kernel = np.exp(-0.5 * (np.arange(-15, 16) / 4.0) ** 2)
    neural = 0.5 * rng.standard_normal((n_samples, len(peaks) + 1))  # last: noise only
    for e, peak in enumerate(peaks):
        impulses = np.zeros(n_samples)
        impulses[onsets + peak] = word_X @ betas[:, e]
        neural[:, e] += np.convolve(impulses, kernel, mode="same")
    return word_X, neural.astype(np.float32), onsets, betas


def test_word_mode_finds_the_peak_lag_and_weights():
    word_X, neural, onsets, betas = planted_words()
    config = EncodingConfig(mode="word", word_lag_step=0.02)
    lags = config.word_lags_samples(SFREQ)
    assert lags[0] == -200 and lags[-1] == 200 and lags.size == 201
    result, targets = cross_validate_word_lags(word_X, neural, onsets, lags, config=config,
                                               return_weights=True)
    assert result.r.shape == (201, 3)
    assert result.alphas.shape == (5, 201, 3)
    for e, peak in enumerate((30, 60)):
        best = lags[np.nanargmax(result.r[:, e])]
        assert abs(best - peak) <= 2
        assert result.r[:, e].max() > 0.8
        at_peak = result.weights[:, np.flatnonzero(lags == best)[0], e]
        assert np.corrcoef(at_peak, betas[:, e])[0, 1] > 0.9
    assert np.abs(result.r[:, 2]).max() < 0.25  # the noise electrode
    p = permutation_test(result, targets, n_permutations=100)
    assert p.shape == (201, 3)
    assert p[lags == 30, 0] < 0.05


def test_word_epochs_stay_inside_their_stimulus():
    neural = np.arange(100, dtype=float)[:, None]
    segments = np.r_[np.zeros(50, int), -np.ones(10, int), np.ones(40, int)]
    onsets = np.array([2, 20, 48, 58, 65, 97])
    epochs, kept = word_targets(neural, onsets, [-2, 0, 3], segments)
    # 2: fits; 20: fits; 48: +3 leaves stimulus 0; 58: in the gap; 65: fits; 97: +3 leaves
    np.testing.assert_array_equal(kept, [True, True, False, False, True, False])
    np.testing.assert_array_equal(epochs[:, :, 0], [[0, 2, 5], [18, 20, 23], [63, 65, 68]])


def test_word_mode_with_pca_and_dropped_words():
    word_X, neural, onsets, _ = planted_words(n_samples=12_000)
    onsets = onsets.copy()
    onsets[:3] = [0, 1, 2]  # their epochs start before the recording
    lags = np.arange(-20, 81, 10)
    config = EncodingConfig(mode="word", pca=3, inner_cv="holdout")
    result, targets = cross_validate_word_lags(word_X, neural, onsets, lags, config=config)
    assert np.isnan(result.predictions[:3]).all() and np.isnan(targets[:3]).all()
    assert not np.isnan(result.predictions[3:]).any()
    assert sorted(np.concatenate(result.test_folds)) == list(range(3, onsets.size))
    assert lags[np.argmax(result.r[:, 0])] == 30
