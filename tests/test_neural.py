"""Neural preprocessing: configuration, referencing, channels, real-world quirks, outputs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import pybv
import pytest

from bids_app.bids import Recording
from bids_app.bids.tsv import read_tsv
from bids_app.errors import BadDataError, MissingInputError, UsageError
from bids_app.neural import (
    ElectrodeConfig,
    NeuralData,
    PreprocessingConfig,
    envelope_alignment,
    load_raw,
    onset_response,
    phrase_onsets,
    preprocess,
    response_onsets,
    speech_responsive,
    write_highgamma,
)
from bids_app.neural.io import reconcile_channels
from bids_app.neural.notch import parse_frequencies, resolve_line_freq
from bids_app.neural.reference import bipolar, bipolar_pairs
from bids_app.report.qc import _onset_figure
from bids_app.steps.electrodes import speech_responsiveness as _speech_responsive
from bids_app.stimuli import WordTimings


@pytest.fixture(scope="module")
def podcast(shared_data) -> Path:
    """ds005574 (Podcast) metadata under ../shared/data. Do not modify."""
    return shared_data / "ds005574"


@pytest.fixture(scope="module")
def filtered(shared_data) -> Path:
    """bids-examples ieeg_filtered_speech under ../shared/data. Do not modify."""
    return shared_data / "bids-examples" / "ieeg_filtered_speech"


@pytest.fixture(scope="module")
def pynm(shared_data) -> Path:
    """py_neuromodulation's example BrainVision recording folder under ../shared/data."""
    return (shared_data / "py_neuromodulation" / "data" / "sub-testsub" / "ses-EphysMedOff"
            / "ieeg")


def _noise_recording(folder: Path, names: list[str], *, sfreq: float = 512.0,
                     seconds: float = 10.0, channels: pd.DataFrame | None = None,
                     seed: int = 0, unit: str = "µV", **kwargs) -> Recording:
    """A BrainVision file of white noise (~20 µV) with the given channels, and its Recording."""
    rng = np.random.default_rng(seed)
    data = 20e-6 * rng.standard_normal((len(names), int(sfreq * seconds)))
    pybv.write_brainvision(data=data, sfreq=sfreq, ch_names=names, fname_base="sub-01_task-t_ieeg",
                           folder_out=folder, fmt="binary_float32", unit=unit, overwrite=True)
    if channels is None:
        channels = pd.DataFrame({"name": names, "type": "ECOG", "status": "good"})
    kwargs.setdefault("sidecar", {"PowerLineFrequency": 60})
    return Recording(subject="01", task="t", data_path=folder / "sub-01_task-t_ieeg.vhdr",
                     channels=channels, **kwargs)


# --- configuration -------------------------------------------------------------------------

@pytest.mark.parametrize(("key", "value"), [
    ("reference", "average"), ("highgamma", "wavelet"), ("zscore", "robust"),
    ("line_freq", "fifty"), ("line_freq", -50.0), ("band", [150.0, 70.0]), ("n_bands", 0),
    ("sfreq_out", 5.0), ("baseline", [2.0, 1.0]), ("block_size", 0)])
def test_config_rejects_bad_values_naming_the_key(key, value):
    with pytest.raises(UsageError, match=f"preprocessing.{key}"):
        PreprocessingConfig(**{key: value})


def test_config_band_defaults_per_method():
    assert PreprocessingConfig().resolved_band == [70.0, 150.0]
    assert PreprocessingConfig(highgamma="butterworth").resolved_band == [70.0, 200.0]
    assert PreprocessingConfig(band=[60.0, 140.0]).resolved_band == [60.0, 140.0]


# --- referencing, against hand-computed arrays ------------------------------------------------

