"""A TRF encoding model in the scikit-learn style, for notebooks: ``fit``, ``predict``, ``score``.

It wraps the app's engine with the conventions of the field's libraries: lags in seconds, and
arrays shaped ``(n_samples, n_features)`` and ``(n_samples, n_targets)`` (as scikit-learn and
``mne.decoding.ReceptiveField`` use them)::

    model = TRFEncoder(tmin=0.0, tmax=0.4, sfreq=100.0).fit(X_train, Y_train)
    model.cv_result_.r          # cross-validated r of every target on the training data
    Y_hat = model.predict(X_test)
    model.coef_                 # (n_lags, n_features, n_targets), the TRF in raw units

``fit`` chooses one alpha per target by the blocked nested cross-validation of
:func:`~bids_app.encoding.cross_validate` (the same folds, reductions and statistics as a
participant run), then refits every sample with those alphas; the design reductions (PCA of
wide features, raised-cosine lag basis) are refitted on all samples too.
"""

from __future__ import annotations

import dataclasses
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils import Tags
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from bids_app.encoding.backend import Backend
from bids_app.encoding.config import EncodingConfig
from bids_app.encoding.cv import cross_validate, predict_fold
from bids_app.encoding.folds import mean_over, piece_indices, segment_pieces
from bids_app.encoding.gram import lagged_stats
from bids_app.encoding.reduce import ReducedDesign, fit_pca, lag_basis
from bids_app.encoding.result import EncodingResult, fold_scores
from bids_app.encoding.ridge import fit, standardize
from bids_app.errors import UsageError


