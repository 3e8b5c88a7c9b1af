"""What the comparisons of one recording work on and return (a leaf: the comparison modules
import it, it imports none of them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bids_app.analysis.plan import FeatureSpaceInfo
from bids_app.analysis.words import WordSamples, modelled_words
from bids_app.encoding import EncodingResult

#: ``design(space, layer)``: a layer's design on the neural timeline.
Design = Callable[[str, str], np.ndarray]


@dataclass
class ComparisonResult:
    """Tables, summary sentences and warnings of the comparisons of one recording.

    Attributes
    ----------
    tables : dict of str to DataFrame
        desc label -> table: ``"<a>X<b>"`` prediction correlation (suffix ``predcorr``),
        ``"beyond"`` shared variance beyond L (suffix ``beyond``), ``"cca"`` canonical
        components (suffix ``components``), ``"varpart"`` variance partition (suffix
        ``scores``).
    summaries : list of str
        One sentence of numbers per question answered, computed from the tables.
    warnings : list of str
        What the report must flag (e.g. an all-data CCA fit, analyses skipped).
    metrics : dict of str to float
        Scalars behind the summaries (e.g. the across-electrode correlation of two models'
        accuracies), for the data dictionaries.
    """

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    summaries: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class ComparisonInputs:
    """What the comparisons of one recording work on.

    Attributes
    ----------
    design : callable
        ``design(space, layer)`` -> ndarray (n_samples, n_features), float32, on the neural
        timeline (computed on demand; word-level spaces are impulses at word onsets).
    spaces : mapping of str to FeatureSpaceInfo
        Every feature space, by name.
    results : mapping of str to mapping of str to EncodingResult
        space -> layer -> result of ``cross_validate`` on ``design(space, layer)``.
    Y : ndarray, shape (n_samples, n_channels)
        Neural data.
    segments : ndarray of int, shape (n_samples,)
        Stimulus labels (-1 between stimuli), as given to ``cross_validate``.
    lags : ndarray of int
        TRF lags in samples.
    channels : list of str
    words : WordSamples | None
        Word onsets/offsets in samples; needed by the CCA shared space (and the sets derived
        from it) and the word regressors of L. None skips them with a warning.
    sfreq : float
        Sampling rate of the timeline (Hz).
    tested : ndarray of bool | None
        The electrodes the shared-beyond-L test runs on (the speech-responsive ones, in the
        workflow); None tests every electrode.
    word_rows : callable | None
        ``word_rows(space)`` -> the samples of a word-level space's impulses (e.g.
        :meth:`bids_app.encoding.align.Designs.word_rows`), centred across training words;
        None: the onsets of the modelled words.
    """

    design: Design
    spaces: Mapping[str, FeatureSpaceInfo]
    results: Mapping[str, Mapping[str, EncodingResult]]
    Y: np.ndarray
    segments: np.ndarray
    lags: np.ndarray
    channels: list[str]
    words: WordSamples | None = None
    sfreq: float = 100.0
    tested: np.ndarray | None = None
    word_rows: Callable[[str], np.ndarray | None] | None = None

    def impulse_rows(self, space: str) -> np.ndarray | None:
        """The impulse samples of a word-level space (None for a frame-level one)."""
        if not self.spaces[space].word_level:
            return None
        if self.word_rows is not None:
            return self.word_rows(space)
        return None if self.words is None else np.unique(
            modelled_words(self.words, self.segments)[0])
