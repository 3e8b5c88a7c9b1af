"""The validation suite on planted truth (``ssl-ieeg-demo --validate``).

Its checks (:func:`bids_app.synthetic.validation.check`) take their thresholds from the
generator: a perfect model's r at the planted SNR, the binomial bound of the FDR level, the
lag step and the sources' time scales, the planted regions.
"""

from __future__ import annotations

import pandas as pd
import pytest

from bids_app.demo import main as demo
from bids_app.synthetic.validation import check


@pytest.fixture(scope="module")
def validation(planted_validation):
    return planted_validation


def test_every_recovery_check_passes(validation):
    assert check(validation) == []
    carried = validation.detection[validation.detection["carries_source"] == "yes"]
    assert set(carried["class"]) == {"shared", "shared_weak", "speech", "language", "both",
                                     "acoustic", "outside", "untrained"}
    negatives = validation.detection[validation.detection["carries_source"] == "no"]
    assert {"onset", "acoustic", "outside"} <= set(
        negatives[negatives["space"] == "gpt2"]["class"])
    assert len(validation.lags) == 16 and len(validation.shares) == 9 * 7
    assert set(validation.beyond["class"]) == {"shared", "shared_weak", "speech", "language",
                                               "both", "acoustic", "onset", "outside",
                                               "untrained", "noise"}


def test_checks_fail_when_recovery_fails(validation):
    wrong_lag = validation.lags.copy()
    wrong_lag.loc[0, ["recovered_peak_s", "error_s"]] = 0.3, 0.25
    missed = validation.detection.copy()
    missed.loc[missed["carries_source"] == "yes", "detected"] = 0
    false_alarm = validation.detection.copy()
    false_alarm.loc[false_alarm["carries_source"] == "no", "detected"] = false_alarm[
        "electrodes"]
    swapped = validation.shares.copy()
    swapped["share"] = swapped["share"].where(~swapped["planted"], -0.5)
    leaked = validation.shares.copy()
    leaked.loc[leaked["region"] == "shared_only", "of_planted"] = 0.5
    onset_shared = validation.beyond.copy()
    onset_shared.loc[onset_shared["class"] == "onset", "shared"] = onset_shared["electrodes"]
    lost = validation.beyond.copy()
    lost.loc[lost["class"] == "shared", "shared"] = 0
    weak_lost = validation.beyond.copy()
    weak_lost.loc[weak_lost["class"] == "shared_weak", "shared"] = 2
    both = validation.shares["class"] == "both"
    negative_rest = validation.shares.copy()  # beyond the tolerance, outside the overlap
    negative_rest.loc[both & (negative_rest["region"] == "shared_only"), "share"] = -0.1
    negative_overlap = validation.shares.copy()  # beyond twice the tolerance, in the overlap
    negative_overlap.loc[both & (negative_overlap["region"] == "speech_rest∩language_rest"),
                         "share"] = -0.2
    outside_shared = validation.beyond.copy()
    outside_shared.loc[outside_shared["class"].isin(["outside", "both"]), "shared"] = 3
    for field, table in (("lags", wrong_lag), ("detection", missed),
                         ("detection", false_alarm), ("shares", swapped), ("shares", leaked),
                         ("shares", negative_rest), ("shares", negative_overlap),
                         ("beyond", onset_shared), ("beyond", lost), ("beyond", weak_lost),
                         ("beyond", outside_shared)):
        broken = validation.__class__(**{**validation.__dict__, field: table})
        assert check(broken), f"a broken {field} table passed"


def test_validate_flag_writes_the_tables(tmp_path, capsys, monkeypatch, validation):
    monkeypatch.setattr("bids_app.synthetic.validation.validate", lambda seed: validation)
    assert demo([str(tmp_path), "--validate", "--seeds", "1"]) == 0
    for name in ("detection", "lags", "beyond", "shares"):
        table = pd.read_csv(tmp_path / f"validation_{name}.tsv", sep="\t")
        assert (table["seed"] == 1).all() and len(table)
    assert "all checks passed" in capsys.readouterr().out


def test_both_class_latents_are_correlated_through_the_token_count():
    """Each model carries the word's token count (in L) through the both class's latents:
    the two models' predictions of ``both`` are correlated through the stimulus."""
    import numpy as np

    from bids_app.synthetic.partition import planted_comparison

    planted = planted_comparison(300.0, seed=0)
    onsets, offsets = planted.words.onsets, planted.words.offsets
    tokens = planted.designs[("gpt2", "tokens")][onsets, 0]
    frames = planted.designs[("wav2vec2", "layer07")]
    for X in (planted.designs[("gpt2", "layer06")][onsets],
              np.stack([frames[a:b].mean(0) for a, b in zip(onsets, offsets, strict=True)])):
        design = np.c_[np.ones(len(X)), X]
        fitted = design @ np.linalg.lstsq(design, tokens, rcond=None)[0]
        assert np.corrcoef(fitted, tokens)[0, 1] ** 2 > 0.1

