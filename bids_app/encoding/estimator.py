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
from dataclasses import dataclass

import numpy as np

from bids_app.encoding.backend import Backend
from bids_app.encoding.config import EncodingConfig
from bids_app.encoding.cv import EncodingResult, check_arrays, fold_scores, mean_over, predict_fold
from bids_app.encoding.folds import piece_indices, segment_pieces
from bids_app.encoding.gram import lagged_stats
from bids_app.encoding.perfold import cross_validate
from bids_app.encoding.reduce import ReducedDesign, fit_pca, lag_basis
from bids_app.encoding.ridge import fit, standardize
from bids_app.errors import UsageError


@dataclass
class TRFEncoder:
    """Time-lagged ridge (TRF) encoding model with per-target alphas chosen by blocked CV.

    Parameters
    ----------
    tmin, tmax : float
        First and last lag in seconds; positive means the response follows the feature.
    sfreq : float
        Sampling rate of ``X`` and ``Y`` in Hz.
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
    """

    tmin: float = 0.0
    tmax: float = 0.4
    sfreq: float = 100.0
    config: EncodingConfig | None = None
    backend: str = "numpy"
    device: str = "cpu"
    n_jobs: int = 1

    def _config(self) -> EncodingConfig:
        if not self.sfreq > 0 or not self.tmin < self.tmax:
            raise UsageError(f"TRFEncoder needs sfreq > 0 and tmin < tmax, got sfreq="
                             f"{self.sfreq}, tmin={self.tmin}, tmax={self.tmax}")
        return dataclasses.replace(self.config or EncodingConfig(), mode="trf", tmin=self.tmin,
                                   tmax=self.tmax)

    def fit(self, X: np.ndarray, Y: np.ndarray, segments: np.ndarray | None = None
            ) -> TRFEncoder:
        """Cross-validate to choose each target's alpha, then fit every modelled sample.

        Parameters
        ----------
        X : ndarray, shape (n_samples, n_features)
        Y : ndarray, shape (n_samples, n_targets)
        segments : ndarray of int, shape (n_samples,) | None
            Stimulus labels (-1: not modelled); lags never cross a segment edge.

        Returns
        -------
        self : TRFEncoder
        """
        config = self._config()
        X, Y = check_arrays(X, Y)
        lags = config.lags_samples(self.sfreq)
        engine = dict(backend=self.backend, device=self.device, n_jobs=self.n_jobs)
        self.cv_result_: EncodingResult = cross_validate(X, Y, lags=lags, segments=segments,
                                                         config=config, **engine)
        self.alpha_ = np.exp(np.median(np.log(self.cv_result_.alphas), axis=0))
        pieces = segment_pieces(segments, len(X))
        wide = config.layer_pca is not None and X.shape[1] > config.layer_pca
        self._pca = fit_pca(X, pieces, config.layer_pca) if wide else None
        design = self._reduced(X, pieces, config)
        Z = design(0)[0]
        backend = Backend(self.backend, self.device)
        with backend.threads(self.n_jobs):
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
        Y_hat : ndarray, shape (n_samples, n_targets)
        """
        if not hasattr(self, "coef_"):
            raise UsageError("TRFEncoder.predict: call fit first")
        config = self._config()
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.coef_.shape[1]:
            raise UsageError(f"TRFEncoder.predict: X must be (n_samples, "
                             f"{self.coef_.shape[1]}), got {X.shape}")
        pieces = segment_pieces(segments, len(X))
        design = self._reduced(X, pieces, config)
        Z = design(0)[0]
        backend = Backend(self.backend, self.device)
        out = np.full((len(X), self.coef_.shape[2]), np.nan)
        with backend.threads(self.n_jobs):
            out[piece_indices(pieces)] = predict_fold(
                backend.asarray(Z, config.dtype), pieces, design.engine_lags, self._center,
                self._weights, self._intercept, config, backend)
        return out

    def score(self, X: np.ndarray, Y: np.ndarray, segments: np.ndarray | None = None
              ) -> float:
        """Mean R² over targets on the modelled samples (the scikit-learn convention).

        Per-target scores: ``fold_scores(Y, model.predict(X))`` gives r and R².
        """
        predicted = self.predict(X, segments)
        Y = np.asarray(Y).reshape(len(predicted), -1)
        keep = ~np.isnan(predicted[:, 0])
        return float(np.nanmean(fold_scores(Y[keep], predicted[keep])[1]))
