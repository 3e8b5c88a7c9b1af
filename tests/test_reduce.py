"""The default design reductions: in-fold PCA of each block and the raised-cosine lag basis."""

from __future__ import annotations

import numpy as np
import pytest

from bids_app.encoding import EncodingConfig, cross_validate
from bids_app.encoding import reduce as reduce_module
from bids_app.encoding.backend import Backend
from bids_app.encoding.folds import Piece, outer_folds, segment_pieces
from bids_app.encoding.gram import lagged_design
from bids_app.encoding.reduce import (
    ReducedDesign,
    filter_lags,
    fit_pca,
    fold_pcas,
    lag_basis,
)
from bids_app.encoding.result import lag_profile
from bids_app.errors import UsageError

LAGS = np.arange(0, 41)


def test_lag_basis_tiles_the_window_and_is_skipped_when_it_would_not_reduce():
    basis = lag_basis(LAGS, 9)
    assert basis.shape == (41, 9)
    np.testing.assert_allclose(basis.sum(1), 1.0, atol=1e-12)  # a partition of unity
    assert basis[0, 0] == 1.0 and basis[-1, -1] == 1.0
    assert lag_basis(np.arange(5), 9) is None
    assert lag_basis(LAGS, None) is None


@pytest.mark.parametrize("lags", [np.arange(0, 12), np.arange(-3, 9), np.arange(2, 30, 3)])
def test_filtered_design_is_the_lagged_design_times_the_basis(lags):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 3)).astype(np.float32)
    segments = np.repeat([0, -1, 1], [140, 20, 140])
    pieces = segment_pieces(segments, 300)
    basis = lag_basis(lags, 4)
    Z = filter_lags(X, pieces, lags, basis)
    for piece in pieces:
        lagged, _ = lagged_design(X, piece, lags, Backend(), "float64")
        expected = np.einsum("tlj,lb->tbj", lagged.reshape(len(lagged), len(lags), 3), basis)
        np.testing.assert_allclose(Z[piece.start:piece.stop], expected.reshape(len(lagged), -1),
                                   atol=1e-5)
    assert not Z[140:160].any()  # between stimuli nothing is modelled


def test_fold_pca_never_sees_its_own_fold():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((1000, 20)) @ rng.standard_normal((20, 20))
    folds = outer_folds(segment_pieces(None, 1000), 5)
    before = fold_pcas(X.astype(np.float32), folds, 5)
    changed = X.copy()
    changed[:200] = 100 * rng.standard_normal((200, 20))  # fold 0 only
    after = fold_pcas(changed.astype(np.float32), folds, 5)
    np.testing.assert_allclose(np.abs(after[0].components), np.abs(before[0].components),
                               atol=1e-6)
    assert not np.allclose(np.abs(after[1].components), np.abs(before[1].components),
                           atol=1e-2)


def test_raw_weights_reproduce_the_reduced_predictions():
    rng = np.random.default_rng(2)
    n = 2000
    X = rng.standard_normal((n, 80)).astype(np.float32)
    Y = rng.standard_normal((n, 3)).astype(np.float32)
    Y[:, 0] += np.convolve(X[:, 0], np.hanning(10), mode="full")[:n]
    pieces = segment_pieces(None, n)
    folds = outer_folds(pieces, 5)
    design = ReducedDesign.build([X], pieces, folds, LAGS[:20], 10, 5)
    Z, widths = design(2)
    assert Z.shape == (n, 10 * 5) and widths == [10 * 5]
    w = rng.standard_normal((50, 3))
    raw = design.raw_weights(2, w)
    assert raw.shape == (20, 80, 3)
    lagged, _ = lagged_design(X, pieces[0], LAGS[:20], Backend(), "float64")
    via_raw = lagged @ raw.reshape(-1, 3)
    via_design = Z.astype(float) @ w
    # equal up to the constant that the PCA centring adds where every lag is inside the data
    via_raw, via_design = via_raw[20:], via_design[20:]
    np.testing.assert_allclose(via_raw - via_raw.mean(0), via_design - via_design.mean(0),
                               rtol=1e-3, atol=1e-3)


