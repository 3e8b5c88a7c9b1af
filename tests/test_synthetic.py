"""Tests of the synthetic BIDS iEEG dataset generator and of its ground truth."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import mne_bids
import numpy as np
import pandas as pd
import pytest
import soundfile
from scipy import signal

from bids_app.errors import MissingInputError, UsageError
from bids_app.synthetic import (
    AUDIO_SFREQ,
    SyntheticDataset,
    broadband_envelope,
    make_synthetic_dataset,
    read_ground_truth,
)

SMALL = {"n_subjects": 1, "n_stimuli": 1, "stim_duration": 8.0, "n_channels": 5,
         "n_driven": 2}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> SyntheticDataset:
    """The default dataset (the demo's and the end-to-end test's)."""
    return make_synthetic_dataset(tmp_path_factory.mktemp("synthetic") / "bids")


def _read_raw(ds: SyntheticDataset, subject: str, extension: str = ".vhdr"):
    path = mne_bids.BIDSPath(subject=subject, task=ds.task, datatype="ieeg", suffix="ieeg",
                             extension=extension, root=ds.root)
    return mne_bids.read_raw_bids(path, verbose="error")


def _highgamma(data: np.ndarray, sfreq: float, line_freq: float) -> np.ndarray:
    """Test-local reference: notch line harmonics, then the Chang-lab 8-band Gaussian bank
    (70-150 Hz), Hilbert amplitude averaged over bands, resampled to 100 Hz."""
    for harmonic in np.arange(line_freq, sfreq / 2, line_freq):
        b, a = signal.iirnotch(harmonic, Q=30.0, fs=sfreq)
        data = signal.filtfilt(b, a, data, axis=-1)
    spectrum = np.fft.rfft(data, axis=-1)
    freqs = np.fft.rfftfreq(data.shape[-1], 1 / sfreq)
    amplitude = 0
    for centre in np.geomspace(70, 150, 8):
        gauss = np.exp(-0.5 * ((freqs - centre) / (0.39 * np.sqrt(centre))) ** 2)
        band = np.fft.irfft(spectrum * gauss, data.shape[-1], axis=-1)
        amplitude = amplitude + np.abs(signal.hilbert(band, axis=-1)) / 8
    ratio = Fraction(100.0 / sfreq).limit_denominator(10_000)
    return signal.resample_poly(amplitude, ratio.numerator, ratio.denominator, axis=-1)


def _recording_envelope(ds: SyntheticDataset, n_times: int) -> tuple[np.ndarray, np.ndarray]:
    """The audio envelope in recording time at 100 Hz, rebuilt from the dataset's files, and
    the mask of the samples during a stimulus."""
    events = pd.read_csv(ds.root / f"task-{ds.task}_events.tsv", sep="\t")
    timeline = np.zeros(n_times)
    during = np.zeros(n_times, dtype=bool)
    for onset, stim_file in zip(events["onset"], events["stim_file"], strict=True):
        audio, sfreq = soundfile.read(ds.root / "stimuli" / stim_file)
        env = broadband_envelope(audio, sfreq)
        start = round(onset * 100)
        timeline[start:start + len(env)] = env[: n_times - start]
        during[start:start + len(env)] = True
    return timeline, during


def _n_effective(x: np.ndarray, y: np.ndarray, max_lag: int = 300) -> float:
    """Bartlett's effective sample size of the correlation of two autocorrelated series."""
    def acf(z):
        z = (z - z.mean()) / z.std()
        return np.array([np.mean(z[: len(z) - k] * z[k:]) for k in range(max_lag)])
    rho_x, rho_y = acf(x), acf(y)
    return len(x) / (1 + 2 * np.sum(rho_x[1:] * rho_y[1:]))


