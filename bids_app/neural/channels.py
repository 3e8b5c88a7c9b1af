"""Which channels are modelled: defects that always exclude one, and automatic flagging.

Defects (:func:`sample_defect`, :func:`dead_channels`) are excluded before referencing
whatever ``preprocessing.auto_flag`` says, since one such channel would reach every other
through the common average: non-finite samples (a dropout written as NaN), digital zeros or
a dead contact (a standard deviation :data:`DEAD_RATIO` times below the median channel's),
and clipping (more than :data:`CLIPPED_SHARE` of the samples at the channel's extremes).

Flags (:func:`flag_channels`) mark channels whose statistics are extreme among the recording's
channels: flat or noisy (log-variance), line noise (power at the line frequency over its
flanks) and epileptiform-like spikes (:func:`spike_rate`). They are reported in the
derivative ``_channels.tsv`` and the report's QC section, and excluded only with
``preprocessing.auto_flag``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.signal

#: BIDS channel types that carry intracranial neural signal.
NEURAL_TYPES = ("ECOG", "SEEG", "DBS")
#: Scale that makes the median absolute deviation a consistent estimate of the std.
MAD_TO_STD = 1.4826
#: Most 1-s segments averaged in a QC power spectrum (5 minutes of data).
MAX_PSD_SEGMENTS = 300
#: Share of a channel's samples at its largest or smallest value above which it is clipped
#: (a signal that fits the amplifier's range reaches each extreme a handful of times).
CLIPPED_SHARE = 0.01
#: A channel whose standard deviation is this many times below the median channel's is dead.
DEAD_RATIO = 1e-3
#: A spike is a slope (first difference) this many robust standard deviations from the
#: channel's median slope: the steep, large transient of an interictal epileptiform
#: discharge, not the background activity or high gamma.
SPIKE_Z = 10.0
#: Evenly spaced slopes from which a channel's median and MAD are estimated.
SPIKE_SAMPLE = 50_000
#: Slope excursions closer than this (s) belong to one spike.
SPIKE_REFRACTORY = 0.25
#: Fewest spikes per minute for a spike flag (a robust outlier among quiet channels may
#: still spike rarely).
MIN_SPIKE_RATE = 1.0
#: Smallest spread of log(1 + spikes per minute) across channels in the spike z-score: where
#: most channels never spike (a spread of 0), a channel spiking once a minute stands out.
SPIKE_LOG_SPREAD = 0.1


def sample_defect(signal: np.ndarray, sfreq: float) -> str | None:
    """Why one channel's samples can never be modelled (non-finite, clipped), or None.

    Parameters
    ----------
    signal : ndarray, shape (n_times,)
    sfreq : float
        Sampling rate in Hz (to give the times of non-finite samples).

    Returns
    -------
    reason : str | None
        As written to the derivative ``_channels.tsv``.
    """
    bad = ~np.isfinite(signal)
    if bad.any():
        where = np.flatnonzero(bad)
        return (f"non-finite samples: {where.size} of {signal.size}, from "
                f"{where[0] / sfreq:.2f} s to {where[-1] / sfreq:.2f} s")
    low, high = signal.min(), signal.max()
    share = (np.count_nonzero(signal == low) + np.count_nonzero(signal == high)) / signal.size
    if high > low and share > CLIPPED_SHARE:
        return f"clipped: {share:.1%} of the samples at the channel's extremes"
    return None


def dead_channels(names: list[str], log_var: np.ndarray) -> dict[str, str]:
    """Channels with zero variance, or a standard deviation :data:`DEAD_RATIO` times below
    the median channel's.

    Parameters
    ----------
    names : list of str
    log_var : ndarray, shape (n_channels,)
        Natural log of each channel's variance (``-inf`` when it is constant).

    Returns
    -------
    dead : dict
        ``{name: reason}``.
    """
    finite = log_var[np.isfinite(log_var)]
    floor = np.median(finite) + 2 * np.log(DEAD_RATIO) if finite.size else np.inf
    dead = {}
    for name, value in zip(names, log_var, strict=True):
        if not np.isfinite(value):
            dead[name] = "dead: constant signal (zero variance, e.g. digital zeros)"
        elif value < floor:
            ratio = np.exp((np.median(finite) - value) / 2)
            dead[name] = f"dead: standard deviation {ratio:.0f} times below the median channel's"
    return dead


def exclusion_reason(row: pd.Series) -> str | None:
    """Why a ``channels.tsv`` row is not modelled, or None if it is a candidate.

    Parameters
    ----------
    row : Series
        A row of the reconciled channel table (``type``, ``status``, ``status_description``,
        ``in_file``).

    Returns
    -------
    reason : str | None
        The reason, as written to the derivative ``_channels.tsv``.
    """
    if not row["in_file"]:
        return "listed in channels.tsv but missing from the data file"
    if row["type"] not in NEURAL_TYPES:
        return f"not a neural channel (type {row['type']})"
    if row["status"] == "bad":
        description = row.get("status_description")
        detail = description if isinstance(description, str) and description else "no reason given"
        return f"bad in source: {detail}"
    return None


def spike_rate(data: np.ndarray, sfreq: float) -> np.ndarray:
    """Epileptiform-like spikes per minute of each channel.

    A spike is a run of slopes (first differences) more than :data:`SPIKE_Z` robust
    standard deviations (median absolute deviation, estimated on :data:`SPIKE_SAMPLE` evenly
    spaced slopes) from the channel's median slope, runs
    closer than :data:`SPIKE_REFRACTORY` s counting once. A QC heuristic in the spirit of
    amplitude–slope detectors, not a validated discharge detector.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
    sfreq : float

    Returns
    -------
    rate : ndarray, shape (n_channels,)
        Spikes per minute (0 for a constant channel).
    """
    slope = np.diff(data, axis=-1)
    sample = slope[:, ::max(1, slope.shape[-1] // SPIKE_SAMPLE)]  # enough for a median
    centre = np.median(sample, axis=-1, keepdims=True)
    spread = MAD_TO_STD * np.median(np.abs(sample - centre), axis=-1, keepdims=True)
    rates = np.zeros(len(data))
    minutes = data.shape[-1] / sfreq / 60
    np.abs(np.subtract(slope, centre, out=slope), out=slope)  # in place: one block copy
    for i, row in enumerate(slope > SPIKE_Z * np.where(spread > 0, spread, np.inf)):
        times = np.flatnonzero(row)
        if times.size:
            rates[i] = (1 + np.count_nonzero(np.diff(times) > SPIKE_REFRACTORY * sfreq)) / minutes
    return rates


def channel_stats(data: np.ndarray, sfreq: float, line_freq: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Welch PSD, log-variance, line-noise ratio and spike rate of each channel.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
        Raw signals.
    sfreq : float
        Sampling rate in Hz.
    line_freq : float
        Power-line frequency in Hz.

    Returns
    -------
    freqs : ndarray, shape (n_freqs,)
        PSD frequencies (1 Hz resolution).
    psd : ndarray, shape (n_channels, n_freqs), float32
        Welch PSD (V²/Hz).
    log_var : ndarray, shape (n_channels,)
        Natural log of the variance (``-inf`` for a flat channel).
    line_ratio : ndarray, shape (n_channels,)
        log10 of the power within 1 Hz of ``line_freq`` over the power 2–5 Hz away from it.
    spikes : ndarray, shape (n_channels,)
        Epileptiform-like spikes per minute (:func:`spike_rate`).
    """
    freqs, psd = welch_psd(data, sfreq)
    with np.errstate(divide="ignore"):
        log_var = np.log(np.var(data, axis=-1))
    distance = np.abs(freqs - line_freq)
    peak = psd[:, distance <= 1.0].mean(axis=-1)
    flank = psd[:, (distance >= 2.0) & (distance <= 5.0)].mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        line_ratio = np.log10(peak / flank)
    return freqs, psd, log_var, line_ratio, spike_rate(data, sfreq)


