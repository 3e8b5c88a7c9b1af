"""Lag figures: when electrodes respond (TRF lag profiles; word-mode r per lag).

Both stay readable at hundreds of electrodes: the TRF figure is a heat map (one row per
significant electrode, sorted by peak lag) under the mean profile, and the word-mode figure
summarises channels per lag (mean r, number significant) rather than drawing every curve.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bids_app.encoding.result import peak_lags
from bids_app.report.figures import ReportFigure, to_report_figure

#: Above this many rows, the heat map names no electrode (they would overlap).
MAX_LABELLED_ROWS = 40


def lag_profile_figure(profiles: np.ndarray, lags: np.ndarray, channels: Sequence[str],
                       significant: np.ndarray, title: str) -> ReportFigure:
    """TRF lag profiles of the significant electrodes, sorted by peak lag, peaks marked.

    Each electrode's profile is divided by its maximum (the figure shows *when*, the scores
    show *how well*). Top: mean ± SD of the normalised profiles and the median peak lag.
    Bottom: one row per electrode (lag on x), its peak marked with a white tick.

    Parameters
    ----------
    profiles : ndarray, shape (n_lags, n_channels)
        One layer's lag profiles (``desc-<space>_lagprofile.npy``, or
        :meth:`bids_app.outputs.trf.LagProfiles.layer`).
    lags : ndarray, shape (n_lags,)
        In seconds.
    channels : sequence of str
    significant : ndarray of bool, shape (n_channels,)
        Which electrodes to show (e.g. the scores table's ``significant`` for that layer).
    title : str
    """
    lags = np.asarray(lags, dtype=float)
    keep = np.flatnonzero(np.asarray(significant, dtype=bool)
                          & (np.nan_to_num(profiles).max(0) > 0))
    if keep.size == 0:
        fig, ax = plt.subplots(figsize=(6, 1.2))
        ax.text(0.5, 0.5, "no significant electrode", ha="center", va="center")
        ax.set_axis_off()
        ax.set_title(title, fontsize=9)
        return to_report_figure(fig, "No significant electrode, so no lag profile.")
    shapes = profiles[:, keep] / profiles[:, keep].max(0)
    peaks = peak_lags(shapes, lags)  # as the scores tables' peak_lag
    order = np.argsort(peaks, kind="stable")
    shapes, peaks = shapes[:, order], peaks[order]
    names = [channels[i] for i in keep[order]]
    n = len(names)
    rows_height = max(1.2, min(4.0, 0.12 * n))  # inches: bounded at any electrode count
    fig, (top, heat) = plt.subplots(2, 1, figsize=(6, 2.0 + rows_height), sharex=True,
                                    gridspec_kw={"height_ratios": [1.0, rows_height]})
    mean, sd = shapes.mean(1), shapes.std(1)
    top.fill_between(lags, mean - sd, mean + sd, color="#f5b7b1", lw=0)
    top.plot(lags, mean, color="#c0392b", lw=1.5)
    median = float(np.median(peaks))
    top.axvline(median, color="k", lw=0.6, ls="--")
    top.set_ylabel("mean ± SD", fontsize=8)
    top.set_title(f"{title}: {n} significant electrode(s), median peak {median * 1000:.0f} ms "
                  "(dashed)", fontsize=9)
    step = np.median(np.diff(lags)) if len(lags) > 1 else 1.0
    image = heat.imshow(shapes.T, aspect="auto", origin="lower", cmap="magma", vmin=0, vmax=1,
                        extent=(lags[0] - step / 2, lags[-1] + step / 2, -0.5, n - 0.5),
                        interpolation="nearest")
    heat.plot(peaks, np.arange(n), "|", color="white", ms=max(2.0, min(8.0, 200 / n)))
    if n <= MAX_LABELLED_ROWS:
        heat.set_yticks(np.arange(n), names, fontsize=6)
    else:
        heat.set_yticks([])
    heat.set_ylabel(f"electrodes ({n}), by peak lag", fontsize=8)
    heat.set_xlabel("lag after the feature (s)")
    fig.colorbar(image, ax=[top, heat], label="profile / electrode maximum", shrink=0.8)
    return to_report_figure(fig, "When each significant electrode responds: its TRF lag "
                                 "profile (the spread of each lag's contribution, divided by "
                                 "its maximum), sorted by peak latency (the table's peak_lag).")


def word_lag_arrays(table: pd.DataFrame, layer: str
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """One layer of a word-mode scores table as arrays for :func:`word_lag_figure`.

    Returns
    -------
    r, significant : ndarray, shape (n_lags, n_channels)
    lags : ndarray, shape (n_lags,)
        In seconds.
    channels : list of str
    """
    rows = table[table["layer"].astype(str) == str(layer)]
    r = rows.pivot(index="lag", columns="channel", values="r")
    significant = rows.pivot(index="lag", columns="channel", values="significant")
    significant = significant.reindex_like(r).fillna(False).astype(bool)
    return (r.to_numpy(float), significant.to_numpy(), r.index.to_numpy(float),
            [str(c) for c in r.columns])


def word_lag_figure(r: np.ndarray, lags: np.ndarray, significant: np.ndarray,
                    title: str) -> ReportFigure:
    """Word mode: r per lag across channels, with the number of significant channels per lag.

    Top: mean r over all channels (± SEM) and over the channels significant at some lag.
    Bottom: how many channels are significant at each lag (FDR across channels and lags).

    Parameters
    ----------
    r, significant : ndarray, shape (n_lags, n_channels)
    lags : ndarray, shape (n_lags,)
        Seconds from word onset.
    title : str
    """
    r, lags = np.asarray(r, dtype=float), np.asarray(lags, dtype=float)
    significant = np.asarray(significant, dtype=bool)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 3.8), sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]})
    n_valid = np.isfinite(r).sum(1).clip(1)
    mean = np.nanmean(r, axis=1)
    sem = np.nanstd(r, axis=1) / np.sqrt(n_valid)
    top.fill_between(lags, mean - sem, mean + sem, color="#d5d8dc", lw=0)
    top.plot(lags, mean, color="#566573", lw=1.2, label=f"all channels ({r.shape[1]})")
    responding = significant.any(0)
    if responding.any():
        top.plot(lags, np.nanmean(r[:, responding], axis=1), color="#c0392b", lw=1.5,
                 label=f"significant at some lag ({int(responding.sum())})")
    top.axhline(0, color="k", lw=0.5)
    top.set_ylabel("cross-validated r")
    top.set_title(title, fontsize=9)
    top.legend(fontsize=7)
    width = np.median(np.diff(lags)) * 0.8 if len(lags) > 1 else 0.01
    bottom.bar(lags, significant.sum(1), width=width, color="#c0392b")
    bottom.set_ylabel("significant\nchannels", fontsize=8)
    bottom.set_xlabel("lag from word onset (s)")
    for ax in (top, bottom):
        ax.axvline(0, color="k", lw=0.5)
    return to_report_figure(fig, "Cross-validated r at each lag from word onset, and how many "
                                 "electrodes are significant at each lag (FDR across electrodes "
                                 "and lags).")
