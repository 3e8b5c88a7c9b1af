"""Report sections answering the study's three questions from the comparison tables on disk."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bids_app.analysis import summarize
from bids_app.bids.tsv import read_tsv
from bids_app.outputs.derivatives import COMPARISON_SUFFIXES, parse_entities, parse_name
from bids_app.report.comparison_figures import (
    beyond_figure,
    cca_figure,
    predcorr_figure,
    varpart_figure,
)
from bids_app.report.figures import ReportFigure, to_report_figure
from bids_app.report.group_figures import group_cca_figure


@dataclass(frozen=True)
class ComparisonSection:
    """The answers of one recording (or of the group): sentences, figures and warnings."""

    title: str
    summaries: list[str]
    figures: list[ReportFigure]
    warnings: list[str]


def find_comparison_tables(paths: Iterable[Path]) -> dict[str, dict[str, pd.DataFrame]]:
    """Group comparison tables by recording: ``{recording: {desc: table}}``.

    Prediction-correlation tables keep their ``<a>X<b>`` desc; the CCA table is ``cca``, the
    shared-beyond-L test ``beyond`` and the variance partition ``varpart``. Feature-space
    scores tables are ignored.
    """
    found: dict[str, dict[str, pd.DataFrame]] = {}
    for path in sorted(paths):
        name = parse_name(path.name)
        if name is None or name.desc is None or name.extension != ".tsv":
            continue
        if COMPARISON_SUFFIXES.get(name.desc, "predcorr") == name.suffix:
            found.setdefault(name.recording, {})[name.desc] = read_tsv(path)
    return found


def comparison_section(title: str, tables: dict[str, pd.DataFrame],
                       fdr_alpha: float) -> ComparisonSection:
    """Sentences of numbers and figures for one set of comparison tables.

    Parameters
    ----------
    title : str
        Section title (the recording, or "all participants").
    tables : dict of str to DataFrame
        desc -> table, one participant's or several stacked.
    fdr_alpha : float
        The FDR level quoted in the sentences.
    """
    figures = []
    if "beyond" in tables:
        figures.append(to_report_figure(beyond_figure(tables["beyond"]),
                                        "Shared information beyond the low-level set L"))
    for table in tables.values():
        if "r_pred" in table:
            a, b = table["space_a"].iloc[0], table["space_b"].iloc[0]
            figures.append(to_report_figure(predcorr_figure(table, a, b),
                                            f"Prediction correlation: {a} vs. {b}"))
    if "cca" in tables:
        # stacked participants: one line per distinct curve, never one line across them
        draw = group_cca_figure if "subject" in tables["cca"] else cca_figure
        figures.append(to_report_figure(draw(tables["cca"]),
                                        "Canonical correlations of the shared space"))
    if "varpart" in tables:
        figures.append(to_report_figure(varpart_figure(tables["varpart"]),
                                        "Variance partitioning"))
    warnings = []
    if "varpart" in tables and (tables["varpart"].get("conditioning") == "nothing").any():
        warnings.append("The variance partition is not conditioned on low-level features "
                        "(comparison.conditioning is empty, or preset: reference): word timing "
                        "and sound energy can appear as shared information.")
    if "cca" in tables and (tables["cca"].get("fit") == "all_data").any():
        warnings.append("The CCA shared space was fitted on all data (comparison.cca_fit: "
                        "all_data), as in the reference code: the held-out words took part in "
                        "finding it, so the shared and rest scores are optimistic.")
    return ComparisonSection(title, summarize(tables, fdr_alpha), figures, warnings)


def stack_tables(per_recording: dict[str, dict[str, pd.DataFrame]]
                 ) -> dict[str, pd.DataFrame]:
    """Stack each desc's table across recordings, with the ``subject`` label and the
    ``recording`` (entity stem, e.g. ``sub-01_task-listen``) it came from."""
    stacked: dict[str, list[pd.DataFrame]] = {}
    for recording, tables in per_recording.items():
        subject = (parse_entities(recording) or {}).get("sub", recording)
        for desc, table in tables.items():
            stacked.setdefault(desc, []).append(
                table.assign(subject=subject, recording=recording))
    return {desc: pd.concat(parts, ignore_index=True) for desc, parts in stacked.items()}
