"""Permutation statistics of cross-validated scores and FDR correction."""

from __future__ import annotations

import numpy as np

from bids_app.encoding.cv import EncodingResult
from bids_app.errors import UsageError


def permutation_test(result: EncodingResult, Y: np.ndarray, n_permutations: int = 1000,
                     seed: int = 0, cross_fit_correction: bool = True) -> np.ndarray:
    """One-sided p-values of the cross-validated r by circular shifts of the predictions.

    In each permutation, the held-out predictions of every outer test fold are rotated in
    time by a random shift (the same for all targets, drawn independently per fold, at least
    10% of the fold length away from zero) and correlated with the data; the null statistic
    is the mean over folds, like ``result.r``. Rotation keeps the autocorrelation of both
    series, and no model is refitted. Correlations at all shifts come from one FFT per fold.

    Cross-fitting correction: under the null, the per-fold scores are not independent. Fold
    ``j`` is scored by a model trained on fold ``k`` and vice versa, so every pair of folds
    enters the fold mean twice, with the same sign, and its null variance is twice the sum of
    the per-fold variances, whereas independent per-fold shifts give only that sum. Without
    correction the test is anti-conservative (11% false positives at p < 0.05 on pure noise
    in our tests); with it, the null fold mean is scaled by √2, which restores the nominal
    rate (measured ratio of the two spreads on noise: 1.34–1.53 over fold counts 3–10).
    The factor is a heuristic: ``benchmarks/calibration.py`` measures it regime by regime
    (``docs/statistics.md``); word mode with 5 folds stays anti-conservative (8 % at 0.05).

    Parameters
    ----------
    result : EncodingResult
        Output of :func:`cross_validate` or :func:`cross_validate_word_lags`.
    Y : ndarray, shape (n_samples, n_targets) or (n_words, n_lags, n_targets)
        The data the result was computed on (word mode: the returned ``targets``).
    n_permutations : int
    seed : int
    cross_fit_correction : bool
        Scale the null fold mean by √2 (see above). Turn off only for a single test fold.

    Returns
    -------
    p : ndarray, shape of ``result.r``
        ``(count(null >= r) + 1) / (n_permutations + 1)``; NaN where r is NaN.
    """
    if n_permutations < 1:
        raise UsageError(f"statistics.n_permutations must be >= 1, got {n_permutations}")
    Y = np.asarray(Y)
    Y = Y.reshape(len(Y), -1)
    predictions = result.predictions.reshape(len(Y), -1)
    rng = np.random.default_rng(seed)
    null = np.zeros((n_permutations, Y.shape[1]))
    for index in result.test_folds:
        shifted = _circular_correlations(Y[index].astype(float), predictions[index].astype(float))
        n = len(index)
        margin = min(max(1, n // 10), (n - 1) // 2)
        shifts = rng.integers(margin, n - margin + 1, size=n_permutations) % n
        null += shifted[shifts]
    null /= len(result.test_folds)
    if cross_fit_correction:
        null *= np.sqrt(2.0)
    observed = np.asarray(result.r).ravel()
    count = (null >= observed[None, :]).sum(0)
    p = (count + 1) / (n_permutations + 1)
    return np.where(np.isnan(observed), np.nan, p).reshape(np.shape(result.r))


def _circular_correlations(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """``out[s, t]`` = Pearson r of ``y[:, t]`` with ``pred[:, t]`` rotated by ``s`` samples."""
    n = y.shape[0]
    # one contiguous row per target: FFTs along the last axis are several times faster
    yc = np.ascontiguousarray((y - y.mean(0)).T)
    pc = np.ascontiguousarray((pred - pred.mean(0)).T)
    cross = np.fft.irfft(np.fft.rfft(yc) * np.conj(np.fft.rfft(pc)), n=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        cross /= np.sqrt((yc * yc).sum(1) * (pc * pc).sum(1))[:, None]
    return cross.T


def fdr_bh(p: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini–Hochberg adjusted p-values and significance.

    Parameters
    ----------
    p : ndarray
        p-values (any shape); NaN entries are ignored and stay NaN.
    alpha : float
        False discovery rate.

    Returns
    -------
    p_fdr : ndarray
        Adjusted p-values, same shape as ``p``.
    significant : ndarray of bool
        ``p_fdr <= alpha``.
    """
    p = np.asarray(p, dtype=float)
    flat = p.ravel()
    valid = np.flatnonzero(~np.isnan(flat))
    adjusted = np.full(flat.shape, np.nan)
    if valid.size:
        order = valid[np.argsort(flat[valid], kind="stable")]
        ranked = flat[order] * valid.size / np.arange(1, valid.size + 1)
        adjusted[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    adjusted = adjusted.reshape(p.shape)
    return adjusted, np.nan_to_num(adjusted, nan=np.inf) <= alpha
