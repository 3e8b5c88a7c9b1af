"""High-gamma envelopes: band weighting in the frequency domain, Hilbert amplitude, resampling.

Both methods work on the FFT of each channel (one FFT per channel). A band's analytic signal is
the positive-frequency half of the weighted spectrum; its amplitude does not change when the band
is shifted to 0 Hz, so each band is inverse-transformed at a low intermediate rate (a few times
``sfreq_out``) instead of the raw rate. The averaged amplitude is then decimated to ``sfreq_out``
with an anti-aliasing polyphase filter (:func:`scipy.signal.resample_poly`, Kaiser window, as
in :func:`mne.filter.resample`, which only accepts float64).

- ``multiband`` (Chang lab): Gaussian bands with log-spaced centres and standard deviation
  ``0.39 * sqrt(fc)`` Hz (the constant-Q rule of the Chang lab's ``process_nwb``), amplitude
  averaged across bands.
- ``butterworth`` (Podcast dataset): the squared magnitude of a Butterworth band-pass, which is the
  response of zero-phase forward-backward filtering (:func:`scipy.signal.sosfiltfilt`).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.fft
import scipy.signal

#: Gaussian weights below exp(-GAUSS_CUT**2 / 2) (3e-4 for 4 sd) are dropped.
GAUSS_CUT = 4.0
#: Relative weights below this are dropped (Butterworth skirts).
WEIGHT_FLOOR = 1e-6
#: Seconds of reflected signal added at both ends against circular wrap-around.
EDGE_PAD_S = 1.0


@dataclass(frozen=True)
class Band:
    """One band of the filter bank: centre frequency and weights over FFT bins.

    Attributes
    ----------
    centre : float
        Centre frequency in Hz (the demodulation frequency).
    first_bin : int
        Index of the first FFT bin with non-negligible weight.
    weights : ndarray, shape (n_bins,)
        Real weights of bins ``first_bin`` to ``first_bin + n_bins - 1``.
    """

    centre: float
    first_bin: int
    weights: np.ndarray


def gaussian_centres(band: list[float], n_bands: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres and standard deviations of the Chang-lab Gaussian filter bank.

    Parameters
    ----------
    band : list of float
        ``[low, high]`` in Hz; centres are log-spaced from ``low`` to ``high``.
    n_bands : int
        Number of bands.

    Returns
    -------
    centres, sds : ndarray, shape (n_bands,)
        Centre frequencies and standard deviations (``0.39 * sqrt(centre)``) in Hz.
    """
    centres = np.geomspace(band[0], band[1], n_bands) if n_bands > 1 else np.array(
        [np.sqrt(band[0] * band[1])])
    return centres, 0.39 * np.sqrt(centres)


def filter_bank(method: str, band: list[float], sfreq: float, n_fft: int, *,
                n_bands: int = 8, order: int = 4) -> list[Band]:
    """Frequency-domain weights of the high-gamma filter bank on an ``n_fft``-point FFT grid.

    Parameters
    ----------
    method : str
        ``"multiband"`` or ``"butterworth"``.
    band : list of float
        ``[low, high]`` in Hz. For ``butterworth`` the high edge is capped at 0.45 ``sfreq``.
    sfreq : float
        Sampling rate of the signal in Hz.
    n_fft : int
        FFT length.
    n_bands, order : int
        Number of Gaussian bands (``multiband``); Butterworth order (``butterworth``).

    Returns
    -------
    bands : list of Band
        The bands, each with its centre and non-negligible weights.
    """
    freqs = scipy.fft.rfftfreq(n_fft, 1.0 / sfreq)
    if method == "multiband":
        centres, sds = gaussian_centres(band, n_bands)
        bands = []
        for fc, sd in zip(centres, sds, strict=True):
            lo, hi = np.searchsorted(freqs, [fc - GAUSS_CUT * sd, fc + GAUSS_CUT * sd])
            weights = np.exp(-0.5 * ((freqs[lo:hi] - fc) / sd) ** 2)
            bands.append(Band(float(fc), int(lo), weights))
        return bands
    low, high = band[0], min(band[1], 0.45 * sfreq)
    sos = scipy.signal.butter(order, [low, high], btype="bandpass", output="sos", fs=sfreq)
    _, response = scipy.signal.sosfreqz(sos, worN=freqs, fs=sfreq)
    weights = np.abs(response) ** 2  # forward-backward filtering squares the magnitude
    keep = np.flatnonzero(weights > WEIGHT_FLOOR)
    lo, hi = int(keep[0]), int(keep[-1]) + 1
    return [Band(float(np.sqrt(low * high)), lo, weights[lo:hi])]


