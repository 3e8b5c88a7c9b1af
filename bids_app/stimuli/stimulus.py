"""The ``Stimulus`` and ``WordTimings`` dataclasses exchanged between stages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True, eq=False)
class WordTimings:
    """Time-aligned words of a transcript, in seconds of stimulus time.

    Attributes
    ----------
    words : tuple of str
        The words, in order, as written in the transcript (punctuation kept).
    onsets, offsets : ndarray, shape (n_words,)
        Start and end of each word, in seconds from the start of the audio.
    """

    words: tuple[str, ...]
    onsets: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.words)


@dataclass(frozen=True)
class Stimulus:
    """One audio stimulus presented during a recording.

    Attributes
    ----------
    stim_id : str
        A BIDS-safe label (alphanumeric) used in ``stimuli/stim-<id>/`` cache paths.
    audio_path : Path
        The audio file.
    transcript_path : Path | None
        Word timings beside the audio (TextGrid, TSV/CSV or TIMIT ``.wrd``), if any.
    onset : float
        When the audio starts, in seconds of recording time.
    duration : float
        Length of the audio, in seconds.
    tier : str | None
        The TextGrid tier of the words (``stimulus.tier``; None: ``words``/``word``, else
        the first interval tier).
    """

    stim_id: str
    audio_path: Path
    transcript_path: Path | None
    onset: float
    duration: float
    tier: str | None = None