def welch_psd(data: np.ndarray, sfreq: float, max_segments: int = MAX_PSD_SEGMENTS
              ) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density from 1-s Hann-windowed segments (1 Hz resolution).

    For speed on long recordings at most ``max_segments`` non-overlapping segments, evenly
    spread over the recording, are averaged (a QC spectrum, not an estimate for analysis).

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
        Signals.
    sfreq : float
        Sampling rate in Hz.
    max_segments : int
        Most segments averaged.

    Returns
    -------
    freqs : ndarray, shape (n_freqs,)
        Frequencies in Hz.
    psd : ndarray, shape (n_channels, n_freqs), float32
        One-sided power spectral density (signal unit² / Hz).
    """
    nperseg = min(data.shape[-1], round(sfreq))
    n_segments = data.shape[-1] // nperseg
    starts = np.linspace(0, (n_segments - 1) * nperseg, min(n_segments, max_segments))
    index = starts.astype(int)[:, None] + np.arange(nperseg)[None, :]
    segments = data[:, index]
    segments = segments - segments.mean(axis=-1, keepdims=True)
    window = scipy.signal.get_window("hann", nperseg)
    spectra = np.abs(np.fft.rfft(segments * window, axis=-1)) ** 2
    psd = spectra.mean(axis=1) / (sfreq * np.sum(window**2))
    psd[:, 1:(nperseg + 1) // 2] *= 2  # one-sided: double all but DC (and Nyquist)
    return np.fft.rfftfreq(nperseg, 1.0 / sfreq), psd.astype(np.float32)


def robust_z(values: np.ndarray, min_spread: float = 0.0) -> np.ndarray:
    """Robust z-score: ``(x - median) / (1.4826 * MAD)`` over the finite values.

    Parameters
    ----------
    values : ndarray, shape (n,)
        Statistic per channel.
    min_spread : float
        Smallest denominator: where most channels share one value (a MAD of 0), a positive
        floor still scores the others.

    Returns
    -------
    z : ndarray, shape (n,)
        Robust z-scores; 0 everywhere when the spread is 0; non-finite inputs stay
        non-finite.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros_like(values)
    median = np.median(finite)
    mad = max(MAD_TO_STD * np.median(np.abs(finite - median)), min_spread)
    if mad == 0:
        return np.where(np.isfinite(values), 0.0, values)
    return (values - median) / mad


