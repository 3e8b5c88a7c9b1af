"""Every documented configuration value runs end to end, or is refused at load by its key.

``test_config_walk.py`` loads and prices each documented value on a ds005574-sized
recording; here each one runs a whole participant through the command line, on the demo's
synthetic dataset and configuration, one value at a time. Each must exit 0 with finite r in
every scores table, or exit 64 (``REFUSED``), or, where the demo data cannot serve it, exit 65
naming its key (``DATA_REFUSED``). The runs share one output folder, so each
reuses the stimulus features and the stages its value does not change.

About 80 runs: selected by ``.ci/run`` (``-m configruns``), not by plain ``pytest -q``.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from test_config_walk import REFUSED, VALUES

from bids_app.bids.tsv import read_tsv
from bids_app.cli import main
from bids_app.errors import EXIT_BAD_DATA, EXIT_SUCCESS, EXIT_USAGE

#: Values the demo data cannot run, each refused when the data are read (exit 65) with a
#: message that names its key: three stimulus onsets and no pauses in the demo's
#: transcripts find no speech-responsive electrode to keep.
DATA_REFUSED = {("electrodes", "mask", "responsive"): "electrodes.mask"}
#: The demo's speech model has 3 layers and its language model 4: choices that fit them.
DEMO_VALUES = VALUES | {("comparison", "cca_speech_layer"): [1, "middle", "layer02"],
                        ("comparison", "cca_language_layer"): ["middle", 2],
                        ("comparison", "rest_components"): [None, 4],
                        ("encoding", "pca"): [None, 12]}


def _cases():
    for (section, key), values in DEMO_VALUES.items():
        for value in values:
            yield pytest.param(section, key, value, id=f"{section}.{key}={value!r}")


@pytest.fixture(scope="module")
def shared_output(tmp_path_factory):
    """One output folder for every run: features and unchanged stages are reused."""
    return tmp_path_factory.mktemp("config-runs") / "out"


@pytest.mark.configruns
@pytest.mark.parametrize(("section", "key", "value"), _cases())
def test_documented_value_runs_or_is_refused_by_name(synthetic, demo_config, shared_output,
                                                     tmp_path, capsys, section, key, value):
    raw = yaml.safe_load(demo_config.read_text())
    raw.setdefault(section, {})[key] = value
    if (section, key) == ("preprocessing", "zscore") and value == "baseline":
        raw[section]["baseline"] = [1.0, 3.5]  # before the first stimulus (at 4 s)
    if (section, key, value) == ("comparison", "beyond_untrained", True):
        raw[section]["untrained_control"] = False
    if (section, key, value) == ("encoding", "lag_basis", None):
        raw[section]["lag_step"] = None  # one column per lag needs a lag at every sample
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    code = main([str(synthetic.root), str(shared_output), "participant", "--participant-label",
                 "01", "--config", str(path), "--skip-bids-validation"])
    refused = REFUSED.get((section, key, str(value)))
    data_refused = DATA_REFUSED.get((section, key, str(value)))
    if refused or data_refused:
        assert code == (EXIT_USAGE if refused else EXIT_BAD_DATA)
        assert (refused or data_refused) in capsys.readouterr().err
        return
    assert code == EXIT_SUCCESS, capsys.readouterr().err[-3000:]
    tables = sorted((shared_output / "sub-01").glob("**/*_scores.tsv"))
    assert tables
    for table in tables:
        r = read_tsv(table).get("r")
        if r is not None:
            assert np.isfinite(r).any(), table.name
    assert (shared_output / "sub-01.html").exists()
