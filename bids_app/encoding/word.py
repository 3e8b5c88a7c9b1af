"""Word-lag encoding: regress the neural data at word onset + lag on word features.

For every lag ``l`` and electrode ``e``, the target of word ``w`` is ``neural[onset_w + l, e]``.
All (lag, electrode) pairs are one multi-target ridge problem on the word features, fitted with
the same blocked nested CV as the TRF mode (folds over words, kept within stimuli when there
are enough of them). The result is an r(lag) curve per electrode.

Cost: the inner alpha search is ``O(p² · n_lags · n_electrodes)`` per alpha and validation
fold, so with large ``p`` use ``pca`` (the reference study reduced word features to 50
components) or ``inner_cv: holdout``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bids_app.encoding.backend import Backend
from bids_app.encoding.config import EncodingConfig
from bids_app.encoding.cv import cross_validate
from bids_app.encoding.result import EncodingResult
from bids_app.errors import BadDataError


def word_targets(neural: np.ndarray, onsets: np.ndarray, lags: Sequence[int],
                 segments: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Neural data at every word onset + lag, and which words have a complete epoch.

    Parameters
    ----------
    neural : ndarray, shape (n_samples, n_targets)
    onsets : ndarray of int, shape (n_words,)
        Word onsets in samples of the neural timeline.
    lags : sequence of int
        Lags in samples.
    segments : ndarray of int, shape (n_samples,) | None
        Stimulus labels (-1 between stimuli). A word whose epoch leaves its own stimulus is
        dropped; None only drops epochs that leave the recording.

    Returns
    -------
    targets : ndarray, shape (n_kept, n_lags, n_targets)
        Epochs of the kept words (same dtype as ``neural``).
    kept : ndarray of bool, shape (n_words,)
    """
    onsets = np.asarray(onsets, dtype=int)
    lags = np.asarray(lags, dtype=int)
    index = onsets[:, None] + lags[None, :]
    kept = ((index >= 0) & (index < neural.shape[0])).all(1)
    if segments is not None:
        safe = np.clip(index, 0, neural.shape[0] - 1)
        label = segments[np.clip(onsets, 0, neural.shape[0] - 1)]
        kept &= (label >= 0) & (segments[safe] == label[:, None]).all(1)
    return neural[index[kept]], kept


def cross_validate_word_lags(word_X: np.ndarray, neural: np.ndarray, onsets_samples: np.ndarray,
                             lags_samples: Sequence[int], *, segments: np.ndarray | None = None,
                             config: EncodingConfig | None = None,
                             engine: Backend | None = None, return_weights: bool = False
                             ) -> tuple[EncodingResult, np.ndarray]:
    """Nested-CV ridge of word-onset epochs on word features, all lags at once.

    Parameters
    ----------
    word_X : ndarray, shape (n_words, n_features)
        One feature vector per word, in onset order.
    neural : ndarray, shape (n_samples, n_targets)
        Neural data on its timeline.
    onsets_samples : ndarray of int, shape (n_words,)
        Word onsets in neural samples (non-decreasing).
    lags_samples : sequence of int
        Lags in samples, e.g. ``config.word_lags_samples(sfreq)``.
    segments : ndarray of int, shape (n_samples,) | None
        Stimulus labels of the neural samples (-1 between stimuli). Folds keep stimuli whole
        when there are at least ``n_folds`` of them, and epochs never leave their stimulus.
    config : EncodingConfig | None
    engine, return_weights
        As in :func:`~bids_app.encoding.cross_validate`.

    Returns
    -------
    result : EncodingResult
        Words are the samples and (lag, electrode) pairs the targets: ``r`` and ``r2`` have
        shape (n_lags, n_targets), ``r_folds``, ``r2_folds`` and ``alphas`` (n_folds, n_lags,
        n_targets), ``predictions`` (n_words, n_lags, n_targets) with NaN for dropped words,
        ``test_folds`` word indices, ``lags`` the word lags, and ``weights`` (n_features,
        n_lags, n_targets).
    targets : ndarray, shape (n_words, n_lags, n_targets)
        The epochs (NaN for dropped words), for :func:`~bids_app.encoding.permutation_test`.
    """
    config = config or EncodingConfig(mode="word")
    neural = np.asarray(neural)
    neural = neural[:, None] if neural.ndim == 1 else neural
    onsets = np.asarray(onsets_samples, dtype=int)
    if word_X.shape[0] != onsets.size:
        raise BadDataError(f"word mode needs one onset per word, got {onsets.size} onsets for "
                           f"{word_X.shape[0]} words")
    if np.any(np.diff(onsets) < 0):
        raise BadDataError("word onsets must be in time order")
    lags = np.asarray(lags_samples, dtype=int)
    epochs, kept = word_targets(neural, onsets, lags, segments)
    if kept.sum() < 2 * config.n_folds:
        raise BadDataError(f"only {kept.sum()} words have a complete epoch for lags "
                           f"{lags.min()}..{lags.max()} samples; need at least "
                           f"{2 * config.n_folds}")
    n_lags, n_targets = lags.size, neural.shape[1]
    word_segments = None if segments is None else segments[onsets[kept]]
    inner = cross_validate(word_X[kept], epochs.reshape(len(epochs), -1), lags=[0],
                           segments=word_segments, config=config, engine=engine,
                           return_weights=return_weights)
    words = np.flatnonzero(kept)
    shape = (n_lags, n_targets)
    predictions = np.full((onsets.size, *shape), np.nan, dtype=inner.predictions.dtype)
    predictions[words] = inner.predictions.reshape(-1, *shape)
    targets = np.full((onsets.size, *shape), np.nan, dtype=epochs.dtype)
    targets[words] = epochs
    weights = None
    if inner.weights is not None:
        weights = inner.weights[0].reshape(word_X.shape[1], *shape)
    result = EncodingResult(
        r=inner.r.reshape(shape), r2=inner.r2.reshape(shape),
        r_folds=inner.r_folds.reshape(-1, *shape), r2_folds=inner.r2_folds.reshape(-1, *shape),
        alphas=inner.alphas.reshape(-1, *shape), predictions=predictions,
        test_folds=[words[fold] for fold in inner.test_folds], lags=lags, weights=weights)
    return result, targets