def test_reduced_default_recovers_a_planted_trf_of_a_wide_layer():
    rng = np.random.default_rng(3)
    n, width = 6000, 200
    latent = rng.standard_normal((n, 5))
    loadings = rng.standard_normal((5, width))
    X = latent @ loadings + 0.3 * rng.standard_normal((n, width))
    kernel = np.exp(-0.5 * ((np.arange(41) - 15) / 4.0) ** 2)
    drive = np.stack([np.convolve(latent[:, i], kernel)[:n] for i in range(2)], 1)
    Y = drive + 2.0 * rng.standard_normal((n, 2))
    result = cross_validate(X.astype(np.float32), Y, lags=LAGS, config=EncodingConfig(),
                            return_weights=True)
    expected = np.corrcoef(drive[:, 0], Y[:, 0])[0, 1]
    assert np.all(result.r > 0.9 * expected)
    assert result.weights.shape == (41, width, 2)
    profile = result.weights[:, :, 0] @ loadings[0]  # response to latent 0 over lags
    assert abs(int(np.argmax(profile)) - 15) <= 4
    summary = result.lag_profile  # what the stage outputs keep of wide layers
    assert summary.shape == (41, 2)
    assert abs(int(np.argmax(summary[:, 0])) - 15) <= 4


@pytest.mark.parametrize("fit", ["recording", "in_fold"])
@pytest.mark.parametrize("word_level", [False, True])
def test_the_lag_profile_through_the_reductions_is_the_raw_profile(fit, word_level):
    """The solver's lag profile, computed through each block's PCA (or, with in-fold PCAs, from
    the raw weights), is the raw weights' profile on the raw features, impulse blocks
    included."""
    rng = np.random.default_rng(5)
    n, width = 3000, 80
    X = rng.standard_normal((n, width)).astype(np.float32) + 2.0
    rows = None
    if word_level:  # word vectors at word onsets, zero elsewhere
        rows = np.arange(10, n, 23)
        impulses = np.zeros_like(X)
        impulses[rows] = X[rows]
        X = impulses
    drive = np.where(X[:, 0] != 0, X[:, 0] - 2.0, 0)  # the word vectors' content, not timing
    Y = np.stack([np.convolve(drive, np.hanning(15))[:n], rng.standard_normal(n)], 1)
    segments = np.repeat([0, -1, 1], [1400, 100, 1500])
    result = cross_validate(X, Y, lags=LAGS, segments=segments, word_rows=rows,
                            config=EncodingConfig(layer_pca=20, layer_pca_fit=fit),
                            return_weights=True)
    np.testing.assert_allclose(result.lag_profile, lag_profile(result.weights, X, segments),
                               rtol=1e-5, atol=1e-9)
    assert result.lag_profile[:, 0].max() > 2 * result.lag_profile[:, 1].max()


@pytest.mark.parametrize("reduced", [True, False])
def test_no_leakage_on_pure_noise(reduced):
    rng = np.random.default_rng(4)
    n = 4000
    X = rng.standard_normal((n, 120)).astype(np.float32)
    Y = rng.standard_normal((n, 30))
    config = EncodingConfig() if reduced else EncodingConfig(layer_pca=None, lag_basis=None)
    result = cross_validate(X, Y, lags=np.arange(0, 9), config=config)
    # cross-validated r on noise stays at the null: mean about 0, spread ~ 1/sqrt(n / folds)
    assert abs(np.mean(result.r)) < 3 / np.sqrt(n * result.r.size)
    assert np.max(np.abs(result.r)) < 5 / np.sqrt(n / 5)