def test_bipolar_neighbours_hand_computed():
    names = ["LA1", "LA2", "LA3", "LA5", "RH1", "RH2", "G10", "G11", "REF"]
    pairs = bipolar_pairs(names)
    # LA3-LA5 is a gap (a removed contact), REF has no number, prefixes never mix
    assert pairs == [("LA1", "LA2"), ("LA2", "LA3"), ("RH1", "RH2"), ("G10", "G11")]
    data = np.arange(len(names) * 2, dtype=float).reshape(len(names), 2) ** 2
    derived = bipolar(data, names, pairs)
    np.testing.assert_allclose(derived[0], data[0] - data[1])
    np.testing.assert_allclose(derived[3], data[6] - data[7])
    assert bipolar_pairs(["A1", "A2"], groups=["x", "y"]) == []


def test_preprocess_car_equals_manual_average(tmp_path):
    """With a notch-free band, pipeline CAR = envelope of (x - mean over good channels)."""
    names = ["G1", "G2", "G3", "G4"]
    channels = pd.DataFrame({"name": names, "type": "ECOG", "status": ["good"] * 3 + ["bad"]})
    rec = _noise_recording(tmp_path, names, channels=channels)
    config = PreprocessingConfig(reference="car", zscore="recording")
    neural = preprocess(rec, config)
    assert neural.ch_names == ["G1", "G2", "G3"]
    raw = mne.io.read_raw_brainvision(rec.data_path, preload=True, verbose="error")
    x = raw.get_data(picks=["G1", "G2", "G3"])
    manual = x - x.mean(axis=0)  # the bad G4 is not in the average
    rec_manual = _noise_recording(tmp_path / "m", names[:3], channels=channels.iloc[:3])
    pybv.write_brainvision(data=manual, sfreq=512.0, ch_names=names[:3],
                           fname_base="sub-01_task-t_ieeg", folder_out=tmp_path / "m",
                           fmt="binary_float32", overwrite=True)
    expected = preprocess(rec_manual, PreprocessingConfig(reference="none"))
    np.testing.assert_allclose(neural.data, expected.data, atol=2e-3)
    assert "common average" in neural.reference
    assert neural.software_filters["Rereference"]["NChannels"] == 3


def test_preprocess_car_per_group_column(tmp_path):
    names = ["A1", "A2", "B1", "B2"]
    channels = pd.DataFrame({"name": names, "type": "SEEG", "status": "good",
                             "group": ["A", "A", "B", "B"]})
    rec = _noise_recording(tmp_path, names, channels=channels)
    neural = preprocess(rec, PreprocessingConfig(reference="car"))
    # two-channel groups: after CAR, A1 = -A2 exactly, so their envelopes are identical
    np.testing.assert_allclose(neural.data[0], neural.data[1], atol=1e-4)
    np.testing.assert_allclose(neural.data[2], neural.data[3], atol=1e-4)
    assert not np.allclose(neural.data[0], neural.data[2], atol=0.1)
    assert neural.software_filters["Rereference"]["PerGroup"] is True
    assert "within each electrode group" in neural.reference


# --- channels -----------------------------------------------------------------------------

def test_auto_flag_records_flat_and_noisy_channels(tmp_path, caplog):
    names = [f"G{i}" for i in range(1, 13)]
    rec = _noise_recording(tmp_path, names)
    raw = mne.io.read_raw_brainvision(rec.data_path, preload=True, verbose="error")
    data = raw.get_data()
    data[3] = 0.0  # flat
    data[7] *= 100.0  # noisy
    pybv.write_brainvision(data=data, sfreq=512.0, ch_names=names,
                           fname_base="sub-01_task-t_ieeg", folder_out=tmp_path,
                           fmt="binary_float32", overwrite=True)
    # flagging is off by default, but a dead channel is always excluded
    default = preprocess(rec, PreprocessingConfig())
    assert default.ch_names == [name for name in names if name != "G4"]
    with caplog.at_level(logging.WARNING, logger="ssl_ieeg"):
        neural = preprocess(rec, PreprocessingConfig(auto_flag=True))
    assert "G4" not in neural.ch_names and "G8" not in neural.ch_names
    assert len(neural.ch_names) == 10
    table = neural.channels.set_index("name")
    assert table.loc["G4", "status"] == "bad"
    assert "dead: constant signal" in table.loc["G4", "status_description"]
    assert "auto-flagged: noisy" in table.loc["G8", "status_description"]
    assert "G8" in caplog.text


