"""Report figures, returned as inline PNG data URIs so the HTML works offline on its own."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure


@dataclass(frozen=True)
class ReportFigure:
    """An inline figure of a report: a caption and a ``data:image/png;base64,...`` URI."""

    caption: str
    uri: str


def png_figure(path: Path, caption: str) -> ReportFigure:
    """A saved PNG file as an inline report figure."""
    return ReportFigure(caption, "data:image/png;base64,"
                        + base64.b64encode(path.read_bytes()).decode("ascii"))


def best_layer(table: pd.DataFrame) -> str:
    """The layer with the highest mean r across channels."""
    return table.groupby("layer", sort=False)["r"].mean().idxmax()


def best_lag_per_channel(table: pd.DataFrame) -> pd.DataFrame:
    """For word-mode tables (with a ``lag`` column): each channel's row at its best lag."""
    if "lag" not in table:
        return table
    best = table.groupby(["layer", "channel"], sort=False)["r"].idxmax()
    return table.loc[best.to_numpy()]


def lag_profile_figure(table: pd.DataFrame, title: str) -> ReportFigure:
    """Word mode: r as a function of lag for the best layer (each channel, and their mean)."""
    layer = best_layer(best_lag_per_channel(table))
    rows = table[table["layer"] == layer]
    curves = rows.pivot(index="lag", columns="channel", values="r")
    fig, ax = plt.subplots(figsize=(5, 2.8))
    ax.plot(curves.index, curves.to_numpy(), color="#95a5a6", lw=0.6)
    ax.plot(curves.index, curves.mean(axis=1), color="#c0392b", lw=2, label="mean")
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("lag from word onset (s)")
    ax.set_ylabel("cross-validated r")
    ax.set_title(f"{title} (layer {layer})", fontsize=9)
    ax.legend(fontsize=7)
    return to_report_figure(fig, title)


def to_report_figure(fig: Figure, caption: str) -> ReportFigure:
    """Render a matplotlib figure to an inline report figure and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return ReportFigure(caption, "data:image/png;base64,"
                        + base64.b64encode(buffer.getvalue()).decode("ascii"))


def channel_scores_figure(table: pd.DataFrame, title: str) -> ReportFigure:
    """Bar plot of cross-validated r per channel for the best layer, significant ones coloured.

    Parameters
    ----------
    table : DataFrame
        A scores table (``channel``, ``layer``, ``r``, ``significant``) of one feature space.
    title : str
        The figure title.
    """
    table = best_lag_per_channel(table)
    layer = best_layer(table)
    rows = table[table["layer"] == layer].sort_values("r", ascending=False)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.18 * len(rows)), 2.6))
    colors = np.where(rows["significant"].astype(bool), "#c0392b", "#95a5a6")
    ax.bar(range(len(rows)), rows["r"], color=colors)
    ax.set_xticks(range(len(rows)), rows["channel"], rotation=90, fontsize=6)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel("cross-validated r")
    ax.set_title(f"{title} (layer {layer}; red: FDR significant)", fontsize=9)
    return to_report_figure(fig, title)


def layer_profile_figure(table: pd.DataFrame, title: str) -> ReportFigure:
    """Mean and best r across channels for each layer of a feature space."""
    grouped = best_lag_per_channel(table).groupby("layer", sort=False)["r"]
    fig, ax = plt.subplots(figsize=(4.5, 2.6))
    layers = list(grouped.groups)
    ax.plot(range(len(layers)), grouped.mean().to_numpy(), "o-", label="mean over channels")
    ax.plot(range(len(layers)), grouped.max().to_numpy(), "s--", label="best channel")
    ax.set_xticks(range(len(layers)), layers, fontsize=7)
    ax.set_xlabel("layer")
    ax.set_ylabel("cross-validated r")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return to_report_figure(fig, title)


def glass_brain_figure(coords: np.ndarray, values: np.ndarray, title: str) -> ReportFigure:
    """Electrodes on a nilearn glass brain (MNI coordinates), coloured by ``values``.

    Parameters
    ----------
    coords : ndarray, shape (n_electrodes, 3)
        MNI coordinates in mm.
    values : ndarray, shape (n_electrodes,)
        One value per electrode (e.g. r).
    title : str
        The figure title.
    """
    from nilearn import plotting

    fig = plt.figure(figsize=(7, 2.6))
    vmax = float(np.nanmax(np.abs(values))) or 1.0
    plotting.plot_markers(values, coords, node_size=18, node_cmap="RdBu_r", node_vmin=-vmax,
                          node_vmax=vmax, display_mode="lzr", figure=fig, title=title,
                          colorbar=True)
    return to_report_figure(fig, title)
