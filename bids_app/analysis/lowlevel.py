"""The low-level conditioning set L that every model comparison is fitted *given*.

Word timing and sound energy make two unrelated models look alike: both carry when words
start and how loud the sound is, and auditory cortex follows both (``docs/statistics.md``,
"What the comparisons control for"). Every model of every comparison therefore contains L,
and what a comparison reports is variance explained *beyond* L.

L is made of design blocks on the neural timeline:

- the configured acoustic feature spaces (kinds ``envelope``, ``mel``, ``peak_rate``,
  ``phonetic``);
- ``word_onset``: an impulse at every word onset (the evoked response to each word);
- ``phrase_onset``: an impulse at the first word after a pause of at least
  ``comparison.phrase_pause`` seconds (and the first word of each stimulus), whose evoked
  response is larger;
- ``word_duration``: an impulse carrying each word's duration, centred across the training
  words (so it adds how long a word is, not that it starts).

Word frequency and the number of tokens per word are not in L yet (no offline frequency
list; the token counts are not kept with the features).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from bids_app.analysis.config import ACOUSTIC_KINDS, ComparisonConfig
from bids_app.analysis.plan import FeatureSpaceInfo
from bids_app.analysis.words import WordSamples, modelled_words

#: The word regressors of L, built from the word timings.
WORD_REGRESSORS = ("word_onset", "phrase_onset", "word_duration")
#: Fewest events of a word regressor: a rarer impulse train cannot be estimated in every
#: outer fold (a fold without one in training gets no weight, one with a single event an
#: unstable one), so it is left out of L with a warning.
MIN_EVENTS = 20

ONSETS_ONLY_WARNING = (
    "The low-level conditioning set holds word timing only (no acoustic feature space is "
    "configured): sound energy, which speech models and word timing both carry, is not "
    "controlled. Add envelope, mel or peak_rate feature spaces.")


@dataclass
class LowLevelSet:
    """The blocks of L on the neural timeline.

    Attributes
    ----------
    names : list of str
        One name per block: a feature-space name or one of :data:`WORD_REGRESSORS`.
    blocks : list of ndarray, shape (n_samples, n_features_b), float32
    word_rows : dict of int to ndarray
        Blocks to centre across training words (``word_duration``), with their samples.
    left_out : list of str
        Components of L with fewer than :data:`MIN_EVENTS` events, with their counts.
    """

    names: list[str] = field(default_factory=list)
    blocks: list[np.ndarray] = field(default_factory=list)
    word_rows: dict[int, np.ndarray] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)

    def index(self, name: str) -> int | None:
        """The block index of ``name``, or None."""
        return self.names.index(name) if name in self.names else None

    def describe(self) -> str:
        """``"envelope + mel + word_onset"``, or ``"nothing"``."""
        return " + ".join(self.names) or "nothing"


def conditioning_names(config: ComparisonConfig, spaces: Mapping[str, FeatureSpaceInfo],
                       has_words: bool) -> list[str]:
    """The components of L: the configured list, or (``auto``) acoustics and word regressors.

    A configured entry is a feature-space name, an acoustic kind (every space of it) or one
    of :data:`WORD_REGRESSORS`; word regressors are dropped when there are no word timings.
    """
    wanted = config.conditioning
    if wanted == "auto":
        wanted = ([name for name, info in spaces.items() if info.kind in ACOUSTIC_KINDS]
                  + list(WORD_REGRESSORS))
    names = []
    for entry in wanted:
        if entry in WORD_REGRESSORS:
            if has_words:
                names.append(entry)
        elif entry in spaces:
            names.append(entry)
        else:
            names += [name for name, info in spaces.items() if info.kind == entry]
    return list(dict.fromkeys(names))


def low_level_set(names: list[str], design, spaces: Mapping[str, FeatureSpaceInfo],
                  words: WordSamples | None, segments: np.ndarray,
                  phrase_pause: float, sfreq: float) -> LowLevelSet:
    """Build the blocks of L.

    Parameters
    ----------
    names : list of str
        From :func:`conditioning_names`.
    design : callable
        ``design(space, layer)`` -> the space's design on the timeline.
    spaces : mapping of str to FeatureSpaceInfo
    words : WordSamples | None
        Needed by the word regressors.
    segments : ndarray of int, shape (n_samples,)
        Stimulus labels (-1 between stimuli).
    phrase_pause : float
        Silence (s) before a word that makes it a phrase onset.
    sfreq : float
        Sampling rate of the timeline.

    Returns
    -------
    low : LowLevelSet
    """
    low = LowLevelSet()
    n = len(segments)
    if words is not None:
        onsets, offsets = modelled_words(words, segments)
    for name in names:
        if name in spaces:
            block = np.asarray(design(name, spaces[name].layers[0]), dtype=np.float32)
        else:
            block = np.zeros((n, 1), dtype=np.float32)
            events = onsets
            if name == "phrase_onset":
                events = onsets[phrase_starts(onsets, offsets, segments, phrase_pause * sfreq)]
            if len(events) < MIN_EVENTS:
                low.left_out.append(f"{name} ({len(events)} events)")
                continue
            if name in ("word_onset", "phrase_onset"):
                np.add.at(block[:, 0], events, 1.0)
            else:  # word_duration, centred in-fold through word_rows
                np.add.at(block[:, 0], onsets, np.maximum(offsets - onsets, 1) / sfreq)
                low.word_rows[len(low.blocks)] = np.unique(onsets)
        low.names.append(name)
        low.blocks.append(block)
    return low


def phrase_starts(onsets: np.ndarray, offsets: np.ndarray, segments: np.ndarray,
                  pause: float) -> np.ndarray:
    """Which words start a phrase: the first of a stimulus, or after ``pause`` samples of gap.

    Parameters
    ----------
    onsets, offsets : ndarray of int
        Word samples, in time order.
    segments : ndarray of int
    pause : float
        Gap in samples.

    Returns
    -------
    starts : ndarray of bool, shape (n_words,)
    """
    if not len(onsets):
        return np.zeros(0, dtype=bool)
    gap = onsets[1:] - offsets[:-1]
    new_segment = segments[onsets[1:]] != segments[onsets[:-1]]
    return np.r_[True, (gap >= pause) | new_segment]
