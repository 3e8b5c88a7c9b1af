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
    # correlated through the stimulus (token counts, in L): each trained model predicts the
    # other's class, yet beyond L neither they nor ``both`` share anything
    found = validation.detection.set_index(["class", "space"])["detected"]
    assert found["speech", "gpt2"] > 0 and found["language", "wav2vec2"] > 0
    beyond = validation.beyond.set_index("class")["shared"]
    assert beyond[["speech", "language", "both"]].sum() == 0
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
    outside_shared = validation.beyond.copy()
    outside_shared.loc[outside_shared["class"].isin(["outside", "both"]), "shared"] = 3
    for field, table in (("lags", wrong_lag), ("detection", missed),
                         ("detection", false_alarm), ("shares", swapped), ("shares", leaked),
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
