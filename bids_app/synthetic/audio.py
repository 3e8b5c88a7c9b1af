"""Speech-like audio with word timings, and its broadband envelope.

The audio is not speech, but it has the statistics an encoding model cares about: syllables at
3–6 Hz, each a harmonic complex with a falling, accented pitch contour, shaped by vowel-like
formant resonances, sometimes preceded by a fricative noise burst; words of one to three
syllables from a small vocabulary; short pauses between words and longer ones between
sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from bids_app.stimuli import WordTimings

AUDIO_SFREQ = 16000
"""Sampling rate of the generated audio (Hz), the rate speech models expect."""

VOCABULARY: tuple[tuple[str, int], ...] = (
    ("the", 1), ("a", 1), ("and", 1), ("she", 1), ("he", 1), ("we", 1), ("saw", 1),
    ("dog", 1), ("boat", 1), ("sun", 1), ("town", 1), ("rain", 1), ("walked", 1),
    ("river", 2), ("morning", 2), ("garden", 2), ("window", 2), ("little", 2),
    ("quiet", 2), ("open", 2), ("water", 2), ("people", 2), ("never", 2),
    ("yesterday", 3), ("beautiful", 3), ("remember", 3), ("together", 3), ("animal", 3),
    ("everyone", 3), ("tomorrow", 3),
)
"""Words and their syllable counts."""

_VOWEL_FORMANTS: tuple[tuple[float, float, float], ...] = (
    (730.0, 1090.0, 2440.0),  # a
    (530.0, 1840.0, 2480.0),  # e
    (270.0, 2290.0, 3010.0),  # i
    (570.0, 840.0, 2410.0),  # o
    (300.0, 870.0, 2240.0),  # u
)
_FORMANT_GAINS = (1.0, 0.5, 0.25)
_N_HARMONICS = 24
_LEAD_SILENCE = 0.3  # seconds of silence at both ends of a stimulus
_FRICATIVE_SOS = signal.butter(4, 2500.0, btype="highpass", fs=AUDIO_SFREQ, output="sos")


@dataclass(frozen=True)
class _Syllable:
    start: float
    duration: float
    f0_start: float
    f0_end: float
    vowel: int
    fricative: bool


def make_speech(
    duration: float, rng: np.random.Generator
) -> tuple[np.ndarray, WordTimings]:
    """Synthesise speech-like audio of a given duration with its word timings.

    Parameters
    ----------
    duration : float
        Length of the audio in seconds; the last word ends at least 0.3 s before the end.
    rng : numpy.random.Generator
        The source of randomness (same state, same audio).

    Returns
    -------
    audio : ndarray, shape (n_samples,)
        Mono float32 audio at :data:`AUDIO_SFREQ`, peak amplitude 0.9.
    words : WordTimings
        The words (sentence-final words end with a period) and their onsets and offsets in
        seconds of stimulus time.
    """
    syllables, words = _plan_words(duration, rng)
    n_samples = round(duration * AUDIO_SFREQ)
    audio = np.zeros(n_samples)
    for syl in syllables:
        segment = _render_syllable(syl, rng)
        start = round(syl.start * AUDIO_SFREQ)
        stop = min(start + len(segment), n_samples)
        audio[start:stop] += segment[: stop - start]
    audio *= 0.9 / np.max(np.abs(audio))
    return audio.astype(np.float32), words


def _plan_words(
    duration: float, rng: np.random.Generator
) -> tuple[list[_Syllable], WordTimings]:
    """Lay out words, syllables and pauses until the stimulus is full."""
    syllables: list[_Syllable] = []
    names: list[str] = []
    onsets: list[float] = []
    offsets: list[float] = []
    t = _LEAD_SILENCE
    end = duration - _LEAD_SILENCE
    words_left = int(rng.integers(5, 11))
    f0_high, f0_low = rng.uniform(170, 210), rng.uniform(100, 125)
    while True:
        word, n_syl = VOCABULARY[int(rng.integers(len(VOCABULARY)))]
        durations = rng.uniform(0.16, 0.28, size=n_syl)
        gaps = rng.uniform(0.0, 0.03, size=n_syl - 1)
        word_len = durations.sum() + gaps.sum()
        if t + word_len > end:
            break
        onsets.append(t)
        for i in range(n_syl):
            # the pitch falls over the sentence, with an occasional accent
            progress = 1.0 - words_left / 10.0
            f0 = f0_high + (f0_low - f0_high) * np.clip(progress, 0, 1)
            accent = rng.uniform(15, 35) if rng.random() < 0.3 else 0.0
            syllables.append(_Syllable(
                start=t, duration=float(durations[i]), f0_start=f0 + accent,
                f0_end=f0 - rng.uniform(0, 15), vowel=int(rng.integers(len(_VOWEL_FORMANTS))),
                fricative=bool(rng.random() < 0.5),
            ))
            t += durations[i] + (gaps[i] if i < n_syl - 1 else 0.0)
        offsets.append(t)
        words_left -= 1
        if words_left == 0:
            names.append(word + ".")
            t += rng.uniform(0.5, 0.9)
            words_left = int(rng.integers(5, 11))
            f0_high, f0_low = rng.uniform(170, 210), rng.uniform(100, 125)
        else:
            names.append(word)
            t += rng.uniform(0.04, 0.2)
    timings = WordTimings(words=tuple(names), onsets=np.round(onsets, 4),
                          offsets=np.round(offsets, 4))
    return syllables, timings


def _render_syllable(syl: _Syllable, rng: np.random.Generator) -> np.ndarray:
    """One syllable: a formant-filtered harmonic complex under a smooth envelope."""
    n = round(syl.duration * AUDIO_SFREQ)
    f0 = np.linspace(syl.f0_start, syl.f0_end, n)
    phase = 2 * np.pi * np.cumsum(f0) / AUDIO_SFREQ + rng.uniform(0, 2 * np.pi)
    harmonics = np.arange(1, _N_HARMONICS + 1)[:, None]
    source = (np.sin(harmonics * phase) / harmonics).sum(axis=0)
    voiced = np.zeros(n)
    for freq, gain in zip(_VOWEL_FORMANTS[syl.vowel], _FORMANT_GAINS, strict=True):
        b, a = signal.iirpeak(freq, Q=freq / 80.0, fs=AUDIO_SFREQ)
        voiced += gain * signal.lfilter(b, a, source)
    voiced *= np.sin(np.pi * np.arange(n) / n) ** 2
    if syl.fricative:
        n_burst = min(n, int(rng.uniform(0.03, 0.06) * AUDIO_SFREQ))
        burst = signal.sosfilt(_FRICATIVE_SOS, rng.standard_normal(n_burst))
        voiced[:n_burst] += 0.15 * burst * np.hanning(n_burst)
    return voiced



def broadband_envelope(audio: np.ndarray, sfreq: float, sfreq_out: float = 100.0) -> np.ndarray:
    """Root-mean-square amplitude of the audio in centred windows, sampled at ``sfreq_out``.

    Output sample ``i`` is the RMS of the audio over ``[i / sfreq_out - w / 2, i / sfreq_out +
    w / 2)`` with ``w = 1 / sfreq_out`` (zero padding at the edges). This is the envelope that
    drives the synthetic high-gamma responses.

    Parameters
    ----------
    audio : ndarray, shape (n_samples,)
        Mono audio.
    sfreq : float
        Its sampling rate in Hz.
    sfreq_out : float
        The envelope's sampling rate in Hz (default 100).

    Returns
    -------
    envelope : ndarray, shape (round(n_samples / sfreq * sfreq_out),)
        Non-negative envelope, float64.
    """
    power = np.concatenate([[0.0], np.cumsum(np.asarray(audio, dtype=np.float64) ** 2)])
    n_out = round(len(audio) / sfreq * sfreq_out)
    centres = np.arange(n_out) / sfreq_out * sfreq
    half = sfreq / sfreq_out / 2
    lo = np.clip(np.round(centres - half).astype(int), 0, len(audio))
    hi = np.clip(np.round(centres + half).astype(int), 0, len(audio))
    width = max(round(2 * half), 1)
    return np.sqrt(np.maximum(power[hi] - power[lo], 0.0) / width)
