"""BIDS discovery on real metadata: ds005574 (Podcast) and bids-examples ieeg_filtered_speech."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import copy_metadata, write_edf

from bids_app.bids.discovery import (
    BidsConfig,
    Filters,
    find_recordings,
    open_layout,
    validate_dataset,
)
from bids_app.bids.tsv import read_tsv
from bids_app.errors import (
    BadDataError,
    BidsValidationError,
    MissingInputError,
    NothingSelectedError,
    UsageError,
)
from bids_app.stimuli.resolve import StimulusConfig, resolve_stimuli


@pytest.fixture(scope="module")
def podcast_source(shared_data) -> Path:
    """The real ds005574 (Podcast) metadata under ../shared/data. Do not modify."""
    return shared_data / "ds005574"


@pytest.fixture(scope="module")
def podcast(podcast_source, tmp_path_factory) -> Path:
    """ds005574 metadata with a tiny EDF for sub-01 and sub-07 (real names and rates)."""
    root = copy_metadata(podcast_source, tmp_path_factory.mktemp("ds") / "ds005574")
    for subject, sfreq in (("01", 512.0), ("07", 2048.0)):
        ieeg = root / f"sub-{subject}" / "ieeg"
        names = read_tsv(ieeg / f"sub-{subject}_task-podcast_channels.tsv")["name"].tolist()
        write_edf(ieeg / f"sub-{subject}_task-podcast_ieeg.edf", names, sfreq, seconds=2.0)
    return root


def test_podcast_channels_bom_bad_and_mni(podcast, podcast_source):
    bom = (podcast_source / "sub-01" / "ieeg" / "sub-01_task-podcast_channels.tsv").read_bytes()
    assert bom.startswith(b"\xef\xbb\xbf"), "fixture premise: this channels.tsv has a BOM"
    recordings = find_recordings(open_layout(podcast), Filters(participant_labels=("01",)))
    assert len(recordings) == 1
    rec = recordings[0]
    assert rec.entities == {"sub": "01", "task": "podcast"}
    assert list(rec.channels.columns[:2]) == ["name", "type"]
    bad = rec.channels[rec.channels["status"] == "bad"]
    assert "G1" in set(bad["name"])
    assert bad.set_index("name").loc["G1", "status_description"] == "no localization"
    assert rec.coordinate_space == "MNI152NLin2009aSym"
    assert rec.electrodes.set_index("name").loc["G2", "x"] == pytest.approx(60.0)
    assert rec.line_freq == 60.0
    assert rec.sidecar["SamplingFrequency"] == 512.0
    assert rec.events is None


def test_podcast_other_space_when_preferred(podcast):
    config = BidsConfig(electrode_spaces=["Other"])
    rec = find_recordings(open_layout(podcast), Filters(participant_labels=("01",)), config)[0]
    assert rec.coordinate_space == "Other"


def test_podcast_2048_hz_participant(podcast):
    rec = find_recordings(open_layout(podcast), Filters(participant_labels=("07",)))[0]
    assert rec.sidecar["SamplingFrequency"] == 2048.0


def test_filters_select_nothing_lists_filters(podcast):
    with pytest.raises(NothingSelectedError, match="subject=\\['99'\\]") as info:
        find_recordings(open_layout(podcast), Filters(participant_labels=("99",)))
    assert info.value.exit_code == 18


def test_podcast_onset_mode_names_missing_audio(podcast):
    rec = find_recordings(open_layout(podcast), Filters(participant_labels=("01",)))[0]
    config = StimulusConfig(mode="onset", file="podcast.wav",
                            transcript="podcast_transcript.csv")
    with pytest.raises(MissingInputError, match=r"podcast\.wav") as info:
        resolve_stimuli(rec, podcast, config)
    assert info.value.exit_code == 66


def test_filtered_speech_events_and_placeholder_stimulus(shared_data, tmp_path):
    filtered_speech = shared_data / "bids-examples" / "ieeg_filtered_speech"
    root = copy_metadata(filtered_speech, tmp_path / "fs")
    rec = find_recordings(open_layout(root), Filters(participant_labels=("cm4",)))[0]
    assert rec.events is not None and "stim_file" in rec.events
    assert rec.coordinate_space == "Pixels"
    assert len(rec.channels) == 64
    with pytest.raises(MissingInputError, match=r"cm4_audio\.wav.*placeholder"):
        resolve_stimuli(rec, root, StimulusConfig())


def test_read_tsv_bom_and_na(tmp_path):
    path = tmp_path / "x_channels.tsv"
    path.write_bytes(b"\xef\xbb\xbfname\ttype\tstatus\nA1\tECOG\tn/a\nA2\tECOG\t\n")
    table = read_tsv(path, required=("name",))
    assert list(table.columns) == ["name", "type", "status"]
    assert table["status"].isna().all()
    assert isinstance(table, pd.DataFrame)


def test_validation_requires_dataset_description(tmp_path):
    with pytest.raises(BidsValidationError, match=r"dataset_description\.json") as info:
        validate_dataset(tmp_path)
    assert info.value.exit_code == 16


def test_malformed_coordsystem_fails_its_participant_only(podcast, tmp_path):
    """A coordsystem.json that is not JSON is bad data naming the file: raised without
    ``failures``, kept under its subject with it (the other participant is still listed)."""
    root = Path(shutil.copytree(podcast, tmp_path / "ds"))
    broken = next((root / "sub-01" / "ieeg").glob("*_coordsystem.json"))
    broken.write_text("{not json")
    with pytest.raises(BadDataError, match=r"coordsystem\.json is not valid JSON"):
        find_recordings(open_layout(root), Filters(participant_labels=("01",)))
    failures = {}
    recordings = find_recordings(open_layout(root), Filters(participant_labels=("01", "07")),
                                 failures=failures)
    assert [r.subject for r in recordings] == ["07"]
    assert list(failures) == ["01"] and str(broken) in str(failures["01"])


def test_malformed_ieeg_sidecar_fails_its_participant_only(podcast, tmp_path):
    """An ``_ieeg.json`` that is not JSON no longer stops indexing for everyone: it is bad
    data naming the file, kept under its subject (the other participant is still listed)."""
    root = Path(shutil.copytree(podcast, tmp_path / "ds"))
    broken = next((root / "sub-01" / "ieeg").glob("*_ieeg.json"))
    broken.write_text("{not json")
    failures = {}
    recordings = find_recordings(open_layout(root), Filters(participant_labels=("01", "07")),
                                 failures=failures)
    assert [r.subject for r in recordings] == ["07"]
    assert list(failures) == ["01"] and str(broken) in str(failures["01"])
    assert "is not valid JSON" in str(failures["01"])


def test_ieeg_sidecar_inherits_from_the_dataset_level(podcast, tmp_path):
    """A top-level ``task-<label>_ieeg.json`` applies to every recording of that task; the
    recording's own sidecar wins where both set a key, and another task's does not apply."""
    root = Path(shutil.copytree(podcast, tmp_path / "ds"))
    own = next((root / "sub-01" / "ieeg").glob("*_ieeg.json"))
    task = open_layout(root).parse_file_entities(str(own))["task"]
    (root / f"task-{task}_ieeg.json").write_text(json.dumps(
        {"PowerLineFrequency": 50, "InheritedKey": "dataset"}))
    (root / "task-other_ieeg.json").write_text(json.dumps({"OtherTaskKey": 1}))
    sidecar = find_recordings(open_layout(root),
                              Filters(participant_labels=("01",)))[0].sidecar
    assert sidecar["InheritedKey"] == "dataset" and "OtherTaskKey" not in sidecar
    assert sidecar["PowerLineFrequency"] == json.loads(own.read_text())["PowerLineFrequency"]


def test_filters_on_sidecar_metadata_are_refused_naming_the_entities(podcast, tmp_path):
    """Sidecars are not indexed, so a --bids-filter-file key must be a BIDS entity (exit 64)."""
    with pytest.raises(UsageError, match=r"\['SamplingFrequency'\] are not BIDS entities"):
        find_recordings(open_layout(podcast), Filters(bids_filters={"SamplingFrequency": 512}))
    assert find_recordings(open_layout(podcast), Filters(bids_filters={"subject": "01"}))
