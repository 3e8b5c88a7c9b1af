"""Synthetic iEEG signals whose high-gamma amplitude follows a known response to the audio.

Each good channel is the sum of

- a 1/f background (power ∝ 1/f², 30 µV RMS),
- line noise at the power-line frequency and its 2nd and 3rd harmonics,
- a 70–150 Hz band-limited Gaussian carrier (5 µV RMS) multiplied by a relative amplitude
  ``a(t)``.

On noise channels ``a(t) = 1``. On driven channels

    a(t) = 1 + g · m(t) + σ · η(t),       m = k ∗ env

where ``env`` is the audio's broadband envelope in recording time (zero between stimuli), ``k`` a
causal Gaussian bump (the channel's temporal response function), ``g`` scales the driven part to
a standard deviation of :data:`DRIVE_SD`, and ``η`` is unit-variance 0.1–8 Hz Gaussian noise:
spontaneous high-gamma fluctuations unrelated to the stimulus. ``snr`` is the variance ratio of
the two, ``var(g·m) / var(σ·η)``. ``a`` is clipped at 0.05 so that it stays positive.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import numpy as np
from scipy import signal

HG_BAND = (70.0, 150.0)
"""The high-gamma band of the carrier (Hz)."""
ENVELOPE_SFREQ = 100.0
"""Sampling rate of envelopes, drives and kernels (Hz)."""
KERNEL_TMAX = 0.4
"""Longest lag of a response kernel (s)."""
DRIVE_SD = 0.3
"""Standard deviation of the stimulus-driven relative amplitude change ``g · m``."""

_BACKGROUND_RMS = 30e-6  # volts
_CARRIER_RMS = 5e-6
_LINE_AMPLITUDES = (15e-6, 4e-6, 2e-6)  # fundamental, 2nd and 3rd harmonic
_BAD_RMS = 1e-3
_SPONTANEOUS_BAND = (0.1, 8.0)
_MIN_AMPLITUDE = 0.05


def trf_kernel(peak_lag: float, width: float) -> np.ndarray:
    """A causal Gaussian response kernel at :data:`ENVELOPE_SFREQ`, lags 0 to 0.4 s.

    Parameters
    ----------
    peak_lag : float
        Lag of the maximum, in seconds.
    width : float
        Standard deviation of the Gaussian, in seconds.

    Returns
    -------
    kernel : ndarray, shape (41,)
        Non-negative weights summing to 1; ``kernel[j]`` is the weight of lag ``j / 100`` s.
    """
    lags = np.arange(round(KERNEL_TMAX * ENVELOPE_SFREQ) + 1) / ENVELOPE_SFREQ
    kernel = np.exp(-0.5 * ((lags - peak_lag) / width) ** 2)
    return kernel / kernel.sum()


def drive(envelope: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Causal convolution ``m = k ∗ env`` of an envelope with a kernel, same length.

    Parameters
    ----------
    envelope : ndarray, shape (n_times,)
        The audio envelope in recording time at :data:`ENVELOPE_SFREQ`.
    kernel : ndarray, shape (n_lags,)
        The response kernel at the same rate.

    Returns
    -------
    m : ndarray, shape (n_times,)
        ``m[t] = sum_j kernel[j] * envelope[t - j]``.
    """
    return np.convolve(envelope, kernel)[: len(envelope)]


def relative_amplitude(
    m: np.ndarray, snr: float, n_samples: int, sfreq: float, rng: np.random.Generator
) -> np.ndarray:
    """The carrier's relative amplitude ``a(t)`` of one driven channel at ``sfreq``.

    Parameters
    ----------
    m : ndarray, shape (n_times,)
        The drive at :data:`ENVELOPE_SFREQ` (sample ``i`` at ``i / 100`` s).
    snr : float
        ``var(g·m) / var(σ·η)``.
    n_samples : int
        Number of samples of the recording.
    sfreq : float
        Sampling rate of the recording in Hz.
    rng : numpy.random.Generator
        Source of the spontaneous fluctuation ``η``.

    Returns
    -------
    a : ndarray, shape (n_samples,)
        ``1 + g·m + σ·η``, clipped at 0.05.
    """
    times = np.arange(n_samples) / sfreq
    m_up = np.interp(times, np.arange(len(m)) / ENVELOPE_SFREQ, m)
    gain = DRIVE_SD / np.std(m)
    eta = _spectral_noise(n_samples, sfreq, rng, _band_weights(*_SPONTANEOUS_BAND))
    a = 1.0 + gain * m_up + DRIVE_SD / np.sqrt(snr) * eta
    return np.maximum(a, _MIN_AMPLITUDE)


