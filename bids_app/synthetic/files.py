"""Planted feature files: a speech and a language space on disk, with content electrodes follow.

This is how the model comparisons are checked end to end through the CLI on ``file:`` spaces
(``tests/test_precomputed.py``). Per stimulus, three latents:

- ``z``, one value per word: **shared** content, carried by both files;
- ``b``, a smooth frame-level series: speech-only content;
- ``l``, one value per word: language-only content.

The speech file (frame level, :data:`SPEECH_SFREQ`, ``.npy`` with a JSON sidecar) mixes ``z``
held over each word, ``b``, word presence and the audio envelope into :data:`N_DIMS`
dimensions, as a trained speech model carries timing and sound energy besides content. The
language file (word rows, ``.npz`` with one layer ``layer-1`` and a row table) mixes ``z``,
``l``, each word's loudness (its mean envelope: word vectors carry sound energy through word
length and frequency) and a large mean vector, which the centring must remove.

:func:`file_drives` returns the drives for :func:`~bids_app.synthetic.make_synthetic_dataset`,
each on top of a response to every word onset (so that every driven electrode is
speech-responsive and tested, as cortex that encodes speech responds to it): ``shared``
(impulses of height ``1 + z``), ``speech`` (a response while words sound, ``1 + b`` scaled to
the onset train's spread, plus unit impulses), ``language`` (impulses ``1 + l``) and
``onset`` (unit impulses). Word timing and the envelope are in the low-level set L, so only
``shared`` holds content shared beyond L; the other classes, and the dataset's
envelope-driven electrodes (which both files carry, through the envelope and the words'
loudness), are negatives. Each defence is needed: without word timing in L the centring
must keep the onset class out, and with uncentred word vectors L's word onsets must.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile
from scipy.ndimage import gaussian_filter1d

from bids_app.stimuli.alignments import read_words
from bids_app.stimuli.stimulus import WordTimings
from bids_app.synthetic.audio import broadband_envelope
from bids_app.synthetic.planted import impulses
from bids_app.synthetic.signals import ENVELOPE_SFREQ

#: Rate of the speech file's rows (Hz) and width of both files.
SPEECH_SFREQ, N_DIMS = 50.0, 16


def file_drives(root: Path, stim_files: list[str], out_dir: Path,
                seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Write the planted files to ``out_dir`` and return the drives (module docstring).

    Parameters
    ----------
    root : Path
        The BIDS root; stimuli and their ``.tsv`` word timings are in ``root/stimuli``.
    stim_files : list of str
        Audio file names, in presentation order.
    out_dir : Path
        Where ``{stim}_speech.npy`` (+ ``.json``), ``{stim}_language.npz`` and
        ``{stim}_rows.tsv`` are written.
    seed : int
        Seed of the latents and the mixing matrices.

    Returns
    -------
    drives : dict of str to list of ndarray
        Per source, one array per stimulus at 100 Hz, as long as the stimulus's envelope.
    """
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    speech_mix = rng.standard_normal((4, N_DIMS))
    language_mix = rng.standard_normal((3, N_DIMS))
    mean_vector = 3.0 * rng.standard_normal(N_DIMS)
    drives: dict[str, list[np.ndarray]] = {"shared": [], "speech": [], "language": [],
                                           "onset": []}
    for name in stim_files:
        audio_path = root / "stimuli" / name
        stem = audio_path.stem
        words = read_words(audio_path.with_suffix(".tsv"))
        audio, sfreq = soundfile.read(str(audio_path), dtype="float32")
        envelope = broadband_envelope(audio, sfreq, ENVELOPE_SFREQ)
        grid = np.arange(len(envelope)) / ENVELOPE_SFREQ
        z, latent_l = rng.standard_normal((2, len(words)))
        b = gaussian_filter1d(rng.standard_normal(len(grid)), 4.0)
        b /= b.std()

        frames = np.arange(int(np.ceil(grid[-1] * SPEECH_SFREQ)) + 1) / SPEECH_SFREQ
        word_of = np.searchsorted(words.onsets, frames, side="right") - 1
        inside = (word_of >= 0) & (frames < np.asarray(words.offsets)[np.maximum(word_of, 0)])
        speech = np.c_[np.where(inside, z[word_of], 0.0), np.interp(frames, grid, b),
                       inside, np.interp(frames, grid, envelope / envelope.std())]
        np.save(out_dir / f"{stem}_speech.npy",
                (speech @ speech_mix + 0.3 * rng.standard_normal((len(frames), N_DIMS)))
                .astype(np.float32))
        (out_dir / f"{stem}_speech.json").write_text(
            json.dumps({"SamplingFrequency": SPEECH_SFREQ, "StartTime": 0.0}))
        loudness = _word_loudness(envelope, grid, words)
        language = (mean_vector + np.c_[z, latent_l, loudness] @ language_mix
                    + 0.3 * rng.standard_normal((len(words), N_DIMS)))
        np.savez(out_dir / f"{stem}_language.npz", **{"layer-1": language.astype(np.float32)})
        pd.DataFrame({"word": list(words.words), "start": words.onsets}).to_csv(
            out_dir / f"{stem}_rows.tsv", sep="\t", index=False)

        onset = impulses(len(grid), np.asarray(words.onsets), np.ones(len(words)))
        drives["shared"].append(onset + impulses(len(grid), np.asarray(words.onsets), z))
        present = np.interp(grid, frames, inside.astype(float))
        drives["speech"].append(onset + onset.std() * present * (1 + b))  # while words sound
        drives["language"].append(onset + impulses(len(grid), np.asarray(words.onsets),
                                                   latent_l))
        drives["onset"].append(onset)
    return drives


def _word_loudness(envelope: np.ndarray, grid: np.ndarray, words: WordTimings) -> np.ndarray:
    """Each word's mean envelope, standardised across words: sound energy that a language
    model's word vectors can carry (through word length and frequency)."""
    inside = (grid[None, :] >= np.asarray(words.onsets)[:, None]) & (
        grid[None, :] < np.asarray(words.offsets)[:, None])
    mean = (inside * envelope[None, :]).sum(1) / np.maximum(inside.sum(1), 1)
    return (mean - mean.mean()) / (mean.std() + 1e-12)