def flag_channels(names: list[str], log_var: np.ndarray, line_ratio: np.ndarray,
                  spikes: np.ndarray, threshold: float) -> dict[str, str]:
    """Channels whose log-variance, line-noise ratio or spike rate is an extreme robust outlier.

    Parameters
    ----------
    names : list of str
        Candidate channels.
    log_var, line_ratio, spikes : ndarray, shape (n_channels,)
        From :func:`channel_stats`.
    threshold : float
        Robust z above which a channel is flagged.

    Returns
    -------
    flags : dict
        ``{name: reason}`` for each flagged channel, the reason naming the statistic and value.
    """
    z_var, z_line = robust_z(log_var), robust_z(line_ratio)
    z_spikes = robust_z(np.log1p(spikes), SPIKE_LOG_SPREAD)
    flags = {}
    for name, lv, zv, zl, rate, zs in zip(names, log_var, z_var, z_line, spikes, z_spikes,
                                          strict=True):
        if not np.isfinite(lv):
            flags[name] = "flat (zero variance)"
        elif zv < -threshold:
            flags[name] = f"flat (log-variance robust z = {zv:.1f})"
        elif rate >= MIN_SPIKE_RATE and zs > threshold:  # spikes add variance too
            flags[name] = (f"epileptiform-like spikes ({rate:.1f} per minute, robust z = "
                           f"{zs:.1f})")
        elif np.isfinite(zl) and zl > threshold:  # before "noisy": line noise adds variance
            flags[name] = f"line noise (line-noise ratio robust z = {zl:.1f})"
        elif zv > threshold:
            flags[name] = f"noisy (log-variance robust z = {zv:.1f})"
    return flags
