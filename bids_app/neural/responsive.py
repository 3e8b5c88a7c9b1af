"""Speech-responsive electrodes: high-gamma after stimulus onsets versus a pre-onset baseline."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.stats

from bids_app.errors import BadDataError
from bids_app.neural.config import ElectrodeConfig as ElectrodeConfig  # its former home
from bids_app.neural.data import NeuralData


def window_means(neural: NeuralData, onsets: np.ndarray, window: tuple[float, float]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Mean high-gamma of each channel in a window relative to each onset.

    Parameters
    ----------
    neural : NeuralData
        High-gamma data.
    onsets : ndarray, shape (n_onsets,)
        Onsets in seconds of recording time.
    window : tuple of float
        ``(start, stop)`` in seconds relative to the onset.

    Returns
    -------
    means : ndarray, shape (n_channels, n_onsets)
        NaN for onsets whose window leaves the recording.
    valid : ndarray of bool, shape (n_onsets,)
        Whether the window fits in the recording.
    """
    onsets = np.asarray(onsets, dtype=float)
    starts = np.round((onsets + window[0]) * neural.sfreq).astype(int)
    stops = np.round((onsets + window[1]) * neural.sfreq).astype(int)
    valid = (starts >= 0) & (stops <= neural.data.shape[1]) & (stops > starts)
    cumsum = np.concatenate([np.zeros((neural.data.shape[0], 1)),
                             np.cumsum(neural.data, axis=1, dtype=np.float64)], axis=1)
    means = np.full((neural.data.shape[0], len(onsets)), np.nan)
    s, e = starts[valid], stops[valid]
    means[:, valid] = (cumsum[:, e] - cumsum[:, s]) / (e - s)
    return means, valid


def speech_responsive(neural: NeuralData, onsets: np.ndarray, *,
                      window: tuple[float, float] = (0.0, 0.5),
                      baseline: tuple[float, float] = (-0.5, 0.0), alpha: float = 0.05,
                      alternative: str = "greater") -> pd.DataFrame:
    """Paired t-test per electrode of high-gamma after onsets against the pre-onset baseline.

    As in the Chang lab: for each stimulus (sentence) onset, the mean high-gamma in ``window``
    is paired with the mean in ``baseline``; a paired t-test across onsets, Bonferroni-corrected
    over electrodes, marks the speech-responsive electrodes.

    Parameters
    ----------
    neural : NeuralData
        High-gamma data.
    onsets : ndarray, shape (n_onsets,)
        Stimulus onsets in seconds of recording time.
    window, baseline : tuple of float
        ``(start, stop)`` in seconds relative to each onset.
    alpha : float
        Family-wise error rate.
    alternative : str
        ``"greater"`` (an increase after onset; default), ``"two-sided"`` or ``"less"``.

    Returns
    -------
    table : DataFrame
        ``channel, t, p, p_bonferroni, responsive, n_trials`` per channel.

    Raises
    ------
    BadDataError
        With fewer than 2 onsets whose windows fit in the recording.
    """
    post, valid_post = window_means(neural, onsets, window)
    pre, valid_pre = window_means(neural, onsets, baseline)
    valid = valid_post & valid_pre
    if valid.sum() < 2:
        raise BadDataError(f"speech-responsiveness needs >= 2 onsets whose windows fit in the "
                           f"recording; {int(valid.sum())} of {len(onsets)} do.")
    t, p = scipy.stats.ttest_rel(post[:, valid], pre[:, valid], axis=1, alternative=alternative)
    p = np.nan_to_num(p, nan=1.0)
    p_bonf = np.minimum(p * len(neural.ch_names), 1.0)
    return pd.DataFrame({"channel": neural.ch_names, "t": t, "p": p, "p_bonferroni": p_bonf,
                         "responsive": p_bonf < alpha, "n_trials": int(valid.sum())})


def phrase_onsets(onsets: np.ndarray, offsets: np.ndarray, pause: float) -> np.ndarray:
    """Onsets of speech after a pause: each word that starts at least ``pause`` seconds after
    the previous word ends, and the first word.

    Parameters
    ----------
    onsets, offsets : ndarray, shape (n_words,)
        Word onsets and offsets in seconds, in time order.
    pause : float
        Shortest silence (seconds) that starts a phrase.

    Returns
    -------
    onsets : ndarray
        Phrase onsets in seconds.
    """
    onsets, offsets = np.asarray(onsets, dtype=float), np.asarray(offsets, dtype=float)
    if not len(onsets):
        return onsets
    gaps = onsets[1:] - np.maximum.accumulate(offsets)[:-1]
    return np.concatenate([onsets[:1], onsets[1:][gaps >= pause]])


def response_onsets(stimulus_onsets: Sequence[float],
                    words: Sequence[tuple[np.ndarray, np.ndarray] | None],
                    pause: float) -> tuple[np.ndarray, str]:
    """The onsets of the speech-responsiveness test, and their kind.

    With two or more stimuli, their onsets (``"stimulus"``). With fewer, as for one long
    story, the onsets of speech after a pause of at least ``pause`` seconds in the
    transcripts (:func:`phrase_onsets`, ``"phrase"``).

    Parameters
    ----------
    stimulus_onsets : sequence of float
        Stimulus onsets in seconds of recording time.
    words : sequence of (onsets, offsets) | None
        Per stimulus, its word onsets and offsets in seconds of stimulus time (None: no
        transcript).
    pause : float

    Returns
    -------
    onsets : ndarray
        In seconds of recording time (fewer than two: the test cannot run).
    kind : str
        ``"stimulus"`` or ``"phrase"``.
    """
    if len(stimulus_onsets) >= 2:
        return np.asarray(stimulus_onsets, dtype=float), "stimulus"
    phrases = [start + phrase_onsets(*timings, pause)
               for start, timings in zip(stimulus_onsets, words, strict=True)
               if timings is not None]
    return (np.concatenate(phrases) if phrases else np.zeros(0)), "phrase"
