"""The encoding engine against explicit references (scikit-learn, explicit lagged designs)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bids_app.encoding import EncodingConfig, cross_validate, cross_validate_folds
from bids_app.encoding.backend import Backend
from bids_app.encoding.folds import outer_folds, piece_indices, segment_pieces
from bids_app.encoding.gram import lagged_stats
from bids_app.errors import UsageError

ALPHAS = [float(a) for a in np.logspace(-2, 4, 7)]


def explicit_design(X: np.ndarray, lags, segments=None) -> np.ndarray:
    """The lagged design, one sample and lag at a time, zero across segment edges."""
    n, p = X.shape
    segments = np.zeros(n, int) if segments is None else segments
    Z = np.zeros((n, len(lags) * p))
    for t in range(n):
        for i, lag in enumerate(lags):
            u = t - lag
            if 0 <= u < n and segments[u] == segments[t] >= 0:
                Z[t, i * p:(i + 1) * p] = X[u]
    return Z


def sklearn_nested_cv(Z, Y, folds, alphas, inner, pca=None):
    """Straightforward nested CV with scikit-learn: r per fold, chosen alphas, predictions.

    ``inner(k)`` lists the (train, validation) index pairs of outer fold ``k``.
    """
    def make_model(alpha):
        reduce = [PCA(pca)] if pca else []
        return make_pipeline(StandardScaler(), *reduce, Ridge(alpha=alpha))

    predictions = np.full(Y.shape, np.nan)
    r_folds, chosen = [], []
    for k, test in enumerate(folds):
        sse = np.zeros((len(alphas), Y.shape[1]))
        for a, alpha in enumerate(alphas):
            for train, val in inner(k):
                model = make_model(alpha).fit(Z[train], Y[train])
                sse[a] += ((Y[val] - model.predict(Z[val])) ** 2).sum(0)
        best = np.asarray(alphas)[sse.argmin(0)]
        train = np.setdiff1d(np.arange(len(Y)), test)
        model = make_model(best).fit(Z[train], Y[train])
        predictions[test] = model.predict(Z[test])
        r_folds.append([np.corrcoef(Y[test, j], predictions[test, j])[0, 1]
                        for j in range(Y.shape[1])])
        chosen.append(best)
    return np.array(r_folds), np.array(chosen), predictions


def planted(n=600, p=4, n_targets=6, lags=(0, 1, 2), noise=1.0, seed=0):
    """Features, targets driven by a random TRF plus noise (growing over targets), the TRF."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + 0.5
    kernel = rng.standard_normal((len(lags) * p, n_targets))
    scale = noise * np.geomspace(1, 30, n_targets)
    Y = explicit_design(X, lags) @ kernel + scale * rng.standard_normal((n, n_targets))
    return X, Y, kernel


def test_gram_matches_explicit_design():
    """Lag-trick statistics equal those of the explicit design, across gaps and chunks."""
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((300, 3)), rng.standard_normal((300, 2))
    segments = np.repeat([0, -1, 1, 2], [90, 10, 120, 80])
    lags = [-2, 0, 1, 4]
    stats = lagged_stats(X, Y, segment_pieces(segments, 300), lags, Backend(), chunk_size=17)
    keep = segments >= 0
    Z = explicit_design(X, lags, segments)[keep]
    np.testing.assert_allclose(stats.xx, Z.T @ Z, atol=1e-10)
    np.testing.assert_allclose(stats.xy, Z.T @ Y[keep], atol=1e-10)
    np.testing.assert_allclose(stats.sx, Z.sum(0), atol=1e-10)
    assert stats.n == keep.sum()


