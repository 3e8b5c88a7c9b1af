"""Multi-target ridge from Gram statistics: in-fold standardisation, alpha scores, final fit.

Every function here works on :class:`~bids_app.encoding.gram.GramStats`, never on samples, so
a training set is just a sum of fold statistics. All alphas and all targets of one training
set share one eigendecomposition; the final fit (one alpha per target) uses one Cholesky
factorisation per distinct chosen alpha, which is several times cheaper than ``eigh``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bids_app.encoding.backend import Backend
from bids_app.encoding.gram import GramStats


@dataclass
class Standardized:
    """A training set's normal equations in centred (and optionally scaled) coordinates.

    Attributes
    ----------
    xx : array, shape (p, p)
        ``Z̃ᵀZ̃`` with ``Z̃ = (Z - mean) / scale`` (float64).
    xy : array, shape (p, n_targets)
        ``Z̃ᵀ(Y - ymean)`` (float64).
    mean, scale : array, shape (p,)
        Training mean and standard deviation (1 where a column is constant or not scaled).
    ymean : array, shape (n_targets,)
        Training mean of the targets (the intercept).
    """

    xx: Any
    xy: Any
    mean: Any
    scale: Any
    ymean: Any


def standardize(train: GramStats, scale: bool, backend: Backend) -> Standardized:
    """Centre, and optionally scale, the training statistics (like ``StandardScaler``).

    Parameters
    ----------
    train : GramStats
        Consumed: its ``xx`` is overwritten (pass a temporary such as ``total.minus(fold)``).
    scale : bool
        Divide every column by its training standard deviation (ddof 0).
    backend : Backend

    Returns
    -------
    system : Standardized
    """
    n = train.n
    mean, ymean = train.sx / n, train.sy / n
    xx = train.xx
    xx -= n * mean[:, None] * mean[None, :]
    xy = train.xy - n * mean[:, None] * ymean[None, :]
    std = backend.sqrt(backend.diag(xx).clip(0) / n) if scale else 1 + 0 * mean
    # a constant column (e.g. a lag that is always zero-padded) is left unscaled
    std[std <= 1e-10 * (abs(mean) + std.max())] = 1.0
    if scale:
        xx *= 1 / std[:, None]
        xx *= 1 / std[None, :]
        xy = xy / std[:, None]
    return Standardized(xx, xy, mean, std, ymean)


def _validation_terms(val: GramStats, system: Standardized) -> tuple[Any, Any, Any]:
    """A validation set's ``Z̃ᵀZ̃``, ``Z̃ᵀỸ`` and ``ỸᵀỸ`` diagonal in the training coordinates.

    With ``Z̃ = (Z - mean) / scale``: ``Z̃ᵀZ̃ = D (ZᵀZ - s μᵀ - μ (s - nμ)ᵀ) D``, ``s = Zᵀ1``.
    """
    mu, std, ym, n = system.mean, system.scale, system.ymean, val.n
    xx = val.xx - val.sx[:, None] * mu[None, :]
    xx -= mu[:, None] * (val.sx - n * mu)[None, :]
    xx *= 1 / std[:, None]
    xx *= 1 / std[None, :]
    xy = (val.xy - val.sx[:, None] * ym[None, :]
          - mu[:, None] * (val.sy - n * ym)[None, :]) / std[:, None]
    yy = val.yy - 2 * ym * val.sy + n * ym * ym
    return xx, xy, yy


def validation_errors(system: Standardized, validations: Sequence[GramStats],
                      alphas: Sequence[float], backend: Backend, dtype: str,
                      pca: int | None = None) -> list[Any]:
    """Sum of squared validation errors for every alpha and target, from one ``eigh``.

    Parameters
    ----------
    system : Standardized
        The (inner) training set.
    validations : sequence of GramStats
        Validation sets disjoint from the training set.
    alphas : sequence of float
    backend : Backend
    dtype : str
        Working dtype of the decomposition and products.
    pca : int | None
        Keep only the ``pca`` leading principal components of the training design.

    Returns
    -------
    errors : list of array, shape (n_alphas, n_targets)
        One float64 array per validation set.
    """
    eigvals, eigvecs = backend.eigh(backend.asarray(system.xx, dtype))
    if pca is not None:
        eigvals, eigvecs = eigvals[-pca:], eigvecs[:, -pca:]
    eigvals = eigvals.clip(0)
    proj = eigvecs.T @ backend.asarray(system.xy, dtype)
    # Work in the eigenbasis when rotating each validation Gram (2 p² k flops) is cheaper than
    # mapping every alpha's coefficients back (p k t flops per alpha): PCA or many targets.
    rotate = (pca is not None
              or len(alphas) * proj.shape[1] > 2 * len(validations) * eigvecs.shape[0])
    terms = []
    for val in validations:
        xx, xy, yy = _validation_terms(val, system)
        xx, xy = backend.asarray(xx, dtype), backend.asarray(xy, dtype)
        if rotate:
            xx, xy = eigvecs.T @ (xx @ eigvecs), eigvecs.T @ xy
        terms.append((xx, xy, yy))
    errors = [backend.zeros((len(alphas), proj.shape[1]), "float64") for _ in validations]
    for a, alpha in enumerate(alphas):
        weights = proj / (eigvals + float(alpha))[:, None]
        if not rotate:
            weights = eigvecs @ weights
        for err, (xx, xy, yy) in zip(errors, terms, strict=True):
            quad = backend.asarray(weights * (xx @ weights), "float64").sum(0)
            cross = backend.asarray(weights * xy, "float64").sum(0)
            err[a] = yy - 2 * cross + quad
    return errors


def fit(system: Standardized, target_alphas: np.ndarray, backend: Backend, dtype: str,
        pca: int | None = None) -> tuple[Any, Any]:
    """Ridge weights with one alpha per target, expressed on the raw (unscaled) design.

    Parameters
    ----------
    system : Standardized
    target_alphas : ndarray, shape (n_targets,)
    backend : Backend
    dtype : str
    pca : int | None
        Ridge on the ``pca`` leading principal components (through ``eigh``); otherwise one
        Cholesky solve per distinct alpha.

    Returns
    -------
    weights : array, shape (p, n_targets)
        Coefficients of the raw lagged design.
    intercept : array, shape (n_targets,)
    """
    xx, xy = backend.asarray(system.xx, dtype), backend.asarray(system.xy, dtype)
    alphas = backend.asarray(target_alphas, dtype)
    if pca is not None:
        eigvals, eigvecs = backend.eigh(xx)
        eigvals, eigvecs = eigvals[-pca:].clip(0), eigvecs[:, -pca:]
        weights = eigvecs @ ((eigvecs.T @ xy) / (eigvals[:, None] + alphas[None, :]))
    else:
        weights = backend.zeros(tuple(xy.shape), dtype)
        for alpha in np.unique(target_alphas):
            cols = backend.index(np.flatnonzero(target_alphas == alpha))
            weights[:, cols] = backend.solve_spd(xx, xy[:, cols], float(alpha))
    weights = backend.asarray(weights, "float64") / system.scale[:, None]
    intercept = system.ymean - system.mean @ weights
    return weights, intercept


def scores_from_stats(test: GramStats, weights: Any, intercept: Any,
                backend: Backend) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r and R² of the predictions ``Z W + intercept`` of a test set, from its
    statistics (``p² t`` flops, instead of predicting its ``n`` samples: ``n p t``).

    Moments are centred on the test set's own means in float64, as in :func:`standardize`.
    A variance below 1e-12 of its uncentred second moment is the rounding residue of a
    constant (a flat target or prediction over the test set) and counts as zero: r is then
    NaN, and R² of a flat target -inf (NaN where the predictions are exact), as scored from
    the predictions.

    Parameters
    ----------
    test : GramStats
        The test set's statistics, of the design the weights apply to.
    weights : array, shape (p, n_targets)
        Coefficients of the raw design (:func:`fit`).
    intercept : array, shape (n_targets,)
    backend : Backend

    Returns
    -------
    r, r2 : ndarray, shape (n_targets,)
    """
    n = test.n
    mean, ymean = test.sx / n, test.sy / n
    xx = test.xx - n * mean[:, None] * mean[None, :]
    xy = test.xy - n * mean[:, None] * ymean[None, :]
    pmean = backend.to_numpy(mean @ weights)  # the predictions' mean, less the intercept
    spp = backend.to_numpy((weights * (xx @ weights)).sum(0))
    spp = _variance(spp, spp + n * pmean * pmean)
    syp = backend.to_numpy((weights * xy).sum(0))
    syy = _variance(backend.to_numpy(test.yy - n * ymean * ymean), backend.to_numpy(test.yy))
    bias = backend.to_numpy(ymean - intercept) - pmean  # mean error
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.sqrt(syy * spp)
        r = np.where(scale > 0, np.clip(syp / scale, -1, 1), np.nan)
        r2 = 1 - (syy - 2 * syp + spp + n * bias * bias) / syy
    return r, r2


def _variance(centred: np.ndarray, uncentred: np.ndarray) -> np.ndarray:
    """Centred sums of squares, zero where they are the rounding residue of a constant."""
    return np.where(centred > 1e-12 * uncentred, centred, 0.0)