class TRFEncoder(RegressorMixin, BaseEstimator):
    """Time-lagged ridge (TRF) encoding model with per-target alphas chosen by blocked CV.

    A scikit-learn estimator: it can be cloned, put in a ``Pipeline`` and scored by
    ``cross_val_score`` (which splits the samples itself: pass ``cv=KFold(n)`` without
    shuffling, so that its folds are blocks of time as the lags need). Parameters are
    validated in :meth:`fit`.

    Parameters
    ----------
    tmin, tmax : float
        First and last lag in seconds; positive means the response follows the feature.
    sfreq : float
        Sampling rate of ``X`` and ``y`` in Hz.
    config : EncodingConfig | None
        Every other fitting option (alphas, folds, ``layer_pca``, ``lag_basis``, ...); its
        ``tmin``/``tmax`` are replaced by the ones above. None: the defaults.
    backend, device : str
        ``"numpy"`` or ``"torch"``; ``"cpu"`` or ``"cuda"``.
    n_jobs : int
        BLAS / torch threads.

    Attributes
    ----------
    cv_result_ : EncodingResult
        The cross-validated scores on the training data (``r``, ``r2``, ``alphas``, ...).
    alpha_ : ndarray, shape (n_targets,)
        The alpha of each target for the final fit: the geometric median over outer folds.
    coef_ : ndarray, shape (n_lags, n_features, n_targets)
        Weights of ``X[t - lag]`` in raw units.
    lags_ : ndarray of float
        The lags in seconds.
    n_features_in_ : int
        Columns of ``X`` seen in :meth:`fit`.
    """

    _parameter_constraints: ClassVar[dict] = {
        "tmin": [Real],
        "tmax": [Real],
        "sfreq": [Interval(Real, 0, None, closed="neither")],
        "config": [EncodingConfig, None],
        "backend": [StrOptions({"numpy", "torch"})],
        "device": [StrOptions({"cpu", "cuda"})],
        "n_jobs": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, tmin: float = 0.0, tmax: float = 0.4, sfreq: float = 100.0,
                 config: EncodingConfig | None = None, backend: str = "numpy",
                 device: str = "cpu", n_jobs: int = 1) -> None:
        self.tmin = tmin
        self.tmax = tmax
        self.sfreq = sfreq
        self.config = config
        self.backend = backend
        self.device = device
        self.n_jobs = n_jobs

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _config(self) -> EncodingConfig:
        if not self.tmin < self.tmax:
            raise UsageError(f"TRFEncoder needs tmin < tmax, got tmin={self.tmin}, "
                             f"tmax={self.tmax}")
        return dataclasses.replace(self.config or EncodingConfig(), mode="trf", tmin=self.tmin,
                                   tmax=self.tmax)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: np.ndarray, y: np.ndarray, segments: np.ndarray | None = None
            ) -> TRFEncoder:
        """Cross-validate to choose each target's alpha, then fit every modelled sample.

        Parameters
        ----------
        X : ndarray, shape (n_samples, n_features)
        y : ndarray, shape (n_samples,) or (n_samples, n_targets)
        segments : ndarray of int, shape (n_samples,) | None
            Stimulus labels (-1: not modelled); lags never cross a segment edge.

        Returns
        -------
        self : TRFEncoder
        """
        config = self._config()
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                             dtype=[np.float64, np.float32],
                             ensure_min_samples=2 * config.n_folds)
        self._single_output = y.ndim == 1
        Y = y[:, None] if self._single_output else y
        lags = config.lags_samples(self.sfreq)
        backend = Backend(self.backend, self.device, self.n_jobs)
        self.cv_result_: EncodingResult = cross_validate(X, Y, lags=lags, segments=segments,
                                                         config=config, engine=backend)
        self.alpha_ = np.exp(np.median(np.log(self.cv_result_.alphas), axis=0))
        pieces = segment_pieces(segments, len(X))
        wide = config.layer_pca is not None and X.shape[1] > config.layer_pca
        self._pca = fit_pca(X, pieces, config.layer_pca) if wide else None
        design = self._reduced(X, pieces, config)
        Z = design(0)[0]
        with backend.threads():
            Zb, Yb = backend.asarray(Z, config.dtype), backend.asarray(Y, config.dtype)
            self._center = backend.asarray(mean_over(Z, pieces), config.dtype)
            y_center = backend.asarray(mean_over(Y, pieces), config.dtype)
            stats = lagged_stats(Zb, Yb, pieces, design.engine_lags, backend, config.chunk_size,
                                 self._center, y_center)
            system = standardize(stats, config.standardize, backend)
            weights, intercept = fit(system, self.alpha_, backend, config.dtype, config.pca)
        self._weights = weights
        self._intercept = intercept + backend.asarray(y_center, "float64")
        self.coef_ = design.raw_weights(0, backend.to_numpy(weights))
        self.lags_ = lags / self.sfreq
        return self

    def _reduced(self, X: np.ndarray, pieces: list, config: EncodingConfig) -> ReducedDesign:
        """The design of ``X`` with the reductions fitted by :meth:`fit`."""
        lags = config.lags_samples(self.sfreq)
        design = ReducedDesign([X], pieces, [pieces], lags, lag_basis(lags, config.lag_basis),
                               config.layer_pca)
        if self._pca is not None:
            design.pcas = {0: [self._pca]}
        return design

    def predict(self, X: np.ndarray, segments: np.ndarray | None = None) -> np.ndarray:
        """Predicted responses, NaN outside the modelled samples.

        Parameters
        ----------
        X : ndarray, shape (n_samples, n_features)
        segments : ndarray of int, shape (n_samples,) | None

        Returns
        -------
        y_hat : ndarray, shape (n_samples,) or (n_samples, n_targets)
            As ``y`` was in :meth:`fit`.
        """
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        config = self._config()
        pieces = segment_pieces(segments, len(X))
        design = self._reduced(X, pieces, config)
        Z = design(0)[0]
        backend = Backend(self.backend, self.device, self.n_jobs)
        out = np.full((len(X), self.coef_.shape[2]), np.nan)
        with backend.threads():
            out[piece_indices(pieces)] = predict_fold(
                backend.asarray(Z, config.dtype), pieces, design.engine_lags, self._center,
                self._weights, self._intercept, config, backend)
        return out[:, 0] if self._single_output else out

    def score(self, X: np.ndarray, y: np.ndarray, segments: np.ndarray | None = None
              ) -> float:
        """Mean R² over targets on the modelled samples (the scikit-learn convention).

        Per-target scores: ``fold_scores(Y, model.predict(X))`` gives r and R².
        """
        predicted = self.predict(X, segments).reshape(len(X), -1)
        Y = np.asarray(y, dtype=float).reshape(len(predicted), -1)
        keep = ~np.isnan(predicted[:, 0])
        return float(np.nanmean(fold_scores(Y[keep], predicted[keep])[1]))
