"""The low-level conditioning set L that every model comparison is fitted *given*.

Word timing and sound energy make two unrelated models look alike: both carry when words
start and how loud the sound is, and auditory cortex follows both (``docs/statistics.md``,
"What the comparisons control for"). Every model of every comparison therefore contains L,
and what a comparison reports is variance explained *beyond* L.

L is made of design blocks on the neural timeline:

- the configured acoustic feature spaces (kinds ``envelope``, ``mel``, ``peak_rate``,
  ``phonetic``);
- ``word_onset``: an impulse at every word onset (the evoked response to each word);
- ``word_offset``: an impulse at every word offset: with the onsets, a response sustained
  while a word sounds, whose size follows the word's duration;
- ``phrase_onset``: an impulse at the first word after a pause of at least
  ``comparison.phrase_pause`` seconds (and the first word of each stimulus), whose evoked
  response is larger;
- ``word_duration``: an impulse carrying each word's duration, centred across the training
  words (so it adds how long a word is, not that it starts);
- ``word_frequency``: an impulse carrying each word's log frequency (Zipf scale, from the
  ``wordfreq`` lists of ``comparison.word_language``, offline), centred likewise: frequent
  words evoke smaller responses, and every language model encodes frequency;
- ``word_tokens``: an impulse carrying each word's number of tokens (the ``tokens`` scalar
  feature of the first language model), centred likewise: a model that sees more tokens
  of a word has more to encode about it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from bids_app.analysis.config import ACOUSTIC_KINDS, ComparisonConfig
from bids_app.analysis.plan import FeatureSpaceInfo
from bids_app.analysis.words import WordSamples, modelled_index, modelled_words
from bids_app.errors import UsageError

#: The word regressors of L, built from the word timings.
WORD_REGRESSORS = ("word_onset", "word_offset", "phrase_onset", "word_duration",
                   "word_frequency", "word_tokens")
#: The word regressors that are centred across training words (through ``word_rows``).
CENTRED_REGRESSORS = ("word_duration", "word_frequency", "word_tokens")
#: The scalar feature of a language model that ``word_tokens`` comes from.
TOKENS = "tokens"
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
        Blocks to centre across training words (:data:`CENTRED_REGRESSORS`), with their
        samples.
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

    def word_covariate_names(self) -> list[str]:
        """The word regressors of L that vary across words (all but the word onset)."""
        return [name for name in self.names if name in WORD_REGRESSORS and name != "word_onset"]

    def word_covariates(self, onsets: np.ndarray) -> np.ndarray | None:
        """Those regressors' values at the given word onsets (n_words, n), or None."""
        columns = [self.blocks[self.names.index(name)][onsets, 0]
                   for name in self.word_covariate_names()]
        return np.stack(columns, axis=1).astype(float) if columns else None

    def describe(self) -> str:
        """``"envelope + mel + word_onset"``, or ``"nothing"``."""
        return " + ".join(self.names) or "nothing"

    def plus(self, name: str, block: np.ndarray, word_rows: np.ndarray | None) -> LowLevelSet:
        """A new set with one more block (``word_rows``: centre it across training words)."""
        rows = dict(self.word_rows)
        if word_rows is not None:
            rows[len(self.blocks)] = word_rows
        return LowLevelSet([*self.names, name], [*self.blocks, block], rows,
                           list(self.left_out))


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
                  phrase_pause: float, sfreq: float, language: str = "en") -> LowLevelSet:
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
    language : str
        Language of the words, for their frequencies (a ``wordfreq`` code).

    Returns
    -------
    low : LowLevelSet
    """
    low = LowLevelSet()
    modelled = None if words is None else modelled_words(words, segments)
    for name in names:
        if name in spaces:
            block = np.asarray(design(name, spaces[name].layers[0]), dtype=np.float32)
        else:
            block, why = _word_regressor(name, design, spaces, words, modelled, segments,
                                         phrase_pause * sfreq, sfreq, language)
            if block is None:
                low.left_out.append(f"{name} ({why})")
                continue
            if name in CENTRED_REGRESSORS:
                low.word_rows[len(low.blocks)] = np.unique(modelled[0])
        low.names.append(name)
        low.blocks.append(block)
    return low


def _word_regressor(name: str, design, spaces: Mapping[str, FeatureSpaceInfo],
                    words: WordSamples, modelled: tuple[np.ndarray, np.ndarray],
                    segments: np.ndarray, pause: float, sfreq: float,
                    language: str) -> tuple[np.ndarray | None, str]:
    """The impulse block of one word regressor, or None and why it is left out of L.

    ``modelled`` is :func:`modelled_words` of ``words``: the onsets and offsets in samples.
    """
    onsets, offsets = modelled
    counted = [space for space, info in spaces.items()
               if info.kind == "language" and TOKENS in info.layers]
    if name == "word_frequency" and words.texts is None:
        return None, "no word texts"
    if name == "word_tokens" and not counted:
        return None, "no language model's token counts"
    events = (onsets[phrase_starts(onsets, offsets, segments, pause)]
              if name == "phrase_onset" else offsets if name == "word_offset" else onsets)
    if len(events) < MIN_EVENTS:
        return None, f"{len(events)} events"
    if name == "word_tokens":  # the language model's impulses at the word onsets
        return np.asarray(design(counted[0], TOKENS), dtype=np.float32), ""
    block = np.zeros((len(segments), 1), dtype=np.float32)
    if name == "word_duration":
        values = np.maximum(offsets - onsets, 1) / sfreq
    elif name == "word_frequency":
        values = word_frequencies(words, segments, language)
    else:  # an onset or offset
        values = 1.0
    np.add.at(block[:, 0], events, values)
    return block, ""


def word_frequencies(words: WordSamples, segments: np.ndarray, language: str) -> np.ndarray:
    """Zipf frequencies (log10 per billion words) of the modelled words (0: not listed).

    Raises
    ------
    UsageError
        When ``wordfreq`` has no list for ``language``.
    """
    from wordfreq import available_languages, zipf_frequency

    if language not in available_languages():
        raise UsageError(f"comparison.word_language: wordfreq has no word list for "
                         f"{language!r}; use one of {sorted(available_languages())}")
    return np.array([zipf_frequency(words.texts[i], language)
                     for i in modelled_index(words, segments)])


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
