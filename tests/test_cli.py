"""The BIDS-Apps command-line contract: options, label normalisation and every exit code."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from bids_app import __version__
from bids_app.cli import build_filters, build_parser, main


def test_python_m_bids_app_is_the_same_program():
    result = subprocess.run([sys.executable, "-m", "bids_app", "--version"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert f"ssl-ieeg {__version__}" in result.stdout


def test_labels_drop_prefix_with_removeprefix_not_lstrip():
    args = build_parser().parse_args(
        ["in", "out", "participant", "--participant_label", "sub-s01", "s02", "sub-sub3",
         "--session-label", "ses-1", "--task-label", "task-listen"])
    filters = build_filters(args)
    assert filters.participant_labels == ("s01", "s02", "sub3")
    assert filters.session_labels == ("1",)
    assert filters.task_labels == ("listen",)


def test_unknown_analysis_level_is_17(tmp_path, capsys):
    assert main([str(tmp_path), str(tmp_path / "out"), "subject"]) == 17
    assert "unknown analysis level 'subject'" in capsys.readouterr().err


def test_bad_option_is_64(tmp_path, capsys):
    assert main([str(tmp_path), str(tmp_path / "out"), "participant", "--nprocs", "x"]) == 64
    assert "--nprocs" in capsys.readouterr().err


def test_unknown_config_key_is_64_and_named(synthetic, tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("encoding:\n  n_fold: 3\n")
    code = main([str(synthetic.root), str(tmp_path / "out"), "participant", "--config",
                 str(config)])
    assert code == 64
    assert "encoding.n_fold" in capsys.readouterr().err
    assert not (tmp_path / "out" / "sub-01").exists()


def test_output_equal_to_input_is_refused(synthetic, capsys):
    assert main([str(synthetic.root), str(synthetic.root), "participant"]) == 64
    assert "must differ" in capsys.readouterr().err


def test_output_that_cannot_be_created_is_73(synthetic, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    assert main([str(synthetic.root), str(blocker / "out"), "participant"]) == 73
    assert "Cannot create OUTPUT_DIR" in capsys.readouterr().err


def test_filters_that_select_nothing_are_18(synthetic, tmp_path, capsys):
    code = main([str(synthetic.root), str(tmp_path / "out"), "participant",
                 "--participant-label", "sub-99"])
    assert code == 18
    assert "subject=['99']" in capsys.readouterr().err


def test_missing_bids_dir_is_66(tmp_path, capsys):
    assert main([str(tmp_path / "nope"), str(tmp_path / "out"), "participant"]) == 66
    assert "nope" in capsys.readouterr().err


def test_missing_stimulus_is_66_and_writes_nothing(dataset_copy, synthetic, demo_config,
                                                   tmp_path, capsys):
    missing = dataset_copy / "stimuli" / synthetic.stimuli[0]
    missing.unlink()
    out = tmp_path / "out"
    code = main([str(dataset_copy), str(out), "participant", "--participant-label", "01",
                 "--config", str(demo_config), "--skip-bids-validation"])
    assert code == 66  # the app's own check (the BIDS validator would refuse it first: 16)
    assert str(missing) in capsys.readouterr().err
    assert not (out / "sub-01").exists()
    assert not (out / "stimuli").exists()
    assert list((out / "logs").glob("crash-sub-01-*.txt"))


@pytest.mark.slow
def test_a_failing_participant_does_not_stop_the_others(dataset_copy, demo_config, tmp_path):
    eeg = next((dataset_copy / "sub-02" / "ieeg").glob("*_ieeg.eeg"))
    eeg.write_bytes(b"")
    out = tmp_path / "out"
    code = main([str(dataset_copy), str(out), "participant", "--config", str(demo_config),
                 "--models", "envelope", "--skip-bids-validation"])
    assert code == 65
    assert list((out / "logs").glob("crash-sub-02-*.txt"))
    assert not list((out / "logs").glob("crash-sub-01-*.txt"))
    assert list((out / "sub-01" / "ieeg").glob("*_desc-envelope_scores.tsv"))
    assert (out / "sub-01.html").is_file()
    assert main([str(dataset_copy), str(out), "group", "--config", str(demo_config),
                 "--models", "envelope"]) == 0
    html = (out / "group.html").read_text()
    assert "Included (1): 01" in html and "Failed (1)" in html
    assert re.search(r"<li>02: \S+_ieeg.eeg is empty \(0 bytes\)", html)  # its message


def test_default_models_missing_is_66_with_hint_and_writes_nothing(synthetic, tmp_path,
                                                                    capsys, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-home" / "hub"))
    out = tmp_path / "out"
    code = main([str(synthetic.root), str(out), "participant", "--participant-label", "01"])
    assert code == 66
    err = capsys.readouterr().err
    assert "facebook/wav2vec2-base" in err and "--model-dir" in err
    assert not (out / "sub-01").exists()


def test_work_dir_that_cannot_be_created_is_73(synthetic, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    code = main([str(synthetic.root), str(tmp_path / "out"), "participant", "-w",
                 str(blocker / "work")])
    assert code == 73
    assert "work directory" in capsys.readouterr().err
