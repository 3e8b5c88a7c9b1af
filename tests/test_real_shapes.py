"""Real dataset shapes end to end: ds005574 (Podcast), ds003688 (film) and bids-examples
FilteredSpeech metadata from ../shared/data, with synthetic signals and audio.

The real sidecars, channel tables (BOMs, non-neural channels typed ECOG but bad), electrodes,
events and word timings are used as they are; only the signals and the audio are made here,
and the Podcast recordings are cropped to 60 s (their sidecars' ``RecordingDuration`` is set to
the crop, which is the one edit to real metadata).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from helpers import write_driven_recording

from bids_app.bids.tsv import read_tsv
from bids_app.cli import main
from bids_app.synthetic import AUDIO_SFREQ, make_speech

PODCAST_SECONDS = 60.0
#: (label, sampling rate): sub-03's channels.tsv has a BOM and bad non-neural channels typed
#: ECOG; sub-07 is the 2048 Hz participant.
PODCAST_SUBJECTS = (("03", 512.0), ("07", 2048.0))
ENVELOPE_CONFIG = ("features:\n- {name: envelope, kind: envelope}\n"
                   "- {name: wordonset, kind: word_onset}\n"
                   "statistics: {n_permutations: 20}\n")


def _signal_names(channels_tsv: Path) -> list[str]:
    """The channels a data file holds: all rows but the EDF annotation signal, which
    ds005574's channels.tsv lists (sub-02, -03, -04) and readers expose as annotations."""
    names = read_tsv(channels_tsv)["name"].tolist()
    return [name for name in names if name != "EDF Annotations"]


def _good_ecog(ieeg: Path, stem: str) -> list[str]:
    channels = read_tsv(ieeg / f"{stem}_channels.tsv")
    keep = (channels["type"].str.upper() == "ECOG") & (channels["status"] == "good")
    return channels.loc[keep, "name"].tolist()


def _scores(out: Path, label: str, space: str) -> pd.DataFrame:
    path = next((out / f"sub-{label}").rglob(f"*_desc-{space}_scores.tsv"))
    return pd.read_csv(path, sep="\t")


def _assert_driven_win(scores: pd.DataFrame, driven: list[str]) -> None:
    is_driven = scores["channel"].isin(driven)
    assert is_driven.sum() == len(driven)
    assert scores.loc[is_driven, "r"].min() > scores.loc[~is_driven, "r"].max()


@pytest.fixture(scope="module")
def podcast(shared_data, tmp_path_factory) -> tuple[Path, dict[str, list[str]]]:
    """ds005574 with 60 s EDFs for sub-03 and sub-07, a synthetic podcast.wav and the real
    whisper-medium word timings of its first minute as podcast_transcript.csv. Do not modify."""
    root = Path(shutil.copytree(shared_data / "ds005574",
                                tmp_path_factory.mktemp("podcast") / "ds005574"))
    audio, _ = make_speech(PODCAST_SECONDS - 1.0, np.random.default_rng(5))
    sf.write(root / "stimuli" / "podcast.wav", audio, AUDIO_SFREQ)
    words = pd.read_csv(root / "stimuli" / "whisper-medium" / "transcript.tsv", sep="\t")
    words[words["end"] < len(audio) / AUDIO_SFREQ].to_csv(
        root / "stimuli" / "podcast_transcript.csv", index=False)
    driven = {}
    for label, sfreq in PODCAST_SUBJECTS:
        ieeg, stem = root / f"sub-{label}" / "ieeg", f"sub-{label}_task-podcast"
        names = _signal_names(ieeg / f"{stem}_channels.tsv")
        driven[label] = _good_ecog(ieeg, stem)[::20]
        write_driven_recording(ieeg / f"{stem}_ieeg.edf", names, driven[label], sfreq,
                               PODCAST_SECONDS, audio, onset=0.0, line_freq=60.0)
        sidecar = ieeg / f"{stem}_ieeg.json"
        sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()),
                                       "RecordingDuration": PODCAST_SECONDS}))
    return root, driven


