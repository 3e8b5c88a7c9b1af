"""Planted truth for the model comparisons: feature spaces with known shared and unique parts.

A word-by-word story on a 100 Hz timeline, with feature spaces built from latents:

- ``wav2vec2`` (speech, frame level): the shared word latent ``z`` held over each word's
  frames, a speech-only frame-level latent ``b`` (fast, not locked to words, like sub-word
  phonetic detail), the ``both`` class's speech-only latent ``b2`` (``b``-like, plus each
  word's token count held over its frames), a word-presence offset (the features differ
  during words), the
  envelope, its rectified derivative (sound onsets, which L's linear envelope cannot make),
  and nuisance dimensions;
- ``gpt2`` (language, word level): impulses at word onsets carrying a large mean vector (as
  GPT-2's hidden states do), ``z`` (zero mean across words), a language-only word latent
  ``l``, the ``both`` class's ``l2`` (correlated with the token count) and nuisance
  dimensions, and each word's token count (its ``tokens`` layer, which L holds as
  ``word_tokens``);
- ``envelope`` (acoustic): a smooth positive envelope ``e``, louder during words (so it is
  correlated with word timing, as real speech is);
- the untrained twins ``wav2vec2untrained`` and ``gpt2untrained``: random mixtures of what an
  untrained network keeps (the envelope, its rectified derivative and word presence; a
  random vector per word on top of a mean vector), none of ``z``, ``b``, ``l``, ``b2`` or
  ``l2``.

Electrodes of ten classes follow one source through a lagged kernel, plus white noise:
``shared`` (the word onsets and ``z``: content both models carry on top of an onset
response), ``shared_weak`` (the same content at a realistic level: ``z`` with its own r of
about 0.15, on top of a stronger onset and envelope response), ``speech`` (``b``),
``language`` (``l``), ``both`` (a speech-only ``b2`` and a language-only ``l2`` at the same
electrode: both models predict it, each for its own reason, and their predictions are
correlated through each word's token count, a stimulus property in L that ``b2`` and ``l2``
both follow), ``acoustic`` (``e``),
``onset`` (an impulse of constant gain at every word), ``outside`` (the rectified envelope
derivative: a low-level drive outside L's span, carried by the speech model and its twin
only), ``untrained`` (a random filter of the untrained speech twin, which no trained space
carries) and ``noise`` (none). Given the low-level set L (envelope, word onsets, durations,
token counts), the truth is set by the generator: ``shared`` and
``shared_weak`` are the only classes with shared information beyond L (``z``), ``speech``,
``language``, ``both`` and ``outside`` belong to the rest sets of the models that carry them,
``acoustic`` and ``onset`` lie inside L, and ``untrained`` in no set of the trained models
(:data:`CLASS_REGIONS`: none).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from bids_app.analysis.lowlevel import TOKENS
from bids_app.analysis.plan import FeatureSpaceInfo
from bids_app.analysis.words import WordSamples

#: Planted electrode classes, and the variance-partition regions (beyond L) each belongs in;
#: none for the classes that L explains.
CLASS_REGIONS = {"shared": ("shared_only",), "shared_weak": ("shared_only",),
                 "speech": ("speech_rest_only",), "language": ("language_rest_only",),
                 "both": ("speech_rest_only", "language_rest_only"), "acoustic": (),
                 "onset": (), "outside": ("speech_rest_only",), "untrained": ()}
#: Gain of the shared content ``z`` in ``shared_weak``, next to its unit-variance onset and
#: envelope drives: its own r is about 0.15 at ``snr = 1`` (``content_r``).
WEAK_CONTENT = 0.28
SFREQ = 100.0
#: Correlation of the ``both`` class's language-only latent ``l2`` with each word's token
#: count (in L, as ``word_tokens``), which its speech-only latent ``b2`` also follows within
#: words: the two models' predictions of ``both`` are correlated through the stimulus,
#: though beyond L they share nothing. Token counts are drawn independently of word timing;
#: ``b`` and ``l`` (the speech and language classes) are independent of them.
STIMULUS_R = 0.5
#: Nuisance word latents of each model (variance the electrodes do not follow).
N_NUISANCE = 12
#: Response kernel of every driven electrode (samples at 100 Hz: a 30–150 ms bump).
KERNEL = np.array([0.0, 0.0, 0.0, 0.4, 0.8, 1.0, 1.0, 0.8, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05])
#: Gaussian smoothing (samples) of the speech-only latent and of the envelope.
SPEECH_SMOOTHING, ENVELOPE_SMOOTHING = 4.0, 10.0


@dataclass
class PlantedComparison:
    """A recording whose comparison answers are known.

    Attributes
    ----------
    designs : dict of (str, str) to ndarray
        ``(space, layer)`` -> design on the timeline, float32.
    spaces : dict of str to FeatureSpaceInfo
    Y : ndarray, shape (n_samples, n_channels), float32
    segments : ndarray of int
        0 inside the story, -1 in the silences before and after.
    words : WordSamples
    classes : list of str
        The planted class of each channel (a key of :data:`CLASS_REGIONS` or ``"noise"``).
    drive_r2 : ndarray, shape (n_channels,)
        Fraction of each channel's variance (inside the story) that its drive explains: the
        R² of a perfect model.
    content_r : ndarray, shape (n_channels,)
        Correlation of each channel with the shared-content part of its drive (NaN where it
        has none).
    """

    designs: dict[tuple[str, str], np.ndarray]
    spaces: dict[str, FeatureSpaceInfo]
    Y: np.ndarray
    segments: np.ndarray
    words: WordSamples
    classes: list[str]
    drive_r2: np.ndarray
    content_r: np.ndarray

    @property
    def channels(self) -> list[str]:
        """Channel names: ``<class><index>``."""
        return [f"{c}{i}" for i, c in enumerate(self.classes)]


def planted_comparison(seconds: float = 300.0, *, n_per_class: int = 4, n_noise: int = 8,
                       snr: float = 1.0, n_dims: int = 24, seed: int = 0) -> PlantedComparison:
    """Generate a recording with planted shared, speech-only, language-only and acoustic drive.

    Parameters
    ----------
    seconds : float
        Length of the story (plus 2 s of silence on each side).
    n_per_class : int
        Driven electrodes per class.
    n_noise : int
        Electrodes with no drive.
    snr : float
        Variance of the drive over the variance of the noise, inside the story (drive R² is
        ``snr / (1 + snr)``).
    n_dims : int
        Dimensions of the speech and the language features.
    seed : int

    Returns
    -------
    recording : PlantedComparison
    """
    rng = np.random.default_rng(seed)
    pad = int(2 * SFREQ)
    n = int(seconds * SFREQ) + 2 * pad
    segments = np.full(n, -1)
    segments[pad:n - pad] = 0
    words = _words(rng, pad, n - pad)
    n_words = len(words.onsets)
    z, latent_l = rng.standard_normal((2, n_words))
    b = _smooth(rng, n, SPEECH_SMOOTHING)  # speech-only, frame level (~40 ms)
    inside = segments >= 0
    present = _held(n, words, np.ones(n_words))[:, 0]
    # acoustic envelope, positive, louder during words
    e = np.exp(_smooth(rng, n, ENVELOPE_SMOOTHING) + gaussian_filter1d(present, 3.0))
    b[~inside], e[~inside] = 0, 0
    rise = np.maximum(np.gradient(e), 0)  # sound onsets: not a linear function of e
    rise /= rise[inside].std()
    # the both class's own pair, each correlated with the token count (in L, not timing)
    tokens = rng.integers(1, 4, n_words).astype(float)
    count = (tokens - tokens.mean()) / tokens.std()
    b2 = _smooth(rng, n, SPEECH_SMOOTHING)
    b2 = (b2 / b2[inside].std() * np.sqrt(1 - STIMULUS_R ** 2)
          + STIMULUS_R * _held(n, words, count)[:, 0]) * inside
    l2 = np.sqrt(1 - STIMULUS_R ** 2) * rng.standard_normal(n_words) + STIMULUS_R * count

    nuisance = rng.standard_normal((n_words, N_NUISANCE))
    speech = (np.c_[_held(n, words, z), b, b2, present, e, rise, _held(n, words, nuisance)]
              @ rng.standard_normal((6 + N_NUISANCE, n_dims)))
    speech += 0.3 * rng.standard_normal(speech.shape) * inside[:, None]
    language_words = (3.0 * rng.standard_normal(n_dims)  # the mean vector of every word
                      + np.c_[z, latent_l, l2, rng.standard_normal((n_words, N_NUISANCE))]
                      @ rng.standard_normal((3 + N_NUISANCE, n_dims))
                      + 0.3 * rng.standard_normal((n_words, n_dims)))
    language = np.zeros((n, n_dims))
    language[words.onsets] = language_words

    random_filters = rng.standard_normal((n, 4)) * inside[:, None]  # an untrained filter bank
    untrained_speech = (np.c_[present, e, rise, random_filters]
                        @ rng.standard_normal((7, n_dims)))
    untrained_language = np.zeros((n, n_dims))
    untrained_language[words.onsets] = (3.0 * rng.standard_normal(n_dims)
                                        + rng.standard_normal((n_words, n_dims)))

    def unit(source: np.ndarray) -> np.ndarray:  # the source's response, unit variance
        drive = np.convolve(source, KERNEL)[:n]
        return (drive - drive[inside].mean()) / drive[inside].std()

    onset, content = unit(_impulses(n, words.onsets, np.ones(n_words))), unit(
        _impulses(n, words.onsets, z))
    drives = {"shared": unit(_impulses(n, words.onsets, 1.0 + z)), "speech": unit(b),
              "language": unit(_impulses(n, words.onsets, latent_l)), "acoustic": unit(e),
              "both": unit(b2) + unit(_impulses(n, words.onsets, l2)),
              "onset": onset, "outside": unit(rise), "untrained": unit(random_filters[:, 0]),
              "shared_weak": onset + unit(e) + WEAK_CONTENT * content}
    classes = [c for c in CLASS_REGIONS for _ in range(n_per_class)] + ["noise"] * n_noise
    Y = rng.standard_normal((n, len(classes)))
    drive_r2, content_r = np.zeros(len(classes)), np.full(len(classes), np.nan)
    for j, name in enumerate(classes):
        if name == "noise":
            continue
        scale = np.sqrt(snr) / drives[name][inside].std()
        Y[:, j] += drives[name] * scale * inside
        drive_r2[j] = snr / (1 + snr)
        if name.startswith("shared"):
            part = content * (WEAK_CONTENT if name == "shared_weak" else 1.0) * scale
            content_r[j] = np.corrcoef(Y[inside, j], part[inside])[0, 1]
    designs = {("wav2vec2", "layer07"): speech.astype(np.float32),
               ("gpt2", "layer06"): language.astype(np.float32),
               ("gpt2", TOKENS): _impulses(n, words.onsets, tokens)[:, None].astype(np.float32),
               ("envelope", "envelope"): e[:, None].astype(np.float32),
               ("wav2vec2untrained", "layer07"): untrained_speech.astype(np.float32),
               ("gpt2untrained", "layer06"): untrained_language.astype(np.float32)}
    spaces = {"wav2vec2": FeatureSpaceInfo("speech", ["layer07"]),
              "gpt2": FeatureSpaceInfo("language", ["layer06", TOKENS], word_level=True),
              "envelope": FeatureSpaceInfo("envelope", ["envelope"]),
              "wav2vec2untrained": FeatureSpaceInfo("speech", ["layer07"]),
              "gpt2untrained": FeatureSpaceInfo("language", ["layer06"], word_level=True)}
    return PlantedComparison(designs, spaces, Y.astype(np.float32), segments, words, classes,
                             drive_r2, content_r)


def _words(rng: np.random.Generator, start: int, stop: int) -> WordSamples:
    """Words of 15–40 samples separated by 2–15 samples (about 3 words per second)."""
    onsets, offsets, t = [], [], start + 5
    while t + 45 < stop:
        length = int(rng.integers(15, 40))
        onsets.append(t)
        offsets.append(t + length)
        t += length + int(rng.integers(2, 15))
    return WordSamples(np.array(onsets), np.array(offsets))


def _smooth(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Unit-variance Gaussian noise smoothed over ``sigma`` samples."""
    x = gaussian_filter1d(rng.standard_normal(n), sigma)
    return x / x.std()


def _held(n: int, words: WordSamples, values: np.ndarray) -> np.ndarray:
    """Word values held over each word's samples (zero between words)."""
    values = np.asarray(values, dtype=float).reshape(len(words.onsets), -1)
    out = np.zeros((n, values.shape[1]))
    for a, stop, row in zip(words.onsets, words.offsets, values, strict=True):
        out[a:stop] = row
    return out


def _impulses(n: int, onsets: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.zeros(n)
    out[onsets] = values
    return out
