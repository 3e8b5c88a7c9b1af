"""Acoustic features, the FeatureSpec validation and the per-stimulus cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bids_app.errors import MissingInputError, UsageError
from bids_app.features import FeatureSpec, acoustic, extract, load_or_compute_features
from bids_app.features.audio import read_audio
from bids_app.features.cache import lock_path, read_feature_file, write_feature_file
from bids_app.features.featureset import FeatureSet
from bids_app.stimuli import Stimulus


@pytest.fixture(scope="module")
def bobby(shared_data) -> Path:
    """praatio's bobby.wav: 1.2 s of real speech (../shared/data)."""
    return shared_data / "praatio" / "bobby.wav"


def _stimulus(path: Path, stim_id: str = "bobby") -> Stimulus:
    return Stimulus(stim_id, path, None, 0.0, sf.info(path).duration)


def test_read_audio_resamples_to_mono(tmp_path):
    stereo = np.stack([np.ones(4800), -np.ones(4800) * 0.5], axis=1)
    path = tmp_path / "s.wav"
    sf.write(path, stereo, 48000)
    audio = read_audio(path, 16000)
    assert audio.shape == (1600,)
    assert audio.dtype == np.float32
    assert abs(float(np.median(audio)) - 0.25) < 1e-3


def test_envelope_tracks_amplitude_modulation():
    rate = 16000
    t = np.arange(4 * rate) / rate
    modulation = 1 + 0.8 * np.sin(2 * np.pi * 2 * t)  # 2 Hz
    audio = (modulation * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    times, env = acoustic.envelope(audio, rate, 100.0, 30.0)
    assert env.shape == (400, 1)
    np.testing.assert_allclose(times[:3], [0.0, 0.01, 0.02])
    inner = slice(50, 350)  # away from filter edges
    truth = 1 + 0.8 * np.sin(2 * np.pi * 2 * times[inner])
    assert np.corrcoef(env[inner, 0], truth)[0, 1] > 0.99


def test_peak_rate_is_sparse_at_rising_edges():
    rate = 16000
    audio = np.zeros(3 * rate, dtype=np.float32)
    tone = np.sin(2 * np.pi * 300 * np.arange(rate // 2) / rate)
    for onset in (0.5, 1.5):  # two tone bursts
        start = int(onset * rate)
        audio[start:start + tone.size] = tone
    times, peaks = acoustic.peak_rate(audio, rate, 100.0, 10.0)
    strong = times[peaks[:, 0] > 0.5 * peaks.max()]
    assert len(strong) == 2
    np.testing.assert_allclose(strong, [0.5, 1.5], atol=0.06)


def test_log_mel_frames_and_tone_band():
    rate = 16000
    audio = np.sin(2 * np.pi * 1000 * np.arange(rate) / rate).astype(np.float32)
    times, mel = acoustic.log_mel(audio, rate, n_mels=80)
    assert mel.shape == ((rate - 400) // 160 + 1, 80)
    np.testing.assert_allclose(times[:2], [200 / rate, 360 / rate])
    low_band = np.argmax(mel.mean(axis=0))
    quiet = acoustic.log_mel(audio * 0.1, rate, n_mels=80)[1]
    assert np.argmax(quiet.mean(axis=0)) == low_band
    assert 0 < low_band < 79


def test_feature_spec_validation():
    assert FeatureSpec("mel", "mel").resolved_options()["n_mels"] == 80
    with pytest.raises(UsageError, match="alphanumeric"):
        FeatureSpec("peak_rate", "peak_rate")
    with pytest.raises(UsageError, match="kind"):
        FeatureSpec("x", "nope")
    with pytest.raises(UsageError, match="options: unknown"):
        FeatureSpec("mel", "mel", options={"nmels": 40})
    with pytest.raises(UsageError, match="n_mels"):
        FeatureSpec("mel", "mel", options={"n_mels": 0})
    with pytest.raises(UsageError, match="model is required"):
        FeatureSpec("w2v", "speech")
    with pytest.raises(UsageError, match="layers"):
        FeatureSpec("w2v", "speech", model="m", layers=[-1])


def test_cache_hit_skips_compute_and_settings_invalidate(bobby, tmp_path, monkeypatch):
    stim = _stimulus(bobby)
    spec = FeatureSpec("mel", "mel", options={"n_mels": 40})
    first = load_or_compute_features(spec, stim, tmp_path)
    h5 = tmp_path / "stim-bobby" / "stim-bobby_desc-mel_features.h5"
    sidecar = json.loads(h5.with_suffix(".json").read_text())
    assert sidecar["CacheKey"] == first.meta["CacheKey"]
    assert sidecar["Settings"]["options"]["n_mels"] == 40
    assert sidecar["PackageVersions"]["numpy"] == np.__version__

    calls = []
    real = extract._compute
    monkeypatch.setattr(extract, "_compute", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = load_or_compute_features(spec, stim, tmp_path)
    assert calls == []
    np.testing.assert_array_equal(again.layers["mel"], first.layers["mel"])

    changed = load_or_compute_features(FeatureSpec("mel", "mel", options={"n_mels": 20}), stim,
                                       tmp_path)
    assert calls == [1]
    assert changed.layers["mel"].shape[1] == 20
    # no temporary files left behind; the hidden lock file stays (waiters share its inode)
    assert [p.name for p in h5.parent.glob(".*")] == [lock_path(h5).name]


def test_cache_invalidated_by_audio_content(bobby, tmp_path):
    audio = read_audio(bobby, 16000)
    path = tmp_path / "a.wav"
    sf.write(path, audio, 16000, subtype="FLOAT")
    spec = FeatureSpec("env", "envelope")
    first = load_or_compute_features(spec, _stimulus(path, "a"), tmp_path / "out")
    sf.write(path, audio * 0.5, 16000, subtype="FLOAT")
    second = load_or_compute_features(spec, _stimulus(path, "a"), tmp_path / "out")
    assert first.meta["CacheKey"] != second.meta["CacheKey"]
    np.testing.assert_allclose(second.layers["envelope"], 0.5 * np.asarray(
        first.layers["envelope"]), rtol=1e-4, atol=1e-6)


def test_missing_audio_is_exit_66(tmp_path):
    stim = Stimulus("x", tmp_path / "missing.wav", None, 0.0, 1.0)
    with pytest.raises(MissingInputError) as err:
        load_or_compute_features(FeatureSpec("mel", "mel"), stim, tmp_path)
    assert err.value.exit_code == 66


def test_concurrent_writer_loser_discards(tmp_path):
    path = tmp_path / "stim-a" / "stim-a_desc-x_features.h5"

    def features(value: float) -> FeatureSet:
        return FeatureSet("x", "envelope", np.arange(3) / 100, {"envelope": np.full((3, 1), value)})

    def slow_compute(allocate):
        # another task finishes the same computation while this one is still running
        assert write_feature_file(path, "k1", lambda _: features(1.0))
        return features(2.0)

    assert write_feature_file(path, "k1", slow_compute) is False
    np.testing.assert_array_equal(read_feature_file(path).layers["envelope"], 1.0)
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        [path.name, path.with_suffix(".json").name])  # no temporary file left
    # a stale file (other key) is replaced
    assert write_feature_file(path, "k2", lambda _: features(3.0)) is True
    np.testing.assert_array_equal(read_feature_file(path).layers["envelope"], 3.0)


def test_envelope_in_blocks_equals_the_whole_transform():
    """Long audio is enveloped block by block (bounded memory) with the whole-audio result."""
    rng = np.random.default_rng(0)
    rate = 16000
    n = 61 * rate + 77  # blocks that do not divide the audio
    carrier = rng.standard_normal(n)
    slow = np.convolve(rng.standard_normal(n // 800 + 2), np.ones(4) / 4, "same")
    audio = (carrier * np.abs(np.repeat(slow, 800)[:n])).astype(np.float32)
    _, whole = acoustic.envelope(audio, rate, block_s=None)
    _, blocked = acoustic.envelope(audio, rate, block_s=20.0)
    assert blocked.shape == whole.shape == (-(-n // 160), 1)
    inner = slice(50, -50)  # away from the audio's own edges
    np.testing.assert_allclose(blocked[inner], whole[inner], atol=5e-3 * whole.max())