def test_single_alpha_matches_sklearn_ridge():
    """With one alpha, the cross-validated predictions are scikit-learn Ridge's (1e-5)."""
    X, Y, _ = planted()
    lags = [0, 1, 2]
    config = EncodingConfig(alphas=[3.0], dtype="float64")
    result = cross_validate(X, Y, lags=lags, config=config)
    Z = explicit_design(X, lags)
    for test in result.test_folds:
        train = np.setdiff1d(np.arange(len(Y)), test)
        model = make_pipeline(StandardScaler(), Ridge(alpha=3.0)).fit(Z[train], Y[train])
        np.testing.assert_allclose(result.predictions[test], model.predict(Z[test]),
                                   rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("inner_folds,inner_cv,n_targets,pca", [
    (None, "kfold", 6, None), (None, "holdout", 6, None), (3, "kfold", 6, None),
    (3, "holdout", 6, None),
    (None, "kfold", 12, None),  # many targets: validation in the eigenbasis
    (None, "kfold", 6, 5),  # in-fold PCA
])
def test_nested_cv_matches_sklearn_loop(inner_folds, inner_cv, n_targets, pca):
    """Scores, alphas and predictions equal a plain scikit-learn nested-CV loop (1e-4)."""
    X, Y, _ = planted(noise=3.0, n_targets=n_targets)
    lags = [0, 1, 2]
    config = EncodingConfig(alphas=ALPHAS, dtype="float64", inner_folds=inner_folds,
                            inner_cv=inner_cv, pca=pca)
    result = cross_validate(X, Y, lags=lags, config=config)
    folds = result.test_folds

    def inner(k):
        if inner_folds is None:
            vals = [folds[j] for j in range(len(folds)) if j != k]
        else:
            rest = np.setdiff1d(np.arange(len(Y)), folds[k])
            vals = np.array_split(rest, inner_folds)  # equal contiguous chunks
        vals = vals[-1:] if inner_cv == "holdout" else vals
        return [(np.setdiff1d(np.arange(len(Y)), np.concatenate([folds[k], v])), v)
                for v in vals]

    r_folds, chosen, predictions = sklearn_nested_cv(explicit_design(X, lags), Y, folds,
                                                     ALPHAS, inner, pca)
    assert len(np.unique(chosen)) > 1  # the test exercises per-target alphas
    np.testing.assert_array_equal(result.alphas, chosen)
    np.testing.assert_allclose(result.r_folds, r_folds, atol=1e-4)
    np.testing.assert_allclose(result.r, r_folds.mean(0), atol=1e-4)
    np.testing.assert_allclose(result.predictions, predictions, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("inner_cv,shared", [("kfold", 10), ("holdout", 1)])
def test_a_fold_invariant_design_shares_inner_decompositions(monkeypatch, inner_cv, shared):
    """One solver for both kinds of design: with one design for all outer folds, the training
    set without folds j and k validates outer fold k on j and outer fold j on k from one
    ``eigh``, (5 choose 2) = 10 of them instead of 20 (holdout: folds 3 and 4 share one);
    a design per fold takes one per inner fit. Both give the same model."""
    from bids_app.encoding import cv

    calls = []
    real = cv.validation_errors
    monkeypatch.setattr(cv, "validation_errors",
                        lambda system, vals, *a, **k: calls.append(len(vals)) or real(
                            system, vals, *a, **k))
    X, Y, _ = planted(noise=3.0)
    config = EncodingConfig(alphas=ALPHAS, dtype="float64", inner_cv=inner_cv)
    shared_fit = cross_validate(X, Y, lags=[0, 1, 2], config=config)
    n_shared = calls.count(2)
    calls.clear()
    per_fold = cross_validate_folds(lambda k: [X], Y, lags=[0, 1, 2], config=config)
    assert n_shared == shared and calls.count(2) == 0
    assert len(calls) == (20 if inner_cv == "kfold" else 5)
    np.testing.assert_array_equal(shared_fit.alphas, per_fold.alphas)
    np.testing.assert_allclose(shared_fit.r_folds, per_fold.r_folds, atol=1e-10)
    np.testing.assert_allclose(shared_fit.inner_error, per_fold.inner_error, rtol=1e-9)


def test_float32_close_to_float64():
    """The default float32 path gives the float64 scores closely."""
    X, Y, _ = planted(noise=3.0)
    r64 = cross_validate(X, Y, lags=[0, 1, 2],
                         config=EncodingConfig(alphas=ALPHAS, dtype="float64")).r
    r32 = cross_validate(X, Y, lags=[0, 1, 2], config=EncodingConfig(alphas=ALPHAS)).r
    np.testing.assert_allclose(r32, r64, atol=1e-3)


def test_float32_keeps_precision_with_large_feature_offsets():
    """Features far from zero (e.g. language-model outlier dimensions) do not break float32."""
    X, Y, _ = planted(noise=3.0)
    segments = np.repeat([0, -1, 1, 2, 3, 4, 5], [100, 20, 80, 100, 100, 100, 100])
    X = X + np.float32(5000.0)
    Y = Y - explicit_design(np.full_like(X, 5000.0), [0, 1, 2], segments) @ np.ones((12, 6))
    r64 = cross_validate(X, Y, lags=[0, 1, 2], segments=segments,
                         config=EncodingConfig(alphas=ALPHAS, dtype="float64"))
    r32 = cross_validate(X.astype(np.float32), Y, lags=[0, 1, 2], segments=segments,
                         config=EncodingConfig(alphas=ALPHAS))
    np.testing.assert_allclose(r32.r, r64.r, atol=1e-4)
    np.testing.assert_allclose(r32.predictions, r64.predictions, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("design", ["fold-invariant", "per-fold"])
def test_float32_keeps_precision_with_large_target_offsets(design):
    """Targets far from zero (shifted a chunk of rows at a time inside the engine, with no
    shifted copy of Y): float32 gives the float64 r, and the predictions move with the
    targets' offset, with one design or one per fold."""
    X, Y, _ = planted(noise=3.0)
    fit = cross_validate if design == "fold-invariant" else (
        lambda X, Y, **kw: cross_validate_folds(lambda k: [X], Y, **kw))
    options = dict(lags=[0, 1, 2], config=EncodingConfig(alphas=ALPHAS, chunk_size=64))
    r32 = fit(X.astype(np.float32), (Y + 3000.0).astype(np.float32), **options)
    r64 = fit(X.astype(np.float64), Y.astype(np.float64),
              **{**options, "config": EncodingConfig(alphas=ALPHAS, dtype="float64")})
    np.testing.assert_allclose(r32.r, r64.r, atol=2e-4)
    np.testing.assert_allclose(r32.predictions - 3000.0, r64.predictions, atol=2e-3)


def test_pca_matches_sklearn_pipeline():
    """In-fold PCA then ridge equals scikit-learn's scaler → PCA → ridge pipeline."""
    X, Y, _ = planted()
    config = EncodingConfig(alphas=[10.0], dtype="float64", pca=5)
    result = cross_validate(X, Y, lags=[0, 1, 2], config=config)
    Z = explicit_design(X, [0, 1, 2])
    test = result.test_folds[2]
    train = np.setdiff1d(np.arange(len(Y)), test)
    model = make_pipeline(StandardScaler(), PCA(5), Ridge(alpha=10.0)).fit(Z[train], Y[train])
    np.testing.assert_allclose(result.predictions[test], model.predict(Z[test]), rtol=1e-5,
                               atol=1e-8)


@pytest.mark.parametrize("pca", [None, 4])
def test_torch_matches_numpy(pca):
    """The torch backend (CPU) reproduces the numpy backend, with gaps and PCA."""
    pytest.importorskip("torch")
    X, Y, _ = planted(noise=3.0)
    segments = np.repeat([0, -1, 1, 2, 3, 4, 5], [100, 20, 80, 100, 100, 100, 100])
    config = EncodingConfig(alphas=ALPHAS, pca=pca)
    ref = cross_validate(X, Y, lags=[0, 1, 2], segments=segments, config=config,
                         return_weights=True)
    out = cross_validate(X, Y, lags=[0, 1, 2], segments=segments, config=config,
                         engine=Backend("torch"), return_weights=True)
    assert np.isnan(out.predictions[100:120]).all()
    np.testing.assert_allclose(out.r, ref.r, atol=1e-4)
    np.testing.assert_allclose(out.predictions, ref.predictions, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(out.weights, ref.weights, rtol=1e-3, atol=1e-3)


def test_lags_never_cross_a_stimulus_gap():
    """Targets that copy features from across a gap cannot be predicted."""
    rng = np.random.default_rng(2)
    seg_len, gap, lag = 60, 8, 5
    segments = np.tile(np.r_[np.zeros(seg_len, int), -np.ones(gap, int)], 30)
    segments[segments == 0] = np.repeat(np.arange(30), seg_len)
    n = segments.size
    X = rng.standard_normal((n, 1))
    Y = rng.standard_normal((n, 1))
    starts = np.flatnonzero(np.diff(segments, prepend=-1) > 0)  # first sample of segments
    leaky = (starts[:, None] + np.arange(lag)).ravel()  # their source lies in the gap before
    Y[leaky, 0] = X[leaky - lag, 0]
    config = EncodingConfig(alphas=ALPHAS, dtype="float64")
    lags = list(range(8))
    honest = cross_validate(X, Y, lags=lags, segments=segments, config=config)
    crossing = cross_validate(X, Y, lags=lags, segments=np.where(segments >= 0, 0, 0),
                              config=config)
    r_honest = np.corrcoef(honest.predictions[leaky, 0], Y[leaky, 0])[0, 1]
    r_crossing = np.corrcoef(crossing.predictions[leaky, 0], Y[leaky, 0])[0, 1]
    assert r_crossing > 0.5  # the construction would leak if lags crossed the gap
    assert abs(r_honest) < 0.2
    assert np.isnan(honest.predictions[segments < 0]).all()


def test_trf_recovery_high_snr():
    """A planted TRF is recovered: weights correlate > 0.9 with the truth."""
    X, Y, kernel = planted(n=2000, p=3, n_targets=4, lags=(0, 1, 2, 3), noise=0.05)
    result = cross_validate(X, Y, lags=[0, 1, 2, 3], config=EncodingConfig(),
                            return_weights=True)
    assert result.weights.shape == (4, 3, 4)
    estimated = result.weights.reshape(-1, 4)
    for j in range(4):
        assert np.corrcoef(estimated[:, j], kernel[:, j])[0, 1] > 0.9
    assert (result.r > 0.9).all()


def test_folds_keep_segments_whole_unless_too_few():
    """Outer folds follow segment edges with enough segments; cut them otherwise."""
    segments = np.repeat(np.arange(8), [50, 60, 40, 70, 50, 30, 80, 20])
    folds = outer_folds(segment_pieces(segments, segments.size), 4)
    assert len(folds) == 4
    for fold in folds:
        labels = segments[piece_indices(fold)]
        for label in np.unique(labels):  # every segment in a fold is whole
            assert (labels == label).sum() == (segments == label).sum()
    few = outer_folds(segment_pieces(np.repeat([0, 1], 100), 200), 5)
    sizes = [piece_indices(fold).size for fold in few]
    assert sizes == [40] * 5


def test_config_validation_names_the_key():
    with pytest.raises(UsageError, match=r"encoding\.n_folds"):
        EncodingConfig(n_folds=1)
    with pytest.raises(UsageError, match=r"encoding\.alphas"):
        EncodingConfig(alphas=[1.0, -1.0])
    with pytest.raises(UsageError, match=r"encoding\.inner_cv"):
        EncodingConfig(inner_cv="gcv")
    with pytest.raises(UsageError, match=r"encoding\.inner_folds"):
        EncodingConfig(n_folds=2)
    assert EncodingConfig(n_folds=2, inner_folds=2).n_folds == 2
    lags = EncodingConfig().lags_samples(100.0)
    np.testing.assert_array_equal(lags, np.arange(41))
    assert EncodingConfig(lag_step=0.1).lags_samples(100.0).tolist() == [0, 10, 20, 30, 40]


def test_debug_log_follows_the_folds(caplog):
    X, Y, _ = planted(n=300)
    with caplog.at_level("DEBUG", logger="ssl_ieeg"):
        cross_validate(X, Y, lags=[0, 1], config=EncodingConfig(alphas=[1.0]))
    assert sum("outer fold" in message for message in caplog.messages) == 5


def test_solve_spd_survives_rank_deficiency_in_float32():
    """Duplicate columns and a tiny alpha make Cholesky fail in float32; eigh takes over."""
    import scipy.linalg

    from bids_app.encoding.backend import Backend

    rng = np.random.default_rng(0)
    base = rng.normal(size=(2000, 20))
    X = np.hstack([base, base, base @ rng.normal(size=(20, 30))]).astype(np.float32)
    y = (base @ rng.normal(size=(20, 3)) + rng.normal(size=(2000, 3))).astype(np.float32)
    gram, xy = X.T @ X, X.T @ y
    with pytest.raises(np.linalg.LinAlgError):  # the premise: plain Cholesky fails here
        scipy.linalg.cho_factor(gram + 1e-6 * np.eye(len(gram), dtype=np.float32))
    reference = X.astype(float) @ np.linalg.lstsq(X.astype(float), y.astype(float),
                                                  rcond=None)[0]
    for name in ("numpy", "torch"):
        engine = Backend(name, "cpu")
        w = engine.to_numpy(engine.solve_spd(engine.asarray(gram, "float32"),
                                             engine.asarray(xy, "float32"), 1e-6))
        assert np.all(np.isfinite(w))
        explained = 1 - ((y - X @ w) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)
        best = 1 - ((y - reference) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)
        assert np.all(explained > 0.98 * best), (name, explained, best)


def test_score_sums_match_two_pass_scores_in_chunks_and_for_near_constant_predictions():
    """r and R² from running sums equal the two-pass formulas, chunk by chunk, even for
    targets with a large offset and a prediction that barely leaves its intercept (where
    one shift for both lost every digit of r)."""
    from bids_app.encoding.result import ScoreSums

    rng = np.random.default_rng(0)
    y = (rng.standard_normal((600, 4)) + 1000).astype(np.float32)
    for pred in (0.3 * y + rng.standard_normal((600, 4)) + 700,
                 0.3 + 1e-7 * rng.standard_normal((600, 4))):
        sums = ScoreSums()
        for rows in np.array_split(np.arange(600), 5):
            sums.add(y[rows], pred[rows])
        r, r2 = sums.scores()
        yy = y.astype(float)
        expected_r = [np.corrcoef(yy[:, j], pred[:, j])[0, 1] for j in range(4)]
        expected_r2 = 1 - ((yy - pred) ** 2).sum(0) / ((yy - yy.mean(0)) ** 2).sum(0)
        np.testing.assert_allclose(r, expected_r, atol=1e-12)
        np.testing.assert_allclose(r2, expected_r2, rtol=1e-10)


@pytest.mark.parametrize("design", ["fold-invariant", "per-fold"])
@pytest.mark.parametrize("dtype,alphas,atol", [
    ("float64", ALPHAS, 1e-9),
    ("float64", [1e9], 1e-9),  # predictions that barely leave their intercepts
    # float32 products: the zero-padded edges of a block 5000 sd from zero cost 4e-5 of r
    ("float32", ALPHAS, 1e-4),
])
def test_scores_from_test_fold_statistics_equal_scores_of_the_predictions(design, dtype,
                                                                          alphas, atol):
    """Each fold's r and R², computed from its Gram statistics without predicting it, equal
    the scores of its predictions: for banded subsets of a union, with features far from
    zero, and for a penalty so large that the predictions barely leave their intercepts
    (where float32 predictions would round their variation away)."""
    from bids_app.encoding import cross_validate_subsets
    from bids_app.encoding.result import fold_scores

    X, Y, _ = planted(noise=3.0, n_targets=6)
    Y = Y.astype(dtype)  # the engine's targets (float32 high gamma, in the app)
    rng = np.random.default_rng(3)
    blocks = [X.astype(dtype), (rng.standard_normal((len(X), 3)) + 5000.0).astype(dtype)]
    segments = np.repeat([0, -1, 1, 2, 3, 4, 5], [100, 20, 80, 100, 100, 100, 100])
    config = EncodingConfig(alphas=alphas, dtype=dtype, chunk_size=64)
    results = cross_validate_subsets(
        blocks if design == "fold-invariant" else (lambda k: blocks), Y, [[0], [1], [0, 1]],
        lags=[0, 1, 2], segments=segments, config=config, banded=True)
    for result in results:
        for k, test in enumerate(result.test_folds):
            r, r2 = fold_scores(Y[test], result.predictions[test].astype(float))
            assert np.isfinite(result.r_folds[k]).all()
            np.testing.assert_allclose(result.r_folds[k], r, atol=atol)
            np.testing.assert_allclose(result.r2_folds[k], r2, atol=atol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_targets_flat_over_a_test_fold_score_as_from_the_predictions(dtype):
    """A target constant throughout, or over one test fold, has no r there (NaN) and no
    finite R² (-inf, NaN where the intercept predicts it exactly), as scored from the
    predictions: the statistics' rounding residue of a zero variance must not pass for a
    variance (it gave R² of +inf or 3e7)."""
    from bids_app.encoding.result import fold_scores

    X, Y, _ = planted(n=2000, noise=3.0, n_targets=3)
    Y[:, 1] = 7.25
    Y[:400, 2] = Y[0, 2]
    result = cross_validate(X.astype(dtype), Y.astype(dtype), lags=[0, 1, 2],
                            config=EncodingConfig(alphas=ALPHAS, dtype=dtype))
    flat = result.test_folds[0]
    assert np.isnan(result.r_folds[:, 1]).all() and not np.isfinite(result.r2_folds[:, 1]).any()
    assert np.isnan(result.r_folds[0, 2]) and np.isneginf(result.r2_folds[0, 2])
    assert np.isfinite(result.r_folds[1:, 2]).all() and np.isfinite(result.r2_folds[1:, 2]).all()
    r, r2 = fold_scores(Y[flat].astype(float), result.predictions[flat].astype(float))
    assert np.isnan(r[1:]).all() and np.isneginf(r2[2])


def test_scores_of_constant_predictions_are_nan_not_infinite():
    """A constant prediction (a huge penalty) has no correlation: NaN. (Scored chunk by
    chunk, one that varied by rounding only gave ±inf, whose mean over folds warned; seen
    with ``comparison.conditioning: []``.)"""
    from bids_app.encoding.result import fold_scores

    rng = np.random.default_rng(0)
    y = rng.standard_normal((200, 3))
    pred = np.c_[np.full(200, 0.3), 0.3 + 1e-17 * rng.standard_normal(200), y[:, 2]]
    with np.errstate(all="raise"):
        r, r2 = fold_scores(y, pred)
    assert np.isnan(r[:2]).all() and r[2] == pytest.approx(1.0)
    assert np.isfinite(r2).all()
