"""Figures of the group report, drawn from the group tables (matplotlib ``Figure`` objects).

Each function returns a figure without touching pyplot's global state, so a test can inspect
its artists before the report turns it into an inline PNG (``figures.to_report_figure``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from bids_app.layers import layer_index, layer_order
from bids_app.report.comparison_figures import partition_label, region_label

UNIQUE, SHARED, GROUP, PARTICIPANT = "#c0392b", "#7f8c8d", "#2c3e50", "#95a5a6"
PREFERENCE_COLOURS = {"speech": "#2e86c1", "language": "#d68910", "both": "#8e44ad",
                      "neither": "#bdc3c7"}
def group_layer_profile_figure(means: pd.DataFrame, profile: pd.DataFrame,
                               title: str) -> Figure:
    """Layer profile of one feature space over the participants' significant electrodes.

    Parameters
    ----------
    means : DataFrame
        ``participant_layer_means`` rows of the ``significant`` electrode set.
    profile : DataFrame
        ``group_layer_profile`` rows of the same set (``best`` marks the best layer).
    title : str

    Returns
    -------
    fig : Figure
        Left: layers (thin grey line per participant, group mean with its bootstrap CI band,
        best layer starred). Right, when the space has scalar features (e.g. surprisal):
        the same for each feature, as points, off the layer axis.
    """
    layers = [x for x in layer_order(profile["layer"]) if layer_index(x) is not None]
    scalars = [x for x in layer_order(profile["layer"]) if layer_index(x) is None]
    panels = [p for p in (layers, scalars) if p]
    fig = Figure(figsize=(3.2 + 0.25 * len(layers) + 1.2 * len(scalars), 3),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True, width_ratios=[
        max(len(p), 2) for p in panels]))
    group = profile.set_index("layer")
    for ax, names in zip(axes, panels, strict=True):
        x = np.arange(len(names))
        style = "-" if names is layers else "none"
        for _, rows in means.groupby("subject"):
            values = rows.set_index("layer")["mean_r"].reindex(names)
            ax.plot(x, values, color=PARTICIPANT, lw=0.8, ls=style, marker=".",
                    label="participants")
        rows = group.reindex(names)
        ax.plot(x, rows["mean_r"], color=GROUP, lw=2, ls=style, marker="o",
                label="group mean")
        if names is layers:
            ax.fill_between(x, rows["ci_low"], rows["ci_high"], color=GROUP, alpha=0.2,
                            label="95% bootstrap CI")
        else:
            ax.errorbar(x, rows["mean_r"], yerr=[rows["mean_r"] - rows["ci_low"],
                                                 rows["ci_high"] - rows["mean_r"]],
                        color=GROUP, ls="none", capsize=3)
        best = [i for i, name in enumerate(names) if rows["best"].get(name, False)]
        if best:
            ax.plot(x[best], rows["mean_r"].iloc[best], "*", color=UNIQUE, ms=14,
                    label=f"best layer ({names[best[0]]})")
        ax.set_xticks(x, names, fontsize=7, rotation=45 if len(names) > 8 else 0)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("layer" if names is layers else "scalar feature")
    axes[0].set_ylabel(f"mean r, {means['electrode_set'].iloc[0]} electrodes")
    handles, labels = axes[0].get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    axes[0].legend(unique.values(), unique.keys(), fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def paired_figure(electrodes: pd.DataFrame, participants: pd.DataFrame, tests: pd.Series,
                  title: str, roles: tuple[str, str] = ("speech", "language")) -> Figure:
    """Two models on the same electrodes (speech vs. language, trained vs. untrained).

    Parameters
    ----------
    electrodes : DataFrame
        ``electrode_differences`` (all electrodes).
    participants : DataFrame
        ``participant_differences`` of one electrode set.
    tests : Series
        The ``speech_language_tests`` row of that set.
    title : str
    roles : tuple of str
        The roles of ``electrode_differences``.

    Returns
    -------
    fig : Figure
        Left: each electrode's r under both models, coloured by which model predicts it at
        group-level FDR. Right: each participant's mean Δr, the group mean and its CI.
    """
    a, b = roles
    fig = Figure(figsize=(8, 3.3), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[3, 2])
    colours = dict(zip((a, b, "both", "neither"), PREFERENCE_COLOURS.values(), strict=True))
    for preference, colour in colours.items():
        rows = electrodes[electrodes["preference"] == preference]
        left.scatter(rows[f"r_{b}"], rows[f"r_{a}"], s=12, color=colour,
                     label=f"{preference} ({len(rows)})")
    values = electrodes[[f"r_{a}", f"r_{b}"]].to_numpy(float)
    low, high = min(np.nanmin(values, initial=0), 0), max(np.nanmax(values, initial=0), 0.05)
    left.plot([low, high], [low, high], color="k", lw=0.5)
    left.set_xlabel(f"{b} model r ({electrodes[f'layer_{b}'].iloc[0]})")
    left.set_ylabel(f"{a} model r ({electrodes[f'layer_{a}'].iloc[0]})")
    left.legend(title="predicted by (group FDR)", fontsize=7, title_fontsize=7)
    x = np.zeros(len(participants))
    right.scatter(x, participants["mean_delta_r"], color=PARTICIPANT, label="participants")
    right.errorbar([0.3], [tests["mean_delta_r"]],
                   yerr=[[tests["mean_delta_r"] - tests["ci_low"]],
                         [tests["ci_high"] - tests["mean_delta_r"]]],
                   color=GROUP, marker="o", capsize=4, label="group mean, 95% CI")
    right.axhline(0, color="k", lw=0.5)
    right.set_xlim(-0.5, 0.8)
    right.set_xticks([])
    right.set_ylabel(f"mean Δr ({a} − {b})")
    right.set_title(f"{tests['electrode_set']} electrodes; mixed-model p = "
                    f"{tests['lmm_p']:.3g}, sign-flip p = {tests['signflip_p']:.3g}",
                    fontsize=8)
    right.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def share_summary_figure(shares: pd.DataFrame, summary: pd.DataFrame) -> Figure:
    """Share of explained variance per region, mean over participants with bootstrap CIs.

    Parameters
    ----------
    shares : DataFrame
        ``participant_shares`` (drawn as points).
    summary : DataFrame
        ``share_summary`` (bars and CIs).

    Returns
    -------
    fig : Figure
        One panel per partition; red: unique to one set, grey: shared by several.
    """
    partitions = list(dict.fromkeys(summary["partition"]))
    heights = [int((summary["partition"] == p).sum()) for p in partitions]
    fig = Figure(figsize=(7, 0.8 + 0.3 * sum(heights) + 0.5 * len(partitions)),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(partitions), 1, height_ratios=heights))
    for ax, partition in zip(axes, partitions, strict=True):
        rows = summary[summary["partition"] == partition].reset_index(drop=True)
        y = np.arange(len(rows))
        colours = [SHARED if "∩" in region else UNIQUE for region in rows["region"]]
        ax.barh(y, rows["mean_share"], color=colours,
                xerr=[rows["mean_share"] - rows["ci_low"], rows["ci_high"] - rows["mean_share"]],
                error_kw={"lw": 0.8, "capsize": 2})
        points = shares[shares["partition"] == partition]
        position = dict(zip(rows["region"], y, strict=True))
        ax.scatter(points["share"], points["region"].map(position), color="k", s=8, zorder=3)
        ax.set_yticks(y, [region_label(r) for r in rows["region"]], fontsize=7)
        ax.invert_yaxis()
        ax.axvline(0, color="k", lw=0.5)
        ax.set_title(partition_label(partition), fontsize=9)
    axes[-1].set_xlabel("share of explained variance (significant electrodes)")
    axes[0].legend(handles=[Patch(color=UNIQUE, label="unique to one set"),
                            Patch(color=SHARED, label="shared by several sets"),
                            Line2D([], [], color="k", marker="o", ms=3, ls="none",
                                   label="participants")], fontsize=7, loc="lower right")
    return fig


def group_cca_figure(table: pd.DataFrame) -> Figure:
    """Canonical correlations across participants: one line per distinct participant curve.

    CCA is a property of the stimulus features, so participants who heard the same stimuli
    share one curve, drawn once; participants whose curves differ get a line each. No line
    joins one participant's last component to the next participant's first.

    Parameters
    ----------
    table : DataFrame
        Stacked ``cca`` components tables (``subject`` names the participant or recording).

    Returns
    -------
    fig : Figure
        Solid: held-out words; dashed: fitting words (one colour per distinct curve).
    """
    curves: list[tuple[list[str], pd.DataFrame]] = []
    for subject, rows in table.groupby("subject", sort=True):
        rows = rows.sort_values("component")
        for names, curve in curves:
            if _same_curve(curve, rows):
                names.append(str(subject))
                break
        else:
            curves.append(([str(subject)], rows))
    fig = Figure(figsize=(5, 3), layout="constrained")
    ax = fig.subplots()
    for i, (names, rows) in enumerate(curves):
        who = "all participants" if len(curves) == 1 else ", ".join(names)
        colour = f"C{i % 10}"
        ax.plot(rows["component"], rows["r_test"], color=colour, marker=".",
                label=f"{who}: held-out words")
        ax.plot(rows["component"], rows["r_train"], color=colour, ls="--", marker=".",
                label=f"{who}: fitting words")
        significant = rows[rows["significant"].astype(bool)]
        ax.scatter(significant["component"], significant["r_test"], color=colour, s=30,
                   edgecolor="k", zorder=3)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("canonical component (circled: Bartlett p < 0.05)")
    ax.set_ylabel("canonical correlation")
    ax.legend(fontsize=6)
    return fig


def _same_curve(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether two participants' components tables give the same curves."""
    columns = ["component", "r_test", "r_train"]
    return len(a) == len(b) and np.allclose(a[columns].to_numpy(float),
                                            b[columns].to_numpy(float), equal_nan=True)