def test_spiky_and_line_noise_channels_are_flagged_by_qc_and_modelled_unless_auto_flag(
        tmp_path, caplog):
    """A channel with epileptiform-like spikes (30 a minute) and one with strong 60 Hz are
    flagged, kept and described in the derivative channels.tsv by default; ``auto_flag``
    excludes them. The quiet channels are flagged in neither case."""
    names = [f"G{i}" for i in range(1, 13)]
    rec = _noise_recording(tmp_path, names, seconds=60.0)
    raw = mne.io.read_raw_brainvision(rec.data_path, preload=True, verbose="error")
    data = raw.get_data()
    rng = np.random.default_rng(1)
    lag = np.arange(-20, 21)
    spike = 400e-6 * np.exp(-(lag / 6.0) ** 2) * np.sign(lag + 0.5)  # a sharp biphasic wave
    for start in rng.choice(np.arange(0, data.shape[1] - 41, 300), 30, replace=False):
        data[2, start:start + 41] += spike
    data[9] += 60e-6 * np.sin(2 * np.pi * 60 * raw.times)
    pybv.write_brainvision(data=data, sfreq=512.0, ch_names=names,
                           fname_base="sub-01_task-t_ieeg", folder_out=tmp_path,
                           fmt="binary_float32", overwrite=True)
    with caplog.at_level(logging.WARNING, logger="ssl_ieeg"):
        kept = preprocess(rec, PreprocessingConfig())
    assert kept.ch_names == names
    table = kept.channels.set_index("name")
    assert (table["status"] == "good").all()
    assert table.loc["G3", "status_description"].startswith(
        "QC flag (modelled): epileptiform-like spikes (30.0 per minute")
    assert table.loc["G10", "status_description"].startswith("QC flag (modelled): line noise")
    assert table.drop(["G3", "G10"])["status_description"].isna().all()
    assert "G3: QC flag (modelled): epileptiform-like spikes" in caplog.text
    excluded = preprocess(rec, PreprocessingConfig(auto_flag=True))
    assert excluded.ch_names == [n for n in names if n not in ("G3", "G10")]
    table = excluded.channels.set_index("name")
    assert table.loc["G3", "status_description"].startswith(
        "auto-flagged: epileptiform-like spikes")


def test_defective_channels_are_excluded_before_referencing_and_poison_no_other(tmp_path,
                                                                               caplog):
    names = [f"G{i}" for i in range(1, 13)]
    rec = _noise_recording(tmp_path, names)
    raw = mne.io.read_raw_brainvision(rec.data_path, preload=True, verbose="error")
    data = raw.get_data()
    data[1, 1024:1536] = np.nan  # a 1-s dropout, written as NaN
    data[4] = np.clip(data[4], -5e-6, 5e-6)  # clipped at the rails
    data[8] *= 1e-4  # a dead contact: noise far below the others
    pybv.write_brainvision(data=data, sfreq=512.0, ch_names=names,
                           fname_base="sub-01_task-t_ieeg", folder_out=tmp_path,
                           fmt="binary_float32", overwrite=True)
    with caplog.at_level(logging.WARNING, logger="ssl_ieeg"):
        neural = preprocess(rec, PreprocessingConfig())  # auto_flag off
    assert neural.ch_names == [n for n in names if n not in ("G2", "G5", "G9")]
    assert np.isfinite(neural.data).all()
    table = neural.channels.set_index("name")
    assert "non-finite samples: 512 of 5120, from 2.00 s to 3.00 s" in \
        table.loc["G2", "status_description"]
    assert table.loc["G5", "status_description"].startswith("clipped")
    assert table.loc["G9", "status_description"].startswith("dead: standard deviation")
    assert "G2 excluded before referencing: non-finite samples" in caplog.text
    # the common average of the others equals a run without those channels at all
    kept = [n for n in names if n not in ("G2", "G5", "G9")]
    pybv.write_brainvision(data=data[[names.index(n) for n in kept]], sfreq=512.0,
                           ch_names=kept, fname_base="sub-01_task-t_ieeg",
                           folder_out=tmp_path / "kept", fmt="binary_float32", overwrite=True)
    alone = preprocess(_recording_of(tmp_path / "kept", kept), PreprocessingConfig())
    np.testing.assert_allclose(alone.data, neural.data, atol=1e-4)