def test_layout_and_mne_bids_reading(dataset):
    """The dataset has the BIDS files the issue lists, and mne-bids reads every recording."""
    root = dataset.root
    description = json.loads((root / "dataset_description.json").read_text())
    assert description["DatasetType"] == "raw" and description["License"] == "CC0"
    for name in ("README", "participants.tsv", "participants.json", "task-listen_events.json",
                 "sourcedata/ground_truth.json"):
        assert (root / name).is_file(), name
    assert pd.read_csv(root / "participants.tsv", sep="\t")["participant_id"].tolist() == [
        "sub-01", "sub-02"]
    events = pd.read_csv(root / "task-listen_events.tsv", sep="\t")
    assert events["stim_file"].tolist() == dataset.stimuli
    assert set(events["trial_type"]) == {"stimulus"}
    gaps = events["onset"].to_numpy()[1:] - (events["onset"] + events["duration"]).to_numpy()[:-1]
    assert events["onset"].iloc[0] > 2 and np.all((gaps >= 2) & (gaps <= 4.5))

    for subject, truth in dataset.ground_truth.items():
        raw = _read_raw(dataset, subject)
        assert raw.info["sfreq"] == 512.0 and raw.info["line_freq"] == 60.0
        assert set(raw.get_channel_types()) == {"ecog"}
        assert raw.info["bads"] == truth.bad
        assert sorted(truth.driven + truth.noise + truth.bad) == sorted(raw.ch_names)
        assert raw.times[-1] > events["onset"].iloc[-1] + events["duration"].iloc[-1]
        assert list(raw.annotations.description) == ["stimulus"] * len(events)
        montage = raw.get_montage()
        assert montage is not None and len(montage.ch_names) == len(raw.ch_names)
        ieeg = root / f"sub-{subject}" / "ieeg"
        sidecar = json.loads((ieeg / f"sub-{subject}_task-listen_ieeg.json").read_text())
        assert sidecar["PowerLineFrequency"] == 60 and sidecar["ECOGChannelCount"] == 32
        coords = json.loads(
            (ieeg / f"sub-{subject}_space-MNI152NLin2009aSym_coordsystem.json").read_text())
        assert coords["iEEGCoordinateSystem"] == "MNI152NLin2009aSym"
        channels = pd.read_csv(ieeg / f"sub-{subject}_task-listen_channels.tsv", sep="\t")
        bad_rows = channels[channels["status"] == "bad"]
        assert bad_rows["name"].tolist() == truth.bad
        assert bad_rows["status_description"].notna().all()
        electrodes = pd.read_csv(
            ieeg / f"sub-{subject}_space-MNI152NLin2009aSym_electrodes.tsv", sep="\t")
        driven_xyz = electrodes.set_index("name").loc[truth.driven, ["x", "y", "z"]]
        # left superior temporal gyrus
        assert driven_xyz["x"].between(-66, -54).all() and driven_xyz["z"].between(-10, 16).all()


def test_bad_channel_is_broken(dataset):
    """The channel marked bad is orders of magnitude noisier than the good ones."""
    truth = dataset.ground_truth["01"]
    raw = _read_raw(dataset, "01")
    rms = dict(zip(raw.ch_names, raw.get_data().std(axis=1), strict=True))
    good = [rms[name] for name in truth.driven + truth.noise]
    assert rms[truth.bad[0]] > 10 * max(good)
    assert 1e-6 < min(good) and max(good) < 1e-3  # volts: tens of microvolts


def test_stimuli_are_speech_like(dataset):
    """Audio is 16 kHz mono, modulated at syllable rate, loud inside words, silent between."""
    for stim_file in dataset.stimuli:
        audio, sfreq = soundfile.read(dataset.root / "stimuli" / stim_file)
        assert sfreq == AUDIO_SFREQ and audio.ndim == 1
        words = pd.read_csv(dataset.root / "stimuli" / stim_file.replace(".wav", ".tsv"),
                            sep="\t")
        assert list(words.columns) == ["word", "start", "end"] and len(words) > 40
        assert np.all(words["end"] > words["start"]) and np.all(np.diff(words["start"]) > 0)
        assert words["end"].iloc[-1] <= len(audio) / sfreq
        env = broadband_envelope(audio, sfreq)
        times = np.arange(len(env)) / 100
        inside = np.zeros(len(env), bool)
        for start, end in zip(words["start"], words["end"], strict=True):
            inside |= (times >= start) & (times < end)
        assert env[inside].mean() > 20 * env[~inside].mean()
        freqs = np.fft.rfftfreq(len(env), 0.01)
        power = np.abs(np.fft.rfft(env - env.mean())) ** 2
        band = (freqs > 0.5) & (freqs < 20)
        assert 1.5 < freqs[band][np.argmax(power[band])] < 8  # syllable / word rate


@pytest.mark.slow  # preprocesses every synthetic recording
def test_ground_truth_is_in_the_signals(dataset):
    """Driven channels' high-gamma follows k * env at about expected_r; noise channels' not.

    ``expected_r`` comes from independent noise draws inside the generator, so a single
    realisation differs from it by sampling noise: SD 0.02, at most 0.041 in 60 driven channels of
    seeds 0-4, so the tolerance is 4 SD. Noise channels: Bartlett's n_eff gave z-scores with SD
    1.01 over 250 noise channels.
    """
    for subject, truth in dataset.ground_truth.items():
        raw = _read_raw(dataset, subject)
        data = raw.get_data()
        highgamma = _highgamma(data, raw.info["sfreq"], raw.info["line_freq"])
        envelope, during = _recording_envelope(dataset, highgamma.shape[1])
        hg = {name: x[during] for name, x in zip(raw.ch_names, highgamma, strict=True)}
        for name in truth.driven:
            m = np.convolve(envelope, truth.kernels[name])[: len(envelope)][during]
            r = np.corrcoef(hg[name], m)[0, 1]
            assert 0.3 < truth.expected_r[name] < 0.7
            assert abs(r - truth.expected_r[name]) < 0.08, (subject, name, r)
        m = np.convolve(envelope, truth.kernels[truth.driven[0]])[: len(envelope)][during]
        for name in truth.noise:
            r = np.corrcoef(hg[name], m)[0, 1]
            assert abs(r) < 4 / np.sqrt(_n_effective(hg[name], m)), (subject, name, r)


