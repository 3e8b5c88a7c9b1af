"""Blocked nested cross-validation of time-lagged ridge (TRF) encoding models."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bids_app.encoding.backend import Backend
from bids_app.encoding.config import EncodingConfig
from bids_app.encoding.folds import (
    Piece,
    outer_folds,
    piece_indices,
    segment_pieces,
    split_pieces,
)
from bids_app.encoding.gram import GramStats, lag_array, lagged_design, lagged_stats
from bids_app.encoding.ridge import fit, standardize, validation_errors
from bids_app.errors import BadDataError

logger = logging.getLogger("ssl_ieeg")


@dataclass(eq=False)
class EncodingResult:
    """Cross-validated scores of one encoding model.

    Attributes
    ----------
    r : ndarray, shape (n_targets,)
        Mean over outer folds of the per-fold Pearson correlation.
    r2 : ndarray, shape (n_targets,)
        Mean over outer folds of the per-fold R² (``1 - SSE / SST`` on the test fold).
    r_folds, r2_folds : ndarray, shape (n_folds, n_targets)
    alphas : ndarray, shape (n_folds, n_targets)
        Alpha chosen on each outer training set.
    predictions : ndarray, shape (n_samples, n_targets) | None
        Cross-validated predictions (in the working dtype); NaN where not modelled. None
        where not kept (:func:`~bids_app.encoding.cross_validate_subsets`).
    test_folds : list of ndarray
        Sample indices of each outer test fold.
    lags : ndarray of int
    weights : ndarray, shape (n_lags, n_features, n_targets) | None
        Raw-unit coefficients averaged over folds, when asked for.
    inner_error : ndarray, shape (n_folds, n_targets) | None
        Summed squared inner-validation error at the chosen alpha in each outer training set.
        Models fitted on the same targets and folds can be compared with it *in-fold*, e.g.
        to choose the best layer for each outer fold without looking at its test data.
    lag_profile : ndarray, shape (n_lags, n_targets) | None
        When the TRF is summarised: the standard deviation of each lag's term of the
        prediction, i.e. how strongly each lag contributes (see :func:`lag_profile`).
    shift_null : ndarray, shape (n_permutations, n_targets) | None
        The circular-shift null of ``r`` that the encoding test used (TRF mode, float32),
        kept so that the max-T test over layers need not recompute it.
    """

    r: np.ndarray
    r2: np.ndarray
    r_folds: np.ndarray
    r2_folds: np.ndarray
    alphas: np.ndarray
    predictions: np.ndarray | None
    test_folds: list[np.ndarray]
    lags: np.ndarray
    weights: np.ndarray | None = None
    inner_error: np.ndarray | None = None
    lag_profile: np.ndarray | None = None
    shift_null: np.ndarray | None = None


def cross_validate_fixed(X: np.ndarray, Y: np.ndarray, *, lags: Sequence[int],
                         segments: np.ndarray | None = None,
                         config: EncodingConfig | None = None, backend: str = "numpy",
                         device: str = "cpu", n_jobs: int = 1, return_weights: bool = False,
                         verbose: bool = False) -> EncodingResult:
    """Nested blocked cross-validation of a time-lagged ridge model on one fixed design.

    This is the engine behind :func:`~bids_app.encoding.cross_validate`, which first applies
    the design reductions of ``config`` (``layer_pca``, ``lag_basis``); this function ignores
    them and fits ``X`` with ``lags`` as given.

    Parameters and returns are those of :func:`~bids_app.encoding.cross_validate`.
    """
    config = config or EncodingConfig()
    lags = lag_array(lags)
    X, Y = check_arrays(X, Y)
    engine = Backend(backend, device)
    pieces = segment_pieces(segments, X.shape[0])
    folds = outer_folds(pieces, config.n_folds)
    # Offsets only serve precision: products use X - center and Y - y_center (both exact)
    with engine.threads(n_jobs):
        Xb, Yb = engine.asarray(X, config.dtype), engine.asarray(Y, config.dtype)
        center = engine.asarray(mean_over(X, pieces), config.dtype)
        y_center = engine.asarray(mean_over(Y, pieces), config.dtype)
        y_offset = engine.to_numpy(y_center).astype(np.float64)
        fold_stats = [lagged_stats(Xb, Yb, fold, lags, engine, config.chunk_size, center,
                                   y_center) for fold in folds]
        _log(verbose, "Gram statistics of %d folds computed (p = %d)", len(folds),
             fold_stats[0].xx.shape[0])
        total = sum(fold_stats[1:], fold_stats[0])
        errors = _inner_errors(Xb, Yb, folds, fold_stats, total, lags, (center, y_center),
                               config, engine, verbose)
        return _outer_fits(Xb, Y, y_offset, center, folds, fold_stats, total, errors, lags,
                           config, engine, return_weights, verbose)


def _log(verbose: bool, message: str, *args: Any) -> None:
    """Per-fold progress, at DEBUG level (``-v``) when ``verbose``."""
    if verbose:
        logger.debug(message, *args)


def mean_over(A: np.ndarray, pieces: list[Piece]) -> np.ndarray:
    """Column means of ``A`` over the samples of ``pieces`` (float64)."""
    total = sum(A[piece.start:piece.stop].sum(0, dtype=np.float64) for piece in pieces)
    return total / sum(piece.size for piece in pieces)


def check_arrays(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validated 2-D design and targets with the same number of finite samples."""
    X, Y = np.asarray(X), np.asarray(Y)
    if Y.ndim == 1:
        Y = Y[:, None]
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise BadDataError(f"encoding needs X (n_samples, n_features) and Y (n_samples, "
                           f"n_targets) with the same n_samples, got {X.shape} and {Y.shape}")
    if not (np.isfinite(X).all() and np.isfinite(Y).all()):
        raise BadDataError("encoding inputs contain NaN or infinite values")
    return X, Y


