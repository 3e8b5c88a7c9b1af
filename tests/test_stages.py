"""Resume and reuse stage by stage: a killed run resumes where it stopped."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from bids_app.cli import main
from bids_app.outputs.stages import StageStore, stage_key


def _arguments(synthetic, out, config) -> list[str]:
    return [str(synthetic.root), str(out), "participant", "--participant-label", "01",
            "--config", str(config), "--skip-bids-validation", "--models", "wav2vec2", "gpt2"]


def _command(synthetic, out, config) -> list[str]:
    return [sys.executable, "-m", "bids_app", *_arguments(synthetic, out, config)]


@pytest.fixture(scope="module")
def clean(synthetic, demo_config, tmp_path_factory):
    """An uninterrupted run of sub-01 (speech and language spaces, their comparisons)."""
    out = tmp_path_factory.mktemp("clean") / "out"
    assert main(_arguments(synthetic, out, demo_config)) == 0
    return out


def _tables(out) -> dict[str, pd.DataFrame]:
    ieeg = out / "sub-01" / "ieeg"
    return {p.name: pd.read_csv(p, sep="\t") for p in sorted(ieeg.glob("*.tsv"))
            if "_scores" in p.name or "_predcorr" in p.name or "_components" in p.name}


def _encoding_stages(out) -> list:
    return sorted((out / "stages").glob("*/encoding-*.pkl"))


@pytest.mark.slow
def test_killed_run_resumes_at_the_unfinished_layers(synthetic, demo_config, clean, tmp_path):
    total = len(_encoding_stages(clean))
    assert total >= 8

    out = tmp_path / "killed"
    process = subprocess.Popen(_command(synthetic, out, demo_config),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(_encoding_stages(out)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished = len(_encoding_stages(out))
    assert 3 <= finished < total, "the kill must land inside the encoding stage"
    assert not list((out / "sub-01" / "ieeg").glob("*_scores.tsv"))

    rerun = subprocess.run(_command(synthetic, out, demo_config), capture_output=True,
                           text=True, check=True)
    steps = re.findall(r"encoding \d+/(\d+): .*?: (reused|[\d.]+ s|\d+ min)", rerun.stderr)
    assert len(steps) == total and all(int(n) == total for n, _ in steps)
    assert sum(how == "reused" for _, how in steps) == finished
    assert "high-gamma: reused" in rerun.stderr
    resumed, reference = _tables(out), _tables(clean)
    assert resumed.keys() == reference.keys() and len(reference) >= 5
    for name, table in reference.items():
        pd.testing.assert_frame_equal(resumed[name], table, check_exact=True, obj=name)


@pytest.mark.slow
def test_changing_only_the_comparisons_reuses_every_encoding(synthetic, demo_config, clean,
                                                              tmp_path, capsys):
    out = Path(shutil.copytree(clean, tmp_path / "out"))
    config = yaml.safe_load(demo_config.read_text())
    config.setdefault("comparison", {})["n_components"] = 3
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(config))
    capsys.readouterr()
    assert main(_arguments(synthetic, out, changed)) == 0
    log = capsys.readouterr().err
    assert "high-gamma: reused (same input and preprocessing settings)" in log
    encoding = re.findall(r"encoding \d+/\d+: .*", log)
    assert encoding and all(": reused" in line for line in encoding)
    # n_components changes the CCA and the partitions built on it, nothing else
    assert "comparisons/beyond: reused" in log
    assert re.search(r"comparisons/predcorr-\w+: reused", log)
    assert "comparisons/cca: reused" not in log
    assert re.search(r"variance partitioning: \d+ union model", log)
    capsys.readouterr()
    assert main(_arguments(synthetic, out, changed)) == 0  # nothing left to do
    assert "outputs up to date" in capsys.readouterr().err


def test_stage_store_keys_and_replaces(tmp_path):
    store = StageStore(tmp_path)
    first, second = stage_key({"a": 1}), stage_key({"a": 2})
    assert first != second and stage_key({"a": 1}) == first
    store.save("highgamma", first, [1, 2])
    assert store.load("highgamma", first) == [1, 2]
    store.save("highgamma", second, [3])
    assert store.load("highgamma", first) is None  # the stale key is gone
    assert store.load("highgamma", second) == [3]
    assert [p.name for p in tmp_path.iterdir()] == [f"highgamma-{second}.pkl"]


def test_each_stage_is_keyed_by_exactly_the_settings_that_change_its_outputs(monkeypatch):
    """Memory-only fields are out of every key; the electrode settings refit the encodings
    only when they choose the modelled channels (``mask: responsive``), but always rerun the
    comparisons (they test the speech-responsive electrodes); a new app version changes
    every key."""
    from dataclasses import replace

    from bids_app.encoding import EncodingConfig, StatisticsConfig
    from bids_app.neural.config import ElectrodeConfig, PreprocessingConfig
    from bids_app.outputs import stages

    pre, ele, enc, stats = (PreprocessingConfig(), ElectrodeConfig(), EncodingConfig(),
                            StatisticsConfig())
    source = {"files": [("sub-01_ieeg.edf", 10, 1)]}
    high = stages.highgamma_key(pre, source)
    assert stages.highgamma_key(replace(pre, block_size=64), source) == high
    assert stages.highgamma_key(replace(pre, sfreq_out=50.0), source) != high
    assert stages.highgamma_key(pre, {"files": [("sub-01_ieeg.edf", 11, 1)]}) != high

    def encoding(**changes) -> str:
        parts = {"electrodes": ele, "encoding": enc, "statistics": stats, **changes}
        return stages.encoding_key(high, parts["electrodes"], parts["encoding"],
                                   parts["statistics"], ("scores",))

    base = encoding()
    assert encoding(electrodes=replace(ele, alpha=0.01)) == base
    assert encoding(encoding=replace(enc, chunk_size=1024)) == base
    assert encoding(encoding=replace(enc, n_folds=4)) != base
    assert encoding(statistics=replace(stats, fdr_alpha=0.01)) != base
    responsive = replace(ele, mask="responsive")
    assert encoding(electrodes=responsive) != encoding(
        electrodes=replace(responsive, alpha=0.01))

    comparison = stages.comparison_key([base], ele, stats, {"n_refits": 20}, ("scores",))
    assert stages.comparison_key([base], replace(ele, alpha=0.01), stats,
                                 {"n_refits": 20}, ("scores",)) != comparison
    assert stages.comparison_key([base], ele, stats, {"n_refits": 50},
                                 ("scores",)) != comparison

    monkeypatch.setattr(stages, "__version__", "99.0")
    assert stages.highgamma_key(pre, source) != high
    assert encoding() != base


def test_outputs_of_another_app_version_are_not_up_to_date(tmp_path):
    import json

    from bids_app import __version__
    from bids_app.workflow import _up_to_date

    scores = tmp_path / "sub-01_task-listen_desc-gpt2_scores.tsv"
    scores.write_text("channel\tr\n")
    for version, expected in ((__version__, True), ("0.0.1", False)):
        scores.with_suffix(".json").write_text(json.dumps(
            {"Provenance": {"ConfigHash": "abc", "Version": version}}))
        assert _up_to_date(scores, "abc") is expected
    assert not _up_to_date(scores, "other")
