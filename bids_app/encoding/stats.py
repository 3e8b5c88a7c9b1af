"""Permutation statistics of cross-validated scores and FDR correction.

Two nulls of the cross-validated r (``docs/statistics.md`` derives the first and measures
both on noise):

- :func:`permutation_test` (``statistics.method: circular_shift``): circular shifts of the
  held-out predictions, fold by fold, with the cross-fitting factor √2. Cheap (FFTs of the
  predictions, no refit).
- :func:`refit_null` and :func:`refit_p_values` (``statistics.method: refit``): the whole
  nested CV refitted on circularly shifted data. Valid by construction wherever the shifted
  data are exchangeable with the data, but each refit costs a fit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import scipy.fft
from scipy import stats

from bids_app.encoding.config import REFIT_COLUMNS, StatisticsConfig
from bids_app.encoding.result import EncodingResult
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
    null = shift_null(result, Y, n_permutations, seed, cross_fit_correction)
    return shift_p_values(result.r, null)


def shift_p_values(r: np.ndarray, null: np.ndarray) -> np.ndarray:
    """``(count(null >= r) + 1) / (n_permutations + 1)``, NaN where ``r`` is NaN.

    Parameters
    ----------
    r : ndarray
        Observed scores (any shape, ``size`` targets).
    null : ndarray, shape (n_permutations, size)

    Returns
    -------
    p : ndarray, shape of ``r``
    """
    observed = np.asarray(r, dtype=float).ravel()
    p = ((null >= observed[None, :]).sum(0) + 1) / (len(null) + 1)
    return np.where(np.isnan(observed), np.nan, p).reshape(np.shape(r))


def shift_null(result: EncodingResult, Y: np.ndarray, n_permutations: int = 1000,
               seed: int = 0, cross_fit_correction: bool = True) -> np.ndarray:
    """The null fold-mean r of :func:`permutation_test`, shape (n_permutations, r.size).

    The shifts depend only on ``seed`` and the test folds' lengths, so results on the same
    folds (the layers of a feature space) get the same shifts: their nulls are paired.
    """
    null = ShiftNull(Y, result.test_folds, n_permutations, seed, cross_fit_correction)
    return null(result.predictions)


class ShiftNull:
    """The circular-shift null of :func:`permutation_test` for any model of fixed data.

    The data's side (each test fold's centred spectrum, its norm, the shifts) is computed
    once, so the null of each model scored on the same data and folds (the layers of a
    recording) costs one FFT pair of its predictions per fold. The FFTs are in float32
    (``scipy.fft``): the correlations are exact to about 1e-6, below the float32 in which
    the null is kept for the max-T test.

    Parameters
    ----------
    Y : ndarray, shape (n_samples, n_targets) or (n_words, n_lags, n_targets)
        The data (word mode: the epochs).
    test_folds : list of ndarray
        Sample (word) indices of each outer test fold.
    n_permutations, seed : int
    cross_fit_correction : bool
        As in :func:`permutation_test`.
    """

    def __init__(self, Y: np.ndarray, test_folds: Sequence[np.ndarray],
                 n_permutations: int = 1000, seed: int = 0,
                 cross_fit_correction: bool = True) -> None:
        if n_permutations < 1:
            raise UsageError(f"statistics.n_permutations must be >= 1, got {n_permutations}")
        Y = np.asarray(Y)
        Y = Y.reshape(len(Y), -1)
        rng = np.random.default_rng(seed)
        self.n_permutations, self.seed = n_permutations, seed
        # the fold mean, scaled by the cross-fitting factor
        self.scale = (np.sqrt(2.0) if cross_fit_correction else 1.0) / len(test_folds)
        self.folds = []
        by_target = Y.T
        for index in test_folds:
            size = fft_size(len(index))
            spectrum, norm = _spectrum(by_target[:, index], size)
            self.folds.append((index, size, spectrum, norm,
                               circular_shifts(len(index), n_permutations, rng)))

    def fits(self, test_folds: Sequence[np.ndarray], n_permutations: int, seed: int) -> bool:
        """Whether this null was built on ``test_folds`` with these permutations."""
        return ((n_permutations, seed) == (self.n_permutations, self.seed)
                and len(test_folds) == len(self.folds)
                and all(np.array_equal(fold, index)
                        for fold, (index, *_) in zip(test_folds, self.folds, strict=True)))

    def __call__(self, predictions: np.ndarray) -> np.ndarray:
        """The null fold-mean r of ``predictions`` (shaped as ``Y``), (n_permutations, n)."""
        by_target = predictions.reshape(len(predictions), -1).T
        null = np.zeros((self.n_permutations, by_target.shape[0]))
        for index, size, spectrum, norm, shifts in self.folds:
            pred_spectrum, pred_norm = _spectrum(by_target[:, index], size)
            cross = circular_cross(spectrum, pred_spectrum, len(index), size, shifts)
            with np.errstate(invalid="ignore", divide="ignore"):
                null += (cross / (norm * pred_norm)[:, None]).T
        return null * self.scale


def fft_size(n: int) -> int:
    """The FFT length of a circular correlation of ``n`` samples: ``n`` itself when it is a
    fast length, else a fast length of at least ``2n - 1`` (the linear correlation, folded).

    A fold length with a large prime factor (a stimulus of arbitrary length) makes a
    length-``n`` FFT about ten times slower than a fast one of twice the length.
    """
    return n if scipy.fft.next_fast_len(n, real=True) == n else scipy.fft.next_fast_len(
        2 * n - 1, real=True)


def circular_cross(x_spectrum: np.ndarray, y_spectrum: np.ndarray, n: int, size: int,
                   shifts: np.ndarray) -> np.ndarray:
    """``Σ_t x[(t + s) mod n] · y[t]`` of every row at the ``shifts``, from the rows' spectra
    at FFT length ``size`` (:func:`fft_size`).

    At a longer, zero-padded length the correlation is linear; its circular value at shift
    ``s > 0`` adds the linear one at ``s - n``, stored at index ``size + s - n``.
    """
    cross = scipy.fft.irfft(x_spectrum * np.conj(y_spectrum), n=size)
    if size == n:
        return cross[:, shifts]
    return cross[:, shifts] + np.where(shifts > 0, cross[:, (size + shifts - n) % size], 0)


def _spectrum(x: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The float32 spectrum at FFT length ``size`` of each centred row of ``x`` (n_targets,
    n_samples), along which FFTs are several times faster than along columns, and the row's
    norm."""
    x = np.asarray(x, dtype=np.float32)
    padded = np.empty((x.shape[0], size), dtype=np.float32)  # no copy by the FFT to pad
    padded[:, x.shape[1]:] = 0.0
    centred = padded[:, :x.shape[1]]
    # a float32 mean: the centred data side makes its error second order in r
    np.subtract(x, x.mean(1)[:, None], out=centred)
    norm = np.sqrt(np.square(centred).sum(1), dtype=np.float64)
    return scipy.fft.rfft(padded), norm


