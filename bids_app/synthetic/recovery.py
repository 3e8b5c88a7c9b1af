"""Did the analysis recover the demo's planted truth? Checks read from the group tables.

Each planted class (:mod:`bids_app.synthetic.planted`) must be predicted, at each
participant's best layer, by the model it was planted from; the speech and language classes
better by their own model than by the other, with a layer profile that peaks at the planted
layer. Word timing is a negative class of the comparisons: the onset electrodes must not be
predicted by the language model (whose word vectors are centred) nor called shared beyond
the low-level set L, and their variance partition must hold next to nothing beyond L; the
language electrodes must be predicted by the language model beyond L.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bids_app.bids.tsv import read_tsv
from bids_app.layers import best_layer, layer_index
from bids_app.outputs.derivatives import bids_name
from bids_app.synthetic.dataset import GroundTruth
from bids_app.synthetic.planted import LANGUAGE_LAYER, SPEECH_LAYER

#: The feature spaces of the demo that should recover each planted source.
RECOVERED_BY = {"envelope": ("envelope",), "speech": ("wav2vec2",), "language": ("gpt2",)}
#: The speech-language partition.
PARTITION = "shared+speech_rest+language_rest"


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
    checks += _onset_checks(classes, best["gpt2"],
                            _group_table(derivatives, task, "beyond", "beyond"),
                            _group_table(derivatives, task, "scores", "varpart"))
    return checks


def _group_table(derivatives: Path, task: str, suffix: str, desc: str) -> pd.DataFrame:
    return read_tsv(derivatives / "group" / bids_name({"task": task}, suffix, ".tsv", desc=desc))


def _best_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Each participant's rows at its best layer (``subject``, ``channel``, ``r``, ...)."""
    parts = [rows[rows["layer"] == best_layer(rows)]
             for _, rows in table.groupby("subject", sort=False)]
    return pd.concat(parts)[["subject", "channel", "r", "significant"]]


def _onset_checks(classes: pd.DataFrame, gpt2: pd.DataFrame, beyond: pd.DataFrame,
                  varpart: pd.DataFrame) -> list[Check]:
    """Word timing is not language content, nor shared information beyond L."""
    onset = classes[classes["source"] == "onset"]
    by_gpt2 = onset.merge(gpt2, on=["subject", "channel"])
    shared = onset.merge(beyond, on=["subject", "channel"])
    language = classes[classes["source"] == "language"].merge(beyond,
                                                              on=["subject", "channel"])
    varpart = varpart[varpart["partition"] == PARTITION]
    rows = onset.merge(varpart, on=["subject", "channel"])
    positive = rows.groupby(["subject", "channel"])["r2"].apply(lambda r: r.clip(lower=0).sum())
    explained = positive + rows.groupby(["subject", "channel"])["r2_low"].first()
    leak = rows[rows["region"] == "shared_only"]["r2"].clip(lower=0).sum() / explained.sum()
    return [
        Check(f"onset electrodes predicted by gpt2 (centred word vectors): "
              f"{int(by_gpt2['significant'].sum())} of {len(onset)} significant",
              bool(by_gpt2["significant"].mean() <= 0.25)),
        Check(f"onset electrodes shared beyond L (word timing is in L): "
              f"{int(shared['significant_shared_beyond_low'].sum())} of {len(shared)}",
              not shared["significant_shared_beyond_low"].any()),
        Check(f"onset electrodes: shared_only holds {leak:.1%} of their explained variance "
              "(L included)", bool(leak <= 0.05)),
        Check(f"language electrodes: gpt2 adds beyond L at "
              f"{int(language['significant_gain_b'].sum())} of {len(language)}",
              bool(language["significant_gain_b"].mean() >= 0.75)),
    ]
