"""The YAML configuration: defaults, validation naming the key, --models, hashing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bids_app.bids.recording import Recording
from bids_app.config import AppConfig, load_config
from bids_app.errors import BadDataError, UsageError
from bids_app.neural import NeuralData
from bids_app.workflow import keep_responsive


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
