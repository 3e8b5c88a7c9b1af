"""Did the analysis recover the demo's planted truth? Checks read from the group tables.

Each planted class (:mod:`bids_app.synthetic.planted`) must be predicted, at each
participant's best layer, by the model it was planted from; the speech and language classes
better by their own model than by the other, with a layer profile that peaks at the planted
layer; the two models' predictions must correlate more
on the shared class than on either model's own class; and the variance partition must put
most of the shared class's explained variance in the regions of the shared set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bids_app.bids.tsv import read_tsv
from bids_app.layers import best_layer, layer_index
from bids_app.outputs.derivatives import bids_name, parse_entities
from bids_app.synthetic.dataset import GroundTruth
from bids_app.synthetic.planted import LANGUAGE_LAYER, SPEECH_LAYER

#: The feature spaces of the demo that should recover each planted source.
RECOVERED_BY = {"envelope": ("envelope",), "speech": ("wav2vec2",), "language": ("gpt2",),
                "shared": ("wav2vec2", "gpt2")}
#: The speech-language partition and its shared set.
PARTITION, SHARED_SET = "shared+speech_rest+language_rest", "shared"


@dataclass(frozen=True)
class Check:
    """One recovery check: what was measured, and whether it met the planted truth."""

    text: str
    passed: bool


def planted_checks(ground_truth: dict[str, GroundTruth], derivatives: Path,
                   task: str) -> list[Check]:
    """Compare the group tables under ``derivatives/group`` with the ground truth.

    Parameters
    ----------
    ground_truth : dict of str to GroundTruth
        Per participant, with ``sources`` naming each driven electrode's source.
    derivatives : Path
        The derivatives root (participant and group levels done).
    task : str
        The task label.

    Returns
    -------
    checks : list of Check
    """
    classes = pd.DataFrame([(subject, channel, truth.source_of(channel))
                            for subject, truth in ground_truth.items()
                            for channel in truth.driven],
                           columns=["subject", "channel", "source"])
    best = {space: _best_rows(_group_table(derivatives, task, "scores", space))
            for space in {s for spaces in RECOVERED_BY.values() for s in spaces}}
    checks = []
    for source, spaces in RECOVERED_BY.items():
        members = classes[classes["source"] == source]
        for space in spaces:
            rows = members.merge(best[space], on=["subject", "channel"])
            checks.append(Check(
                f"{source} electrodes predicted by {space}: {int(rows['significant'].sum())} "
                f"of {len(members)} significant, mean r {rows['r'].mean():.2f}",
                bool(rows["significant"].mean() >= 0.75)))
    for source, own, other in (("speech", "wav2vec2", "gpt2"), ("language", "gpt2", "wav2vec2")):
        members = classes[classes["source"] == source]
        mine, theirs = (members.merge(best[s], on=["subject", "channel"])["r"].mean()
                        for s in (own, other))
        checks.append(Check(f"{source} electrodes: {own} r {mine:.2f} > {other} r "
                            f"{theirs:.2f}", bool(mine > theirs)))
    for source, space, planted in (("speech", "wav2vec2", SPEECH_LAYER),
                                   ("language", "gpt2", LANGUAGE_LAYER)):
        rows = classes[classes["source"] == source].merge(
            _group_table(derivatives, task, "scores", space), on=["subject", "channel"])
        profile = rows[rows["layer"].map(layer_index).notna()].groupby("layer")["r"].mean()
        checks.append(Check(f"{source} electrodes' {space} layer profile peaks at "
                            f"{profile.idxmax()} (planted: {planted})",
                            profile.idxmax() == planted))
    checks.append(_predcorr_check(classes, _group_table(derivatives, task, "predcorr",
                                                        "wav2vec2Xgpt2")))
    checks.append(_partition_check(classes, _group_table(derivatives, task, "scores",
                                                         "varpart")))
    return checks


def _group_table(derivatives: Path, task: str, suffix: str, desc: str) -> pd.DataFrame:
    return read_tsv(derivatives / "group" / bids_name({"task": task}, suffix, ".tsv", desc=desc))


def _best_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Each participant's rows at its best layer (``subject``, ``channel``, ``r``, ...)."""
    parts = [rows[rows["layer"] == best_layer(rows)]
             for _, rows in table.groupby("subject", sort=False)]
    return pd.concat(parts)[["subject", "channel", "r", "significant"]]


def _predcorr_check(classes: pd.DataFrame, table: pd.DataFrame) -> Check:
    """The predictions correlate more on the shared class than on either model's own."""
    rows = classes.merge(table.assign(subject=table["subject"].map(_subject)),
                         on=["subject", "channel"])
    means = rows.groupby("source")["r_pred"].mean()
    return Check(f"prediction correlation of wav2vec2 and gpt2: shared {means['shared']:.2f}, "
                 f"speech {means['speech']:.2f}, language {means['language']:.2f}",
                 bool(means["shared"] > max(means["speech"], means["language"])))


def _partition_check(classes: pd.DataFrame, table: pd.DataFrame) -> Check:
    """The regions of the shared set hold most of the shared class's explained variance.

    Word timing, the component both tiny random models share, is also carried acoustically by
    the speech model's own axes, so part of it is in ``shared∩speech_rest``: the check counts
    every region that includes the shared set, and reports ``shared_only`` apart.
    """
    table = table[table["partition"] == PARTITION]
    rows = classes[classes["source"] == "shared"].merge(
        table.assign(subject=table["subject"].map(_subject)), on=["subject", "channel"])
    sums = rows.groupby("region")["r2"].sum().clip(lower=0)
    share = sums / sums.sum()
    with_shared = share[[SHARED_SET in region.removesuffix("_only").split("∩")
                         for region in share.index]].sum()
    return Check(f"variance partition of the shared electrodes: {with_shared:.0%} of the "
                 f"positive explained variance in regions of the shared set "
                 f"({SHARED_SET}_only {share.get(SHARED_SET + '_only', 0.0):.0%}, largest "
                 f"region {share.idxmax()} {share.max():.0%})", bool(with_shared > 0.5))


def _subject(recording: str) -> str:
    """``sub-01_task-listen`` -> ``01`` (stacked comparison tables name the recording)."""
    return parse_entities(str(recording))["sub"]
