"""Prediction correlation: do two models predict the same neural time courses?

For every electrode, each model's cross-validated prediction is taken from its best layer,
chosen *in-fold*: for outer fold ``k``, the layer with the smallest inner-validation error in
fold ``k``'s training set (``EncodingResult.inner_error``), so the test fold never takes part
in the choice. The two predictions are correlated within every test fold, and the fold mean is
the statistic ``r_pred``, like the engine's r.

Significance. Two correlated feature spaces fitted to the same data give correlated
predictions even where the data are pure noise (on planted truth, 70 % of noise electrodes
were "significant" when one prediction was shifted against the other). The question is
whether the models share *brain-related* structure, so the null keeps the features and breaks
their relation to the brain: both models are refitted, with the same nested CV (alpha choice
included), on the electrode's data circularly shifted along the modelled samples
(:func:`prediction_correlation_null`), and ``r_pred`` is recomputed. The shift keeps the data's
autocorrelation and the features' correlation; ``p = (count(null >= r_pred) + 1) / (n + 1)``.
Refits are costly, so the test runs only on the electrodes that both models predict
significantly (``both_significant``), where ``r_pred`` means something; elsewhere ``p`` is
NaN. The refit uses each electrode's most often chosen layer of each model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from bids_app.encoding import EncodingResult, fdr_bh, permutation_test
from bids_app.encoding import refit_null as shifted_refits
from bids_app.encoding.config import REFIT_COLUMNS
from bids_app.encoding.result import fold_scores
from bids_app.errors import BadDataError
from bids_app.features.cache import release_pages


def best_layer_result(results: Mapping[str, EncodingResult],
                      Y: np.ndarray) -> tuple[EncodingResult, np.ndarray]:
    """Combine the layers of one feature space, taking each fold's in-fold best layer.

    Parameters
    ----------
    results : mapping of str to EncodingResult
        Layer name -> result of ``cross_validate`` (same data and folds for all layers).
    Y : ndarray, shape (n_samples, n_targets)
        The data the results were fitted on (to score the combined predictions).

    Returns
    -------
    result : EncodingResult
        Predictions of the chosen layer of every fold and electrode, scored against ``Y``;
        ``alphas`` and ``inner_error`` of the chosen layers.
    chosen : ndarray of str, shape (n_folds, n_targets)
        The layer chosen for every fold and electrode.
    """
    names = list(results)
    first = results[names[0]]
    if any(results[name].inner_error is None for name in names):
        raise BadDataError("prediction correlation needs EncodingResult.inner_error (results "
                           "of bids_app.encoding.cross_validate)")
    errors = np.stack([results[name].inner_error for name in names])  # (layers, folds, targets)
    best = errors.argmin(0)
    predictions = np.full(first.predictions.shape, np.nan, dtype=first.predictions.dtype)
    alphas, inner = np.zeros_like(first.alphas), errors.min(0)
    r_folds, r2_folds = np.zeros_like(first.r_folds), np.zeros_like(first.r2_folds)
    Y = np.asarray(Y, dtype=float)
    for layer, name in enumerate(names):  # one layer at a time: its pages can be dropped
        source = results[name].predictions
        for k, index in enumerate(first.test_folds):
            cols = np.flatnonzero(best[k] == layer)
            predictions[np.ix_(index, cols)] = source[np.ix_(index, cols)]
            alphas[k, cols] = results[name].alphas[k, cols]
        release_pages(source)
    for k, index in enumerate(first.test_folds):
        r_folds[k], r2_folds[k] = fold_scores(Y[index], predictions[index])
    result = EncodingResult(r=r_folds.mean(0), r2=r2_folds.mean(0), r_folds=r_folds,
                            r2_folds=r2_folds, alphas=alphas, predictions=predictions,
                            test_folds=first.test_folds, lags=first.lags, inner_error=inner)
    return result, np.asarray(names)[best]


def prediction_correlation(result_a: EncodingResult, result_b: EncodingResult, Y: np.ndarray,
                           channels: Sequence[str], *, null: Callable[[np.ndarray], np.ndarray]
                           | None = None, n_permutations: int = 1000, seed: int = 0,
                           fdr_alpha: float = 0.05) -> pd.DataFrame:
    """Per-electrode correlation of two models' cross-validated predictions, with p-values.

    Parameters
    ----------
    result_a, result_b : EncodingResult
        The two models (e.g. from :func:`best_layer_result`), on the same folds.
    Y : ndarray, shape (n_samples, n_targets)
        The neural data, for each model's permutation p-value.
    channels : sequence of str
    null : callable | None
        ``null(tested)`` -> null ``r_pred`` of the tested electrodes (boolean mask over
        ``channels``), shape (n_refits, n_tested), e.g. :func:`prediction_correlation_null`
        bound to the designs. None: no p-value for ``r_pred``.
    n_permutations, seed : int
        Circular shifts of each model's predictions for its own p-value.
    fdr_alpha : float
        Benjamini–Hochberg rate across electrodes (across the tested ones for ``r_pred``).

    Returns
    -------
    table : DataFrame
        ``channel``, ``r_pred`` (fold mean of the correlation of the two predictions), ``p``,
        ``p_fdr``, ``significant`` (NaN / False outside ``both_significant``); for each model
        (``a``, ``b``): ``r_a`` (its prediction's r with the data, the reference for
        ``r_pred``), ``p_a``, ``significant_a``; ``both_significant``; ``delta_r``
        (``r_a - r_b``, paired: the same electrode and folds) and ``folds_a_better`` (the
        test folds where model a's r is higher), both descriptive.
    """
    Y = np.asarray(Y, dtype=float)
    folds = result_a.test_folds
    if [len(f) for f in folds] != [len(f) for f in result_b.test_folds]:
        raise BadDataError("prediction correlation needs two results on the same folds")
    r_pred = fold_mean_correlation(result_a.predictions, result_b.predictions, folds)
    table = pd.DataFrame({"channel": list(channels), "r_pred": r_pred})
    for label, result in (("a", result_a), ("b", result_b)):
        p_model = permutation_test(result, Y, n_permutations=n_permutations, seed=seed)
        table[f"r_{label}"] = result.r
        table[f"p_{label}"] = p_model
        table[f"significant_{label}"] = fdr_bh(p_model, fdr_alpha)[1]
    tested = (table["significant_a"] & table["significant_b"]).to_numpy()
    table["both_significant"] = tested
    table["delta_r"] = result_a.r - result_b.r
    table["folds_a_better"] = (result_a.r_folds > result_b.r_folds).sum(0)
    p = np.full(len(table), np.nan)
    if null is not None and tested.any():
        samples = null(tested)
        p[tested] = ((samples >= r_pred[tested][None, :]).sum(0) + 1) / (len(samples) + 1)
    p_fdr, significant = fdr_bh(p, fdr_alpha)
    table.insert(2, "p", p)
    table.insert(3, "p_fdr", p_fdr)
    table.insert(4, "significant", significant)
    return table


def fold_mean_correlation(a: np.ndarray, b: np.ndarray,
                          folds: Sequence[np.ndarray]) -> np.ndarray:
    """Per column, the mean over test folds of the correlation of ``a`` and ``b``."""
    return np.mean([fold_scores(np.asarray(a[i], dtype=float), np.asarray(b[i], dtype=float))[0]
                    for i in folds], axis=0)


def prediction_correlation_null(fit_a: Callable[[np.ndarray], EncodingResult],
                                fit_b: Callable[[np.ndarray], EncodingResult], Y: np.ndarray,
                                *, segments: np.ndarray | None = None, n_refits: int = 100,
                                seed: int = 0, max_columns: int = REFIT_COLUMNS) -> np.ndarray:
    """Null ``r_pred``: both models refitted on circularly shifted data.

    The shifts are those of :func:`bids_app.encoding.refit_null` (the same for every
    column); both models are fitted on every shifted column, and their predictions are
    correlated like the observed ones.

    Parameters
    ----------
    fit_a, fit_b : callable
        ``fit(Y)`` -> EncodingResult with predictions: each model's cross-validation as for
        its observed result (same design, folds, alphas, reductions and word centring).
    Y : ndarray, shape (n_samples, n_targets)
        The data of the electrodes to test.
    segments : ndarray of int | None
    n_refits, seed : int
    max_columns : int
        Shifted columns per fit (memory bound: two predictions of this many columns).

    Returns
    -------
    null : ndarray, shape (n_refits, n_targets)
    """
    def r_pred(shifted: np.ndarray) -> np.ndarray:
        a, b = fit_a(shifted), fit_b(shifted)
        return fold_mean_correlation(a.predictions, b.predictions, a.test_folds)

    return shifted_refits(r_pred, Y, segments=segments, n_refits=n_refits, seed=seed,
                          max_columns=max_columns)
