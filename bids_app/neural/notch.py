"""Line-noise removal: which frequency, which harmonics, and the notch filter itself."""

from __future__ import annotations

import logging
import re

import mne
import numpy as np
import pandas as pd

from bids_app.bids import Recording

logger = logging.getLogger("ssl_ieeg")

DEFAULT_LINE_FREQ = 60.0


def resolve_line_freq(line_freq: float | str, recording: Recording) -> float:
    """The power-line frequency to notch, in Hz.

    Parameters
    ----------
    line_freq : float | str
        A frequency, or ``"auto"``: ``PowerLineFrequency`` of the sidecar, else the lowest
        value of the ``notch`` column of ``channels.tsv`` (``"[60, 120, 180]"``, ``60`` or a
        list), else 60 Hz with a warning.
    recording : Recording
        The recording whose metadata is read.

    Returns
    -------
    freq : float
        The line frequency in Hz.
    """
    if not isinstance(line_freq, str):
        return float(line_freq)
    if recording.line_freq is not None:
        return recording.line_freq
    from_column = _notch_column_fundamental(recording.channels)
    if from_column is not None:
        logger.info("PowerLineFrequency missing; using %g Hz from the channels.tsv notch column",
                    from_column)
        return from_column
    logger.warning("%s: PowerLineFrequency is missing; notching %g Hz. Set "
                   "preprocessing.line_freq to override.", recording.data_path, DEFAULT_LINE_FREQ)
    return DEFAULT_LINE_FREQ


def parse_frequencies(value: object) -> list[float]:
    """Frequencies in a BIDS ``notch``-like cell: a number, a list, or text like ``"[60, 120]"``.

    Parameters
    ----------
    value : object
        The cell (number, list, string, NaN or ``"n/a"``).

    Returns
    -------
    freqs : list of float
        The positive frequencies found (empty when none).
    """
    if isinstance(value, (list, tuple, np.ndarray)):
        return [f for v in value for f in parse_frequencies(v)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)] if np.isfinite(value) and value > 0 else []
    numbers = re.findall(r"\d+(?:\.\d+)?", str(value))
    return [float(n) for n in numbers if float(n) > 0]


def harmonics(line_freq: float, sfreq: float) -> np.ndarray:
    """The line frequency and its harmonics strictly below Nyquist (with a 1 Hz margin).

    Parameters
    ----------
    line_freq, sfreq : float
        Line frequency and sampling rate in Hz.

    Returns
    -------
    freqs : ndarray
        ``line_freq * k`` for ``k = 1, 2, ...`` below ``sfreq / 2 - 1``.
    """
    return np.arange(line_freq, sfreq / 2.0 - 1.0, line_freq)


def notch(data: np.ndarray, sfreq: float, freqs: np.ndarray, *, n_jobs: int = 1) -> np.ndarray:
    """Zero-phase FIR notch at ``freqs`` (:func:`mne.filter.notch_filter`, default widths).

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
        Signal.
    sfreq : float
        Sampling rate in Hz.
    freqs : ndarray
        Frequencies to remove, in Hz (empty: return ``data`` unchanged).
    n_jobs : int
        Parallel jobs over channels.

    Returns
    -------
    filtered : ndarray, shape (n_channels, n_times), float64
        The notched signal.
    """
    if len(freqs) == 0:
        return np.asarray(data, dtype=np.float64)
    return mne.filter.notch_filter(np.asarray(data, dtype=np.float64), sfreq, freqs,
                                   n_jobs=n_jobs, verbose="error")


def _notch_column_fundamental(channels: pd.DataFrame) -> float | None:
    if "notch" not in channels.columns:
        return None
    freqs = [f for cell in channels["notch"].dropna() for f in parse_frequencies(cell)]
    return min(freqs) if freqs else None