def _podcast_config(tmp_path: Path, transcript: str = "podcast_transcript.csv") -> Path:
    config = tmp_path / "podcast.yaml"
    config.write_text("stimulus: {mode: onset, file: podcast.wav, "
                      f"transcript: {transcript}}}\n" + ENVELOPE_CONFIG)
    return config


@pytest.mark.slow
def test_podcast_shaped_participants_run_through(podcast, tmp_path):
    root, driven = podcast
    out = tmp_path / "out"
    labels = [label for label, _ in PODCAST_SUBJECTS]
    # the official validator runs: the other seven participants' absent EDFs are warnings
    assert main([str(root), str(out), "participant", "--participant-label", *labels,
                 "--config", str(_podcast_config(tmp_path))]) == 0
    for label, _ in PODCAST_SUBJECTS:
        ieeg = root / f"sub-{label}" / "ieeg"
        scores = _scores(out, label, "envelope")
        assert sorted(scores["channel"]) == sorted(_good_ecog(ieeg, f"sub-{label}_task-podcast"))
        _assert_driven_win(scores, driven[label])
        electrodes = read_tsv(next((out / f"sub-{label}" / "ieeg").glob(
            "*_space-MNI152NLin2009aSym_electrodes.tsv")))
        assert set(scores["channel"]) <= set(electrodes["name"])
        hg = json.loads(next((out / f"sub-{label}" / "ieeg").glob(
            "*_desc-highgamma_ieeg.json")).read_text())
        assert hg["SamplingFrequency"] == 100.0
    assert "OSAT" not in set(_scores(out, "03", "envelope")["channel"])  # ECOG-typed, bad


def _real_sidecar(key: str):
    """Put back the real value of ``key`` in sub-07's sidecar (the file stays cropped)."""
    def damage(root: Path, shared: Path) -> Path:
        name = Path("sub-07") / "ieeg" / "sub-07_task-podcast_ieeg.json"
        real = json.loads((shared / "ds005574" / name).read_text())
        cropped = json.loads((root / name).read_text())
        (root / name).write_text(json.dumps({**cropped, key: real[key]}))
        return root / name.with_name("sub-07_task-podcast_ieeg.edf")
    return damage


def _recorded_at_512(root: Path, shared: Path) -> Path:
    """sub-07's file at 512 Hz under its real 2048 Hz sidecar."""
    ieeg = root / "sub-07" / "ieeg"
    names = _signal_names(ieeg / "sub-07_task-podcast_channels.tsv")
    audio, _ = sf.read(root / "stimuli" / "podcast.wav")
    return write_driven_recording(ieeg / "sub-07_task-podcast_ieeg.edf", names, [], 512.0,
                                  PODCAST_SECONDS, audio, onset=0.0, line_freq=60.0)