def _inner_errors(X: Any, Y: Any, folds: list[list[Piece]], fold_stats: list[GramStats],
                  total: GramStats, lags: np.ndarray, centers: tuple[Any, Any],
                  config: EncodingConfig, engine: Backend, verbose: bool) -> list[Any]:
    """Summed inner validation errors, shape (n_alphas, n_targets), of every outer fold.

    ``centers``: the offsets of the features and the targets (:func:`lagged_stats`).
    """
    n_folds = len(folds)
    if config.inner_folds is not None:
        return [_chunked_inner_errors(X, Y, folds, total.minus(fold_stats[k]), k, lags,
                                      centers, config, engine) for k in range(n_folds)]
    # The other outer folds are the inner folds: training on all but folds {j, k} serves
    # validation on j (for outer fold k) and on k (for outer fold j), from one eigh.
    wanted: dict[tuple[int, int], list[int]] = {}  # fold pair -> the validated outer folds
    for k in range(n_folds):
        others = [j for j in range(n_folds) if j != k]
        for j in others[-1:] if config.inner_cv == "holdout" else others:
            wanted.setdefault((min(j, k), max(j, k)), []).append(k)
    errors = [0.0] * n_folds
    for (a, b), outers in wanted.items():
        system = standardize(total.minus(fold_stats[a], fold_stats[b]), config.standardize, engine)
        vals = [fold_stats[b if k == a else a] for k in outers]
        for k, err in zip(outers, validation_errors(system, vals, config.alphas, engine,
                                                    config.dtype, config.pca), strict=True):
            errors[k] = errors[k] + err
        _log(verbose, "inner fits: training set without folds %d and %d done", a, b)
    return errors


def _chunked_inner_errors(X: Any, Y: Any, folds: list[list[Piece]], train: GramStats, k: int,
                          lags: np.ndarray, centers: tuple[Any, Any], config: EncodingConfig,
                          engine: Backend) -> Any:
    """Inner errors of outer fold ``k`` with its training samples cut into equal chunks."""
    training = [piece for j, fold in enumerate(folds) if j != k for piece in fold]
    chunks = split_pieces(training, config.inner_folds)
    if config.inner_cv == "holdout":
        chunks = chunks[-1:]
    errors = 0.0
    for chunk in chunks:
        val = lagged_stats(X, Y, chunk, lags, engine, config.chunk_size, *centers)
        system = standardize(train.minus(val), config.standardize, engine)
        errors = errors + validation_errors(system, [val], config.alphas, engine,
                                            config.dtype, config.pca)[0]
    return errors


