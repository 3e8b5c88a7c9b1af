"""The participant report ``OUTPUT_DIR/sub-<label>.html``, built from the derivatives on disk.

It reads the scores and comparison tables, the electrodes, the QC figures and the run record
(``logs/sub-<label>_run.json``), so ``--reports-only`` re-renders it without recomputing and
keeps the original run's provenance. A section whose inputs are missing says what is missing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bids_app.bids.tsv import read_tsv
from bids_app.config import AppConfig
from bids_app.errors import MissingInputError
from bids_app.layers import best_lag_per_channel, best_layer
from bids_app.outputs.citation import methods_text
from bids_app.outputs.derivatives import beside, find_scores, read_electrodes, run_record_path
from bids_app.outputs.provenance import now, read_run_record
from bids_app.outputs.trf import PROFILE_SUFFIX, read_lag_profiles
from bids_app.report.comparisons import comparison_section, find_comparison_tables
from bids_app.report.figures import (
    ReportFigure,
    electrode_scores_figure,
    glass_brain_figure,
    layer_profile_figure,
    png_figure,
)
from bids_app.report.lags import lag_profile_figure, word_lag_arrays, word_lag_figure
from bids_app.report.render import render


@dataclass
class ScoresSection:
    """One feature space of one recording in the report."""

    recording: str
    space: str
    best_layer: str = ""
    n_channels: int = 0
    n_significant: int = 0
    best_channel: str = ""
    best_r: float = float("nan")
    figures: list[ReportFigure] = field(default_factory=list)
    n_undefined: int = 0
    model: str = ""

    @property
    def answer(self) -> str:
        """One sentence: how well this space predicts the electrodes."""
        if not self.n_channels:
            return f"{self.space}: every score is undefined (constant predictions)."
        return (f"{self.space} predicts {self.n_significant} of {self.n_channels} electrodes "
                f"significantly at its best layer ({self.best_layer}); the best is "
                f"{self.best_channel} (r = {self.best_r:.2f}).")


def write_participant_report(output_dir: Path, subject: str, config: AppConfig,
                             command: str) -> Path:
    """Render ``sub-<label>.html`` from the participant's derivatives.

    Parameters
    ----------
    output_dir : Path
        The derivatives root.
    subject : str
        The participant label.
    config : AppConfig
        The configuration (its methods text and YAML go into the report).
    command : str
        This invocation; shown as the re-rendering command when it is not the run's own.

    Raises
    ------
    MissingInputError
        When the participant has no scores table (nothing to report).
    """
    subject_dir = output_dir / f"sub-{subject}"
    scores = [(name, read_tsv(path), path) for name, path in find_scores(subject_dir)]
    if not scores:
        raise MissingInputError(f"No scores tables under {subject_dir}: run the participant "
                                "level without --reports-only first.")
    electrodes, space = read_electrodes(subject_dir)
    mni = electrodes if space and space.startswith("MNI") else None
    vmax = _common_vmax([table for _, table, _ in scores])
    sections = [_scores_section(name.recording, name.desc, table, path, mni, vmax)
                for name, table, path in scores]
    record = read_run_record(run_record_path(output_dir, subject))
    channels = [read_tsv(p) for p in sorted(subject_dir.glob("**/ieeg/*_channels.tsv"))]
    channels = (pd.concat(channels) if channels
                else pd.DataFrame(columns=["name", "status", "status_description"]))
    good = channels["status"] == "good"
    bad = channels[~good].drop_duplicates("name")
    flagged = channels[good & channels["status_description"].notna()].drop_duplicates("name")
    qc_figures = [png_figure(p, QC_CAPTIONS.get(p.stem.rsplit("_desc-", 1)[-1], p.stem))
                  for p in sorted(subject_dir.glob("**/figures/*_qc.png"))]
    comparisons = [comparison_section(recording, tables, config.statistics.fdr_alpha)
                   for recording, tables in find_comparison_tables(
                       subject_dir.glob("**/ieeg/*.tsv")).items()]
    crashes = sorted(p.name for p in (output_dir / "logs").glob(f"crash-sub-{subject}-*.txt"))
    run_command = record.command if record else command
    return render("participant.html.j2", output_dir / f"sub-{subject}.html",
                  subject=subject, sections=sections, coordinate_space=space,
                  record=record, electrode_table=electrode_table(scores, electrodes),
                  bad_channels=bad.to_dict("records"),
                  flagged_channels=flagged.to_dict("records"), qc_figures=qc_figures,
                  comparisons=comparisons, methods=markdown_paragraphs(methods_text(config)),
                  config_yaml=config.to_yaml(), command=run_command,
                  rerendered=None if command == run_command else (command, now()),
                  crashes=crashes)


#: Captions of the QC figures, by their ``desc-`` label (the figures carry their own titles).
QC_CAPTIONS = {
    "psd_qc": "Power spectra before (raw) and after line-noise removal and re-referencing; "
              "line-noise peaks should be gone and high gamma (70-150 Hz) above the noise floor.",
    "onsets_qc": "High gamma around the onsets of the speech-responsiveness test; responsive "
                 "electrodes rise after time 0.",
    "alignment_qc": "Cross-correlation of the stimulus envelope with the mean high gamma; it "
                    "should peak at a small positive lag (about 0.1-0.2 s over auditory "
                    "cortex). A peak far from it suggests misaligned onsets.",
}


def write_failure_report(path: Path, subject: str, error: BaseException, exit_code: int,
                         command: str, started: str, warnings: list[str],
                         removed: bool = True) -> Path:
    """A short report for a failed participant: the message, exit code and the run's warnings.

    It goes beside the crash file in ``logs/`` (a failed participant has no report among the
    derivatives). ``removed`` says whether the participant's outputs were removed (not under
    ``--reports-only``).
    """
    return render("failure.html.j2", path, subject=subject, message=str(error),
                  error_type=type(error).__name__, exit_code=exit_code, command=command,
                  started=started, warnings=warnings, crash=path.with_suffix(".txt").name,
                  removed=removed)


def _common_vmax(tables: list[pd.DataFrame]) -> float:
    """One colour scale for every map of the report: the largest |r| of any best layer."""
    values = [best_lag_per_channel(t.dropna(subset=["r"]))
              .loc[lambda t: t["layer"] == best_layer(t), "r"].abs().max()
              for t in tables if t["r"].notna().any()]
    return float(np.nanmax(values)) if values else 1.0


def _model_of(scores_path: Path) -> str:
    """``model id @ revision`` of a scores table's feature space, from its JSON sidecar."""
    try:
        meta = json.loads(scores_path.with_suffix(".json").read_text())["Provenance"]
    except (OSError, ValueError, KeyError):
        return ""
    space = meta.get("FeatureSpace", {})
    model = space.get("Model") or space.get("Settings", {}).get("model")
    if not model:
        return ""
    revision = space.get("ModelRevision") or (space.get("ModelChecksum") or "")[:12]
    return f"{model} @ {revision}" if revision else str(model)