#: case -> (damage(root, shared) -> the file the message must name, words in the message)
PODCAST_CASES = {
    "the real RecordingDuration of 1800 s on a 60 s file": (
        _real_sidecar("RecordingDuration"), "RecordingDuration"),
    "a 512 Hz file under the real 2048 Hz sidecar": (_recorded_at_512, "SamplingFrequency"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(PODCAST_CASES))
def test_podcast_bad_input_fails_one_participant(case, podcast, shared_data, tmp_path, capsys):
    damage, words = PODCAST_CASES[case]
    root = Path(shutil.copytree(podcast[0], tmp_path / "ds005574"))
    named = damage(root, shared_data)
    out = tmp_path / "out"
    assert main([str(root), str(out), "participant", "--participant-label", "03", "07",
                 "--config", str(_podcast_config(tmp_path)), "--skip-bids-validation"]) == 65
    err = capsys.readouterr().err
    assert str(named) in err and words in err
    assert not (out / "sub-07").exists() and not (out / "sub-07.html").exists()
    assert list((out / "logs").glob("crash-sub-07-*.txt"))
    assert _scores(out, "03", "envelope").shape[0] > 0, "the other participant completes"


def test_podcast_full_transcript_past_the_cropped_audio_is_refused(podcast, tmp_path, capsys):
    """The real 30-minute word timings against 59 s of audio: exit 65 naming the transcript."""
    root = Path(shutil.copytree(podcast[0], tmp_path / "ds005574"))
    transcript = "whisper-medium/transcript.tsv"
    out = tmp_path / "out"
    assert main([str(root), str(out), "participant", "--participant-label", "03",
                 "--config", str(_podcast_config(tmp_path, transcript)),
                 "--skip-bids-validation"]) == 65
    err = capsys.readouterr().err
    assert str(root / "stimuli" / transcript) in err and "59.00 s" in err and "teeth" in err
    assert not (out / "sub-03").exists()


@pytest.mark.slow
def test_anchored_mode_runs_through_on_ds003688(shared_data, tmp_path):
    """Film-time word annotations anchored to the 'start task' event, events without acq-,
    the real 69-channel table (ECOG, SEEG and non-neural types) at its real rate and length."""
    root = Path(shutil.copytree(shared_data / "ds003688", tmp_path / "ds003688"))
    ieeg = root / "sub-02" / "ses-iemu" / "ieeg"
    stem = "sub-02_ses-iemu_task-film_acq-clinical_run-1"
    sidecar = json.loads((ieeg / f"{stem}_ieeg.json").read_text())
    channels = read_tsv(ieeg / f"{stem}_channels.tsv")
    words = pd.read_csv(root / "stimuli" / "annotations" / "sound" /
                        "sound_annotation_words.tsv", sep="\t")
    audio, _ = make_speech(float(words.iloc[:, -1].max()) + 2.0, np.random.default_rng(7))
    sf.write(root / "stimuli" / "film.wav", audio, AUDIO_SFREQ)
    anchor = 39.562  # the 'start task' event of the real events.tsv
    driven = _good_ecog(ieeg, stem)[::8]
    write_driven_recording(ieeg / f"{stem}_ieeg.vhdr", channels["name"].tolist(), driven,
                           float(sidecar["SamplingFrequency"]),
                           float(sidecar["RecordingDuration"]), audio, onset=anchor,
                           line_freq=float(sidecar["PowerLineFrequency"]))
    config = tmp_path / "film.yaml"
    config.write_text("stimulus: {mode: anchored, file: film.wav, anchor: start task, "
                      "transcript: annotations/sound/sound_annotation_words.tsv}\n"
                      + ENVELOPE_CONFIG)
    out = tmp_path / "out"
    assert main([str(root), str(out), "participant", "--task-label", "film",
                 "--config", str(config), "--skip-bids-validation"]) == 0
    scores = _scores(out, "02", "envelope")
    neural = channels["type"].str.upper().isin(["ECOG", "SEEG"]) & (channels["status"] == "good")
    assert sorted(scores["channel"]) == sorted(channels.loc[neural, "name"])
    _assert_driven_win(scores, driven)


def test_filtered_speech_ids_mode_names_the_placeholder_audio(shared_data, tmp_path, capsys):
    """bids-examples FilteredSpeech in ``ids`` mode: its audio are 98-byte placeholders."""
    root = Path(shutil.copytree(shared_data / "bids-examples" / "ieeg_filtered_speech",
                                tmp_path / "filtered_speech"))
    config = tmp_path / "ids.yaml"
    config.write_text("stimulus: {mode: ids, column: stim_file, pattern: '{value}'}\n"
                      + ENVELOPE_CONFIG)
    out = tmp_path / "out"
    assert main([str(root), str(out), "participant", "--participant-label", "ir08",
                 "--config", str(config)]) == 66
    err = capsys.readouterr().err
    assert str(root / "stimuli" / "ir08_audio.wav") in err and "placeholder" in err
    assert not (out / "sub-ir08").exists()