def good_channel(
    amplitude: np.ndarray, sfreq: float, line_freq: float | None, rng: np.random.Generator
) -> np.ndarray:
    """One good channel: background + line noise + amplitude-modulated high-gamma carrier.

    Parameters
    ----------
    amplitude : ndarray, shape (n_samples,)
        Relative amplitude ``a(t)`` of the carrier (ones for a noise channel).
    sfreq : float
        Sampling rate in Hz.
    line_freq : float | None
        Power-line frequency in Hz; None leaves line noise out (a perfectly notched signal).
    rng : numpy.random.Generator
        Source of the background, carrier and line phases.

    Returns
    -------
    data : ndarray, shape (n_samples,)
        The signal in volts.
    """
    n = len(amplitude)
    background = _BACKGROUND_RMS * _spectral_noise(n, sfreq, rng, _pink_weights)
    carrier = _CARRIER_RMS * _spectral_noise(n, sfreq, rng, _band_weights(*HG_BAND))
    data = background + amplitude * carrier
    if line_freq is not None:
        data += _line_noise(n, sfreq, line_freq, rng)
    return data


def driven_signals(drives: np.ndarray, driven: np.ndarray, n_samples: int, sfreq: float,
                   line_freq: float | None, rng: np.random.Generator, *, snr: float = 1.0,
                   kernel: np.ndarray | None = None, dtype: type = np.float64) -> np.ndarray:
    """Good channels, some of whose high gamma follows a drive through one kernel.

    Parameters
    ----------
    drives : ndarray, shape (n_times,) or (n_drives, n_times)
        The drives (e.g. the audio envelope, word impulses) on the recording's timeline at
        :data:`ENVELOPE_SFREQ`.
    driven : ndarray of bool or int, shape (n_channels,)
        Bool: the channels that follow the (first) drive. Int: the drive each channel
        follows, -1 for none. The others are background, carrier and line noise.
    n_samples : int
        Samples of the recording.
    sfreq : float
        Its sampling rate in Hz.
    line_freq : float | None
        Power-line frequency in Hz (None: no line noise).
    rng : numpy.random.Generator
    snr : float
        As in :func:`relative_amplitude`.
    kernel : ndarray | None
        The response kernel (default ``trf_kernel(0.1, 0.03)``).
    dtype : type
        Of the returned array (float32 halves the memory of a long recording).

    Returns
    -------
    data : ndarray, shape (n_channels, n_samples)
        Signals in volts.
    """
    kernel = trf_kernel(0.1, 0.03) if kernel is None else kernel
    m = [drive(d, kernel) for d in np.atleast_2d(drives)]
    driven = np.asarray(driven)
    labels = np.where(driven, 0, -1) if driven.dtype == bool else driven
    data = np.empty((len(labels), n_samples), dtype=dtype)
    for i, label in enumerate(labels):
        amplitude = (relative_amplitude(m[label], snr, n_samples, sfreq, rng) if label >= 0
                     else np.ones(n_samples))
        data[i] = good_channel(amplitude, sfreq, line_freq, rng)
    return data


def bad_channel(n_samples: int, sfreq: float, line_freq: float,
                rng: np.random.Generator) -> np.ndarray:
    """A broken channel: 1 mV RMS white noise plus line noise, in volts.

    Parameters
    ----------
    n_samples : int
        Number of samples.
    sfreq : float
        Sampling rate in Hz.
    line_freq : float
        Power-line frequency in Hz.
    rng : numpy.random.Generator
        Source of the noise.

    Returns
    -------
    data : ndarray, shape (n_samples,)
    """
    return _BAD_RMS * rng.standard_normal(n_samples) + 10 * _line_noise(
        n_samples, sfreq, line_freq, rng)


