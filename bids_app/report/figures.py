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

from bids_app.group_stats import bootstrap_ci
from bids_app.layers import (
    best_lag_per_channel,
    best_layer,
    significant_channels,
    split_layers,
)

SIGNIFICANT, OTHER = "#c0392b", "#95a5a6"


@dataclass(frozen=True)
class ReportFigure:
    """An inline figure of a report: a caption and a ``data:image/png;base64,...`` URI."""

    caption: str
    uri: str


def png_figure(path: Path, caption: str) -> ReportFigure:
    """A saved PNG file as an inline report figure."""
    return ReportFigure(caption, "data:image/png;base64,"
                        + base64.b64encode(path.read_bytes()).decode("ascii"))


def to_report_figure(fig: Figure, caption: str) -> ReportFigure:
    """Render a matplotlib figure to an inline report figure and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return ReportFigure(caption, "data:image/png;base64,"
                        + base64.b64encode(buffer.getvalue()).decode("ascii"))


def electrode_scores_figure(table: pd.DataFrame, layer: str, title: str) -> ReportFigure:
    """Every electrode's r at one layer, ranked: readable at any electrode count.

    The ten best electrodes are named; every electrode's value is in the report's table.
    """
    rows = table[table["layer"] == layer].sort_values("r", ascending=False)
    significant = rows["significant"].astype(bool).to_numpy()
    fig, ax = plt.subplots(figsize=(6, 2.6))
    rank = np.arange(1, len(rows) + 1)
    ax.scatter(rank[~significant], rows["r"].to_numpy()[~significant], s=10, color=OTHER,
               label="not significant")
    ax.scatter(rank[significant], rows["r"].to_numpy()[significant], s=12, color=SIGNIFICANT,
               label="FDR significant")
    for i, (channel, r) in enumerate(zip(rows["channel"][:10], rows["r"][:10], strict=True)):
        ax.annotate(str(channel), (rank[i], r), fontsize=6, rotation=45,
                    xytext=(2, 2), textcoords="offset points")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("electrode rank")
    ax.set_ylabel("cross-validated r")
    ax.set_title(f"{title}, {layer}: {int(significant.sum())} of {len(rows)} significant",
                 fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    return to_report_figure(fig, f"Electrodes ranked by r at {layer}; the table below lists "
                                 "every electrode.")


def layer_profile_figure(table: pd.DataFrame, space: str) -> ReportFigure:
    """Mean r of the significant electrodes per layer with 95 % CIs, the best layer marked.

    Scalar features of the space (a language model's surprisal and entropy) get their own
    panel. Electrodes are those significant in any model layer (all, when none is).
    """
    table = best_lag_per_channel(table.dropna(subset=["r"]))
    model, scalar = split_layers(list(dict.fromkeys(table["layer"])))
    significant = significant_channels(table[table["layer"].isin(model)])
    rows = table[table["channel"].isin(significant)] if significant else table
    who = (f"{len(significant)} significant electrodes" if significant
           else f"all {rows['channel'].nunique()} electrodes (none significant)")
    best = best_layer(table)
    fig, axes = plt.subplots(1, 2 if scalar else 1, figsize=(7.5 if scalar else 5.5, 2.8),
                             squeeze=False, sharey=True, width_ratios=[4, 1] if scalar else None)
    for ax, layers in zip(axes[0], (model, scalar), strict=False):
        cis = [bootstrap_ci(rows.loc[rows["layer"] == layer, "r"].to_numpy(), n_resamples=2000)
               for layer in layers]
        stats = np.array([(ci.mean, ci.low, ci.high) for ci in cis])
        x = np.arange(len(layers))
        ax.errorbar(x, stats[:, 0], yerr=[stats[:, 0] - stats[:, 1], stats[:, 2] - stats[:, 0]],
                    fmt="o-" if ax is axes[0][0] else "o", color="#2c3e50", capsize=2, lw=1)
        ax.set_xticks(x, [layer.removeprefix("layer") for layer in layers], fontsize=7,
                      rotation=90 if len(layers) > 16 else 0)
        ax.axhline(0, color="k", lw=0.5)
        if best in layers:
            i = layers.index(best)
            ax.plot(x[i], stats[i, 0], "*", color=SIGNIFICANT, ms=14, label=f"best: {best}")
            ax.legend(fontsize=7)
    axes[0][0].set_xlabel("layer" if scalar or len(model) > 1 else "")
    axes[0][0].set_ylabel("mean cross-validated r (95% CI)")
    axes[0][0].set_title(f"{space}: {who}", fontsize=9)
    if scalar:
        axes[0][1].set_title("scalar features", fontsize=9)
    return to_report_figure(fig, f"Layer profile of {space}: mean r over {who}, with "
                                 "bootstrap 95% intervals over electrodes; the star marks the "
                                 "best layer.")


def glass_brain_figure(coords: np.ndarray, values: np.ndarray, significant: np.ndarray,
                       title: str, vmax: float | None = None) -> ReportFigure:
    """Electrodes on a glass brain (MNI), coloured by r; non-significant ones hollow.

    Parameters
    ----------
    coords : ndarray, shape (n_electrodes, 3)
        MNI coordinates in mm.
    values : ndarray, shape (n_electrodes,)
        Cross-validated r per electrode.
    significant : ndarray of bool, shape (n_electrodes,)
        FDR-significant electrodes; the others are drawn as hollow grey circles.
    title : str
        The figure title.
    vmax : float | None
        Top of the colour scale; pass the same value to maps that are compared.
    """
    from nilearn import plotting

    fig = plt.figure(figsize=(7, 2.6))
    vmax = vmax or float(np.nanmax(np.abs(values))) or 1.0
    display = plotting.plot_markers(values, coords, node_size=18, node_cmap="RdBu_r",
                                    node_vmin=-vmax, node_vmax=vmax, display_mode="lzr",
                                    figure=fig, title=title, colorbar=True)
    hollow = ~np.asarray(significant, dtype=bool)
    if hollow.any():
        display.add_markers(coords[hollow], marker_color="white", marker_size=18,
                            edgecolors="grey", linewidths=0.8)
    fig.axes[-1].set_ylabel("cross-validated r", fontsize=8)  # the colour bar
    return to_report_figure(fig, f"{int((~hollow).sum())} of {len(values)} electrodes FDR "
                                 "significant (filled, coloured by r); hollow grey: not "
                                 "significant. Every map of the report has this colour scale.")