def test_peak_lags_are_recovered(dataset):
    """The lag at which high-gamma best follows the raw envelope is the kernel's peak lag."""
    truth = dataset.ground_truth["01"]
    raw = _read_raw(dataset, "01")
    highgamma = _highgamma(raw.get_data(picks=truth.driven), raw.info["sfreq"], 60.0)
    envelope, _ = _recording_envelope(dataset, highgamma.shape[1])
    lags = np.arange(41)
    for name, hg in zip(truth.driven, highgamma, strict=True):
        xcorr = [np.corrcoef(hg[lag:], envelope[: len(envelope) - lag])[0, 1] for lag in lags]
        assert abs(lags[np.argmax(xcorr)] / 100 - truth.peak_lag[name]) <= 0.02, name
    assert len(set(truth.peak_lag.values())) == len(truth.driven)
    assert all(0.1 <= lag <= 0.25 for lag in truth.peak_lag.values())


def test_ground_truth_json_matches(dataset, tmp_path):
    """``sourcedata/ground_truth.json`` holds the returned ground truth and reads back."""
    saved = json.loads((dataset.root / "sourcedata" / "ground_truth.json").read_text())
    assert saved["generator"]["seed"] == 0
    assert [s["stim_file"] for s in saved["stimuli"]] == dataset.stimuli
    loaded = read_ground_truth(dataset.root)
    assert loaded.keys() == dataset.ground_truth.keys()
    for subject, truth in dataset.ground_truth.items():
        back = loaded[subject]
        assert (back.driven, back.noise, back.bad) == (truth.driven, truth.noise, truth.bad)
        assert back.expected_r == truth.expected_r and back.peak_lag == truth.peak_lag
        for name, kernel in truth.kernels.items():
            assert kernel.shape == (41,) and np.isclose(kernel.sum(), 1)
            np.testing.assert_allclose(back.kernels[name], kernel, atol=1e-7)
            assert np.argmax(kernel) / 100 == pytest.approx(truth.peak_lag[name])
    with pytest.raises(MissingInputError, match=r"ground_truth\.json"):
        read_ground_truth(tmp_path)


def _contents(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_deterministic_for_a_seed(tmp_path):
    """The same seed writes identical bytes; another seed writes different signals and audio."""
    first = _contents(make_synthetic_dataset(tmp_path / "a", seed=3, **SMALL).root)
    second = _contents(make_synthetic_dataset(tmp_path / "b", seed=3, **SMALL).root)
    other = _contents(make_synthetic_dataset(tmp_path / "c", seed=4, **SMALL).root)
    assert first == second
    assert first.keys() == other.keys()
    for name in ("sub-01/ieeg/sub-01_task-listen_ieeg.eeg", "stimuli/story1.wav",
                 "stimuli/story1.tsv"):
        assert first[name] != other[name], name


def test_edf_holds_the_same_signals(tmp_path):
    """EDF output reads through mne-bids and holds the BrainVision signals of the same seed."""
    edf = make_synthetic_dataset(tmp_path / "edf", data_format="EDF", line_freq=50.0, **SMALL)
    bv = make_synthetic_dataset(tmp_path / "bv", line_freq=50.0, **SMALL)
    raw_edf, raw_bv = _read_raw(edf, "01", ".edf"), _read_raw(bv, "01")
    assert raw_edf.ch_names == raw_bv.ch_names and raw_edf.info["line_freq"] == 50.0
    assert raw_edf.info["bads"] == edf.ground_truth["01"].bad
    good = [raw_bv.ch_names.index(n) for n in edf.ground_truth["01"].driven]
    np.testing.assert_allclose(raw_edf.get_data()[good], raw_bv.get_data()[good], atol=1e-8)


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"n_channels": 4, "n_driven": 3}, "n_channels"),
    ({"data_format": "fif"}, "data_format"),
    ({"sfreq": 256.0}, "sfreq"),
    ({"snr": 0.0}, "snr"),
])
def test_bad_arguments_are_usage_errors(tmp_path, kwargs, key):
    """A bad argument raises UsageError naming it, before anything is written."""
    with pytest.raises(UsageError, match=key):
        make_synthetic_dataset(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()
