"""The demo's planted truth: electrodes driven by its own speech and language models.

Given the demo's stimuli and its tiny models, :func:`model_drives` returns three sources of
drive for :func:`~bids_app.synthetic.make_synthetic_dataset`, each at 100 Hz in stimulus time:

- ``speech``: a fixed random direction of one speech-model layer (:data:`SPEECH_LAYER`), with
  the audio envelope regressed out so that it is not an acoustic drive in disguise;
- ``language``: impulses at word onsets whose heights are a fixed random direction of one
  language-model layer (:data:`LANGUAGE_LAYER`), zero-mean over words;
- ``onset``: impulses at every word onset, the word timing that both models carry: a
  negative class of the model comparisons, whose low-level set L holds word onsets (it was
  the demo's "shared" class before the comparisons were conditioned on L).

The features come from the app's own feature extraction (:func:`~bids_app.features.
load_or_compute_features`) on the saved checkpoints, so the encoding models see exactly the
features the electrodes were driven by. The demo's check and ``tests/test_demo.py`` then
expect each class to be predicted by the model it was planted from, the onset class not to be
predicted by the (centred) language model nor called shared beyond L, and the language class
to be predicted by the language model beyond L. Two random tiny models share no content
beyond word timing, so the demo plants no shared-content class; the planted-truth validation
(``ssl-ieeg-demo --validate``) does.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import soundfile

from bids_app.features import load_or_compute_features
from bids_app.features.models import resolve_model
from bids_app.features.spec import FeatureSpec
from bids_app.stimuli.alignments import read_words
from bids_app.stimuli.stimulus import Stimulus, WordTimings
from bids_app.synthetic.audio import broadband_envelope
from bids_app.synthetic.signals import ENVELOPE_SFREQ

#: The layers the planted electrodes follow (the demo models have hidden states 0-4).
SPEECH_LAYER, LANGUAGE_LAYER = "layer02", "layer03"


def model_drives(root: Path, stim_files: list[str], models: dict[str, Path],
                 seed: int = 0) -> dict[str, list[np.ndarray]]:
    """The ``speech``, ``language`` and ``onset`` drives of each stimulus (module docstring).

    Parameters
    ----------
    root : Path
        The BIDS root; stimuli and their ``.tsv`` word timings are in ``root/stimuli``.
    stim_files : list of str
        Audio file names, in presentation order.
    models : dict
        ``{"speech": dir, "language": dir}`` of saved checkpoints.
    seed : int
        Seed of the random directions.

    Returns
    -------
    drives : dict of str to list of ndarray
        Per source, one array per stimulus at 100 Hz, as long as the stimulus's envelope.
    """
    rng = np.random.default_rng(seed)
    stimuli = [_stimulus(root / "stimuli" / name) for name in stim_files]
    words = [read_words(s.transcript_path) for s in stimuli]
    with tempfile.TemporaryDirectory() as cache:
        speech = [_layer(s, "speech", models["speech"], SPEECH_LAYER, Path(cache))
                  for s in stimuli]
        language = [_layer(s, "language", models["language"], LANGUAGE_LAYER, Path(cache),
                           w) for s, w in zip(stimuli, words, strict=True)]
    envelopes = [broadband_envelope(*_audio(s.audio_path), ENVELOPE_SFREQ) for s in stimuli]
    grids = [np.arange(len(env)) / ENVELOPE_SFREQ for env in envelopes]

    direction = rng.standard_normal(speech[0][1].shape[1])
    mean, std = _moments([x for _, x in speech])
    projected = [np.interp(grid, times, (x - mean) / std @ direction)
                 for grid, (times, x) in zip(grids, speech, strict=True)]
    speech_drive = _without(projected, envelopes)

    direction = rng.standard_normal(language[0][1].shape[1])
    mean, std = _moments([x for _, x in language])
    heights = [(x - mean) / std @ direction for _, x in language]
    centre, scale = np.concatenate(heights).mean(), np.concatenate(heights).std()
    return {
        "speech": speech_drive,
        "language": [impulses(len(grid), w.onsets, (h - centre) / scale)
                     for grid, w, h in zip(grids, words, heights, strict=True)],
        "onset": [impulses(len(grid), w.onsets, np.ones(len(w)))
                   for grid, w in zip(grids, words, strict=True)],
    }


def _stimulus(audio: Path) -> Stimulus:
    duration = soundfile.info(str(audio)).duration
    return Stimulus(stim_id=audio.stem, audio_path=audio, onset=0.0, duration=duration,
                    transcript_path=audio.with_suffix(".tsv"))


def _audio(path: Path) -> tuple[np.ndarray, int]:
    audio, sfreq = soundfile.read(str(path), dtype="float32")
    return audio, sfreq


def _layer(stimulus: Stimulus, kind: str, model: Path, layer: str, cache: Path,
           words: WordTimings | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(times, features)`` of one layer, through the app's feature extraction."""
    spec = FeatureSpec(name=f"planted{kind}", kind=kind, model=str(model))
    features = load_or_compute_features(spec, stimulus, cache, words=words,
                                        model=resolve_model(str(model), None))
    return features.times, np.asarray(features.layers[layer], dtype=float)


def _moments(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    stacked = np.concatenate(parts)
    return stacked.mean(axis=0), stacked.std(axis=0) + 1e-12


def _without(signals: list[np.ndarray], envelopes: list[np.ndarray]) -> list[np.ndarray]:
    """Each signal minus its least-squares fit on the envelope (pooled over stimuli)."""
    x, y = np.concatenate(envelopes), np.concatenate(signals)
    design = np.c_[np.ones_like(x), x]
    beta = np.linalg.lstsq(design, y, rcond=None)[0]
    return [s - beta[0] - beta[1] * env for s, env in zip(signals, envelopes, strict=True)]


def impulses(n: int, onsets: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """A 100 Hz series of ``heights`` at the samples of ``onsets`` (seconds)."""
    series = np.zeros(n)
    np.add.at(series, np.clip(np.round(onsets * ENVELOPE_SFREQ).astype(int), 0, n - 1), heights)
    return series
