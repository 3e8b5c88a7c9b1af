"""Quality-control arrays for the participant report: onset responses and alignment check."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import scipy.signal

from bids_app.neural.data import NeuralData


def onset_response(neural: NeuralData, onsets: np.ndarray, *, tmin: float = -0.5,
                   tmax: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Mean high-gamma of each channel around stimulus onsets.

    Parameters
    ----------
    neural : NeuralData
        High-gamma data.
    onsets : ndarray, shape (n_onsets,)
        Onsets in seconds of recording time; epochs leaving the recording are skipped.
    tmin, tmax : float
        Epoch limits in seconds relative to the onset.

    Returns
    -------
    times : ndarray, shape (n_lags,)
        Epoch times in seconds.
    response : ndarray, shape (n_channels, n_lags)
        Average over onsets (NaN when no epoch fits).
    """
    lags = np.arange(round(tmin * neural.sfreq), round(tmax * neural.sfreq) + 1)
    starts = np.round(np.asarray(onsets, dtype=float) * neural.sfreq).astype(int)
    starts = starts[(starts + lags[0] >= 0) & (starts + lags[-1] < neural.data.shape[1])]
    if len(starts) == 0:
        return lags / neural.sfreq, np.full((neural.data.shape[0], len(lags)), np.nan)
    epochs = neural.data[:, starts[:, None] + lags[None, :]]
    return lags / neural.sfreq, epochs.mean(axis=1)


def envelope_alignment(neural: NeuralData, envelope: np.ndarray, sfreq_envelope: float, *,
                       onset: float = 0.0, max_lag: float = 1.0,
                       channels: np.ndarray | None = None) -> dict:
    """Cross-correlation of the stimulus envelope with the mean high-gamma.

    A well-aligned recording of auditory cortex peaks at a small positive lag (the cortex
    follows the sound by about 0.1–0.2 s). A peak far from that suggests a wrong onset.

    Parameters
    ----------
    neural : NeuralData
        High-gamma data.
    envelope : ndarray, shape (n_samples,)
        Stimulus amplitude envelope in stimulus time.
    sfreq_envelope : float
        Its sampling rate in Hz (resampled to ``neural.sfreq``).
    onset : float
        Stimulus onset in seconds of recording time.
    max_lag : float
        Largest lag examined, in seconds.
    channels : ndarray of bool | None
        Channels averaged (e.g. the speech-responsive ones); None averages all.

    Returns
    -------
    result : dict
        ``lags`` (s; positive: high-gamma follows the envelope), ``xcorr`` (Pearson r per lag)
        and ``peak_lag``, ``peak_r``.
    """
    frac = Fraction(neural.sfreq / sfreq_envelope).limit_denominator(1000)
    env = scipy.signal.resample_poly(np.asarray(envelope, float), frac.numerator,
                                     frac.denominator)
    rows = neural.data if channels is None else neural.data[np.asarray(channels, bool)]
    hg = rows.mean(axis=0)
    start = round(onset * neural.sfreq)
    lags = np.arange(-round(max_lag * neural.sfreq), round(max_lag * neural.sfreq) + 1)
    xcorr = np.full(len(lags), np.nan)
    for i, lag in enumerate(lags):
        first = max(0, -(start + lag))
        last = min(len(env), len(hg) - start - lag)
        if last - first > 2:
            shifted = hg[start + lag + first:start + lag + last]
            xcorr[i] = np.corrcoef(env[first:last], shifted)[0, 1]
    best = int(np.nanargmax(xcorr)) if np.isfinite(xcorr).any() else 0
    return {"lags": lags / neural.sfreq, "xcorr": xcorr, "peak_lag": float(lags[best] /
            neural.sfreq), "peak_r": float(xcorr[best])}
