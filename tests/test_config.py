"""The YAML configuration: defaults, validation naming the key, --models, hashing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bids_app.bids.recording import Recording
from bids_app.config import AppConfig, load_config
from bids_app.errors import BadDataError, UsageError
from bids_app.neural import NeuralData
from bids_app.steps.electrodes import keep_responsive


def _write(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_defaults_are_complete_and_round_trip(tmp_path):
    config = load_config(None)
    assert config == AppConfig()
    again = load_config(_write(tmp_path, config.to_yaml()))
    assert again.digest() == config.digest()


@pytest.mark.parametrize(("text", "named"), [
    ("encodin:\n  n_folds: 3\n", "encodin"),
    ("encoding:\n  n_fold: 3\n", "encoding.n_fold"),
    ("encoding:\n  n_folds: 1\n", "encoding.n_folds"),
    ("electrodes:\n  mask: some\n", "electrodes.mask"),
    ("preprocessing:\n  reference: average\n", "preprocessing.reference"),
    ("stimulus:\n  mode: onset\n", "stimulus.file"),
    ("features:\n  - {name: a-b, kind: mel}\n", "alphanumeric"),
    ("features:\n  - {name: m, kind: mel}\n  - {name: m, kind: envelope}\n", "unique"),
    ("features: mel\n", "features must be a list"),
    ("- 1\n- 2\n", "mapping"),
    # value types, named with the expected type
    ("encoding:\n  n_folds: five\n", r"encoding.n_folds must be int, got 'five'"),
    ("statistics:\n  n_permutations: 1.5\n", "statistics.n_permutations must be int"),
    ("encoding:\n  standardize: 'yes'\n", "encoding.standardize must be bool"),
    ("encoding:\n  alphas: [1, a]\n", "encoding.alphas must be a list of float"),
    ("features:\n  - {name: m, kind: mel, seed: x}\n", r"features\[0\].seed must be int"),
    # cross-section references: every space the comparison section names must exist
    ("comparison:\n  prediction_correlation: [[wav2vec2, gpt3]]\n",
     "comparison.prediction_correlation: 'gpt3'"),
    ("comparison:\n  cca_speech: hubert\n", "comparison.cca_speech: 'hubert'"),
    ("comparison:\n  cca_language: llama\n", "comparison.cca_language: 'llama'"),
    ("comparison:\n  variance_partitioning: [shared, statc]\n",
     "comparison.variance_partitioning: unknown set 'statc'"),
])
def test_bad_config_is_a_usage_error_naming_the_key(tmp_path, text, named):
    with pytest.raises(UsageError, match=named) as info:
        load_config(_write(tmp_path, text))
    assert info.value.exit_code == 64


def test_models_option_selects_and_orders_spaces(tmp_path):
    path = _write(tmp_path, "features:\n  - {name: env, kind: envelope}\n"
                            "  - {name: mel, kind: mel}\n")
    assert [s.name for s in load_config(path, ["mel"]).features] == ["mel"]
    with pytest.raises(UsageError, match="nope"):
        load_config(path, ["nope"])


def test_models_option_keeps_the_comparison_references_valid(tmp_path):
    path = _write(tmp_path, "features:\n  - {name: env, kind: envelope}\n"
                            "  - {name: mel, kind: mel}\n"
                            "comparison:\n  prediction_correlation: [[env, mel]]\n"
                            "  variance_partitioning: [env, mel]\n")
    assert load_config(path).comparison.prediction_correlation == [["env", "mel"]]
    with pytest.raises(UsageError, match=r"comparison\.prediction_correlation: 'env'.*--models"):
        load_config(path, ["mel"])  # before any work, not after the encoding
    # CCA spaces and partition sets left out by --models are skipped (with a warning) at run time
    path = _write(tmp_path, "comparison:\n  cca_speech: wav2vec2\n"
                            "  variance_partitioning: [shared, speech_rest, static]\n")
    assert [s.name for s in load_config(path, ["mel"]).features] == ["mel"]


def test_valid_references_and_types_load(tmp_path):
    path = _write(tmp_path, "encoding:\n  tmax: 1\n  alphas: [1, 10.0]\n  layer_pca: null\n"
                            "comparison:\n  variance_partitioning: [shared, static, acoustic]\n"
                            "  cca_speech: wav2vec2\n")
    config = load_config(path)
    assert config.encoding.tmax == 1 and config.encoding.layer_pca is None
    assert config.comparison.variance_partitioning == ["shared", "static", "acoustic"]


def test_digest_changes_with_any_setting(tmp_path):
    base = load_config(None).digest()
    assert load_config(_write(tmp_path, "encoding:\n  n_folds: 4\n")).digest() != base


def _neural(names):
    return NeuralData(data=np.arange(len(names) * 4, dtype=np.float32).reshape(len(names), 4),
                      sfreq=100.0, ch_names=list(names), channels=pd.DataFrame(),
                      electrodes=None, coordinate_space=None, software_filters={},
                      reference="car", qc={})


def test_responsive_mask_keeps_only_responsive_channels(tmp_path):
    recording = Recording(subject="01", task="t", data_path=tmp_path / "x_ieeg.edf")
    responsive = pd.DataFrame({"channel": ["A", "B", "C"], "responsive": [True, False, True]})
    kept = keep_responsive(_neural("ABC"), responsive, recording)
    assert kept.ch_names == ["A", "C"]
    np.testing.assert_array_equal(kept.data, _neural("ABC").data[[0, 2]])
    with pytest.raises(BadDataError, match=r"x_ieeg\.edf"):
        keep_responsive(_neural("ABC"), responsive.assign(responsive=False), recording)
    with pytest.raises(BadDataError, match="fewer than 2"):
        keep_responsive(_neural("ABC"), None, recording)


def test_value_errors_are_value_errors(tmp_path):
    """Library users can catch bad values as ValueError; the CLI still maps the exit code."""
    with pytest.raises(ValueError, match=r"encoding\.n_folds"):
        load_config(_write(tmp_path, "encoding:\n  n_folds: five\n"))
    assert issubclass(BadDataError, ValueError) and BadDataError("x").exit_code == 65