def _outer_fits(X: Any, Y: np.ndarray, y_offset: np.ndarray, center: Any,
                folds: list[list[Piece]], fold_stats: list[GramStats], total: GramStats,
                errors: list[Any], lags: np.ndarray, config: EncodingConfig, engine: Backend,
                return_weights: bool, verbose: bool) -> EncodingResult:
    """Fit every outer training set with its chosen alphas and score its test fold."""
    grid = np.asarray(config.alphas)
    predictions = np.full(Y.shape, np.nan, dtype=config.dtype)
    chosen, r_folds, r2_folds, inner, mean_weights = [], [], [], [], 0.0
    for k, fold in enumerate(folds):
        target_alphas = grid[engine.argmin0(errors[k])]
        inner.append(engine.to_numpy(errors[k]).min(0))
        system = standardize(total.minus(fold_stats[k]), config.standardize, engine)
        weights, intercept = fit(system, target_alphas, engine, config.dtype, config.pca)
        intercept = intercept + engine.asarray(y_offset, "float64")
        index = piece_indices(fold)
        predictions[index] = predict_fold(X, fold, lags, center, weights, intercept, config,
                                          engine)
        r, r2 = fold_scores(Y[index], predictions[index])
        chosen.append(target_alphas)
        r_folds.append(r)
        r2_folds.append(r2)
        if return_weights:
            mean_weights = mean_weights + engine.to_numpy(weights) / len(folds)
        if verbose and np.isfinite(r).any():
            _log(verbose, "outer fold %d/%d: mean r = %.4f", k + 1, len(folds), np.nanmean(r))
    r_folds, r2_folds = np.array(r_folds), np.array(r2_folds)
    weights_out = None
    if return_weights:
        weights_out = mean_weights.reshape(len(lags), X.shape[1], Y.shape[1])
    return EncodingResult(r=r_folds.mean(0), r2=r2_folds.mean(0), r_folds=r_folds,
                          r2_folds=r2_folds, alphas=np.array(chosen), predictions=predictions,
                          test_folds=[piece_indices(fold) for fold in folds], lags=lags,
                          weights=weights_out, inner_error=np.array(inner))


def predict_fold(X: Any, fold: list[Piece], lags: np.ndarray, center: Any, weights: Any,
                 intercept: Any, config: EncodingConfig, engine: Backend) -> np.ndarray:
    """Predictions on the samples of ``fold`` (float64), in the order of ``piece_indices``."""
    return np.concatenate([pred for _, pred in fold_predictions(
        X, fold, lags, center, weights, intercept, config, engine)])


def fold_predictions(X: Any, fold: list[Piece], lags: np.ndarray, center: Any, weights: Any,
                     intercept: Any, config: EncodingConfig, engine: Backend
                     ) -> Iterator[tuple[slice, np.ndarray]]:
    """``(rows, predictions)`` on the samples of ``fold``, ``config.chunk_size`` rows at a time.

    ``Z @ w`` is computed as ``(Z - center) @ w`` plus, for each lag that reads inside the
    segment, ``center @ w_lag`` in float64, so large feature offsets cost no precision.
    """
    n_base = X.shape[1]
    offset = (engine.asarray(center, "float64")[None, :, None]
              * weights.reshape(len(lags), n_base, -1)).sum(1)  # (n_lags, n_targets)
    weights = engine.asarray(weights, config.dtype)
    for piece in fold:
        for start in range(piece.start, piece.stop, config.chunk_size):
            rows = piece._replace(start=start, stop=min(start + config.chunk_size, piece.stop))
            Z, valid = lagged_design(X, rows, lags, engine, config.dtype, center)
            pred = engine.asarray(Z @ weights, "float64") + valid @ offset + intercept
            yield slice(rows.start, rows.stop), engine.to_numpy(pred)


