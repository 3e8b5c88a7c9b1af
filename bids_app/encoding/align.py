"""Put stimulus features on the neural timeline: one design matrix per feature space and layer."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np

from bids_app.features.featureset import FeatureSet
from bids_app.stimuli.stimulus import Stimulus, WordTimings


def stimulus_segments(stimuli: Sequence[Stimulus], n_times: int, sfreq: float) -> np.ndarray:
    """Label each neural sample with the index of the stimulus playing, or -1 between stimuli.

    Parameters
    ----------
    stimuli : sequence of Stimulus
        The stimuli of one recording, with onsets in recording time.
    n_times : int
        Number of neural samples.
    sfreq : float
        Neural sampling rate (Hz); sample ``n`` is at ``n / sfreq`` seconds.

    Returns
    -------
    segments : ndarray of int, shape (n_times,)
    """
    segments = np.full(n_times, -1, dtype=int)
    for index, stimulus in enumerate(stimuli):
        start = max(int(np.ceil(stimulus.onset * sfreq)), 0)
        stop = min(int(np.floor((stimulus.onset + stimulus.duration) * sfreq)) + 1, n_times)
        segments[start:stop] = index
    return segments


def align_features(features: Sequence[FeatureSet], stimuli: Sequence[Stimulus], layer: str,
                   n_times: int, sfreq: float) -> np.ndarray:
    """Build the design matrix of one layer on the neural timeline.

    Frame-level features are linearly interpolated at each neural sample time within the
    stimulus. Word-level features are impulses: the word's vector at the sample nearest its
    onset, zero elsewhere. Samples outside every stimulus are zero.

    Parameters
    ----------
    features : sequence of FeatureSet
        One per stimulus, in the order of ``stimuli`` (all of the same feature space).
    stimuli : sequence of Stimulus
        The stimuli, with onsets in recording time.
    layer : str
        The layer to take from each FeatureSet.
    n_times, sfreq : int, float
        The neural timeline.

    Returns
    -------
    X : ndarray, shape (n_times, n_dims), float32
    """
    n_dims = features[0].layers[layer].shape[1]
    word_level = features[0].is_word_level
    # frame-level rows are written inside the stimuli and zeroed outside: no full memset
    design = (np.zeros if word_level else np.empty)((n_times, n_dims), dtype=np.float32)
    covered = np.zeros(n_times, dtype=bool)
    times = np.arange(n_times) / sfreq
    for feature_set, stimulus in zip(features, stimuli, strict=True):
        values = np.asarray(feature_set.layers[layer])  # one read of a memory-mapped layer
        if word_level:
            samples = np.round((stimulus.onset + feature_set.times) * sfreq).astype(int)
            keep = (samples >= 0) & (samples < n_times)
            add_rows(design, samples[keep], values[keep])
            continue
        start = np.searchsorted(times, stimulus.onset, side="left")
        stop = np.searchsorted(times, stimulus.onset + stimulus.duration, side="right")
        interpolate_rows(feature_set.times, values, times[start:stop] - stimulus.onset,
                         out=design[start:stop])
        covered[start:stop] = True
    if not word_level:
        design[~covered] = 0.0
    return design


def add_rows(out: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
    """``out[rows] += values`` where rows may repeat (their values add), like ``np.add.at``
    but one vectorised sum per distinct row."""
    if not len(rows):
        return
    order = np.argsort(rows, kind="stable")
    rows = rows[order]
    starts = np.flatnonzero(np.r_[True, np.diff(rows) > 0])
    out[rows[starts]] += np.add.reduceat(np.asarray(values)[order], starts, axis=0)


#: Bytes of aligned designs :class:`Designs` keeps for reuse (the comparisons' layers).
DESIGN_CACHE_BYTES = 1 << 30


class Designs:
    """The designs of one recording, built on demand and shared by the stages that use them.

    ``designs(space, layer)`` is :func:`align_features` of that layer on the recording's
    timeline. The most recently used designs are kept while they fit in ``max_bytes`` (the
    least recently used go first; a design larger than the budget is never kept), so the
    encoding of a layer and the comparisons that reuse it build it once, in bounded memory.
    Returned arrays are read-only. Safe to call from several threads.

    Parameters
    ----------
    feature_sets : mapping of str to sequence of FeatureSet
        Feature space name -> one FeatureSet per stimulus, in the order of ``stimuli``.
    stimuli : sequence of Stimulus
    n_times, sfreq : int, float
        The neural timeline.
    max_bytes : int
        Budget of the kept designs.
    """

    def __init__(self, feature_sets: Mapping[str, Sequence[FeatureSet]],
                 stimuli: Sequence[Stimulus], n_times: int, sfreq: float, *,
                 max_bytes: int = DESIGN_CACHE_BYTES) -> None:
        self.feature_sets, self.stimuli = feature_sets, stimuli
        self.n_times, self.sfreq, self.max_bytes = n_times, sfreq, max_bytes
        self.builds = 0  # number of designs built (for tests and logs)
        self._kept: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, space: str, layer: str) -> np.ndarray:
        """The design of ``layer`` of feature space ``space`` (n_times, n_dims), float32."""
        key = space, layer
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        design = align_features(self.feature_sets[space], self.stimuli, layer, self.n_times,
                                self.sfreq)
        design.flags.writeable = False
        with self._lock:
            self.builds += 1
            if design.nbytes <= self.max_bytes:
                self._kept[key] = design
                while sum(kept.nbytes for kept in self._kept.values()) > self.max_bytes:
                    self._kept.popitem(last=False)
        return design


    def word_rows(self, space: str) -> np.ndarray | None:
        """Samples of the word impulses of a word-level space (as placed by ``__call__``).

        None for a frame-level space.
        """
        sets = self.feature_sets[space]
        if not sets[0].is_word_level:
            return None
        samples = np.concatenate([np.round((stimulus.onset + fs.times) * self.sfreq)
                                  for fs, stimulus in zip(sets, self.stimuli, strict=True)])
        samples = samples.astype(int)
        return np.unique(samples[(samples >= 0) & (samples < self.n_times)])


def interpolate_rows(times: np.ndarray, values: np.ndarray, at: np.ndarray,
                     out: np.ndarray | None = None, chunk_size: int = 8192) -> np.ndarray:
    """Linear interpolation of every column of ``values`` at ``at`` (held at the ends).

    Equivalent to ``np.interp`` column by column, with the indices and weights computed once,
    in float32 a chunk of rows at a time (a 30-min layer has no float64 copy).

    Parameters
    ----------
    times : ndarray, shape (n_rows,)
        Increasing times of the rows of ``values``.
    values : ndarray, shape (n_rows, n_dims)
    at : ndarray, shape (n_out,)
    out : ndarray, shape (n_out, n_dims) | None
        Where to write the result (e.g. rows of a design); None: a new float32 array.
    chunk_size : int
        Rows per step.

    Returns
    -------
    out : ndarray, shape (n_out, n_dims)
    """
    out = np.empty((len(at), values.shape[1]), dtype=np.float32) if out is None else out
    if len(times) == 1:
        out[:] = values[:1]
        return out
    left = np.clip(np.searchsorted(times, at, side="right") - 1, 0, len(times) - 2)
    weight = np.clip((at - times[left]) / (times[left + 1] - times[left]), 0.0, 1.0)
    weight = weight.astype(np.float32)[:, None]
    for start in range(0, len(at), chunk_size):
        rows = slice(start, start + chunk_size)
        low = out[rows]
        low[:] = values[left[rows]]
        high = np.asarray(values[left[rows] + 1], dtype=np.float32)
        high -= low  # in place: one temporary chunk, not four
        high *= weight[rows]
        low += high
    return out


def word_design(features: Sequence[FeatureSet], stimuli: Sequence[Stimulus],
                words: Sequence[WordTimings], layer: str) -> tuple[np.ndarray, np.ndarray]:
    """One feature row per word, for word-mode encoding.

    Word-level spaces give their rows as they are; frame-level spaces are interpolated at each
    word onset.

    Parameters
    ----------
    features : sequence of FeatureSet
        One per stimulus, in the order of ``stimuli``.
    stimuli : sequence of Stimulus
        The stimuli, with onsets in recording time.
    words : sequence of WordTimings
        The words of each stimulus (used for frame-level spaces).
    layer : str
        The layer to take from each FeatureSet.

    Returns
    -------
    X : ndarray, shape (n_words, n_dims), float32
        Rows of all stimuli, in time order.
    onsets : ndarray, shape (n_words,)
        Word onsets in seconds of recording time.
    """
    rows, onsets = [], []
    for feature_set, stimulus, timings in zip(features, stimuli, words, strict=True):
        values = feature_set.layers[layer]
        if feature_set.is_word_level:
            rows.append(values)
            onsets.append(stimulus.onset + feature_set.times)
            continue
        rows.append(interpolate_rows(feature_set.times, np.asarray(values), timings.onsets))
        onsets.append(stimulus.onset + timings.onsets)
    design, onset_times = np.concatenate(rows).astype(np.float32), np.concatenate(onsets)
    order = np.argsort(onset_times, kind="stable")
    return design[order], onset_times[order]
