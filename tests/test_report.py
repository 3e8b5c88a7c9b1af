"""Participant report pieces: the best-layer rule, figures at real electrode counts, the
per-electrode table, and a report whose optional inputs are missing."""

from __future__ import annotations

import base64
import io
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bids_app.config import AppConfig
from bids_app.layers import best_layer, split_layers
from bids_app.outputs.derivatives import bids_name
from bids_app.report.figures import electrode_scores_figure, layer_profile_figure
from bids_app.report.participant import markdown_paragraphs, write_participant_report


def _scores(layers: dict[str, np.ndarray], significant: np.ndarray) -> pd.DataFrame:
    """A scores table: one row per channel and layer, ``layers`` giving each layer's r."""
    parts = [pd.DataFrame({"channel": [f"E{i:03d}" for i in range(len(r))], "layer": layer,
                           "r": r, "significant": significant, "p_fdr": 0.5})
             for layer, r in layers.items()]
    return pd.concat(parts, ignore_index=True)


def _png_size(uri: str) -> tuple[int, int]:
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).size


def test_scalar_features_are_not_layers_and_never_the_best_layer():
    assert split_layers(["layer00", "layer01", "surprisal", "entropy"]) == (
        ["layer00", "layer01"], ["surprisal", "entropy"])
    assert split_layers(["envelope"]) == (["envelope"], [])
    significant = np.array([True, True, False])
    table = _scores({"layer00": np.array([0.2, 0.2, 0.0]), "layer01": np.array([0.3, 0.3, 0.0]),
                     "entropy": np.array([0.9, 0.9, 0.9])}, significant)
    assert best_layer(table) == "layer01"


def test_best_layer_uses_significant_electrodes_and_ties_go_to_the_earlier_layer():
    significant = np.array([True, False, False])
    # over all electrodes layer01 wins; over the significant one, layer00 does
    table = _scores({"layer00": np.array([0.5, 0.0, 0.0]), "layer01": np.array([0.4, 0.6, 0.6])},
                    significant)
    assert best_layer(table) == "layer00"
    tie = _scores({"layer00": np.array([0.3, 0.1, 0.0]), "layer01": np.array([0.3, 0.1, 0.0])},
                  significant)
    assert best_layer(tie) == "layer00"
    none = _scores({"layer00": np.array([0.1, 0.1, 0.1]), "layer01": np.array([0.2, 0.2, 0.2])},
                   np.zeros(3, bool))
    assert best_layer(none) == "layer01"  # no significant electrode: all electrodes


def test_figures_stay_readable_at_300_electrodes():
    rng = np.random.default_rng(0)
    layers = {f"layer{i:02d}": rng.normal(0.05 * i, 0.1, 300) for i in range(13)}
    significant = rng.random(300) < 0.2
    table = _scores(layers, significant)
    for figure in (electrode_scores_figure(table, "layer05", "wav2vec2"),
                   layer_profile_figure(table, "wav2vec2")):
        width, height = _png_size(figure.uri)
        assert width <= 1000 and height <= 400, (width, height)
    caption = layer_profile_figure(table, "wav2vec2").caption
    assert f"{significant.sum()} significant electrodes" in caption


def test_methods_markdown_becomes_blocks():
    blocks = markdown_paragraphs("# Methods\n\nOne *emphasised*\nline.\n\n## Refs\n\n- A\n- B\n")
    assert blocks == [{"kind": "h", "text": "Methods"},
                      {"kind": "p", "text": "One emphasised line."},
                      {"kind": "h", "text": "Refs"}, {"kind": "li", "text": "A"},
                      {"kind": "li", "text": "B"}]


@pytest.mark.parametrize("missing", ["run record and QC figures", "coordinates"])
def test_report_builds_when_optional_inputs_are_missing_and_says_so(missing, tmp_path):
    ieeg = tmp_path / "sub-01" / "ieeg"
    ieeg.mkdir(parents=True)
    rng = np.random.default_rng(1)
    table = _scores({"layer00": rng.normal(0, 0.1, 20), "layer01": rng.normal(0.1, 0.1, 20)},
                    rng.random(20) < 0.3).assign(p=0.5, alpha=1.0, r2=0.0)
    table.to_csv(ieeg / bids_name({"sub": "01", "task": "x"}, "scores", ".tsv", desc="w2v"),
                 sep="\t", index=False)
    if missing != "coordinates":
        electrodes = ieeg / "sub-01_space-MNI152NLin2009aSym_electrodes.tsv"
        pd.DataFrame({"name": table["channel"].unique(), "x": -50.0, "y": 0.0, "z": 0.0,
                      "size": "n/a"}).to_csv(electrodes, sep="\t", index=False)
    (tmp_path / "logs").mkdir()
    html = write_participant_report(tmp_path, "01", AppConfig(), "cmd").read_text()
    assert "w2v predicts" in html
    if missing == "coordinates":
        assert "glass brains need MNI coordinates" in html
    else:
        assert "No run record" in html and "No QC figures were found" in html
    shutil.rmtree(tmp_path / "sub-01")


def test_best_layer_of_a_table_without_a_defined_r_is_its_first_layer():
    table = _scores({"layer00": np.full(3, np.nan), "layer01": np.full(3, np.nan)},
                    np.zeros(3, bool))
    assert best_layer(table) == "layer00"


def test_electrode_table_keeps_the_recordings_of_a_participant_apart():
    from bids_app.outputs.derivatives import parse_name
    from bids_app.report.participant import electrode_table

    rng = np.random.default_rng(2)
    scores = []
    for run in ("1", "2", "3", "4"):
        name = parse_name(bids_name({"sub": "01", "task": "x", "run": run}, "scores", ".tsv",
                                    desc="env"))
        scores.append((name, _scores({"env": rng.normal(0, 0.1, 5)}, np.zeros(5, bool)), None))
    table = electrode_table(scores, None)
    assert table["columns"] == ["electrode", *[f"task-x_run-{run} env {what}"
                                               for run in "1234" for what in ("r", "sig.")]]
    assert len(table["rows"]) == 5


def test_report_lists_excluded_channels_and_modelled_channels_flagged_by_qc(tmp_path):
    ieeg = tmp_path / "sub-01" / "ieeg"
    ieeg.mkdir(parents=True)
    rng = np.random.default_rng(1)
    table = _scores({"layer00": rng.normal(0, 0.1, 20)}, rng.random(20) < 0.3).assign(
        p=0.5, alpha=1.0, r2=0.0)
    table.to_csv(ieeg / bids_name({"sub": "01", "task": "x"}, "scores", ".tsv", desc="w2v"),
                 sep="\t", index=False)
    pd.DataFrame({"name": ["E1", "E2", "E3"], "status": ["good", "good", "bad"],
                  "status_description": ["n/a", "QC flag (modelled): line noise (z = 9.0)",
                                         "dead: constant signal"]}).to_csv(
        ieeg / bids_name({"sub": "01", "task": "x"}, "channels", ".tsv"), sep="\t",
        index=False)
    (tmp_path / "logs").mkdir()
    html = write_participant_report(tmp_path, "01", AppConfig(), "cmd").read_text()
    assert "1 excluded channel(s)" in html and "dead: constant signal" in html
    assert "1 modelled channel(s) flagged by QC" in html
    assert "QC flag (modelled): line noise (z = 9.0)" in html