def _recording_of(folder: Path, names: list[str]) -> Recording:
    return Recording(subject="01", task="t", data_path=folder / "sub-01_task-t_ieeg.vhdr",
                     channels=pd.DataFrame({"name": names, "type": "ECOG", "status": "good"}),
                     sidecar={"PowerLineFrequency": 60})


# --- real-world quirks ----------------------------------------------------------------------

def test_quirk_bom_and_bad_nonneural_ecog_channels(podcast, tmp_path):
    """ds005574 sub-03: channels.tsv with a BOM; OSAT/PR/Pleth/TRIG typed ECOG but bad."""
    path = podcast / "sub-03" / "ieeg" / "sub-03_task-podcast_channels.tsv"
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf"
    channels = read_tsv(path)
    assert channels.columns[0] == "name"
    names = channels["name"].tolist()
    rec = _noise_recording(tmp_path, names, seconds=4.0, channels=channels)
    neural = preprocess(rec, PreprocessingConfig(block_size=64))
    table = neural.channels.set_index("name")
    for name in ("OSAT", "PR", "Pleth", "TRIG"):
        assert name not in neural.ch_names
        assert table.loc[name, "status"] == "bad"
        assert table.loc[name, "status_description"] == "bad in source: no localization"
    good_ecog = channels[(channels["type"] == "ECOG") & (channels["status"] == "good")]
    assert neural.ch_names == good_ecog["name"].tolist()
    misc = channels.loc[channels["type"] != "ECOG", "name"]
    assert table.loc[misc, "status_description"].str.startswith("not a neural").all()


def test_quirk_na_and_empty_cells(tmp_path):
    path = tmp_path / "channels.tsv"
    path.write_text("name\ttype\tstatus\tstatus_description\n"
                    "A1\tSEEG\tn/a\t\nA2\tSEEG\t\tn/a\nA3\tSEEG\tbad\t\n", encoding="utf-8")
    channels = read_tsv(path)
    rec = _noise_recording(tmp_path, ["A1", "A2", "A3"], channels=channels)
    neural = preprocess(rec, PreprocessingConfig())
    assert neural.ch_names == ["A1", "A2"]
    assert neural.channels.set_index("name").loc["A3", "status_description"] == (
        "bad in source: no reason given")


def test_quirk_list_valued_notch_and_software_filters(filtered, tmp_path):
    assert parse_frequencies("[60, 120, 180]") == [60.0, 120.0, 180.0]
    assert parse_frequencies([50, "100"]) == [50.0, 100.0]
    assert parse_frequencies("n/a") == []
    channels = read_tsv(filtered / "sub-ir08" / "ieeg" /
                        "sub-ir08_task-FilteredSpeech_channels.tsv")
    assert channels["notch"].iloc[0] == "[60, 120, 180]"
    names = channels["name"].tolist()[:6]
    sidecar = {"SoftwareFilters": [{"notch": [50, 100]}]}  # list-valued, not BIDS objects
    rec = _noise_recording(tmp_path, names, channels=channels.iloc[:6], sidecar=sidecar)
    assert resolve_line_freq("auto", rec) == 60.0  # from the notch column, no sidecar field
    neural = preprocess(rec, PreprocessingConfig())
    assert neural.qc["line_freq"] == 60.0
    assert neural.software_filters["SourceFilters"]["Value"] == sidecar["SoftwareFilters"]
    paths = write_highgamma(neural, tmp_path / "out" / "sub-01_task-t_desc-highgamma_ieeg.vhdr",
                            sidecar)
    assert json.loads(paths[0].read_text())["SoftwareFilters"]["NotchFilter"]["FrequenciesHz"]


