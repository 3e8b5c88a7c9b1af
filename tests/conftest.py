"""Fixtures shared by the test modules: the synthetic dataset, its demo configuration and the
real public data of ../shared/data (skipped, with the reason, where a clone does not have it)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from bids_app.bids.recording import Recording
from bids_app.config import AppConfig
from bids_app.demo import write_demo_config
from bids_app.features.spec import FeatureSpec
from bids_app.stimuli.stimulus import Stimulus
from bids_app.synthetic import make_synthetic_dataset

TEST_DATA_ENV = "SSL_IEEG_TEST_DATA"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real public data (the project's ../shared/data, or $SSL_IEEG_TEST_DATA).

    Tests that read it skip, naming the missing folder, where it does not exist (a clone).
    """
    override = os.environ.get(TEST_DATA_ENV)
    path = Path(override) if override else Path(__file__).resolve().parents[2] / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"real public data not found at {path} (the project's ../shared/data; "
                    f"set {TEST_DATA_ENV} to its location)")
    return path


@pytest.fixture(scope="session")
def planted_validation():
    """The validation suite's planted recording, encoded and compared once (seed 0).

    Default configuration but for 16 noise electrodes and 10 rotations of the refit tests.
    """
    from bids_app.synthetic.validation import validate

    return validate(seed=0, n_noise=16, n_refits=10)


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """The demo's synthetic BIDS dataset (2 participants, known ground truth). Do not modify."""
    return make_synthetic_dataset(tmp_path_factory.mktemp("synthetic") / "bids")


@pytest.fixture(scope="session")
def demo_config(synthetic, tmp_path_factory) -> Path:
    """The demo configuration (acoustic spaces and tiny random Wav2Vec2/GPT-2) as YAML.

    Its refit tests use 4 rotations: the tests that run it check the pipeline, not the
    comparisons' p-values (``planted_validation`` and ``test_demo.py`` do).
    """
    return write_demo_config(synthetic, tmp_path_factory.mktemp("config"), n_refits=4)


@pytest.fixture
def dataset_copy(synthetic, tmp_path) -> Path:
    """A private copy of the synthetic dataset that a test may damage."""
    return Path(shutil.copytree(synthetic.root, tmp_path / "bids"))


def _model(tmp_path: Path, name: str, **config) -> str:
    path = tmp_path / name
    path.mkdir()
    (path / "config.json").write_text(json.dumps(config))
    return str(path)


@pytest.fixture
def podcast_sized(tmp_path):
    """A ds005574-sized recording (235 ECoG channels, one 1,800 s story) and its models."""
    channels = pd.DataFrame({"name": [f"G{i}" for i in range(235)], "type": "ECOG",
                             "status": "good"})
    recording = Recording(subject="03", task="podcast", data_path=tmp_path / "x_ieeg.edf",
                          sidecar={"RecordingDuration": 1830.0}, channels=channels)
    stimulus = Stimulus("podcast", tmp_path / "podcast.wav", None, 10.0, 1800.0)
    w2v = _model(tmp_path, "w2v", hidden_size=768, num_hidden_layers=12)
    gpt = _model(tmp_path, "gpt", n_embd=768, n_layer=12)
    features = [FeatureSpec("wav2vec2", "speech", model=w2v, weights="random"),
                FeatureSpec("gpt2", "language", model=gpt, weights="random"),
                FeatureSpec("static", "static", model=gpt, weights="random"),
                FeatureSpec("mel", "mel"), FeatureSpec("envelope", "envelope")]
    paths = {"wav2vec2": Path(w2v), "gpt2": Path(gpt), "static": Path(gpt)}
    return recording, [stimulus], AppConfig(features=features), paths