def max_t_p_values(results: Sequence[EncodingResult], Y: np.ndarray,
                   n_permutations: int = 1000, seed: int = 0) -> np.ndarray:
    """One p-value per electrode for a feature space, whatever its number of layers.

    The statistic is the electrode's largest r over the layers; its null, the largest null r
    over the layers under the same shifts (:func:`shift_null`): the max-T correction, which
    controls the family-wise error over layers and is less conservative than Bonferroni
    when layers are correlated. Use it where the question is "does this model predict this
    electrode", so that no electrode counts as significant for being tested at 13 layers.

    Parameters
    ----------
    results : sequence of EncodingResult
        The layers of one feature space, on the same folds and data; the null a layer's
        test kept (``shift_null``, with the same ``n_permutations``) is reused.
    Y : ndarray, shape (n_samples, n_targets)
    n_permutations, seed : int

    Returns
    -------
    p : ndarray, shape (n_targets,)
        NaN where every layer's r is NaN.
    """
    observed = np.full(np.size(results[0].r), -np.inf)
    null = np.full((n_permutations, observed.size), -np.inf)
    for result in results:
        r = np.asarray(result.r, dtype=float).ravel()
        observed = np.fmax(observed, np.where(np.isnan(r), -np.inf, r))
        kept = result.shift_null
        if kept is None or kept.shape != null.shape:
            kept = shift_null(result, Y, n_permutations, seed)
        null = np.fmax(null, kept)
    p = ((null >= observed[None, :]).sum(0) + 1) / (n_permutations + 1)
    return np.where(np.isfinite(observed), p, np.nan)


