"""The group level: combine participants' derivatives into group tables and a group report.

It reads only participant derivatives (scores tables and electrodes), never raw data, so it runs
in seconds after a SLURM array of participant jobs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bids_app.bids.discovery import Filters
from bids_app.bids.tsv import read_tsv
from bids_app.config import AppConfig
from bids_app.errors import MissingInputError, NothingSelectedError
from bids_app.outputs.atomic import write_tsv
from bids_app.outputs.derivatives import (
    COMPARISON_SUFFIXES,
    bids_name,
    find_scores,
    parse_entities,
    read_electrodes,
)
from bids_app.report.comparisons import comparison_section, find_comparison_tables, stack_tables
from bids_app.report.figures import (
    best_lag_per_channel,
    best_layer,
    glass_brain_figure,
    layer_profile_figure,
)
from bids_app.report.render import render
from bids_app.workflow import RunOptions, read_crash_message

logger = logging.getLogger("ssl_ieeg")


@dataclass(frozen=True)
class GroupTable:
    """All participants' scores for one task and feature space."""

    task: str
    space: str
    table: pd.DataFrame
    path: Path


def collect_scores(output_dir: Path, filters: Filters) -> list[GroupTable]:
    """Stack the participants' scores tables by task and feature space.

    Each row gains the recording's entities (``subject``, ``session``, ``run``) and, where the
    participant has MNI electrodes, ``x``, ``y``, ``z``.
    """
    stacks: dict[tuple[str, str], list[pd.DataFrame]] = {}
    for subject_dir in sorted(output_dir.glob("sub-*")):
        subject = subject_dir.name.removeprefix("sub-")
        if not subject_dir.is_dir():
            continue
        electrodes, space = read_electrodes(subject_dir)
        for name, path in find_scores(subject_dir):
            entities, feature_space = name.entities, name.desc
            if not _selected(entities, filters):
                continue
            table = read_tsv(path)
            table.insert(0, "subject", subject)
            table.insert(1, "session", entities.get("ses"))
            table.insert(2, "run", entities.get("run"))
            if electrodes is not None and space and space.startswith("MNI"):
                coords = electrodes[["name", "x", "y", "z"]].rename(columns={"name": "channel"})
                table = table.merge(coords, on="channel", how="left")
            stacks.setdefault((entities["task"], feature_space), []).append(table)
    return [GroupTable(task, space, pd.concat(tables, ignore_index=True), output_dir / "group"
                       / bids_name({"task": task}, "scores", ".tsv", desc=space))
            for (task, space), tables in sorted(stacks.items())]


def collect_comparisons(output_dir: Path, filters: Filters) -> dict[str, dict[str, pd.DataFrame]]:
    """Stack the participants' comparison tables by task: ``{task: {desc: table}}``."""
    per_task: dict[str, dict[str, dict[str, pd.DataFrame]]] = {}
    found = find_comparison_tables(output_dir.glob("sub-*/**/ieeg/*.tsv"))
    for recording, tables in found.items():
        entities = parse_entities(recording) or {}
        if not _selected(entities, filters):
            continue
        per_task.setdefault(entities["task"], {})[recording] = tables
    return {task: stack_tables(by_recording) for task, by_recording in sorted(per_task.items())}


def _selected(entities: dict[str, str], filters: Filters) -> bool:
    """Whether a recording passes the participant and task filters."""
    return ((not filters.participant_labels or entities.get("sub") in filters.participant_labels)
            and (not filters.task_labels or entities.get("task") in filters.task_labels))


def summarize_layers(table: pd.DataFrame) -> pd.DataFrame:
    """Per participant and layer: channels, FDR-significant channels, mean and best r.

    In word mode, pass one row per channel (its best lag; see ``best_lag_per_channel``).
    """
    grouped = table.groupby(["subject", "layer"], sort=False)
    return grouped.agg(n_channels=("r", "size"), n_significant=("significant", "sum"),
                       mean_r=("r", "mean"), max_r=("r", "max")).reset_index()


def run_group(options: RunOptions, config: AppConfig, filters: Filters) -> Path:
    """Write the group tables and ``group.html``; return the report path.

    Raises
    ------
    NothingSelectedError
        When the label filters match no participant derivative.
    MissingInputError
        When OUTPUT_DIR holds no participant derivative at all.
    """
    output_dir = options.output_dir
    groups = collect_scores(output_dir, filters)
    if not groups:
        if filters.participant_labels or filters.task_labels:
            raise NothingSelectedError(f"No participant derivatives in {output_dir} match the "
                                       f"filters ({filters.describe()}).")
        raise MissingInputError(f"No participant derivatives (sub-*/ieeg/*_scores.tsv) in "
                                f"{output_dir}: run the participant level first.")
    sections = []
    for group in groups:
        write_tsv(group.path, group.table)
        logger.info("wrote %s (%d rows)", group.path, len(group.table))
        sections.append(_group_section(group))
    included = sorted({s for g in groups for s in g.table["subject"]})
    in_dataset = sorted(p.name.removeprefix("sub-") for p in options.bids_dir.glob("sub-*")
                        if p.is_dir() and _selected({"sub": p.name.removeprefix("sub-")},
                                                    filters))
    failed = _failed_participants(output_dir, set(included))
    comparisons = []
    for task, tables in collect_comparisons(output_dir, filters).items():
        for desc, table in tables.items():
            suffix = COMPARISON_SUFFIXES.get(desc, "predcorr")
            path = bids_name({"task": task}, suffix, ".tsv", desc=desc)
            write_tsv(output_dir / "group" / path, table)
        comparisons.append(comparison_section(f"task {task}, all participants", tables,
                                              config.statistics.fdr_alpha))
    return render("group.html.j2", output_dir / "group.html", sections=sections,
                  comparisons=comparisons, included=included, failed=failed,
                  missing=[s for s in in_dataset if s not in included and s not in failed],
                  config_yaml=config.to_yaml(), command=options.command)


def _failed_participants(output_dir: Path, included: set[str]) -> dict[str, str]:
    """Participants with a crash file and no derivatives, and the message of their latest."""
    failed = {}
    for path in sorted((output_dir / "logs").glob("crash-sub-*.txt")):  # oldest first
        subject = path.name.split("-")[2]
        if subject not in included:
            failed[subject] = read_crash_message(path)
    return dict(sorted(failed.items()))


def _group_section(group: GroupTable) -> dict:
    table = best_lag_per_channel(group.table.dropna(subset=["r"]))
    summary = summarize_layers(table)
    figures = []
    if table["layer"].nunique() > 1:
        figures.append(layer_profile_figure(table, f"{group.space}: all participants"))
    if {"x", "y", "z"} <= set(table.columns) and not table.empty:
        layer = best_layer(table)
        rows = table[table["layer"] == layer].dropna(subset=["x", "y", "z"])
        if len(rows):
            figures.append(glass_brain_figure(rows[["x", "y", "z"]].to_numpy(float),
                                              rows["r"].to_numpy(float),
                                              f"{group.space} (layer {layer}): r, all "
                                              "participants"))
    return {"task": group.task, "space": group.space, "path": group.path.name,
            "summary": summary.to_dict("records"), "figures": figures}