def reference_highgamma(data: np.ndarray, sfreq: float) -> np.ndarray:
    """A simple reference high-gamma envelope at :data:`ENVELOPE_SFREQ`.

    The standard multiband estimator (Chang lab): 8 Gaussian bands with centres log-spaced
    from 70 to 150 Hz and standard deviations ``0.39 * sqrt(centre)`` Hz, applied to the
    positive-frequency half of the spectrum; the analytic amplitude of each band, averaged over
    bands, polyphase-resampled to 100 Hz (sample ``i`` at ``i / 100`` s). It has no notch: give
    it signals without line noise. It is written here, independent of the app's pipeline.

    Parameters
    ----------
    data : ndarray, shape (..., n_samples)
        Signals in any unit.
    sfreq : float
        Their sampling rate in Hz.

    Returns
    -------
    envelope : ndarray, shape (..., n_times)
    """
    n = data.shape[-1]
    spectrum = np.fft.fft(data, axis=-1)
    freqs = np.fft.fftfreq(n, 1.0 / sfreq)
    amplitude = np.zeros(data.shape)
    for centre in np.geomspace(*HG_BAND, 8):
        weights = 2.0 * np.exp(-0.5 * ((freqs - centre) / (0.39 * np.sqrt(centre))) ** 2)
        amplitude += np.abs(np.fft.ifft(spectrum * np.where(freqs > 0, weights, 0.0), axis=-1))
    ratio = Fraction(ENVELOPE_SFREQ / sfreq).limit_denominator(10_000)
    return signal.resample_poly(amplitude / 8, ratio.numerator, ratio.denominator, axis=-1)


def expected_r(
    m: np.ndarray, during: np.ndarray, snr: float, n_samples: int, sfreq: float,
    rng: np.random.Generator, n_draws: int = 4,
) -> float:
    """How well the true drive predicts a driven channel's measured high-gamma envelope.

    Computed numerically, not from the dataset and without any fitted model: ``n_draws``
    independent draws of the channel (fresh background, carrier and spontaneous fluctuation; no
    line noise, i.e. a perfect notch) go through :func:`reference_highgamma`, and the Pearson
    correlation of each with ``m`` over the samples ``during`` the stimuli is averaged. It is
    the r of a perfect model of the drive, limited by the spontaneous fluctuation (``snr``),
    the random envelope of the carrier and the background.

    Parameters
    ----------
    m : ndarray, shape (n_times,)
        The channel's drive at :data:`ENVELOPE_SFREQ`.
    during : ndarray of bool, shape (n_times,)
        The samples during a stimulus (those an encoding model is scored on).
    snr : float
        The generator's ``var(g·m) / var(σ·η)``.
    n_samples : int
        Number of samples of the recording.
    sfreq : float
        Its sampling rate in Hz.
    rng : numpy.random.Generator
        Source of the independent draws.
    n_draws : int
        Number of draws averaged.

    Returns
    -------
    r : float
    """
    draws = np.stack([
        good_channel(relative_amplitude(m, snr, n_samples, sfreq, rng), sfreq, None, rng)
        for _ in range(n_draws)
    ])
    highgamma = _fit_length(reference_highgamma(draws, sfreq), len(m))
    return float(np.mean([np.corrcoef(hg[during], m[during])[0, 1] for hg in highgamma]))


def _fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Cut or edge-pad the last axis of ``x`` to ``n`` samples."""
    if x.shape[-1] >= n:
        return x[..., :n]
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, n - x.shape[-1])], mode="edge")


def _line_noise(n: int, sfreq: float, line_freq: float, rng: np.random.Generator) -> np.ndarray:
    times = np.arange(n) / sfreq
    data = np.zeros(n)
    for harmonic, amp in enumerate(_LINE_AMPLITUDES, start=1):
        if harmonic * line_freq < sfreq / 2:
            data += amp * np.sin(2 * np.pi * harmonic * line_freq * times
                                 + rng.uniform(0, 2 * np.pi))
    return data


def _pink_weights(freqs: np.ndarray) -> np.ndarray:
    return np.where(freqs > 0, 1.0 / np.maximum(freqs, 0.5), 0.0)


def _band_weights(low: float, high: float) -> Callable[[np.ndarray], np.ndarray]:
    def weights(freqs: np.ndarray) -> np.ndarray:
        return ((freqs >= low) & (freqs <= high)).astype(float)
    return weights


def _spectral_noise(n: int, sfreq: float, rng: np.random.Generator,
                    weights: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Unit-variance Gaussian noise with amplitude spectrum ``weights(freqs)``."""
    freqs = np.fft.rfftfreq(n, 1.0 / sfreq)
    spectrum = (rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs)))
    noise = np.fft.irfft(spectrum * weights(freqs), n)
    return noise / np.std(noise)