def _scores_section(recording: str, space: str, table: pd.DataFrame, scores_path: Path,
                    mni: pd.DataFrame | None, vmax: float) -> ScoresSection:
    model = _model_of(scores_path)
    undefined = int(table["r"].isna().sum())
    table = table.dropna(subset=["r"])  # r is undefined where a prediction is constant
    if table.empty:
        return ScoresSection(recording, space, n_undefined=undefined, model=model)
    layer = best_layer(table)
    figures = []
    if "lag" in table:
        r, significant, lags, _ = word_lag_arrays(table, layer)
        figures.append(word_lag_figure(r, lags, significant, f"{space}, {layer}"))
    table = best_lag_per_channel(table)
    rows = table[table["layer"] == layer]
    if table["layer"].nunique() > 1:
        figures.append(layer_profile_figure(table, space))
    figures.append(electrode_scores_figure(table, layer, space))
    profiles_path = beside(scores_path, PROFILE_SUFFIX, ".npy")
    if profiles_path.is_file():
        profiles = read_lag_profiles(profiles_path)
        significant = rows.set_index("channel")["significant"].reindex(profiles.channels)
        figures.append(lag_profile_figure(profiles.layer(layer), profiles.lags,
                                          profiles.channels,
                                          significant.fillna(False).to_numpy(bool),
                                          f"{space}, {layer}"))
    if mni is not None:
        placed = rows.merge(mni, left_on="channel", right_on="name").dropna(
            subset=["x", "y", "z"])
        if len(placed):
            figures.append(glass_brain_figure(
                placed[["x", "y", "z"]].to_numpy(float), placed["r"].to_numpy(float),
                placed["significant"].to_numpy(bool),
                space if layer == space else f"{space}, {layer}", vmax=vmax))
    best = rows.loc[rows["r"].idxmax()]
    return ScoresSection(
        recording=recording, space=space, best_layer=layer, n_channels=len(rows),
        n_significant=int(rows["significant"].astype(bool).sum()),
        best_channel=str(best["channel"]), best_r=float(best["r"]), figures=figures,
        n_undefined=undefined, model=model)


def electrode_table(scores: list[tuple], electrodes: pd.DataFrame | None) -> dict:
    """Columns and rows of the per-electrode table: coordinates, responsiveness, and each
    feature space's r (at its best layer) and significance."""
    merged: pd.DataFrame | None = None
    several = len({name.recording for name, _, _ in scores}) > 1
    for name, table, _ in scores:
        table = table.dropna(subset=["r"])
        if table.empty:
            continue
        layer = best_layer(table)
        rows = best_lag_per_channel(table)[lambda t, layer=layer: t["layer"] == layer]
        # with several recordings, each gets its own columns (task, run, ... before the space)
        label = f"{name.recording.split('_', 1)[-1]} {name.desc}" if several else name.desc
        part = pd.DataFrame({"electrode": rows["channel"],
                             f"{label} r": rows["r"].round(3),
                             f"{label} sig.": np.where(rows["significant"], "yes", "")})
        if "responsive" in rows and (merged is None or "responsive" not in merged):
            part.insert(1, "responsive", rows["responsive"].map({True: "yes", False: ""}))
        merged = part if merged is None else merged.merge(part, on="electrode", how="outer")
    if merged is None:
        return {"columns": [], "rows": []}
    if electrodes is not None:
        coords = electrodes[["name", "x", "y", "z"]].rename(columns={"name": "electrode"})
        merged = coords.round(1).merge(merged, on="electrode", how="right")
    merged = merged.astype(object).where(merged.notna(), "")
    return {"columns": list(merged.columns), "rows": merged.to_numpy().tolist()}


def markdown_paragraphs(text: str) -> list[dict]:
    """The methods Markdown as ``{"kind": "h"|"p"|"li", "text"}`` blocks (no Markdown library).

    ``*emphasis*`` and backticks are dropped; the template escapes the text.
    """
    blocks = []
    for chunk in re.split(r"\n\s*\n", text.strip()):
        for item in chunk.split("\n- ") if chunk.lstrip().startswith("- ") else [chunk]:
            line = re.sub(r"[*`]", "", " ".join(item.split())).removeprefix("- ")
            if line.startswith("#"):
                blocks.append({"kind": "h", "text": line.lstrip("# ")})
            elif line:
                blocks.append({"kind": "li" if chunk.lstrip().startswith("- ") else "p",
                               "text": line})
    return blocks

