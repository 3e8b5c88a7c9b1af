"""The participant report ``OUTPUT_DIR/sub-<label>.html``, built from the derivatives on disk.

Because it reads only derivatives, ``--reports-only`` can re-render it without recomputing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bids_app.bids.tsv import read_tsv
from bids_app.config import AppConfig
from bids_app.errors import MissingInputError
from bids_app.outputs.derivatives import find_scores, read_electrodes
from bids_app.report.comparisons import comparison_section, find_comparison_tables
from bids_app.report.figures import (
    ReportFigure,
    best_lag_per_channel,
    best_layer,
    channel_scores_figure,
    glass_brain_figure,
    lag_profile_figure,
    layer_profile_figure,
    png_figure,
)
from bids_app.report.render import render


@dataclass(frozen=True)
class ScoresSection:
    """One feature space of one recording in the report."""

    recording: str
    space: str
    n_channels: int
    n_significant: int
    best_channel: str
    best_r: float
    figures: list[ReportFigure]
    n_undefined: int = 0


def write_participant_report(output_dir: Path, subject: str, config: AppConfig,
                             command: str) -> Path:
    """Render ``sub-<label>.html`` from the participant's derivatives.

    Raises
    ------
    MissingInputError
        When the participant has no scores table (nothing to report).
    """
    subject_dir = output_dir / f"sub-{subject}"
    scores = find_scores(subject_dir)
    if not scores:
        raise MissingInputError(f"No scores tables under {subject_dir}: run the participant "
                                "level without --reports-only first.")
    electrodes, space = read_electrodes(subject_dir)
    sections = [_scores_section(name.recording, name.desc, read_tsv(path), electrodes, space)
                for name, path in scores]
    channels = [read_tsv(p) for p in sorted(subject_dir.glob("**/ieeg/*_channels.tsv"))]
    bad = (pd.concat(channels)[lambda t: t["status"] != "good"].drop_duplicates("name")
           if channels else pd.DataFrame(columns=["name", "status_description"]))
    qc_figures = [png_figure(p, p.stem.replace("_qc", "").replace("_desc-", ": "))
                  for p in sorted(subject_dir.glob("**/figures/*_qc.png"))]
    comparisons = [comparison_section(recording, tables, config.statistics.fdr_alpha)
                   for recording, tables in find_comparison_tables(
                       subject_dir.glob("**/ieeg/*.tsv")).items()]
    crashes = sorted(p.name for p in (output_dir / "logs").glob(f"crash-sub-{subject}-*.txt"))
    return render("participant.html.j2", output_dir / f"sub-{subject}.html",
                  subject=subject, sections=sections, coordinate_space=space,
                  bad_channels=bad.to_dict("records"),
                  n_channels=int(sum(len(t) for t in channels)),
                  qc_figures=qc_figures, comparisons=comparisons,
                  config_yaml=config.to_yaml(), command=command, crashes=crashes)


def _scores_section(recording: str, space_name: str, table: pd.DataFrame,
                    electrodes: pd.DataFrame | None, coordinate_space: str | None) -> ScoresSection:
    undefined = int(table["r"].isna().sum())
    table = table.dropna(subset=["r"])  # r is undefined where a prediction is constant
    if table.empty:
        return ScoresSection(recording, space_name, 0, 0, "none (all r undefined)", float("nan"),
                             [])
    figures = [channel_scores_figure(table, f"{space_name}: r per channel")]
    if "lag" in table:
        figures.append(lag_profile_figure(table, f"{space_name}: lag profile"))
    table = best_lag_per_channel(table)
    if table["layer"].nunique() > 1:
        figures.append(layer_profile_figure(table, f"{space_name}: layer profile"))
    if electrodes is not None and coordinate_space and coordinate_space.startswith("MNI"):
        rows = table[table["layer"] == best_layer(table)].merge(electrodes, left_on="channel",
                                                               right_on="name")
        rows = rows.dropna(subset=["x", "y", "z"])
        if len(rows):
            figures.append(glass_brain_figure(rows[["x", "y", "z"]].to_numpy(float),
                                              rows["r"].to_numpy(float),
                                              f"{space_name}: r on MNI electrodes"))
    best = table.loc[table["r"].idxmax()]
    per_layer = table.groupby("layer", sort=False)
    return ScoresSection(
        recording=recording, space=space_name, n_channels=int(per_layer.size().max()),
        n_significant=int(np.max(per_layer["significant"].sum())),
        best_channel=f"{best['channel']} (layer {best['layer']})", best_r=float(best["r"]),
        figures=figures, n_undefined=undefined)