@pytest.mark.filterwarnings("ignore:Encountered unsupported voltage units")
def test_quirk_microvolt_units_scaled_by_mne(tmp_path):
    channels = pd.DataFrame({"name": ["C1", "C2"], "type": "ECOG", "units": "µV",
                             "status": "good"})
    rec = _noise_recording(tmp_path, ["C1", "C2"], channels=channels, unit="µV")
    raw = load_raw(rec)
    data = raw.get_data()
    assert 5e-6 < data.std() < 50e-6  # 20 µV noise read back in volts
    rec_mv = _noise_recording(tmp_path / "mv", ["C1", "C2"], channels=channels, unit="mV")
    np.testing.assert_allclose(load_raw(rec_mv).get_data(), data, rtol=1e-5, atol=1e-12)
    assert raw.get_channel_types() == ["ecog", "ecog"]


def test_quirk_channels_tsv_lists_more_channels_than_file(filtered, tmp_path, caplog):
    """bids-examples ieeg_filtered_speech sub-cm4: 64 rows in channels.tsv, 61 in the header."""
    ieeg = filtered / "sub-cm4" / "ieeg"
    channels = read_tsv(ieeg / "sub-cm4_task-FilteredSpeech_channels.tsv")
    header = mne.io.read_raw_brainvision(ieeg / "sub-cm4_task-FilteredSpeech_ieeg.vhdr",
                                         verbose="error").ch_names
    assert (len(channels), len(header)) == (64, 61)
    with caplog.at_level(logging.WARNING, logger="ssl_ieeg"):
        table = reconcile_channels(channels, header, Path("x.vhdr"))
    assert "3 channel(s) of channels.tsv are not in the data file" in caplog.text
    missing = table.loc[~table["in_file"], "name"].tolist()
    assert len(missing) == 3 and not set(missing) & set(header)
    assert table["name"].tolist()[:61] == header
    rec = _noise_recording(tmp_path, header, channels=channels, seconds=4.0)
    neural = preprocess(rec, PreprocessingConfig(block_size=32))
    reasons = neural.channels.set_index("name").loc[missing, "status_description"]
    assert (reasons == "listed in channels.tsv but missing from the data file").all()


def test_without_channels_tsv_types_come_from_the_file(tmp_path):
    rec = _noise_recording(tmp_path, ["A1", "A2"], channels=pd.DataFrame())
    raw = mne.io.read_raw_brainvision(rec.data_path, verbose="error")
    raw.set_channel_types({"A1": "seeg", "A2": "misc"}, verbose="error")
    table = reconcile_channels(pd.DataFrame(), raw.ch_names, rec.data_path,
                               raw.get_channel_types())
    assert table["type"].tolist() == ["SEEG", "MISC"]
    assert table["status"].tolist() == ["good", "good"]


def test_quirk_pixel_coordinates_keep_running(filtered, tmp_path):
    ieeg = filtered / "sub-ir08" / "ieeg"
    electrodes = read_tsv(ieeg / "sub-ir08_electrodes.tsv")
    assert electrodes["z"].isna().all()
    rec = _noise_recording(tmp_path, ["G3", "G4", "G5"], electrodes=electrodes,
                           coordinate_space="Pixels")
    neural = preprocess(rec, PreprocessingConfig())
    assert neural.coordinate_space == "Pixels"
    assert neural.electrodes["name"].tolist() == ["G3", "G4", "G5"]
    assert neural.electrodes[["x", "y"]].notna().all().all()
    assert neural.electrodes["z"].isna().all()


def test_quirk_2048_hz_participant(podcast, tmp_path):
    sidecar = json.loads((podcast / "sub-07" / "ieeg" / "sub-07_task-podcast_ieeg.json")
                         .read_text())
    assert sidecar["SamplingFrequency"] == 2048.0
    sidecar["RecordingDuration"] = 5.0  # the recording is cropped to 5 s here
    rec = _noise_recording(tmp_path, ["A1", "A2", "A3"], sfreq=2048.0, seconds=5.0,
                           sidecar=sidecar)
    neural = preprocess(rec, PreprocessingConfig())
    assert neural.sfreq == 100.0 and neural.data.shape == (3, 500)
    assert neural.software_filters["NotchFilter"]["FrequenciesHz"][-1] == 1020.0  # < 1024


