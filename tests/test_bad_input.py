"""Bad input is refused with the documented exit code, a message that names the file, nothing
left behind for the failed participant, and the other participants completed.

Each case damages one participant (sub-01) of a copy of the synthetic dataset.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bids_app.cli import main
from bids_app.errors import BidsValidationError
from bids_app.synthetic import make_synthetic_dataset


def _sidecar(root: Path) -> Path:
    return next((root / "sub-01" / "ieeg").glob("*_ieeg.json"))


def _edit_sidecar(key: str, value: float) -> Callable[[Path], Path]:
    def damage(root: Path) -> Path:
        path = _sidecar(root)
        path.write_text(json.dumps({**json.loads(path.read_text()), key: value}))
        return next((root / "sub-01" / "ieeg").glob("*_ieeg.vhdr"))
    return damage


def _truncate(suffix: str) -> Callable[[Path], Path]:
    def damage(root: Path) -> Path:
        path = next((root / "sub-01" / "ieeg").glob(f"*_ieeg{suffix}"))
        data = path.read_bytes()
        path.write_bytes(data[:len(data) * 2 // 3])
        header = next((root / "sub-01" / "ieeg").glob("*_ieeg.vhdr"), path)
        return header
    return damage


#: case -> (data format, damage(root) -> the file the message must name, exit code, words)
CASES = {
    "truncated EDF": ("EDF", _truncate(".edf"), 65, "truncated"),
    "truncated BrainVision data": ("BrainVision", _truncate(".eeg"), 65, "RecordingDuration"),
    "SamplingFrequency contradicts the file": (
        "BrainVision", _edit_sidecar("SamplingFrequency", 500.0), 65, "SamplingFrequency"),
    "RecordingDuration contradicts the file": (
        "BrainVision", _edit_sidecar("RecordingDuration", 1000.0), 65, "RecordingDuration"),
}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """One pristine synthetic dataset per data format."""
    return {fmt: make_synthetic_dataset(tmp_path_factory.mktemp(fmt) / "bids",
                                        data_format=fmt, stim_duration=20.0)
            for fmt in ("EDF", "BrainVision")}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_and_leaves_nothing(case, datasets, tmp_path, capsys):
    fmt, damage, code, words = CASES[case]
    root = Path(shutil.copytree(datasets[fmt].root, tmp_path / "bids"))
    named = damage(root)
    out = tmp_path / "out"
    config = tmp_path / "config.yaml"
    config.write_text("features:\n- {name: envelope, kind: envelope}\n"
                      "statistics: {n_permutations: 20}\n")
    assert main([str(root), str(out), "participant", "--config", str(config)]) == code
    err = capsys.readouterr().err
    assert str(named) in err and words in err
    assert not (out / "sub-01").exists() and not (out / "sub-01.html").exists()
    (crash,) = (out / "logs").glob("crash-sub-01-*.html")  # the failure report, with its message
    assert words in crash.read_text() and crash.with_suffix(".txt").is_file()
    assert list((out / "sub-02" / "ieeg").glob("*_desc-envelope_scores.tsv")), \
        "the other participant completes"


def _move_last_stimulus(root: Path, onset: float) -> Path:
    """Give sub-01 its own events.tsv, with the last stimulus starting at ``onset``."""
    events = (root / "task-listen_events.tsv").read_text().splitlines()
    last = events[-1].split("\t")
    events[-1] = "\t".join([f"{onset:g}", *last[1:]])
    path = root / "sub-01" / "ieeg" / "sub-01_task-listen_events.tsv"
    path.write_text("\n".join(events) + "\n")
    return next((root / "sub-01" / "ieeg").glob("*_ieeg.vhdr"))


def _recording_seconds(root: Path) -> float:
    return json.loads(_sidecar(root).read_text())["RecordingDuration"]


@pytest.mark.slow
def test_stimulus_outside_the_recording_is_refused(datasets, tmp_path, capsys):
    root = Path(shutil.copytree(datasets["BrainVision"].root, tmp_path / "bids"))
    named = _move_last_stimulus(root, _recording_seconds(root) + 5.0)
    out = tmp_path / "out"
    assert main([str(root), str(out), "participant", "--participant-label", "01",
                 "--models", "envelope"]) == 65
    err = capsys.readouterr().err
    assert str(named) in err and "story3.wav" in err and "stimulus.min_overlap" in err
    assert not (out / "sub-01").exists()


@pytest.mark.slow
def test_stimulus_partly_outside_is_clipped_with_a_warning(datasets, tmp_path, capsys):
    root = Path(shutil.copytree(datasets["BrainVision"].root, tmp_path / "bids"))
    _move_last_stimulus(root, _recording_seconds(root) - 19.0)  # 1 s of 20 s past the end
    config = tmp_path / "config.yaml"
    config.write_text("features:\n- {name: envelope, kind: envelope}\n"
                      "statistics: {n_permutations: 20}\n")
    out = tmp_path / "out"
    assert main([str(root), str(out), "participant", "--participant-label", "01",
                 "--config", str(config)]) == 0
    assert "story3.wav is clipped to the recording: 0.0 s before its start and 1.0 s after" \
        in capsys.readouterr().err


@pytest.mark.slow
def test_a_failure_after_outputs_were_written_leaves_nothing(datasets, tmp_path, monkeypatch):
    from bids_app.steps import encoding

    def fail(*args, **kwargs):
        raise RuntimeError("planted failure in the encoding stage")

    monkeypatch.setattr(encoding.LayerEncoder, "feature_spaces", fail)
    root = datasets["BrainVision"].root
    out = tmp_path / "out"
    assert main([str(root), str(out), "participant", "--participant-label", "01",
                 "--models", "envelope"]) == 1
    assert not (out / "sub-01").exists() and not (out / "sub-01.html").exists()
    assert list((out / "stages").glob("*/highgamma-*")), "the resumable stage cache is kept"


def test_dotfiles_pass_the_validation(datasets, tmp_path):
    from bids_app.bids.discovery import validate_dataset

    root = Path(shutil.copytree(datasets["BrainVision"].root, tmp_path / "bids"))
    (root / "sub-01" / "ieeg" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    validate_dataset(root)  # the light check
    validate_dataset(root, tmp_path / "report.json")  # the official validator


def test_the_official_validator_accepts_the_demo_input_and_refuses_a_broken_one(
        datasets, tmp_path, capsys):
    from bids_app.bids.discovery import validate_dataset

    report = tmp_path / "logs" / "bids-validator.json"
    validate_dataset(datasets["BrainVision"].root, report)
    assert json.loads(report.read_text())["issues"]["issues"] is not None
    root = Path(shutil.copytree(datasets["BrainVision"].root, tmp_path / "bids"))
    channels = next((root / "sub-01" / "ieeg").glob("*_channels.tsv"))
    channels.write_text("name\tlow_cutoff\n" + "x\t1\n")  # lacks the required columns
    out = tmp_path / "out"
    assert main([str(root), str(out), "participant", "--models", "envelope"]) == 16
    err = capsys.readouterr().err
    assert "fails BIDS validation" in err and channels.name in err
    assert (out / "logs" / "bids-validator.json").is_file()


def test_without_the_official_validator_the_light_check_runs(datasets, tmp_path, monkeypatch,
                                                            caplog):
    from bids_app.bids import validator
    from bids_app.bids.discovery import validate_dataset

    monkeypatch.setattr(validator.shutil, "which", lambda name: None)
    root = Path(shutil.copytree(datasets["BrainVision"].root, tmp_path / "bids"))
    (root / "sub-01" / "ieeg" / "notes.txt").write_text("not a BIDS file")
    with pytest.raises(BidsValidationError, match=r"notes\.txt does not follow"):
        validate_dataset(root, tmp_path / "report.json")
    assert "bids-validator-deno is not installed" in caplog.text


def test_unreadable_description_is_refused_even_when_skipping_validation(datasets, tmp_path,
                                                                         capsys):
    root = Path(shutil.copytree(datasets["BrainVision"].root, tmp_path / "bids"))
    (root / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": ')
    assert main([str(root), str(tmp_path / "out"), "participant",
                 "--skip-bids-validation"]) == 65
    assert str(root / "dataset_description.json") in capsys.readouterr().err


def test_unknown_labels_are_named_and_only_subjects_with_ieeg_are_listed(datasets, tmp_path,
                                                                         capsys):
    root = Path(shutil.copytree(datasets["BrainVision"].root, tmp_path / "bids"))
    (root / "sub-03" / "anat").mkdir(parents=True)  # a subject without iEEG
    # (the BIDS validator refuses sub-03, absent from participants.tsv: PARTICIPANT_ID_MISMATCH)
    assert main([str(root), str(tmp_path / "out"), "participant", "--skip-bids-validation",
                 "--participant-label", "99"]) == 18
    assert "Subjects with iEEG recordings: ['01', '02']" in capsys.readouterr().err
    out = tmp_path / "out2"
    config = tmp_path / "config.yaml"
    config.write_text("features:\n- {name: envelope, kind: envelope}\n"
                      "statistics: {n_permutations: 20}\n")
    assert main([str(root), str(out), "participant", "--participant-label", "01", "99",
                 "--config", str(config), "--skip-bids-validation"]) == 0
    assert "--participant-label ['99']: no iEEG recording" in capsys.readouterr().err
    assert (out / "sub-01.html").is_file()


def test_words_past_the_end_of_the_audio_are_refused(datasets, tmp_path, capsys):
    root = Path(shutil.copytree(datasets["BrainVision"].root, tmp_path / "bids"))
    transcript = root / "stimuli" / "story2.tsv"
    transcript.write_text(transcript.read_text() + "afterwards\t25.0\t25.4\n")
    out = tmp_path / "out"
    config = tmp_path / "config.yaml"
    config.write_text("features:\n- {name: wordonset, kind: word_onset}\n")
    assert main([str(root), str(out), "participant", "--participant-label", "01",
                 "--config", str(config)]) == 65
    err = capsys.readouterr().err
    assert str(transcript) in err and "'afterwards' at 25.00" in err and "20.00 s" in err
    assert not (out / "sub-01").exists()


def test_temporary_files_of_killed_runs_are_removed_by_the_next(datasets, tmp_path):
    import os
    import time

    out = tmp_path / "out"
    cache = out / "stimuli" / "stim-story1"
    cache.mkdir(parents=True)
    stale = cache / ".envelope-abc.partial-k3j2l1m0.h5"  # a write killed a day ago
    stale.write_bytes(b"half an HDF5 file")
    os.utime(stale, (time.time() - 86400, time.time() - 86400))
    live = cache / ".wav2vec2-def.partial-q9w8e7r6.h5"  # being written by another task
    live.write_bytes(b"in progress")
    config = tmp_path / "config.yaml"
    config.write_text("features:\n- {name: envelope, kind: envelope}\n"
                      "statistics: {n_permutations: 20}\n")
    assert main([str(datasets["BrainVision"].root), str(out), "participant",
                 "--participant-label", "01", "--config", str(config)]) == 0
    assert not stale.exists() and live.exists()


def test_unreadable_model_is_65_naming_it(datasets, tmp_path, capsys):
    model = tmp_path / "wav2vec2"
    model.mkdir()
    (model / "config.json").write_text("{")  # cut short, as by an interrupted copy
    config = tmp_path / "config.yaml"
    config.write_text(f"features:\n- {{name: w2v, kind: speech, model: {model}, "
                      "weights: random}\n")
    out = tmp_path / "out"
    assert main([str(datasets["BrainVision"].root), str(out), "participant",
                 "--participant-label", "01", "--config", str(config)]) == 65
    assert f"Cannot read the model '{model}'" in capsys.readouterr().err
    assert not (out / "sub-01").exists()


def test_events_without_rows_name_the_events_file(datasets, tmp_path, capsys):
    root = Path(shutil.copytree(datasets["BrainVision"].root, tmp_path / "bids"))
    events = root / "task-listen_events.tsv"
    events.write_text(events.read_text().splitlines()[0] + "\n")  # the header only
    assert main([str(root), str(tmp_path / "out"), "participant", "--participant-label", "01",
                 "--models", "envelope"]) == 66
    err = capsys.readouterr().err
    assert f"{events} has no row with a 'stim_file' value (0 row(s))" in err


def test_validation_errors_of_unselected_participants_do_not_stop_a_selected_one(
        datasets, tmp_path, capsys):
    root = Path(shutil.copytree(datasets["BrainVision"].root, tmp_path / "bids"))
    channels = next((root / "sub-02" / "ieeg").glob("*_channels.tsv"))
    channels.write_text("name\tlow_cutoff\n" + "x\t1\n")
    config = tmp_path / "config.yaml"
    config.write_text("features:\n- {name: envelope, kind: envelope}\n"
                      "statistics: {n_permutations: 20}\n")
    assert main([str(root), str(tmp_path / "out"), "participant", "--participant-label", "01",
                 "--config", str(config)]) == 0
    assert "error(s) in participants not selected, ignored" in capsys.readouterr().err


def test_non_finite_encoding_scores_fail_the_participant_naming_the_channel(tmp_path):
    import numpy as np
    import pandas as pd

    from bids_app.bids.recording import Recording
    from bids_app.errors import BadDataError
    from bids_app.steps.encoding import check_finite as _check_finite

    recording = Recording(subject="01", task="t", data_path=tmp_path / "sub-01_ieeg.edf")
    table = pd.DataFrame({"channel": ["G1", "G2", "G2"], "r": [0.1, np.nan, np.nan],
                          "r2": [0.01, np.nan, -np.inf]})
    with pytest.raises(BadDataError, match=r"gpt2 gave non-finite scores for 1 channel\(s\) "
                                           r"\(G2\).*channels.tsv"):
        _check_finite(table, "gpt2", recording)
    _check_finite(table.iloc[:1], "gpt2", recording)  # finite: no error


#: file -> how to find it in the dataset (sub-01's own, or the shared stimuli)
UNREADABLE = {
    "channels.tsv": lambda root: next((root / "sub-01" / "ieeg").glob("*_channels.tsv")),
    "sidecar": _sidecar,
    "recording header": lambda root: next((root / "sub-01" / "ieeg").glob("*_ieeg.vhdr")),
    "recording data": lambda root: next((root / "sub-01" / "ieeg").glob("*_ieeg.eeg")),
    "stimulus audio": lambda root: root / "stimuli" / "story1.wav",
    "transcript": lambda root: root / "stimuli" / "story1.tsv",
}


def _run_with_denied(root: Path, denied: Path, tmp_path: Path, monkeypatch,
                     *labels: str) -> tuple[int, Path]:
    """The CLI on ``root`` (envelope and onset models) with ``denied`` unreadable to this
    user: ``(exit code, output folder)``. Root reads everything, so ``os.access`` denies it."""
    import os

    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: (
        Path(path) != denied and access(path, mode, **kw)))
    config = tmp_path / "config.yaml"
    config.write_text("features:\n- {name: envelope, kind: envelope}\n"
                      "- {name: onset, kind: word_onset}\n")
    out = tmp_path / "out"
    selected = ["--participant-label", *labels] if labels else []
    return main([str(root), str(out), "participant", *selected, "--config", str(config),
                 "--skip-bids-validation"]), out


@pytest.mark.parametrize("what", list(UNREADABLE))
def test_unreadable_inputs_are_65_naming_the_file_and_the_fix(what, datasets, tmp_path,
                                                               capsys, monkeypatch):
    """A file this user cannot read (as a run under another UID meets it) is refused before
    any work."""
    root = datasets["BrainVision"].root
    denied = UNREADABLE[what](root)
    code, out = _run_with_denied(root, denied, tmp_path, monkeypatch, "01")
    assert code == 65
    err = capsys.readouterr().err
    assert f"Cannot read {denied}: permission denied" in err and "chmod a+r" in err
    assert not (out / "sub-01").exists()


def test_an_unreadable_sidecar_fails_its_participant_only(datasets, tmp_path, capsys,
                                                          monkeypatch):
    """Discovery reads every selected recording's sidecars: one it cannot read fails that
    participant (exit 65, crash file, no outputs) and the other participant still runs."""
    root = datasets["BrainVision"].root
    denied = _sidecar(root)
    assert "sub-01" in denied.name and (root / "sub-02").is_dir()
    code, out = _run_with_denied(root, denied, tmp_path, monkeypatch)
    assert code == 65
    err = capsys.readouterr().err
    assert f"sub-01 failed: Cannot read {denied}: permission denied" in err
    assert not (out / "sub-01").exists() and list((out / "logs").glob("crash-sub-01-*.txt"))
    assert (out / "sub-02.html").is_file()
    assert list((out / "sub-02" / "ieeg").glob("*_desc-envelope_scores.tsv"))
