"""What a cross-validated encoding model gives: its result, its scores, its lag profile."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
    return sample_profile(weights, X[sample_rows(rows, max_rows)])


def sample_rows(rows: np.ndarray, max_rows: int = 20000) -> np.ndarray:
    """At most about ``max_rows`` evenly spaced entries of ``rows``."""
    return rows[::max(1, len(rows) // max_rows)]


def sample_profile(weights: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """:func:`lag_profile` with the feature covariance estimated on the rows ``sample``."""
    sample = np.asarray(sample, dtype=np.float64)
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
