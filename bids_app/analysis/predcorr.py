"""Prediction correlation: do two models predict the same neural time courses?

For every electrode, each model's cross-validated prediction is taken from its best layer,
chosen *in-fold*: for outer fold ``k``, the layer with the smallest inner-validation error in
fold ``k``'s training set (``EncodingResult.inner_error``), so the test fold never takes part
in the choice. The two predictions are correlated within every test fold, and the fold mean is
the statistic, like the engine's r.

Significance: each test fold's prediction of model B is circularly shifted against model A's,
which keeps both autocorrelations (:func:`~bids_app.encoding.permutation_test` with model A's
prediction as the "data"), without the engine's cross-fitting correction: on 300
smoothed-noise electrodes and two independent feature sets (4 seeds), the p-values were
uniform (KS p 0.16–0.98) with 3–8% below 0.05.

The null is "the two predicted time courses are unrelated". Where neither model predicts the
data, correlated features can still make their fits to the same noise correlate, so read
``r_pred`` in electrodes that both models predict (``both_significant``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bids_app.encoding import EncodingResult, fdr_bh, permutation_test
from bids_app.encoding.cv import fold_scores
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
                           channels: Sequence[str], *, n_permutations: int = 1000,
                           seed: int = 0, fdr_alpha: float = 0.05) -> pd.DataFrame:
    """Per-electrode correlation of two models' cross-validated predictions, with p-values.

    Parameters
    ----------
    result_a, result_b : EncodingResult
        The two models (e.g. from :func:`best_layer_result`), on the same folds.
    Y : ndarray, shape (n_samples, n_targets)
        The neural data, for each model's permutation p-value.
    channels : sequence of str
    n_permutations, seed : int
        Circular shifts of the predictions (see the module docstring).
    fdr_alpha : float
        Benjamini–Hochberg rate across electrodes.

    Returns
    -------
    table : DataFrame
        ``channel``, ``r_pred`` (fold mean of the correlation of the two predictions), ``p``,
        ``p_fdr``, ``significant``; for each model (``a``, ``b``): ``r_a`` (its prediction's
        r with the data, the reference for ``r_pred``), ``p_a``, ``significant_a``; and
        ``both_significant``.
    """
    Y = np.asarray(Y, dtype=float)
    folds = result_a.test_folds
    if [len(f) for f in folds] != [len(f) for f in result_b.test_folds]:
        raise BadDataError("prediction correlation needs two results on the same folds")
    pred_a = result_a.predictions.astype(float)
    pred_b = result_b.predictions.astype(float)
    r_pred = np.mean([fold_scores(pred_a[i], pred_b[i])[0] for i in folds], axis=0)
    # model B's prediction plays the model, model A's the data, in the permutation test
    pair = EncodingResult(r=r_pred, r2=np.full_like(r_pred, np.nan), r_folds=np.empty(0),
                          r2_folds=np.empty(0), alphas=np.empty(0),
                          predictions=result_b.predictions, test_folds=folds,
                          lags=result_a.lags)
    p = permutation_test(pair, pred_a, n_permutations=n_permutations, seed=seed,
                         cross_fit_correction=False)
    p_fdr, significant = fdr_bh(p, fdr_alpha)
    table = pd.DataFrame({"channel": list(channels), "r_pred": r_pred, "p": p, "p_fdr": p_fdr,
                          "significant": significant})
    for label, result in (("a", result_a), ("b", result_b)):
        p_model = permutation_test(result, Y, n_permutations=n_permutations, seed=seed)
        table[f"r_{label}"] = result.r
        table[f"p_{label}"] = p_model
        table[f"significant_{label}"] = fdr_bh(p_model, fdr_alpha)[1]
    table["both_significant"] = table["significant_a"] & table["significant_b"]
    return table
