"""Every documented configuration value loads and is priced, or is refused at load by its key.

The documented choices of the configuration (``docs/configuration.md`` and the dataclass
docstrings: every enum value, empty lists, ``null``s and ``auto``s) are walked one at a time
from a YAML file, on a ds005574-sized recording. Each must load and get a finite cost
estimate at start-up (the path on which ``variance_partitioning: []`` once crashed with exit
1), or be refused with a ``UsageError`` (exit 64) that names its key. The enumerations of the
config modules must all be walked, so that a new choice cannot be left out.

This walks loading and pricing, not whole runs: each value's run is covered by the module
that owns its stage (e.g. ``test_stimulus_modes.py``, ``test_word_mode.py``).
"""

from __future__ import annotations

import math

import pytest
import yaml

from bids_app.analysis.config import CCA_FITS, CCA_LEVELS, PRESETS
from bids_app.config import load_config
from bids_app.cost import estimate_cost
from bids_app.encoding.config import INNER_CVS, NULL_METHODS
from bids_app.errors import EXIT_USAGE, UsageError
from bids_app.neural.config import ELECTRODE_MASKS, HIGHGAMMA_METHODS, REFERENCES, ZSCORE_MODES

#: (section, key) -> the documented values walked.
VALUES = {
    ("preprocessing", "line_freq"): ["auto", 50, 60],
    ("preprocessing", "reference"): list(REFERENCES),
    ("preprocessing", "highgamma"): list(HIGHGAMMA_METHODS),
    ("preprocessing", "band"): [None, [70.0, 150.0]],
    ("preprocessing", "zscore"): list(ZSCORE_MODES),
    ("preprocessing", "baseline"): [None, [-0.5, 0.0]],
    ("preprocessing", "auto_flag"): [True, False],
    ("electrodes", "mask"): list(ELECTRODE_MASKS),
    ("encoding", "mode"): ["trf", "word"],
    ("encoding", "lag_step"): [None, 0.02],
    ("encoding", "inner_folds"): [None, 3],
    ("encoding", "inner_cv"): list(INNER_CVS),
    ("encoding", "standardize"): [True, False],
    ("encoding", "layer_pca"): [None, 50],
    ("encoding", "layer_pca_fit"): ["recording", "in_fold"],
    ("encoding", "lag_basis"): [None, 9],
    ("encoding", "centre_words"): [True, False],
    ("encoding", "pca"): [None, 20],
    ("encoding", "dtype"): ["float32", "float64"],
    ("statistics", "method"): list(NULL_METHODS),
    ("comparison", "preset"): list(PRESETS),
    ("comparison", "conditioning"): ["auto", [], ["envelope"], ["word_onset"], ["mel"]],
    ("comparison", "untrained_control"): [True, False],
    ("comparison", "beyond_untrained"): [True, False],
    ("comparison", "inner_cv"): list(INNER_CVS),
    ("comparison", "predcorr_null"): [True, False],
    ("comparison", "onset_in_shared"): [True, False],
    ("comparison", "prediction_correlation"): ["auto", [], [["wav2vec2", "gpt2"]]],
    ("comparison", "cca_speech"): [None, "wav2vec2"],
    ("comparison", "cca_language"): [None, "gpt2"],
    ("comparison", "cca_speech_layer"): [7, "middle", "layer03"],
    ("comparison", "cca_language_layer"): ["middle", 6],
    ("comparison", "significant_only"): [True, False],
    ("comparison", "rest_components"): [None, 50],
    ("comparison", "cca_fit"): list(CCA_FITS),
    ("comparison", "cca_level"): list(CCA_LEVELS),
    ("comparison", "variance_partitioning"): ["auto", [], ["shared", "speech_rest"],
                                              ["shared", "speech_rest", "language_rest",
                                               "acoustic"]],
    ("comparison", "banded"): [True, False],
}
#: Values that must be refused at load, each with the key its message names.
REFUSED = {
    ("comparison", "beyond_untrained", "True"): "untrained_control",  # walked with twins off
}


def _cases():
    for (section, key), values in VALUES.items():
        for value in values:
            yield pytest.param(section, key, value, id=f"{section}.{key}={value!r}")


def test_every_enumerated_choice_is_walked():
    enums = {("preprocessing", "reference"): REFERENCES,
             ("preprocessing", "highgamma"): HIGHGAMMA_METHODS,
             ("preprocessing", "zscore"): ZSCORE_MODES, ("electrodes", "mask"): ELECTRODE_MASKS,
             ("encoding", "inner_cv"): INNER_CVS, ("statistics", "method"): NULL_METHODS,
             ("comparison", "preset"): PRESETS, ("comparison", "inner_cv"): INNER_CVS,
             ("comparison", "cca_fit"): CCA_FITS, ("comparison", "cca_level"): CCA_LEVELS}
    for key, choices in enums.items():
        assert set(choices) <= set(VALUES[key]), key


@pytest.mark.parametrize(("section", "key", "value"), _cases())
def test_documented_value_loads_and_is_priced_or_is_refused_by_name(podcast_sized, tmp_path,
                                                                    section, key, value):
    recording, stimuli, config, paths = podcast_sized
    raw = yaml.safe_load(config.to_yaml())
    raw.setdefault(section, {})[key] = value
    if (section, key) == ("preprocessing", "zscore") and value == "baseline":
        raw[section]["baseline"] = [-0.5, 0.0]  # the baseline z-score needs its window
    if (section, key, value) == ("comparison", "beyond_untrained", True):
        raw[section]["untrained_control"] = False
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    refused = REFUSED.get((section, key, str(value)))
    if refused:
        with pytest.raises(UsageError, match=refused) as err:
            load_config(path)
        assert err.value.exit_code == EXIT_USAGE
        return
    loaded = load_config(path)
    estimate = estimate_cost(recording, stimuli, loaded, paths)
    assert math.isfinite(estimate.seconds) and estimate.seconds > 0
    assert math.isfinite(estimate.peak_bytes) and estimate.peak_bytes > 0