def test_sampling_rate_too_low_for_band_is_bad_data(tmp_path):
    rec = _noise_recording(tmp_path, ["A1", "A2"], sfreq=150.0)
    for method in ("multiband", "butterworth"):
        with pytest.raises(BadDataError, match="150 Hz is too low"):
            preprocess(rec, PreprocessingConfig(highgamma=method))


def test_quirk_sessions_runs_real_brainvision(pynm, tmp_path):
    """py_neuromodulation: real BrainVision, ses- and run- entities, ECOG + DBS + MISC."""
    channels = read_tsv(pynm / "sub-testsub_ses-EphysMedOff_task-gripforce_run-0_channels.tsv")
    sidecar = json.loads((pynm / "sub-testsub_ses-EphysMedOff_task-gripforce_run-0_ieeg.json")
                         .read_text())
    rec = Recording(subject="testsub", session="EphysMedOff", task="gripforce", run="0",
                    data_path=pynm / "sub-testsub_ses-EphysMedOff_task-gripforce_run-0_ieeg.vhdr",
                    sidecar=sidecar, channels=channels)
    neural = preprocess(rec, PreprocessingConfig(reference="bipolar"))
    # bipolar within each shaft/strip: LFP_RIGHT_0-1, 1-2 and ECOG_RIGHT_0-1 ... 4-5
    assert neural.ch_names[:2] == ["LFP_RIGHT_0-LFP_RIGHT_1", "LFP_RIGHT_1-LFP_RIGHT_2"]
    assert len(neural.ch_names) == 7
    assert "MOV_RIGHT" not in " ".join(neural.ch_names)
    n_times = mne.io.read_raw_brainvision(rec.data_path, verbose="error").n_times
    assert neural.data.shape[1] == int(np.ceil(n_times / 10))  # 1 kHz -> 100 Hz
    name = "sub-testsub_ses-EphysMedOff_task-gripforce_run-0_desc-highgamma_ieeg.vhdr"
    paths = write_highgamma(neural, tmp_path / name, sidecar)
    back = mne.io.read_raw_brainvision(paths[-1], preload=True, verbose="error")
    assert back.ch_names == neural.ch_names and back.info["sfreq"] == 100.0


def test_quirk_placeholder_is_exit_65(filtered):
    ieeg = filtered / "sub-ir08" / "ieeg"
    rec = Recording(subject="ir08", task="FilteredSpeech",
                    data_path=ieeg / "sub-ir08_task-FilteredSpeech_ieeg.vhdr")
    with pytest.raises(BadDataError, match=r"sub-ir08_task-FilteredSpeech_ieeg\.eeg") as err:
        load_raw(rec)
    assert err.value.exit_code == 65


def test_empty_and_missing_recordings_are_named(tmp_path):
    empty = tmp_path / "sub-01_task-t_ieeg.edf"
    empty.write_bytes(b"")
    with pytest.raises(BadDataError, match=r"sub-01_task-t_ieeg\.edf.*0 bytes"):
        preprocess(Recording(subject="01", task="t", data_path=empty), PreprocessingConfig())
    with pytest.raises(MissingInputError, match=r"nothere\.edf"):
        load_raw(Recording(subject="01", task="t", data_path=tmp_path / "nothere.edf"))


# --- derivative input -----------------------------------------------------------------------

def _highgamma_fif(folder: Path, names: list[str], positions_m: np.ndarray) -> Path:
    rng = np.random.default_rng(3)
    info = mne.create_info(names, 512.0, "ecog")
    raw = mne.io.RawArray(rng.random((len(names), 512 * 6)), info, verbose="error")
    montage = mne.channels.make_dig_montage(dict(zip(names, positions_m, strict=True)),
                                            coord_frame="mni_tal")
    raw.set_montage(montage, verbose="error")
    raw.info["bads"] = [names[-1]]
    path = folder / "derivatives" / "ecogprep" / "sub-01" / "ieeg"
    path.mkdir(parents=True)
    raw.save(path / "sub-01_task-t_desc-highgamma_ieeg.fif", verbose="error")
    (folder / "dataset_description.json").write_text("{}")
    return path / "sub-01_task-t_desc-highgamma_ieeg.fif"


