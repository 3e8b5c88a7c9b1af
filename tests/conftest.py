"""Fixtures shared by the end-to-end and CLI tests: the synthetic dataset and one full run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bids_app.demo import write_demo_config
from bids_app.synthetic import make_synthetic_dataset


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """The demo's synthetic BIDS dataset (2 participants, known ground truth). Do not modify."""
    return make_synthetic_dataset(tmp_path_factory.mktemp("synthetic") / "bids")


@pytest.fixture(scope="session")
def demo_config(synthetic, tmp_path_factory) -> Path:
    """The demo configuration (acoustic spaces and tiny random Wav2Vec2/GPT-2) as YAML."""
    return write_demo_config(synthetic, tmp_path_factory.mktemp("config"))


@pytest.fixture
def dataset_copy(synthetic, tmp_path) -> Path:
    """A private copy of the synthetic dataset that a test may damage."""
    return Path(shutil.copytree(synthetic.root, tmp_path / "bids"))
