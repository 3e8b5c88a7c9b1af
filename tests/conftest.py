"""Fixtures shared by the end-to-end and CLI tests: the synthetic dataset and one full run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from bids_app.demo import DEMO_CONFIG
from bids_app.synthetic import make_synthetic_dataset


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """The demo's synthetic BIDS dataset (2 participants, known ground truth). Do not modify."""
    return make_synthetic_dataset(tmp_path_factory.mktemp("synthetic") / "bids")


@pytest.fixture(scope="session")
def demo_config(tmp_path_factory) -> Path:
    """The demo configuration as a YAML file."""
    path = tmp_path_factory.mktemp("config") / "config.yaml"
    path.write_text(yaml.safe_dump(DEMO_CONFIG))
    return path


@pytest.fixture
def dataset_copy(synthetic, tmp_path) -> Path:
    """A private copy of the synthetic dataset that a test may damage."""
    return Path(shutil.copytree(synthetic.root, tmp_path / "bids"))