def lag_profile(weights: np.ndarray, X: np.ndarray, segments: np.ndarray | None = None,
                max_rows: int = 20000) -> np.ndarray:
    """How much each lag contributes to each target's prediction.

    The prediction is a sum over lags of ``X[t - lag] @ weights[lag]`` (over every sample of
    the window, of which ``weights`` are a sample when the lags are coarser); the profile is the
    standard deviation of each term, ``sqrt(diag(W_lᵀ Σ W_l))`` with ``Σ`` the covariance of
    the features (estimated on at most ``max_rows`` evenly spaced modelled samples). Unlike
    raw weights it is comparable across lags, features and spaces, and is not fooled by
    correlated features whose weights cancel.

    Parameters
    ----------
    weights : ndarray, shape (n_lags, n_features, n_targets)
        Raw-unit TRF weights (``EncodingResult.weights``).
    X : ndarray, shape (n_samples, n_features)
        The design they apply to.
    segments : ndarray of int, shape (n_samples,) | None
        Stimulus labels; only modelled samples (label >= 0) are used.
    max_rows : int

    Returns
    -------
    profile : ndarray, shape (n_lags, n_targets)
        In the units of the targets.
    """
    rows = np.arange(len(X)) if segments is None else np.flatnonzero(np.asarray(segments) >= 0)
    rows = rows[::max(1, len(rows) // max_rows)]
    sample = np.asarray(X[rows], dtype=np.float64)
    sample -= sample.mean(0)
    covariance = sample.T @ sample / len(sample)
    return np.sqrt(np.einsum("ljt,jk,lkt->lt", weights, covariance, weights, optimize=True
                             ).clip(0))


def peak_lags(profile: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """The lag of each target's lag-profile maximum (NaN where the profile is all zero).

    Parameters
    ----------
    profile : ndarray, shape (n_lags, n_targets)
        From :func:`lag_profile`.
    lags : ndarray, shape (n_lags,)
        The lags, e.g. in seconds.

    Returns
    -------
    peak : ndarray, shape (n_targets,)
    """
    profile = np.nan_to_num(np.asarray(profile, dtype=float))
    peak = np.asarray(lags, dtype=float)[np.argmax(profile, axis=0)]
    return np.where(profile.max(0) > 0, peak, np.nan)


def fold_scores(y: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r and R² of every column (NaN where a column is constant).

    Parameters
    ----------
    y, pred : ndarray, shape (n_samples, n_targets)

    Returns
    -------
    r, r2 : ndarray, shape (n_targets,)
    """
    return ScoreSums().add(y, pred).scores()


class ScoreSums:
    """Running sums of targets and predictions: r and R² of a test fold, a chunk at a time.

    Targets and predictions are each shifted by their first chunk's means, so the float64
    sums keep their precision whatever their offsets (e.g. a prediction that is nearly its
    intercept).
    """

    def __init__(self) -> None:
        self.n, self.shifts, self.sums = 0, None, 0.0

    def add(self, y: np.ndarray, pred: np.ndarray) -> ScoreSums:
        """Add rows ``y`` and their predictions ``pred``, each (n_rows, n_targets)."""
        if self.shifts is None:
            self.shifts = (np.asarray(y, dtype=float).mean(0),
                           np.asarray(pred, dtype=float).mean(0))
        yc = np.subtract(y, self.shifts[0], dtype=float)
        pc = np.subtract(pred, self.shifts[1], dtype=float)
        self.n += len(yc)
        self.sums = self.sums + np.stack([
            yc.sum(0), pc.sum(0), np.einsum("ij,ij->j", yc, yc),
            np.einsum("ij,ij->j", pc, pc), np.einsum("ij,ij->j", yc, pc)])
        return self

    def scores(self) -> tuple[np.ndarray, np.ndarray]:
        """``(r, r2)`` of the rows added so far."""
        n, (sy, sp, syy, spp, syp) = self.n, self.sums
        sst = syy - sy * sy / n
        offset = self.shifts[0] - self.shifts[1]  # y - pred = (yc - pc) + offset
        sse = syy + spp - 2 * syp + 2 * offset * (sy - sp) + n * offset * offset
        scale = np.sqrt(sst * np.maximum(spp - sp * sp / n, 0))
        with np.errstate(invalid="ignore", divide="ignore"):
            # NaN, not ±inf, where the targets or the predictions are constant
            r = np.where(scale > 0, np.clip((syp - sy * sp / n) / scale, -1, 1), np.nan)
            r2 = 1 - sse / sst
        return r, r2
