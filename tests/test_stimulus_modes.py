"""Stimulus alignment modes: ``ids`` (TIMIT style) on the synthetic dataset, ``anchored`` on the
ds003688 metadata."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from bids_app.bids.discovery import Filters, find_recordings, open_layout
from bids_app.cli import main
from bids_app.errors import MissingInputError
from bids_app.stimuli.resolve import StimulusConfig, resolve_stimuli


def _timit_style(root: Path) -> Path:
    """Events with ids in trial_type (and a non-stimulus event), audio named by the ids."""
    path = root / "task-listen_events.tsv"
    events = pd.read_csv(path, sep="\t")
    ids = [Path(name).stem.upper() for name in events["stim_file"]]
    for name, stimulus_id in zip(events["stim_file"], ids, strict=True):
        for suffix in (".wav", ".tsv"):
            source = root / "stimuli" / Path(name).with_suffix(suffix)
            source.rename(root / "stimuli" / f"{stimulus_id}_audio{suffix}")
    timit = pd.DataFrame({"onset": events["onset"], "duration": events["duration"],
                          "trial_type": ids})
    response = pd.DataFrame({"onset": [1.0], "duration": [0.1], "trial_type": ["button"]})
    pd.concat([timit, response]).sort_values("onset").to_csv(path, sep="\t", index=False)
    return path


def test_ids_mode_maps_event_ids_to_files(synthetic, tmp_path, caplog):
    root = Path(shutil.copytree(synthetic.root, tmp_path / "bids"))
    _timit_style(root)
    recording = find_recordings(open_layout(root), Filters(participant_labels=("01",)))[0]
    config = StimulusConfig(mode="ids", column="trial_type", pattern="{value}_audio.wav")
    stimuli = resolve_stimuli(recording, root, config)
    assert [s.audio_path.name for s in stimuli] == ["STORY1_audio.wav", "STORY2_audio.wav",
                                                    "STORY3_audio.wav"]
    assert [s.transcript_path.name for s in stimuli] == ["STORY1_audio.tsv", "STORY2_audio.tsv",
                                                         "STORY3_audio.tsv"]
    assert "id names no file {value}_audio.wav are not stimuli: ['button']" in caplog.text
    with pytest.raises(MissingInputError, match=r"names a file .*\{value\}\.flac"):
        resolve_stimuli(recording, root, StimulusConfig(mode="ids", column="trial_type",
                                                        pattern="{value}.flac"))


@pytest.mark.slow
def test_ids_mode_runs_through(synthetic, tmp_path):
    root = Path(shutil.copytree(synthetic.root, tmp_path / "bids"))
    _timit_style(root)
    config = tmp_path / "config.yaml"
    config.write_text("stimulus: {mode: ids, column: trial_type, pattern: '{value}_audio.wav'}\n"
                      "features:\n- {name: envelope, kind: envelope}\n"
                      "statistics: {n_permutations: 20}\n")
    out = tmp_path / "out"
    assert main([str(root), str(out), "participant", "--participant-label", "01",
                 "--config", str(config), "--skip-bids-validation"]) == 0
    scores = pd.read_csv(next((out / "sub-01" / "ieeg").glob("*_desc-envelope_scores.tsv")),
                         sep="\t")
    truth = synthetic.ground_truth["01"]
    driven = scores["channel"].isin(truth.driven)
    noise = scores["channel"].isin(truth.noise)
    assert scores.loc[driven, "r"].min() > scores.loc[noise, "r"].max()


def test_anchored_mode_on_ds003688_metadata(shared_data, tmp_path):
    """ds003688: word annotations in film time, a 'start task' event, events without acq-."""
    import numpy as np
    import soundfile as sf

    from bids_app.stimuli.alignments import read_words

    root = Path(shutil.copytree(shared_data / "ds003688", tmp_path / "ds003688"))
    ieeg = root / "sub-02" / "ses-iemu" / "ieeg"
    # the recording has acq-clinical, its events file has not (found through inheritance);
    # an empty data file is enough to be indexed
    (ieeg / "sub-02_ses-iemu_task-film_acq-clinical_run-1_ieeg.vhdr").touch()
    sf.write(root / "stimuli" / "film.wav", np.zeros(16000, dtype=np.float32), 16000)
    recording = find_recordings(open_layout(root), Filters(task_labels=("film",)))[0]
    assert recording.acquisition == "clinical"
    assert recording.events_path.name == "sub-02_ses-iemu_task-film_run-1_events.tsv"
    config = StimulusConfig(mode="anchored", file="film.wav", anchor="start task", offset=0.5,
                            transcript="annotations/sound/sound_annotation_words.tsv",
                            tier="words")
    (stimulus,) = resolve_stimuli(recording, root, config)
    assert stimulus.onset == pytest.approx(39.562 + 0.5)
    assert stimulus.tier == "words"  # carried to every reader of the transcript
    words = read_words(stimulus.transcript_path)
    assert words.words[:2] == ("pippi", "wil") and words.onsets[0] == pytest.approx(30.736)
    with pytest.raises(MissingInputError, match="no event with trial_type 'begin'"):
        resolve_stimuli(recording, root, StimulusConfig(mode="anchored", file="film.wav",
                                                        anchor="begin"))