def test_the_recording_fit_gives_every_fold_one_design():
    """``layer_pca_fit: recording`` fits a wide block's PCA and a word block's centring once,
    on the stimulus features of every modelled sample: one design for all folds, the same
    fit as reducing the features beforehand; ``in_fold`` fits one per outer training set."""
    rng = np.random.default_rng(4)
    n = 3000
    X = rng.standard_normal((n, 80)).astype(np.float32)
    words = np.zeros((n, 6), dtype=np.float32)
    rows = np.arange(10, n, 37)
    words[rows] = 5.0 + rng.standard_normal((len(rows), 6))
    Y = rng.standard_normal((n, 3)).astype(np.float32)
    Y[:, 0] += np.convolve(X[:, 0], np.hanning(10), mode="full")[:n]
    pieces = segment_pieces(None, n)
    folds = outer_folds(pieces, 5)
    shared = ReducedDesign.build([X, words], pieces, folds, LAGS, 10, 5, {1: rows},
                                 fit="recording")
    per_fold = ReducedDesign.build([X, words], pieces, folds, LAGS, 10, 5, {1: rows})
    assert shared.fold_invariant and not per_fold.fold_invariant
    np.testing.assert_array_equal(shared(0)[0], shared(3)[0])
    assert not np.allclose(per_fold(0)[0], per_fold(3)[0])
    centred = shared.pcas[1][0].transform(words)[rows]  # over all words of the recording
    np.testing.assert_allclose(centred.mean(0), 0, atol=1e-5)
    config = EncodingConfig(layer_pca=10)
    whole = fit_pca(X, pieces, 10).transform(X)
    np.testing.assert_allclose(cross_validate(X, Y, lags=LAGS, config=config).r,
                               cross_validate(whole, Y, lags=LAGS, config=config).r, atol=1e-5)


def test_a_coarse_lag_grid_keeps_every_delay_of_an_impulse():
    """With a lag basis, lag_step only sets where the TRF is reported: the bumps filter the
    features at every sample, so a word impulse still reaches every delay of the window
    (filtered at every other lag only, it reached half of them: a comb)."""
    n = 400
    X = np.zeros((n, 1), dtype=np.float32)
    X[100::97, 0] = 1.0  # word impulses
    pieces = segment_pieces(None, n)
    folds = outer_folds(pieces, 5)
    dense = ReducedDesign.build([X], pieces, folds, np.arange(41), None, 9)
    coarse = ReducedDesign.build([X], pieces, folds, np.arange(0, 41, 2), None, 9)
    np.testing.assert_array_equal(coarse(0)[0], dense(0)[0])
    # as few reported lags as bumps (lag_step 0.05 s): still the dense filter, not a comb
    sparse = ReducedDesign.build([X], pieces, folds, np.arange(0, 41, 5), None, 9)
    np.testing.assert_array_equal(sparse(0)[0], dense(0)[0])
    assert np.count_nonzero(coarse(0)[0][100:141].sum(axis=1)) == 41
    w = np.random.default_rng(0).standard_normal((9, 2))
    np.testing.assert_allclose(coarse.raw_weights(0, w), dense.raw_weights(0, w)[::2])


def test_a_coarse_lag_grid_without_a_basis_is_refused():
    from bids_app.config import AppConfig

    with pytest.raises(UsageError, match=r"lag_step 0.02 s spans several samples"):
        AppConfig(encoding=EncodingConfig(lag_step=0.02, lag_basis=None))
    with pytest.raises(UsageError, match=r"lag_step 0.02 s spans several samples"):
        AppConfig(encoding=EncodingConfig(lag_step=0.02, tmax=0.04))  # 5 samples, 9 bumps
    AppConfig(encoding=EncodingConfig(lag_step=0.01, lag_basis=None))
    AppConfig(encoding=EncodingConfig(lag_step=0.02))
    # 9 reported lags and 9 bumps: the bumps still filter the window's 41 samples
    assert lag_basis(np.arange(0, 41, 5), 9).shape == (9, 9)
    assert lag_basis(np.arange(5), 9) is None


