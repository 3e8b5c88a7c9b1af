"""Figures of the model comparisons, drawn from their tables (matplotlib ``Figure`` objects).

Each function takes a table of :class:`~bids_app.analysis.ComparisonResult` (or several
participants' tables stacked) and returns a figure without touching pyplot's global state; the
report turns it into an inline PNG.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bids_app.analysis.partition import region_shares
from bids_app.report.figures import OTHER, SIGNIFICANT


def predcorr_figure(table: pd.DataFrame, a: str, b: str) -> Figure:
    """Do the two models predict the same electrodes, and the same time courses?

    Parameters
    ----------
    table : DataFrame
        A prediction-correlation table (``r_a``, ``r_b``, ``r_pred``, ``both_significant``).
    a, b : str
        The two feature-space names.

    Returns
    -------
    fig : Figure
        Left: each electrode's accuracy under both models. Right: the correlation of the two
        models' predictions against the weaker model's accuracy.
    """
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    colors = np.where(table["both_significant"], SIGNIFICANT, OTHER)
    left.scatter(table["r_a"], table["r_b"], s=12, c=colors)
    low = min(table["r_a"].min(), table["r_b"].min(), 0)
    high = max(table["r_a"].max(), table["r_b"].max(), 0.05)
    left.plot([low, high], [low, high], color="k", lw=0.5)
    left.set_xlabel(f"{a} r (prediction vs data)")
    left.set_ylabel(f"{b} r")
    left.set_title("prediction accuracy per electrode", fontsize=9)
    right.scatter(np.minimum(table["r_a"], table["r_b"]), table["r_pred"], s=12, c=colors)
    right.axhline(0, color="k", lw=0.5)
    right.set_xlabel("accuracy of the weaker model (r)")
    right.set_ylabel(f"r({a} prediction, {b} prediction)")
    right.set_title("prediction correlation (red: both models significant)", fontsize=9)
    return fig


def beyond_figure(table: pd.DataFrame) -> Figure:
    """What each model adds beyond L, and what they share there (trained vs. untrained).

    Parameters
    ----------
    table : DataFrame
        A shared-beyond-L table (``gain_a``, ``gain_b``, ``shared_beyond_low``,
        ``significant_shared_beyond_low``, ``tested``; with the twins,
        ``shared_beyond_low_untrained``).

    Returns
    -------
    fig : Figure
        Left: each tested electrode's gain over L under both models (red: shared beyond L).
        Right, with the twins: the shared variance beyond L of the trained models against
        that of their untrained twins.
    """
    tested = table[table["tested"].astype(bool)]
    a, b = table["space_a"].iloc[0], table["space_b"].iloc[0]
    twins = "shared_beyond_low_untrained" in table
    fig = Figure(figsize=(8 if twins else 4.2, 3.2), layout="constrained")
    axes = fig.subplots(1, 2 if twins else 1, squeeze=False)[0]
    colors = np.where(tested["significant_shared_beyond_low"].astype(bool), SIGNIFICANT, OTHER)
    axes[0].scatter(tested["gain_a"], tested["gain_b"], s=12, c=colors)
    axes[0].axhline(0, color="k", lw=0.5)
    axes[0].axvline(0, color="k", lw=0.5)
    axes[0].set_xlabel(f"R² gain of {a} over L")
    axes[0].set_ylabel(f"R² gain of {b} over L")
    axes[0].set_title("beyond the low-level set L (red: shared)", fontsize=9)
    if twins:
        x, y = tested["shared_beyond_low_untrained"], tested["shared_beyond_low"]
        axes[1].scatter(x, y, s=12, c=colors)
        low, high = min(x.min(), y.min(), 0), max(x.max(), y.max(), 0.01)
        axes[1].plot([low, high], [low, high], color="k", lw=0.5)
        axes[1].set_xlabel("shared beyond L, untrained twins (R²)")
        axes[1].set_ylabel("shared beyond L, trained (R²)")
        axes[1].set_title("what training adds", fontsize=9)
    return fig


def cca_figure(table: pd.DataFrame) -> Figure:
    """Canonical correlation of every component on fitting and held-out words.

    Parameters
    ----------
    table : DataFrame
        The ``cca`` components table.

    Returns
    -------
    fig : Figure
    """
    fig = Figure(figsize=(5, 3), layout="constrained")
    ax = fig.subplots()
    ax.plot(table["component"], table["r_train"], color=OTHER, label="fitting words")
    ax.plot(table["component"], table["r_test"], color="k", label="held-out words")
    kept = table[table["n_folds_kept"] > 0]
    ax.scatter(kept["component"], kept["r_test"], color=SIGNIFICANT, s=14,
               zorder=3, label="kept in shared (held-out test)")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("canonical component")
    ax.set_ylabel("canonical correlation")
    ax.legend(fontsize=7)
    return fig


#: Short human names of the variance-partitioning sets (figure labels and tables).
SET_NAMES = {"shared": "shared (CCA space)", "speech_rest": "speech-model unique",
             "language_rest": "language-model unique", "static": "static word meaning",
             "acoustic": "acoustic-phonetic"}


def set_name(name: str) -> str:
    """A partition set's human name (``speech_rest`` -> ``speech-model unique``)."""
    return SET_NAMES.get(name, name.replace("_", " "))


def region_label(region: str) -> str:
    """A Venn region's human name: ``shared_only`` -> ``shared (CCA space) only``."""
    if region.endswith("_only"):
        return f"{set_name(region.removesuffix('_only'))} only"
    return " ∩ ".join(set_name(part) for part in region.split("∩"))


def partition_label(partition: str) -> str:
    """A partition's human name: its sets' names joined by ``+``."""
    return " + ".join(set_name(part) for part in partition.split("+"))


def varpart_figure(table: pd.DataFrame) -> Figure:
    """Share of the explained variance of every region, one panel per partition.

    Parameters
    ----------
    table : DataFrame
        The ``varpart`` table (significant electrodes are pooled).

    Returns
    -------
    fig : Figure
        Horizontal bars; negative shares (overfitting) are drawn below zero, not hidden.
    """
    partitions = list(dict.fromkeys(table["partition"]))
    heights = [table.loc[table["partition"] == p, "region"].nunique() for p in partitions]
    fig = Figure(figsize=(6, 0.5 + 0.28 * sum(heights) + 0.4 * len(partitions)),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(partitions), 1, height_ratios=heights))
    for ax, partition in zip(axes, partitions, strict=True):
        shares = region_shares(table[table["partition"] == partition]).fillna(0)
        ax.set_title(partition_label(partition), fontsize=9)
        if shares.empty:
            ax.text(0.5, 0.5, "no electrode is predicted significantly by the union model",
                    ha="center", va="center", fontsize=8, transform=ax.transAxes)
            ax.set_axis_off()
            continue
        alone = np.array(["∩" not in region for region in shares.index])
        y = np.arange(len(shares))
        ax.barh(y[alone], shares.to_numpy()[alone], color=SIGNIFICANT,
                label="one set alone (unique)")
        ax.barh(y[~alone], shares.to_numpy()[~alone], color=OTHER,
                label="overlap of sets (shared by them)")
        ax.set_yticks(y, [region_label(region) for region in shares.index], fontsize=7)
        ax.legend(fontsize=6, loc="lower right")
        ax.invert_yaxis()
        ax.axvline(0, color="k", lw=0.5)
    axes[-1].set_xlabel("share of explained variance, significant electrodes")
    return fig