def test_derivative_fif_skips_filtering(tmp_path):
    names = ["G1", "G2", "G3"]
    mm = np.array([[60.0, -1.3, -29.3], [66.0, -9.3, -21.3], [50.0, 10.0, 5.0]])
    _highgamma_fif(tmp_path, names, mm / 1000.0)
    data_dir = tmp_path / "sub-01" / "ieeg"
    data_dir.mkdir(parents=True)
    electrodes = pd.DataFrame({"name": names, "x": mm[:, 0], "y": mm[:, 1], "z": mm[:, 2]})
    rec = Recording(subject="01", task="t", data_path=data_dir / "sub-01_task-t_ieeg.edf",
                    channels=pd.DataFrame({"name": names, "type": "ECOG", "status": "good"}),
                    electrodes=electrodes)
    pattern = "derivatives/ecogprep/sub-{subject}/ieeg/*_desc-highgamma_ieeg.fif"
    neural = preprocess(rec, PreprocessingConfig(derivative=pattern))
    assert neural.ch_names == ["G1", "G2"]  # G3 is bad in the FIF
    assert neural.data.shape == (2, 600)  # 6 s resampled 512 -> 100 Hz
    assert "SourceDerivative" in neural.software_filters
    assert "NotchFilter" not in neural.software_filters
    moved = electrodes.assign(x=electrodes["x"] + [0.0, 5.0, 0.0])
    with pytest.raises(BadDataError, match=r"G2 is 5\.0 mm away"):
        preprocess(Recording(subject="01", task="t", data_path=rec.data_path,
                             channels=rec.channels, electrodes=moved),
                   PreprocessingConfig(derivative=pattern))
    with pytest.raises(MissingInputError, match="must match one file"):
        preprocess(rec, PreprocessingConfig(derivative="derivatives/none/*.fif"))


# --- outputs and analyses -------------------------------------------------------------------

def test_write_highgamma_roundtrip_and_sidecar(tmp_path):
    names = ["G1", "G2", "G3"]
    channels = pd.DataFrame({"name": [*names, "EKG"], "type": ["ECOG"] * 3 + ["ECG"],
                             "status": "good"})
    rec = _noise_recording(tmp_path, [*names, "EKG"], channels=channels,
                           sidecar={"PowerLineFrequency": 50, "TaskName": "t",
                                    "SamplingFrequency": 512, "ECGChannelCount": 1})
    neural = preprocess(rec, PreprocessingConfig(zscore="baseline", baseline=[1.0, 6.0]))
    window = neural.data[:, 100:600]
    np.testing.assert_allclose(window.mean(axis=1), 0, atol=1e-4)
    out = tmp_path / "deriv" / "sub-01" / "ieeg" / "sub-01_task-t_desc-highgamma_ieeg.vhdr"
    paths = write_highgamma(neural, out, rec.sidecar)
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(p.name for p in paths)
    sidecar = json.loads(paths[0].read_text())
    assert sidecar["SamplingFrequency"] == 100.0 and sidecar["TaskName"] == "t"
    assert sidecar["ECOGChannelCount"] == 3 and "ECGChannelCount" not in sidecar
    assert sidecar["SoftwareFilters"]["NotchFilter"]["FrequenciesHz"][:2] == [50.0, 100.0]
    assert sidecar["SoftwareFilters"]["ZScore"]["BaselineS"] == [1.0, 6.0]
    assert "common average" in sidecar["iEEGReference"]
    table = read_tsv(paths[1])
    assert table.set_index("name").loc["EKG", "status_description"].startswith("not a neural")
    back = mne.io.read_raw_brainvision(out, preload=True, verbose="error")
    np.testing.assert_array_equal(back.get_data().astype(np.float32), neural.data)


