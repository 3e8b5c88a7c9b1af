"""The scikit-learn-style TRFEncoder on planted truth."""

from __future__ import annotations

import numpy as np
import pytest

from bids_app.encoding import EncodingConfig, TRFEncoder, cross_validate


def _planted(n: int, width: int, seed: int = 0):
    """Features mixing 3 smooth latents (plus noise); target 0 follows latent 0 through a bump
    at 100 ms, target 1 is noise. Returns X, Y and the loadings of latent 0."""
    rng = np.random.default_rng(seed)
    kernel = np.ones(10) / 10
    latents = np.stack([np.convolve(rng.standard_normal(n), kernel, "same") for _ in range(3)], 1)
    loadings = rng.standard_normal((3, width))
    X = latents @ loadings + 0.05 * rng.standard_normal((n, width))
    trf = np.exp(-0.5 * ((np.arange(41) - 10) / 3.0) ** 2)
    drive = np.convolve(latents[:, 0], trf)[:n]
    Y = np.c_[drive / drive.std() + 0.5 * rng.standard_normal(n), rng.standard_normal(n)]
    return X.astype(np.float32), Y, loadings[0]


@pytest.mark.parametrize("width", [4, 80])  # narrow, and wide enough for the in-fold PCA
def test_fit_predict_score_recover_a_planted_trf(width):
    X, Y, loading = _planted(6000, width)
    model = TRFEncoder(tmin=0.0, tmax=0.4, sfreq=100.0).fit(X[:4800], Y[:4800])
    assert model.coef_.shape == (41, width, 2) and model.alpha_.shape == (2,)
    np.testing.assert_allclose(model.lags_[[0, -1]], [0.0, 0.4])
    response = model.coef_[:, :, 0] @ loading / (loading @ loading)  # to latent 0, over lags
    assert abs(model.lags_[np.argmax(response)] - 0.10) <= 0.03
    predicted = model.predict(X[4800:])
    r = [np.corrcoef(predicted[50:, t], Y[4850:, t])[0, 1] for t in range(2)]
    assert r[0] > 0.8 and abs(r[1]) < 0.1  # held-out data: the driven target only
    assert model.score(X[4800:], Y[4800:]) < r[0] ** 2
    # the cross-validated scores are those of the engine on the training data
    expected = cross_validate(X[:4800], Y[:4800], lags=np.arange(41), config=EncodingConfig())
    np.testing.assert_allclose(model.cv_result_.r, expected.r)


def test_predict_outside_segments_is_nan_and_bad_input_is_a_value_error():
    X, Y, _ = _planted(3000, 3)
    segments = np.repeat([0, -1, 1], [1400, 200, 1400])
    model = TRFEncoder(tmax=0.2, config=EncodingConfig(n_folds=4)).fit(X, Y, segments)
    predicted = model.predict(X, segments)
    assert np.isnan(predicted[1400:1600]).all() and np.isfinite(predicted[:1400]).all()
    with pytest.raises(ValueError, match="tmin < tmax"):
        TRFEncoder(tmin=0.5, tmax=0.1).fit(X, Y)
    with pytest.raises(ValueError, match=r"X has 2 features, but TRFEncoder is expecting 3"):
        model.predict(X[:, :2])
    with pytest.raises(ValueError, match="not fitted yet"):
        TRFEncoder().predict(X)


def test_a_scikit_learn_estimator():
    """It passes scikit-learn's own estimator checks, except the two that assume rows are
    independent samples (a TRF reads each sample's lagged neighbours), and works in a
    Pipeline and cross_val_score."""
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.utils.estimator_checks import check_estimator

    lagged = ("a TRF's prediction of a sample reads the samples before it (its lags), so "
              "predicting rows in another order or a subset of them changes it")
    check_estimator(TRFEncoder(tmax=0.03), on_skip=None, expected_failed_checks={
        "check_methods_sample_order_invariance": lagged,
        "check_methods_subset_invariance": lagged})
    X, Y, _ = _planted(3000, 3)
    scores = cross_val_score(make_pipeline(StandardScaler(), TRFEncoder(tmax=0.2)), X, Y[:, 0],
                             cv=KFold(3))
    assert scores.shape == (3,) and (scores > 0.3).all()