def test_reduction_settings_are_validated():
    for key in ("layer_pca", "lag_basis"):
        with pytest.raises(UsageError, match=key):
            EncodingConfig(**{key: 0})
        assert getattr(EncodingConfig(**{key: None}), key) is None


@pytest.mark.parametrize("width", [3, 80])
def test_centred_word_design_carries_no_word_timing(width):
    """Word vectors with a large mean vector become impulses uncorrelated with the onsets.

    Uncentred, every column of such an impulse design correlates with the word-onset train
    (r about 0.99 for the first principal component); centred across each fold's training
    words, the scores have mean exactly zero over the training words, so they are
    uncorrelated with the onset regressor there, and nearly so on the test fold: the test
    words' mean differs from the training words' by sampling noise only, within 4 standard
    errors (``4 / sqrt(n_test_words)`` in units of the scores' spread) for every component.
    """
    rng = np.random.default_rng(1)
    n, rows = 20000, np.sort(rng.choice(np.arange(5, 19995), 3000, replace=False))
    X = np.zeros((n, width), dtype=np.float32)
    X[rows] = 5.0 + rng.standard_normal((len(rows), width))
    onsets = np.zeros(n)
    onsets[rows] = 1.0
    pieces = segment_pieces(None, n)
    folds = outer_folds(pieces, 5)
    raw = ReducedDesign.build([X], pieces, folds, np.arange(1), 50, None)
    centred = ReducedDesign.build([X], pieces, folds, np.arange(1), 50, None, {0: rows})
    first_raw = raw(0)[0][:, 0]
    assert abs(np.corrcoef(first_raw, onsets)[0, 1]) > 0.9
    for k, fold in enumerate(folds):
        scores = centred(k)[0]
        assert np.all(scores[np.setdiff1d(np.arange(n), rows)] == 0)
        test = np.zeros(n, bool)
        for piece in fold:
            test[piece.start:piece.stop] = True
        train_rows, test_rows = rows[~test[rows]], rows[test[rows]]
        np.testing.assert_allclose(scores[train_rows].mean(0), 0, atol=1e-4)
        test_mean = np.abs(scores[test_rows].mean(0)) / scores[test_rows].std(0)
        assert test_mean.max() < 4 / np.sqrt(len(test_rows))
        r_train = [np.corrcoef(scores[~test][:, j], onsets[~test])[0, 1]
                   for j in range(scores.shape[1])]
        assert np.abs(r_train).max() < 1e-3


def test_a_long_recording_pca_is_estimated_on_evenly_spaced_samples(monkeypatch):
    """Beyond ``PCA_SAMPLES`` modelled samples the covariance comes from every k-th sample of
    each piece, in chunks whose phase turns (so that an even stride does not see one phase of
    upsampled frames only); mean and standardisation as the PCA of those samples."""
    monkeypatch.setattr(reduce_module, "PCA_SAMPLES", 1000)
    rng = np.random.default_rng(6)
    X = (rng.standard_normal((3000, 12)) @ rng.standard_normal((12, 12))).astype(np.float32)
    pieces = [Piece(0, 1400, 0, 1400), Piece(1500, 3000, 1500, 3000)]
    pca = reduce_module.fit_pca(X, pieces, 4, chunk_size=100)  # chunks of 300 samples
    starts = [*range(0, 1400, 300), *range(1500, 3000, 300)]
    rows = np.concatenate([np.arange(start + c % 3, min(start + 300, 1400 if start < 1400
                                                          else 3000), 3)
                           for c, start in enumerate(starts)])
    assert {row % 3 for row in rows} == {0, 1, 2}
    sample = X[rows].astype(float)
    scale = sample.std(0)
    eigvecs = np.linalg.eigh(np.cov(sample / scale, rowvar=False, bias=True))[1][:, ::-1][:, :4]
    np.testing.assert_allclose(np.abs(pca.components.T @ eigvecs), np.eye(4), atol=1e-6)
    np.testing.assert_allclose(pca.scale, scale, rtol=1e-5)
