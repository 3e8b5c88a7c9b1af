"""Words on the neural timeline: the samples that word-level comparisons are built on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bids_app.stimuli.stimulus import Stimulus, WordTimings


@dataclass
class WordSamples:
    """Words on the neural timeline, in time order.

    Attributes
    ----------
    onsets, offsets : ndarray of int, shape (n_words,)
        Word onset and offset samples (the impulse of a word-level design sits at its onset).
    texts : tuple of str | None
        The words as written in the transcripts (None: unknown).
    """

    onsets: np.ndarray
    offsets: np.ndarray
    texts: tuple[str, ...] | None = None


def word_samples(stimuli: Sequence[Stimulus], words: Sequence[WordTimings | None],
                 sfreq: float) -> WordSamples | None:
    """The words of all stimuli on the neural timeline (rounded like word-level designs).

    Parameters
    ----------
    stimuli : sequence of Stimulus
        The recording's stimuli, with onsets in recording time.
    words : sequence of WordTimings | None
        The word timings of each stimulus (stimulus time).
    sfreq : float
        Neural sampling rate (Hz).

    Returns
    -------
    words : WordSamples | None
        None when a stimulus has no word timings.
    """
    if any(w is None for w in words):
        return None
    onsets = np.concatenate([s.onset + w.onsets for s, w in zip(stimuli, words, strict=True)])
    offsets = np.concatenate([s.onset + w.offsets for s, w in zip(stimuli, words, strict=True)])
    texts = [text for w in words for text in w.words]
    order = np.argsort(onsets, kind="stable")
    return WordSamples(np.round(onsets[order] * sfreq).astype(int),
                       np.round(offsets[order] * sfreq).astype(int),
                       tuple(texts[i] for i in order))


def modelled_index(words: WordSamples, segments: np.ndarray) -> np.ndarray:
    """Indices of the words whose onset lies in a stimulus segment."""
    onsets = np.asarray(words.onsets, dtype=int)
    inside = (onsets >= 0) & (onsets < len(segments))
    inside[inside] = segments[onsets[inside]] >= 0
    return np.flatnonzero(inside)


def modelled_words(words: WordSamples, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Onsets and offsets (samples) of the words whose onset lies in a stimulus segment."""
    index = modelled_index(words, segments)
    return (np.asarray(words.onsets, dtype=int)[index],
            np.minimum(np.asarray(words.offsets, dtype=int)[index], len(segments)))
