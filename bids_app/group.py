"""The group level: combine participants' derivatives into group tables and a group report.

It reads only participant derivatives (scores tables and electrodes), never raw data, so it runs
in seconds after a SLURM array of participant jobs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bids_app import group_stats as stats
from bids_app.analysis.config import untrained_name
from bids_app.bids.discovery import Filters
from bids_app.bids.tsv import read_tsv
from bids_app.config import AppConfig
from bids_app.errors import MissingInputError, NothingSelectedError
from bids_app.layers import layer_order
from bids_app.outputs.atomic import write_json, write_text, write_tsv
from bids_app.outputs.citation import group_methods_text
from bids_app.outputs.derivatives import (
    COMPARISON_SUFFIXES,
    bids_name,
    find_scores,
    parse_entities,
    read_electrodes,
)
from bids_app.report.comparison_figures import partition_label, region_label
from bids_app.report.comparisons import comparison_section, find_comparison_tables, stack_tables
from bids_app.report.figures import glass_brain_figure, to_report_figure
from bids_app.report.group_figures import (
    group_layer_profile_figure,
    paired_figure,
    share_summary_figure,
)
from bids_app.report.participant import markdown_paragraphs
from bids_app.report.render import render
from bids_app.steps.run import RunOptions, read_crash_message

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

    Each row gains the recording's entities (``subject``, ``session``, ``acq``, ``run``) and,
    where the participant has MNI electrodes, ``x``, ``y``, ``z``.
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
            table.insert(2, "acq", entities.get("acq"))
            table.insert(3, "run", entities.get("run"))
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
    for group in groups:
        write_tsv(group.path, group.table)
        logger.info("wrote %s (%d rows)", group.path, len(group.table))
    included = sorted({s for g in groups for s in g.table["subject"]})
    electrodes = {subject: read_electrodes(output_dir / f"sub-{subject}")
                  for subject in included}
    union = stats.electrode_union(pd.concat([g.table for g in groups]), electrodes)
    _write(output_dir, bids_name({}, "electrodes", ".tsv", desc="union"), union)
    kinds = {spec.name: spec.kind for spec in config.features}
    comparisons = collect_comparisons(output_dir, filters)
    tasks = []
    for task in sorted({g.task for g in groups}):
        task_groups = [g for g in groups if g.task == task]
        tasks.append(_task_section(output_dir, task, task_groups, union, kinds,
                                   comparisons.get(task, {}), config.statistics.fdr_alpha))
    in_dataset = sorted(p.name.removeprefix("sub-") for p in options.bids_dir.glob("sub-*")
                        if p.is_dir() and _selected({"sub": p.name.removeprefix("sub-")},
                                                    filters))
    failed = {subject: message for subject, message in _failed_participants(
        output_dir, set(included)).items() if _selected({"sub": subject}, filters)}
    methods = group_methods_text(config)
    write_text(output_dir / "logs" / "CITATION-group.md", methods)
    return render("group.html.j2", output_dir / "group.html", tasks=tasks, included=included,
                  methods=markdown_paragraphs(methods),
                  failed=failed, union_path=bids_name({}, "electrodes", ".tsv", desc="union"),
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


def _write(output_dir: Path, name: str, table: pd.DataFrame) -> None:
    """Write a group table and its JSON data dictionary under ``group/``."""
    path = output_dir / "group" / name
    write_tsv(path, table)
    write_json(path.with_suffix(".json"), stats.group_dictionary(table))
    logger.info("wrote %s (%d rows)", path, len(table))


def _task_section(output_dir: Path, task: str, groups: list[GroupTable], union: pd.DataFrame,
                  kinds: dict[str, str], comparisons: dict[str, pd.DataFrame],
                  fdr_alpha: float) -> dict:
    """The tables and figures of one task (written to ``group/``) for the template."""
    vmax = max(float(g.table["r"].abs().max()) for g in groups)  # one colour scale per task
    spaces = [_space_section(output_dir, group, vmax) for group in groups]
    best = {s["space"]: s["best_layer"] for s in spaces}
    by_space = {g.space: g for g in groups}
    twins = {untrained_name(space) for space in by_space} & set(by_space)
    pairs = [(a, b) for a in by_space for b in by_space  # trained with trained, twin with twin
             if kinds.get(a) == "speech" and kinds.get(b) == "language"
             and best[a] and best[b] and (a in twins) == (b in twins)]
    untrained = [(space, untrained_name(space)) for space in by_space
                 if untrained_name(space) in twins and best[space]
                 and best[untrained_name(space)]]
    counts = pd.concat([stats.electrode_counts(g.table, g.space) for g in groups],
                       ignore_index=True)
    _write(output_dir, bids_name({"task": task}, "counts", ".tsv"), counts)
    for desc, table in comparisons.items():
        suffix = COMPARISON_SUFFIXES.get(desc, "predcorr")
        write_tsv(output_dir / "group" / bids_name({"task": task}, suffix, ".tsv", desc=desc),
                  table)
    varpart = comparisons.pop("varpart", None)
    section = comparison_section(f"task {task}, all participants", comparisons, fdr_alpha)
    return {
        "task": task, "spaces": spaces, "counts": counts.to_dict("records"),
        "counts_path": bids_name({"task": task}, "counts", ".tsv"),
        "speech_language": [_paired(output_dir, task, by_space[a], by_space[b], best[a],
                                    best[b], fdr_alpha) for a, b in pairs],
        "untrained": [_paired(output_dir, task, by_space[a], by_space[b], best[a], best[b],
                              fdr_alpha, ("trained", "untrained")) for a, b in untrained],
        "speech_language_missing": None if pairs else (
            "No speech-language comparison: it needs the scores of a speech and a language "
            "feature space (features of kind speech and language) with layerNN layers; "
            f"this task has {', '.join(sorted(by_space))}."),
        "partition": _partition(output_dir, task, varpart),
        "regions": _regions(output_dir, task, groups, union, best),
        "comparisons": [section] if comparisons else [],
    }


def _space_section(output_dir: Path, group: GroupTable, vmax: float) -> dict:
    """Layer means per participant and for the group, their figure and a glass brain."""
    entities = {"task": group.task}
    means = pd.concat([stats.participant_layer_means(group.table, s)
                       for s in stats.ELECTRODE_SETS], ignore_index=True)
    profile = stats.group_layer_profile(means)
    _write(output_dir, bids_name(entities, "layermeans", ".tsv", desc=group.space), means)
    _write(output_dir, bids_name(entities, "layerprofile", ".tsv", desc=group.space), profile)
    best = stats.best_layer(profile)
    shown = ("significant" if profile.loc[profile["electrode_set"] == "significant",
                                          "mean_r"].notna().any() else "all")
    layers = layer_order(group.table["layer"])
    figures = [] if len(layers) == 1 else [to_report_figure(
        group_layer_profile_figure(means[means["electrode_set"] == shown],
                                   profile[profile["electrode_set"] == shown],
                                   f"{group.space}, {shown} electrodes"),
        f"{group.space}: mean r over each participant's {shown} electrodes (grey) and the "
        "group mean with its 95% bootstrap CI")]
    mapped = best or (layers[0] if len(layers) == 1 else None)
    rows = stats.one_row_per_electrode(group.table)
    if mapped and {"x", "y", "z"} <= set(rows.columns):  # MNI electrodes only (collect_scores)
        rows = rows[rows["layer"] == mapped].dropna(subset=["x", "y", "z"])
    if mapped and {"x", "y", "z"} <= set(rows.columns) and len(rows):
        figures.append(glass_brain_figure(rows[["x", "y", "z"]].to_numpy(float),
                                          rows["r"].to_numpy(float),
                                          rows["significant"].to_numpy(bool),
                                          f"{group.space} ({mapped}): r, all participants",
                                          vmax=vmax))
    table = means[means["electrode_set"] == shown].pivot(index="subject", columns="layer")
    return {
        "space": group.space, "path": group.path.name, "best_layer": best, "shown": shown,
        "layers": layers, "profile": profile.to_dict("records"), "figures": figures,
        "participants": [{"subject": subject,
                          "cells": [(table.loc[subject].get(("mean_r", layer), np.nan),
                                     int(np.nan_to_num(table.loc[subject].get(
                                         ("n_electrodes", layer), 0))))
                                    for layer in layers]}
                         for subject in table.index],
        "means_path": bids_name(entities, "layermeans", ".tsv", desc=group.space),
        "profile_path": bids_name(entities, "layerprofile", ".tsv", desc=group.space),
    }


def _paired(output_dir: Path, task: str, a: GroupTable, b: GroupTable, layer_a: str,
            layer_b: str, fdr_alpha: float,
            roles: tuple[str, str] = ("speech", "language")) -> dict:
    """Δr per electrode, per participant and the group tests of two models (``roles``)."""
    desc, entities = f"{a.space}X{b.space}", {"task": task}
    electrodes = stats.electrode_differences(a.table, b.table, layer_a, layer_b, fdr_alpha,
                                             roles)
    participants = pd.concat([stats.participant_differences(electrodes, s)
                              for s in stats.ELECTRODE_SETS], ignore_index=True)
    tests = stats.speech_language_tests(electrodes)
    names = {suffix: bids_name(entities, suffix, ".tsv", desc=desc)
             for suffix in ("electrodediff", "participantdiff", "difftest")}
    for suffix, table in zip(names, (electrodes, participants, tests), strict=True):
        _write(output_dir, names[suffix], table)
    tested = tests[tests["n_participants"] > 0]
    figure = None if tested.empty else to_report_figure(  # empty: no electrode in common
        paired_figure(electrodes, participants[participants["electrode_set"]
                                               == tested.iloc[0]["electrode_set"]],
                      tested.iloc[0], f"{a.space} ({layer_a}) vs. {b.space} ({layer_b})",
                      roles),
        f"{roles[0].capitalize()} ({a.space}) vs. {roles[1]} ({b.space}) model")
    return {"a": a.space, "b": b.space, "layer_a": layer_a, "layer_b": layer_b,
            "roles": roles, "tests": tests.to_dict("records"), "figure": figure,
            "paths": names, "preference": electrodes["preference"].value_counts().to_dict(),
            "n_electrodes": len(electrodes), "fdr_alpha": fdr_alpha}


def _partition(output_dir: Path, task: str, varpart: pd.DataFrame | None) -> dict:
    """The variance-partition shares per participant and their mean with bootstrap CIs."""
    if varpart is None:
        return {"missing": "No variance-partitioning tables (desc-varpart_scores.tsv) among "
                           "the participants' derivatives: they are written by the model "
                           "comparisons in TRF mode."}
    shares = stats.participant_shares(varpart)
    summary = stats.share_summary(shares)
    names = {suffix: bids_name({"task": task}, suffix, ".tsv", desc="varpart")
             for suffix in ("shares", "sharesummary")}
    _write(output_dir, names["shares"], shares)
    _write(output_dir, names["sharesummary"], summary)
    if summary.empty:
        return {"missing": "No participant has an electrode predicted significantly, with a "
                           "positive R², by a union model, so no share is defined.",
                "paths": names}
    return {"missing": None, "paths": names,
            "figure": to_report_figure(share_summary_figure(shares, summary),
                                       "Variance partitioning across participants"),
            "rows": [{**row, "partition_label": partition_label(row["partition"]),
                      "region_label": region_label(row["region"])}
                     for row in summary.to_dict("records")]}


def _regions(output_dir: Path, task: str, groups: list[GroupTable], union: pd.DataFrame,
             best: dict[str, str | None]) -> dict:
    """Electrodes and mean r by anatomical label, when electrodes.tsv has a label column."""
    if union["label"].isna().all():
        return {"missing": "No participant's electrodes.tsv has an anatomical-label column "
                           f"(one of {', '.join(stats.LABEL_COLUMNS)}), and no atlas is "
                           "applied (nilearn's atlases need a download): no region summary."}
    tables = []
    for group in groups:
        rows = stats.one_row_per_electrode(group.table)
        rows = rows[rows["layer"] == best[group.space]] if best[group.space] else rows
        labels = union.rename(columns={"name": "channel"})[["subject", "channel", "label"]]
        summary = stats.region_summary(rows.merge(labels, on=["subject", "channel"]))
        summary.insert(0, "layer", best[group.space] or "")
        summary.insert(0, "space", group.space)
        tables.append(summary)
    table = pd.concat(tables, ignore_index=True)
    name = bids_name({"task": task}, "regions", ".tsv")
    _write(output_dir, name, table)
    return {"missing": None, "path": name, "rows": table.to_dict("records")}