def intermediate_rate(bands: list[Band], sfreq: float, n_fft: int, sfreq_out: float) -> int:
    """Smallest multiple of ``sfreq_out`` at which the band amplitudes are computed.

    The baseband analytic signal occupies ``[-W, W]`` (W = the widest band's half-support);
    its squared amplitude occupies ``[-2W, 2W]``. A rate of at least ``2W + sfreq_out / 2``
    keeps aliases out of the output band, and at least twice ``sfreq_out`` leaves room for the
    anti-aliasing filter.

    Parameters
    ----------
    bands : list of Band
        The filter bank.
    sfreq : float
        Raw sampling rate in Hz.
    n_fft : int
        FFT length the bank was built for.
    sfreq_out : float
        Output rate in Hz.

    Returns
    -------
    factor : int
        The intermediate rate is ``factor * sfreq_out``.
    """
    df = sfreq / n_fft
    half = max(max(b.centre - b.first_bin * df, (b.first_bin + len(b.weights)) * df - b.centre)
               for b in bands)
    return max(2, int(np.ceil((2 * half + sfreq_out / 2) / sfreq_out)))


def highgamma_envelope(data: np.ndarray, sfreq: float, sfreq_out: float, *,
                       method: str = "multiband", band: list[float] | None = None,
                       n_bands: int = 8, order: int = 4, workers: int = 1) -> np.ndarray:
    """High-gamma amplitude envelope of each row of ``data``, resampled to ``sfreq_out``.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
        Notched, re-referenced signal (any float dtype; computed in float32).
    sfreq : float
        Sampling rate of ``data`` in Hz.
    sfreq_out : float
        Output rate in Hz. Output sample ``j`` is at time ``j / sfreq_out`` from the first input
        sample.
    method : str
        ``"multiband"`` or ``"butterworth"``.
    band : list of float | None
        ``[low, high]`` in Hz; None is 70–150 (multiband) or 70–200 (butterworth).
    n_bands, order : int
        Gaussian band count; Butterworth order.
    workers : int
        Threads for :mod:`scipy.fft`.

    Returns
    -------
    envelope : ndarray, shape (n_channels, n_out), float32
        Analytic amplitude (mean over bands for ``multiband``), ``n_out = ceil(n_times *
        sfreq_out / sfreq)``.
    """
    if band is None:
        band = [70.0, 150.0] if method == "multiband" else [70.0, 200.0]
    data = np.atleast_2d(data)
    n_times = data.shape[-1]
    n_out = int(np.ceil(n_times * sfreq_out / sfreq - 1e-9))
    # Pick an FFT grid on which the intermediate rate is an exact fraction a/b of sfreq.
    probe_fft = int(4 * sfreq)  # a 0.25 Hz grid is enough to find the bands' support
    probe = filter_bank(method, band, sfreq, probe_fft, n_bands=n_bands, order=order)
    factor = intermediate_rate(probe, sfreq, probe_fft, sfreq_out)
    ratio = Fraction(factor * sfreq_out / sfreq).limit_denominator(10_000)
    a, b = ratio.numerator, ratio.denominator
    pad = b * int(np.ceil(EDGE_PAD_S * sfreq / b))
    n_fft = b * scipy.fft.next_fast_len(int(np.ceil((n_times + 2 * pad) / b)))
    padded = np.pad(data.astype(np.float32, copy=False),
                    ((0, 0), (pad, n_fft - n_times - pad)), mode="reflect")
    spectrum = scipy.fft.rfft(padded, axis=-1, workers=workers)
    del padded
    bands = filter_bank(method, band, sfreq, n_fft, n_bands=n_bands, order=order)
    n_mid = n_fft * a // b
    start = pad * a // b
    stop = start + int(np.ceil(n_times * a / b - 1e-9))
    amplitude = np.zeros((data.shape[0], stop - start), np.float32)
    for bnd in bands:
        amplitude += _band_amplitude(spectrum, bnd, sfreq, n_fft, n_mid, workers)[:, start:stop]
    amplitude /= len(bands)
    mid_rate = sfreq * a / b
    up, down = _rational(sfreq_out / mid_rate)
    out = scipy.signal.resample_poly(amplitude, up, down, axis=-1, padtype="reflect")
    return _fit_length(out.astype(np.float32, copy=False), n_out)


def _band_amplitude(spectrum: np.ndarray, band: Band, sfreq: float, n_fft: int, n_mid: int,
                    workers: int) -> np.ndarray:
    """Amplitude of one band's analytic signal on the intermediate grid of ``n_mid`` samples."""
    centre_bin = round(band.centre * n_fft / sfreq)
    bins = np.arange(band.first_bin, band.first_bin + len(band.weights))
    keep = np.abs(bins - centre_bin) < n_mid // 2
    bins, weights = bins[keep], band.weights[keep]
    baseband = np.zeros((spectrum.shape[0], n_mid), np.complex64)
    # 2x: analytic signal; n_mid / n_fft: inverse FFT normalisation of the shorter grid.
    scale = np.float32(2.0 * n_mid / n_fft)
    baseband[:, (bins - centre_bin) % n_mid] = spectrum[:, bins] * (weights * scale).astype(
        np.float32)
    return np.abs(scipy.fft.ifft(baseband, axis=-1, workers=workers))


def _rational(ratio: float) -> tuple[int, int]:
    frac = Fraction(ratio).limit_denominator(1000)
    return frac.numerator, frac.denominator


def _fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Crop or edge-pad the last axis of ``x`` to ``n`` samples."""
    if x.shape[-1] >= n:
        return x[..., :n]
    return np.pad(x, ((0, 0), (0, n - x.shape[-1])), mode="edge")
