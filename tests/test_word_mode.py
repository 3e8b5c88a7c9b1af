"""Word-mode encoding through the command line: one r per channel, layer and lag."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from bids_app.bids.tsv import read_tsv
from bids_app.cli import main


@pytest.mark.slow
def test_word_mode_writes_lag_resolved_scores(synthetic, demo_config, tmp_path):
    config = yaml.safe_load(demo_config.read_text())
    config["features"] = [f for f in config["features"] if f["name"] in ("envelope", "gpt2")]
    config["encoding"] = {"mode": "word", "word_tmin": -0.2, "word_tmax": 0.4,
                          "word_lag_step": 0.1}
    config["statistics"] = {"n_permutations": 50}
    path = tmp_path / "word.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    assert main([str(synthetic.root), str(out), "participant", "--participant-label", "01",
                 "--config", str(path)]) == 0
    truth = synthetic.ground_truth["01"]
    for space, layers in (("envelope", {"envelope"}), ("gpt2", None)):
        table = read_tsv(out / "sub-01" / "ieeg" /
                         f"sub-01_task-{synthetic.task}_desc-{space}_scores.tsv")
        np.testing.assert_allclose(sorted(table["lag"].unique()),
                                   [-0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4])
        assert set(table["channel"]) == set(truth.driven) | set(truth.noise)
        if layers is not None:
            assert set(table["layer"]) == layers
        per_cell = table.groupby(["channel", "layer", "lag"]).size()
        assert (per_cell == 1).all()
        defined = table["r"].notna()
        assert table.loc[defined, "p"].between(0, 1).all()
        assert table.loc[~defined, "p"].isna().all(), "p is undefined exactly where r is"
    assert "r at each lag from word onset" in (out / "sub-01.html").read_text()
