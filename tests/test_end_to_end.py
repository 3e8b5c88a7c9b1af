"""End to end on the synthetic dataset: participant level, then group level.

Thresholds come from the generator's ground truth, not from a run: each driven electrode must
reach at least half of the r that a perfect model of its true modulation would reach
(``expected_r``, computed by the generator from its SNR), and noise electrodes must stay within
three standard errors of 0, with the standard error of r over ``n_eff`` independent samples.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import soundfile
import yaml
from markupsafe import escape as html_escape

from bids_app.bids.tsv import read_tsv
from bids_app.cli import main
from bids_app.features import models

pytestmark = pytest.mark.slow  # every test reads one full participant + group run

#: Independent samples per second of a smooth (≤ ~10 Hz) predicted envelope: conservative.
INDEPENDENT_SAMPLES_PER_SECOND = 2.0


@pytest.fixture(scope="module")
def hashed_models() -> list:
    """The model directories hashed during the participant run of ``run``, one per hash."""
    return []


@pytest.fixture(scope="module")
def run(synthetic, demo_config, tmp_path_factory, hashed_models):
    """Run participant then group once; return the output directory."""
    out = tmp_path_factory.mktemp("e2e") / "derivatives" / "ssl-ieeg"
    args = [str(synthetic.root), str(out)]
    with pytest.MonkeyPatch.context() as patch:
        real = models._checksum
        patch.setattr(models, "_checksum", lambda *a: hashed_models.append(a[0]) or real(*a))
        assert main([*args, "participant", "--config", str(demo_config)]) == 0
    assert main([*args, "group", "--config", str(demo_config)]) == 0
    return out


def _stimulus_seconds(synthetic) -> float:
    return sum(soundfile.info(str(synthetic.root / "stimuli" / name)).duration
               for name in synthetic.stimuli)


def test_driven_electrodes_found_noise_electrodes_near_zero(run, synthetic):
    noise_bound = 3.0 / np.sqrt(INDEPENDENT_SAMPLES_PER_SECOND * _stimulus_seconds(synthetic))
    for subject, truth in synthetic.ground_truth.items():
        table = read_tsv(run / f"sub-{subject}" / "ieeg" /
                         f"sub-{subject}_task-{synthetic.task}_desc-envelope_scores.tsv")
        r = table.set_index("channel")["r"]
        assert set(truth.bad).isdisjoint(r.index), "bad channels must not be modelled"
        for channel in truth.driven:
            assert r[channel] > 0.5 * truth.expected_r[channel], (subject, channel)
        noise = r[truth.noise]
        assert np.all(np.abs(noise) < noise_bound), (subject, noise.to_dict(), noise_bound)
        assert r[truth.driven].min() > noise.max()
        significant = table.set_index("channel")["significant"]
        assert significant[truth.driven].all()


def test_mel_space_also_finds_driven_electrodes(run, synthetic):
    for subject, truth in synthetic.ground_truth.items():
        table = read_tsv(run / f"sub-{subject}" / "ieeg" /
                         f"sub-{subject}_task-{synthetic.task}_desc-mel_scores.tsv")
        r = table.set_index("channel")["r"]
        assert r[truth.driven].min() > r[truth.noise].max()


def test_derivatives_pass_the_official_bids_validator(run, tmp_path):
    from bids_app.bids.validator import describe, official_errors

    errors = official_errors(run, tmp_path / "report.json")
    assert errors is not None, "bids-validator-deno did not run"
    assert errors == [], describe(errors, limit=20)


def test_derivatives_layout_and_metadata(run, synthetic):
    description = json.loads((run / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert description["GeneratedBy"][0]["Name"] == "ssl-ieeg"
    assert description["GeneratedBy"][0]["Version"]
    descriptions = read_tsv(run / "descriptions.tsv")
    assert {"desc-highgamma", "desc-envelope"} <= set(descriptions["desc_id"])
    assert "stimuli" in (run / ".bidsignore").read_text().split()
    ieeg = run / "sub-01" / "ieeg"
    stem = f"sub-01_task-{synthetic.task}_desc-highgamma"
    for suffix in ("_ieeg.vhdr", "_ieeg.vmrk", "_ieeg.eeg", "_ieeg.json", "_channels.tsv"):
        assert (ieeg / f"{stem}{suffix}").is_file(), suffix
    sidecar = json.loads((ieeg / f"{stem}_ieeg.json").read_text())
    assert sidecar["SamplingFrequency"] == 100.0
    dictionary = json.loads((ieeg / f"sub-01_task-{synthetic.task}_desc-envelope_scores.json")
                            .read_text())
    assert {"channel", "r", "r2", "p_fdr"} <= set(dictionary)
    assert dictionary["Provenance"]["ConfigHash"]
    assert not list(run.rglob(".*.tmp")) and not list(run.rglob(".sub-*"))
    assert list((run / "logs").glob("config-*.yaml"))
    citation = (run / "logs" / "CITATION.md").read_text()
    assert "wav2vec2" in citation and "random weights" in citation
    assert "tested once per electrode" in citation and "max-T" in citation
    group = (run / "logs" / "CITATION-group.md").read_text()
    assert "electrode-level and paired" in group and "2/2^n" in group
    assert "Group methods" in (run / "group.html").read_text()


def test_features_cached_once_per_stimulus(run, synthetic, demo_config, hashed_models):
    for name in ("envelope", "mel"):
        cached = sorted(run.glob(f"stimuli/stim-*/stim-*_desc-{name}_features.h5"))
        assert len(cached) == len(synthetic.stimuli)
    # each participant resolves (and hashes) each model once, not once per stimulus
    assert len(synthetic.stimuli) > 1
    features = yaml.safe_load(demo_config.read_text())["features"]
    model_spaces = sum(1 for spec in features if spec.get("model"))
    assert model_spaces > 1
    assert len(hashed_models) == model_spaces * len(synthetic.subjects)


def test_reports_are_self_contained(run):
    for report in (run / "sub-01.html", run / "sub-02.html", run / "group.html"):
        html = report.read_text()
        assert "data:image/png;base64," in html
        assert not re.search(r'src="(?!data:)', html), "figures must be inline"


def test_group_table_stacks_participants(run, synthetic):
    table = read_tsv(run / "group" / f"task-{synthetic.task}_desc-envelope_scores.tsv")
    assert set(table["subject"]) == set(synthetic.subjects)
    assert {"x", "y", "z"} <= set(table.columns)
    html = (run / "group.html").read_text()
    assert "Included (2)" in html


def test_model_comparisons_written_and_reported(run, synthetic):
    ieeg = run / "sub-01" / "ieeg"
    stem = f"sub-01_task-{synthetic.task}"
    predcorr = read_tsv(ieeg / f"{stem}_desc-wav2vec2Xgpt2_predcorr.tsv")
    truth = synthetic.ground_truth["01"]
    assert set(predcorr["channel"]) == set(truth.driven) | set(truth.noise)
    assert predcorr["r_pred"].between(-1, 1).all()
    components = read_tsv(ieeg / f"{stem}_desc-cca_components.tsv")
    assert (components["fit"] == "in_fold").all()
    beyond = read_tsv(ieeg / f"{stem}_desc-beyond_beyond.tsv")
    assert set(beyond["channel"]) == set(truth.driven) | set(truth.noise)
    assert {"shared_beyond_low", "gain_a", "gain_b", "significant_shared_beyond_low",
            "b_beyond_onsets"} <= set(beyond.columns)
    varpart = read_tsv(ieeg / f"{stem}_desc-varpart_scores.tsv")
    assert {"partition", "region", "r2", "negative"} <= set(varpart.columns)
    for report in (run / "sub-01.html", run / "group.html"):
        html = report.read_text()
        assert "Model comparisons" in html
        assert "Beyond the low-level features (L), wav2vec2" in html  # the headline
        assert "prediction accuracies of wav2vec2 and gpt2 correlate" in html
    assert (run / "group" / f"task-{synthetic.task}_desc-varpart_scores.tsv").is_file()
    assert (run / "group" / f"task-{synthetic.task}_desc-beyond_beyond.tsv").is_file()


def test_rerun_skips_up_to_date_outputs(run, synthetic, demo_config):
    scores = run / "sub-01" / "ieeg" / f"sub-01_task-{synthetic.task}_desc-envelope_scores.tsv"
    before = scores.stat().st_mtime_ns
    assert main([str(synthetic.root), str(run), "participant", "--participant-label", "01",
                 "--config", str(demo_config)]) == 0
    assert scores.stat().st_mtime_ns == before


def test_reports_only_rerenders_without_computing(run, synthetic, demo_config):
    report, record = run / "sub-02.html", run / "logs" / "sub-02_run.json"
    report.unlink()
    before = record.read_bytes()
    assert main([str(synthetic.root), str(run), "participant", "--participant-label", "02",
                 "--reports-only", "--config", str(demo_config)]) == 0
    assert record.read_bytes() == before, "the run record is the computing run's"
    html = report.read_text()
    command = re.search(r"Command: <code>([^<]*)</code>", html).group(1)
    assert command == json.loads(before)["command"] and "--reports-only" not in command
    assert "re-rendered by <code>" in html and "--reports-only" in html


def test_run_record_has_the_recording_facts_and_the_report_shows_them(run, synthetic):
    record = json.loads((run / "logs" / "sub-01_run.json").read_text())
    (facts,) = record["recordings"]
    assert facts["sfreq"] == 512.0 and facts["n_bad"] == len(synthetic.ground_truth["01"].bad)
    assert [s["file"] for s in facts["stimuli"]] == synthetic.stimuli
    assert all(s["n_words"] > 0 for s in facts["stimuli"])
    assert record["seconds"] > 0 and record["software"]["mne"]
    html = (run / "sub-01.html").read_text()
    assert "512 Hz" in html and "Do the models predict the brain?" in html
    assert 'id="electrode-table"' in html and "Methods (generated by ssl-ieeg" in html
    for warning in record["warnings"]:
        assert html_escape(warning) in html


def test_group_filters_participants_and_reports_the_rest_missing(run, synthetic, demo_config):
    assert main([str(synthetic.root), str(run), "group", "--participant-label", "sub-01",
                 "--config", str(demo_config)]) == 0
    table = read_tsv(run / "group" / f"task-{synthetic.task}_desc-envelope_scores.tsv")
    assert set(table["subject"]) == {"01"}
    html = (run / "group.html").read_text()
    assert "Included (1)" in html and "without derivatives" not in html
    assert main([str(synthetic.root), str(run), "group", "--participant-label", "07"]) == 18