def _fake_neural(data: np.ndarray, sfreq: float = 100.0) -> NeuralData:
    names = [f"E{i}" for i in range(len(data))]
    return NeuralData(data=data.astype(np.float32), sfreq=sfreq, ch_names=names,
                      channels=pd.DataFrame({"name": names}))


def test_speech_responsive_finds_responding_channels():
    rng = np.random.default_rng(1)
    data = rng.standard_normal((6, 100 * 120))
    onsets = np.arange(2.0, 118.0, 4.0)
    for onset in onsets:  # channels 0 and 1 rise by 1 SD for 0.5 s after each onset
        data[:2, int(onset * 100):int(onset * 100) + 50] += 1.0
    table = speech_responsive(_fake_neural(data), onsets)
    assert table["responsive"].tolist() == [True, True, False, False, False, False]
    assert (table["p_bonferroni"] >= table["p"]).all()
    assert table["n_trials"].iloc[0] == len(onsets)
    times, response = onset_response(_fake_neural(data), onsets, tmin=-0.2, tmax=0.6)
    assert response.shape == (6, len(times))
    assert response[0, (times > 0.1) & (times < 0.4)].mean() > 0.8
    with pytest.raises(BadDataError, match=">= 2 onsets"):
        speech_responsive(_fake_neural(data), np.array([500.0]))


def test_envelope_alignment_finds_planted_lag():
    rng = np.random.default_rng(2)
    envelope = np.convolve(rng.standard_normal(6000), np.ones(10) / 10, "same")  # 60 s, 100 Hz
    data = np.zeros((3, 8000))
    start, lag = 1000, 15  # stimulus at 10 s; cortex follows by 150 ms
    data[:, start + lag:start + lag + 6000] = envelope
    data += 0.5 * rng.standard_normal(data.shape)
    result = envelope_alignment(_fake_neural(data), envelope, 100.0, onset=10.0, max_lag=0.5)
    assert result["peak_lag"] == pytest.approx(0.15)
    assert result["peak_r"] > 0.5


def test_one_story_with_pauses_finds_responsive_electrodes_from_phrase_onsets():
    rng = np.random.default_rng(4)
    # one 120 s story starting at 5 s: phrases of 4 words (0.25 s each, 0.05 s apart), then a
    # pause of 0.8 s; a 0.3 s gap inside a phrase is not a pause
    onsets, offsets, t = [], [], 1.0
    while t < 115:
        for _ in range(4):
            onsets.append(t)
            offsets.append(t + 0.25)
            t += 0.3
        t += 0.8
    words = WordTimings(tuple("w" * len(onsets)), np.array(onsets), np.array(offsets))
    phrases = phrase_onsets(words.onsets, words.offsets, pause=0.5)
    np.testing.assert_allclose(phrases, words.onsets[::4])
    data = rng.standard_normal((5, 100 * 130))
    for onset in 5.0 + phrases:  # channels 0 and 1 rise after speech resumes
        data[:2, int(onset * 100):int(onset * 100) + 50] += 1.0
    onsets, kind = response_onsets([5.0], [(words.onsets, words.offsets)], pause=0.5)
    assert kind == "phrase"
    np.testing.assert_allclose(onsets, 5.0 + phrases)
    table = _speech_responsive(_fake_neural(data), onsets, kind, ElectrodeConfig())
    assert table["responsive"].tolist() == [True, True, False, False, False]
    assert (table["onset_kind"] == "phrase").all()
    assert table["n_trials"].iloc[0] == len(phrases)
    figure = _onset_figure(_fake_neural(data), onsets, kind, 0.5,
                           table["responsive"].to_numpy(bool))
    title = figure.axes[0].get_title()
    assert f"{len(phrases)} phrase onsets" in title and "0.5 s of silence" in title
    none, _ = response_onsets([5.0], [None], pause=0.5)
    assert _speech_responsive(_fake_neural(data), none, kind, ElectrodeConfig()) is None
    two, kind = response_onsets([5.0, 60.0], [None, None], pause=0.5)
    assert kind == "stimulus" and two.tolist() == [5.0, 60.0]