def circular_shifts(n: int, n_shifts: int, rng: np.random.Generator) -> np.ndarray:
    """Random rotations of a series of ``n`` samples, at least 10 % of ``n`` away from zero."""
    margin = min(max(1, n // 10), (n - 1) // 2)
    return rng.integers(margin, n - margin + 1, size=n_shifts) % n


def refit_null(statistic: Callable[[np.ndarray], np.ndarray], Y: np.ndarray, *,
               segments: np.ndarray | None = None, n_refits: int = 100, seed: int = 0,
               max_columns: int = REFIT_COLUMNS) -> np.ndarray:
    """Null distribution of a statistic refitted on circularly shifted data.

    Every column of ``Y`` is rotated along the modelled samples (``segments >= 0``, taken end
    to end) by ``n_refits`` random shifts (:func:`circular_shifts`; the same shifts for every
    column). The shifted copies are the columns of one target matrix per batch, so a fit on
    them shares each fold's Gram and eigendecompositions. A rotation keeps the data's
    autocorrelation and every property of the features, and breaks only the alignment of the
    two, which is the null hypothesis.

    Parameters
    ----------
    statistic : callable
        ``statistic(shifted)`` -> ndarray ``(..., n_columns)`` for ``shifted`` of shape
        ``(n_samples, n_columns)``: e.g. the cross-validated r of a refit on ``shifted``.
    Y : ndarray, shape (n_samples, n_targets)
    segments : ndarray of int, shape (n_samples,) | None
        Stimulus labels (-1: not modelled). Unmodelled samples stay zero.
    n_refits, seed : int
    max_columns : int
        Shifted columns per call of ``statistic`` (bounds its memory).

    Returns
    -------
    null : ndarray, shape (n_refits, ..., n_targets)
    """
    Y = np.asarray(Y, dtype=np.float32)
    n_targets = 1 if Y.ndim == 1 else Y.shape[1]
    batches = []
    for shifted in rotations(Y, segments=segments, n_refits=n_refits, seed=seed,
                             max_columns=max_columns):
        values = np.asarray(statistic(shifted))
        values = values.reshape(*values.shape[:-1], -1, n_targets)
        batches.append(np.moveaxis(values, -2, 0))
    return np.concatenate(batches)


def rotations(Y: np.ndarray, *, segments: np.ndarray | None = None, n_refits: int = 100,
              seed: int = 0, max_columns: int = REFIT_COLUMNS,
              lead: bool = False) -> Iterator[np.ndarray]:
    """The rotated copies of :func:`refit_null`, a batch of columns at a time.

    Parameters
    ----------
    Y : ndarray, shape (n_samples, n_targets)
    segments, n_refits, seed, max_columns
        As in :func:`refit_null`.
    lead : bool
        Put ``Y`` itself in the first ``n_targets`` columns of the first batch (before its
        rotations), so that the observed data are fitted with it without another copy.

    Yields
    ------
    shifted : ndarray, shape (n_samples, n_batch * n_targets), float32
        Rotation ``i`` of the batch in columns ``i * n_targets`` to ``(i + 1) * n_targets``
        (after the lead columns); the batches hold the ``n_refits`` rotations in order.
    """
    Y = np.asarray(Y, dtype=np.float32)
    Y = Y[:, None] if Y.ndim == 1 else Y
    modelled = np.flatnonzero(np.ones(len(Y), bool) if segments is None else segments >= 0)
    shifts = circular_shifts(len(modelled), n_refits, np.random.default_rng(seed))
    n_targets = Y.shape[1]
    per_call = max(1, max_columns // n_targets)
    for start in range(0, n_refits, per_call):
        batch = shifts[start:start + per_call]
        first = int(lead and start == 0)
        shifted = np.zeros((len(Y), (first + len(batch)) * n_targets), dtype=np.float32)
        if first:
            shifted[:, :n_targets] = Y
        for i, shift in enumerate(batch, start=first):
            shifted[modelled, i * n_targets:(i + 1) * n_targets] = np.roll(Y[modelled], shift,
                                                                           axis=0)
        yield shifted


def refit_p_values(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """One-sided p-values of ``observed`` against a refit null, by its normal approximation.

    The null is summarised by its mean ``m`` and standard deviation ``s`` per test, and
    ``p`` is the upper tail at ``observed`` of the distribution of one more draw from that
    normal: ``t = (observed - m) / (s √(1 + 1/n))`` with Student's t at ``n - 1`` degrees of
    freedom, ``n`` the number of refits (the prediction interval of a normal sample), so the
    p-values stay valid with few refits, where estimating ``s`` is uncertain. A
    cross-validated r or R² is a mean of many products, close to normal under the null; the
    approximation gives p-values small enough for FDR across hundreds of tests from tens of
    refits, where counting refits cannot go below ``1 / (n_refits + 1)``.
    ``docs/statistics.md`` shows it calibrated on noise.

    Parameters
    ----------
    observed : ndarray, shape S
    null : ndarray, shape (n_refits, *S)

    Returns
    -------
    p : ndarray, shape S
        NaN where ``observed`` is NaN or the null has no spread.
    """
    observed = np.asarray(observed, dtype=float)
    if len(null) < 2:
        raise UsageError(f"a refit null needs at least 2 refits, got {len(null)}")
    n = np.sum(np.isfinite(null), 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = ((observed - np.nanmean(null, 0))
             / (np.nanstd(null, 0, ddof=1) * np.sqrt(1 + 1 / n)))
    return np.where(np.isfinite(t), stats.t.sf(t, np.maximum(n - 1, 1)), np.nan)


def significance(result: EncodingResult, targets: np.ndarray,
                 refit: Callable[[np.ndarray], EncodingResult], data: np.ndarray,
                 statistics: StatisticsConfig, mode: str, *,
                 segments: np.ndarray | None = None, max_columns: int = REFIT_COLUMNS,
                 shifts: ShiftNull | None = None) -> np.ndarray:
    """The encoding test's p-values with the null of ``statistics.method`` (auto resolved).

    Parameters
    ----------
    result : EncodingResult
        The observed fit.
    targets : ndarray
        What ``result`` was scored on (word mode: the epochs).
    refit : callable
        ``refit(data)`` -> EncodingResult: the same nested CV on (shifted) continuous data.
    data : ndarray, shape (n_samples, n_targets)
        The continuous data that ``refit`` takes and the refit null rotates.
    statistics : StatisticsConfig
    mode : str
        ``encoding.mode``.
    segments : ndarray of int | None
        Stimulus labels of ``data`` (-1: not modelled).
    max_columns : int
        Shifted columns per refit.
    shifts : ShiftNull | None
        The circular-shift null of ``targets`` on the result's test folds, built once for
        every model of the same data (the layers of a recording); None builds it here.

    Returns
    -------
    p : ndarray, shape of ``result.r``
        With the circular-shift null in TRF mode, the null is also kept on
        ``result.shift_null`` (for :func:`max_t_p_values`).
    """
    smallest_fold = min(len(fold) for fold in result.test_folds)
    if statistics.null(mode, smallest_fold) == "circular_shift":
        if shifts is None:
            shifts = ShiftNull(targets, result.test_folds, statistics.n_permutations,
                               statistics.seed)
        elif not shifts.fits(result.test_folds, statistics.n_permutations, statistics.seed):
            raise ValueError("the ShiftNull was built on other test folds or permutations")
        null = shifts(result.predictions)
        if mode == "trf":  # kept for the max-T test over layers
            result.shift_null = null.astype(np.float32)
        return shift_p_values(result.r, null)
    null = refit_null(lambda shifted: refit(shifted).r, data, segments=segments,
                      n_refits=statistics.n_refits, seed=statistics.seed,
                      max_columns=max_columns)
    return refit_p_values(result.r, null)


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
