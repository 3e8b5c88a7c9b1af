"""``make_synthetic_dataset``: a small BIDS iEEG dataset with a known ground truth."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bids_app.errors import MissingInputError, OutputError, UsageError
from bids_app.outputs.atomic import write_json
from bids_app.synthetic import layout, signals
from bids_app.synthetic.audio import AUDIO_SFREQ, broadband_envelope, make_speech

logger = logging.getLogger("ssl_ieeg")

TASK = "listen"
_LEAD_IN = 4.0  # seconds of recording before the first stimulus
_TAIL = 4.0  # seconds after the last one
_GAP_RANGE = (2.0, 4.0)  # seconds between stimuli
_ONSET_GRID = 0.25  # onsets fall on whole samples of both 100 Hz and 512 Hz
_PEAK_LAG_RANGE = (0.10, 0.25)
_WIDTH_RANGE = (0.03, 0.05)
_STG = np.array([[-60.0, -40.0, 12.0], [-58.0, 0.0, -6.0]])  # posterior and anterior STG (mm)
_OTHER_REGIONS = np.array([
    [-44.0, 30.0, 28.0],  # middle frontal gyrus
    [-50.0, 12.0, 12.0],  # inferior frontal gyrus
    [-52.0, -6.0, 44.0],  # precentral gyrus
    [-56.0, -42.0, 34.0],  # supramarginal gyrus
    [-42.0, -66.0, 40.0],  # angular gyrus
    [-58.0, -30.0, -18.0],  # inferior temporal gyrus
])


@dataclass
class GroundTruth:
    """What the generator put into one participant's recording.

    Attributes
    ----------
    driven : list of str
        Channels whose high-gamma amplitude follows a drive: the audio envelope, or one of the
        extra sources passed to :func:`make_synthetic_dataset` (see ``sources``).
    noise : list of str
        Good channels with no relation to the stimulus.
    bad : list of str
        The channel marked bad in ``channels.tsv`` (one).
    kernels : dict of str to ndarray, shape (41,)
        Response kernel of each driven channel at 100 Hz, lags 0 to 0.4 s, summing to 1.
    peak_lag : dict of str to float
        Lag of each kernel's maximum, in seconds.
    expected_r : dict of str to float
        Correlation, over the samples during the stimuli, of the true drive ``k ∗ m`` with
        the channel's 100 Hz high-gamma envelope (standard 8-band Gaussian estimator), from
        independent noise draws at the generator's SNR (see
        :func:`bids_app.synthetic.signals.expected_r`): the r of a perfect model of the drive.
        A cross-validated ridge on the audio envelope reached 0.92–1.05 of it.
    """

    driven: list[str]
    noise: list[str]
    bad: list[str]
    kernels: dict[str, np.ndarray]
    peak_lag: dict[str, float]
    expected_r: dict[str, float]
    sources: dict[str, str] = field(default_factory=dict)

    def source_of(self, channel: str) -> str:
        """The source a driven channel follows (``"envelope"`` unless ``sources`` names one)."""
        return self.sources.get(channel, "envelope")

    def of_source(self, source: str) -> list[str]:
        """The driven channels that follow ``source``."""
        return sorted(ch for ch in self.driven if self.source_of(ch) == source)

    def to_json(self) -> dict:
        """The ground truth as JSON-serialisable types.

        Returns
        -------
        data : dict
        """
        return {
            "driven": self.driven, "noise": self.noise, "bad": self.bad,
            "kernels": {name: np.round(k, 8).tolist() for name, k in self.kernels.items()},
            "peak_lag": self.peak_lag, "expected_r": self.expected_r, "sources": self.sources,
        }

    @classmethod
    def from_json(cls, data: dict) -> GroundTruth:
        """Rebuild a ground truth from the output of :meth:`to_json`.

        Parameters
        ----------
        data : dict
            One participant's entry of ``sourcedata/ground_truth.json``.

        Returns
        -------
        truth : GroundTruth
        """
        return cls(driven=list(data["driven"]), noise=list(data["noise"]),
                   bad=list(data["bad"]),
                   kernels={name: np.asarray(k) for name, k in data["kernels"].items()},
                   peak_lag=dict(data["peak_lag"]), expected_r=dict(data["expected_r"]),
                   sources=dict(data.get("sources", {})))


@dataclass
class SyntheticDataset:
    """A generated dataset and its ground truth.

    Attributes
    ----------
    root : Path
        The BIDS root.
    subjects : list of str
        Participant labels without ``sub-``.
    task : str
        The task label (``"listen"``).
    stimuli : list of str
        Audio file names in ``stimuli/``, in presentation order.
    ground_truth : dict of str to GroundTruth
        Per participant label.
    """

    root: Path
    subjects: list[str]
    task: str
    stimuli: list[str]
    ground_truth: dict[str, GroundTruth]


def make_synthetic_dataset(
    root: str | Path, *, n_subjects: int = 2, n_stimuli: int = 3, stim_duration: float = 40.0,
    sfreq: float = 512.0, n_channels: int = 32, n_driven: int = 6, snr: float = 1.0,
    line_freq: float = 60.0, seed: int = 0, data_format: str = "BrainVision",
    drives: Callable[[Path, list[str]], dict[str, list[np.ndarray]]] | None = None,
    n_per_drive: int = 4,
) -> SyntheticDataset:
    """Write a small BIDS iEEG speech-listening dataset whose ground truth is known.

    All participants hear the same ``n_stimuli`` speech-like stimuli at the same recording
    times (one dataset-level ``events.tsv``). On ``n_driven`` channels of each participant, the
    70–150 Hz amplitude follows ``1 + g·(k ∗ env) + σ·η`` with ``k`` a channel-specific lagged
    kernel and ``env`` the audio envelope; the other good channels carry a constant-amplitude
    carrier; one channel is extremely noisy and marked bad (see :mod:`bids_app.synthetic.signals`).
    The ground truth is also written to ``root/sourcedata/ground_truth.json``.

    Parameters
    ----------
    root : str | Path
        Where to write the dataset (created if needed; existing files are replaced).
    n_subjects : int
        Number of participants (labels ``01``, ``02``, ...).
    n_stimuli : int
        Number of stimuli (``story1.wav``, ...).
    stim_duration : float
        Length of each stimulus in seconds.
    sfreq : float
        Sampling rate of the recordings in Hz (at least 400).
    n_channels : int
        Channels per participant, including the bad one. With few channels, a common average
        reference leaks the driven channels' high-gamma into the noise channels (measured with
        6 driven channels: noise r about +0.07 with 16 channels, none with 32).
    n_driven : int
        Driven channels per participant (at most ``n_channels - 2``).
    snr : float
        Variance of the stimulus-driven high-gamma amplitude over that of its spontaneous
        fluctuation, on driven channels. The default gives ``expected_r`` of about 0.6.
    line_freq : float
        Power-line frequency in Hz (50 or 60), written as ``PowerLineFrequency``.
    seed : int
        Seed of every random choice: the same seed writes the same bytes.
    data_format : str
        ``"BrainVision"`` (float32 µV) or ``"EDF"``.
    drives : callable | None
        Extra sources of drive: called with ``root`` and the stimulus file names once the
        stimuli are written, it returns ``{source: [one array per stimulus]}``, each at 100 Hz
        in stimulus time (e.g. a model layer's projection; see
        :mod:`bids_app.synthetic.planted`). ``n_per_drive`` channels of each participant
        follow each source, besides the ``n_driven`` that follow the envelope.
    n_per_drive : int
        Channels per extra source.

    Returns
    -------
    dataset : SyntheticDataset
    """
    _validate(n_subjects=n_subjects, n_stimuli=n_stimuli, stim_duration=stim_duration,
              sfreq=sfreq, n_channels=n_channels, n_driven=n_driven, snr=snr,
              line_freq=line_freq, data_format=data_format)
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"Cannot create the synthetic dataset folder {root}: {err}") from err
    stim_seq, meta_seq, *subject_seqs = np.random.SeedSequence(seed).spawn(2 + n_subjects)
    meta_rng = np.random.default_rng(meta_seq)
    subjects = [f"{i + 1:02d}" for i in range(n_subjects)]

    stim_files, envelopes = [], []
    for i, stim_rng in enumerate(map(np.random.default_rng, stim_seq.spawn(n_stimuli))):
        audio, words = make_speech(stim_duration, stim_rng)
        stim_files.append(layout.write_stimulus(root, f"story{i + 1}", audio, AUDIO_SFREQ,
                                                words))
        envelopes.append(broadband_envelope(audio, AUDIO_SFREQ, signals.ENVELOPE_SFREQ))
    onsets, duration = _schedule(n_stimuli, stim_duration, meta_rng)
    envelope, during = _recording_envelope(envelopes, onsets, duration)
    timelines = {"envelope": envelope}
    for source, per_stimulus in (drives(root, stim_files) if drives else {}).items():
        timelines[source] = _recording_envelope(per_stimulus, onsets, duration)[0]
    counts = {"envelope": n_driven, **{source: n_per_drive for source in timelines
                                       if source != "envelope"}}
    if n_channels < sum(counts.values()) + 2:
        raise UsageError(f"n_channels must be >= {sum(counts.values()) + 2} for {counts} "
                         f"driven channels, got {n_channels}")
    layout.write_dataset_files(root, task=TASK, seed=seed, subjects=subjects, rng=meta_rng)
    layout.write_events(root, TASK, stim_files, onsets, [stim_duration] * n_stimuli)
    logger.info("Wrote %d synthetic stimuli of %.0f s to %s", n_stimuli, stim_duration,
                root / "stimuli")

    ground_truth = {}
    for label, seq in zip(subjects, subject_seqs, strict=True):
        ground_truth[label] = _make_subject(
            root, label, timelines, counts, during, duration=duration, sfreq=sfreq,
            n_channels=n_channels, snr=snr, line_freq=line_freq, data_format=data_format,
            rng=np.random.default_rng(seq))
        logger.info("Wrote synthetic participant sub-%s", label)
    write_json(root / "sourcedata" / "ground_truth.json", _ground_truth_json(
        ground_truth, seed=seed, snr=snr, sfreq=sfreq, stim_files=stim_files, onsets=onsets,
        stim_duration=stim_duration))
    return SyntheticDataset(root=root, subjects=subjects, task=TASK, stimuli=stim_files,
                            ground_truth=ground_truth)


def read_ground_truth(root: str | Path) -> dict[str, GroundTruth]:
    """Read ``root/sourcedata/ground_truth.json`` written by :func:`make_synthetic_dataset`.

    Parameters
    ----------
    root : str | Path
        The synthetic dataset's BIDS root.

    Returns
    -------
    ground_truth : dict of str to GroundTruth
        Per participant label (without ``sub-``).

    Raises
    ------
    MissingInputError
        When the file does not exist (the dataset was not made by this generator).
    """
    path = Path(root) / "sourcedata" / "ground_truth.json"
    if not path.is_file():
        raise MissingInputError(f"{path} not found: only datasets written by "
                                "make_synthetic_dataset have a ground truth.")
    subjects = json.loads(path.read_text(encoding="utf-8"))["subjects"]
    return {label: GroundTruth.from_json(entry) for label, entry in subjects.items()}


def _validate(*, n_subjects: int, n_stimuli: int, stim_duration: float, sfreq: float,
              n_channels: int, n_driven: int, snr: float, line_freq: float,
              data_format: str) -> None:
    """Raise UsageError naming the first bad argument."""
    checks = [
        (n_subjects >= 1, f"n_subjects must be >= 1, got {n_subjects}"),
        (n_stimuli >= 1, f"n_stimuli must be >= 1, got {n_stimuli}"),
        (stim_duration >= 5.0, f"stim_duration must be >= 5 s, got {stim_duration}"),
        (sfreq >= 400.0, f"sfreq must be >= 400 Hz (the carrier reaches 150 Hz), got {sfreq}"),
        (n_driven >= 1, f"n_driven must be >= 1, got {n_driven}"),
        (n_channels >= n_driven + 2,
         f"n_channels must be >= n_driven + 2 (room for a noise and a bad channel), "
         f"got n_channels={n_channels}, n_driven={n_driven}"),
        (snr > 0, f"snr must be > 0, got {snr}"),
        (line_freq in (50.0, 60.0), f"line_freq must be 50 or 60, got {line_freq}"),
        (data_format in layout.DATA_FORMATS,
         f"data_format must be one of {layout.DATA_FORMATS}, got {data_format!r}"),
    ]
    for ok, message in checks:
        if not ok:
            raise UsageError(message)


def _schedule(n_stimuli: int, stim_duration: float,
              rng: np.random.Generator) -> tuple[list[float], float]:
    """Stimulus onsets (on a 0.25 s grid) and the recording length, in seconds."""
    onsets = [_LEAD_IN]
    for _ in range(n_stimuli - 1):
        after = onsets[-1] + stim_duration + rng.uniform(*_GAP_RANGE)
        onsets.append(math.ceil(after / _ONSET_GRID) * _ONSET_GRID)
    return onsets, math.ceil((onsets[-1] + stim_duration + _TAIL) / _ONSET_GRID) * _ONSET_GRID


def _recording_envelope(envelopes: list[np.ndarray], onsets: list[float],
                        duration: float) -> tuple[np.ndarray, np.ndarray]:
    """The stimuli's envelopes placed at their onsets in recording time (zero elsewhere), and
    the mask of the samples during a stimulus."""
    rate = signals.ENVELOPE_SFREQ
    timeline = np.zeros(round(duration * rate))
    during = np.zeros(len(timeline), dtype=bool)
    for env, onset in zip(envelopes, onsets, strict=True):
        start = round(onset * rate)
        timeline[start:start + len(env)] = env
        during[start:start + len(env)] = True
    return timeline, during


def _make_subject(root: Path, label: str, timelines: dict[str, np.ndarray],
                  counts: dict[str, int], during: np.ndarray, *, duration: float, sfreq: float,
                  n_channels: int, snr: float, line_freq: float, data_format: str,
                  rng: np.random.Generator) -> GroundTruth:
    """Choose one participant's channel roles, synthesise and write the recording.

    ``timelines`` holds each source of drive on the recording's 100 Hz timeline, ``counts``
    how many channels follow it.
    """
    names = [f"G{i + 1:02d}" for i in range(n_channels)]
    order = rng.permutation(n_channels)
    n_driven = sum(counts.values())
    driven = sorted(names[i] for i in order[:n_driven])
    sources = dict(zip([names[i] for i in order[:n_driven]],
                       [source for source, n in counts.items() for _ in range(n)], strict=True))
    bad = [names[order[n_driven]]]
    noise = sorted(names[i] for i in order[n_driven + 1:])
    peaks = rng.permutation(np.round(np.linspace(*_PEAK_LAG_RANGE, n_driven), 2))
    kernels = {name: signals.trf_kernel(float(peak), rng.uniform(*_WIDTH_RANGE))
               for name, peak in zip(driven, peaks, strict=True)}
    peak_lag = {name: float(np.argmax(k)) / signals.ENVELOPE_SFREQ
                for name, k in kernels.items()}
    drives = {name: signals.drive(timelines[sources[name]], k) for name, k in kernels.items()}

    n_samples = round(duration * sfreq)
    data = np.empty((n_channels, n_samples))
    for i, name in enumerate(names):
        if name in bad:
            data[i] = signals.bad_channel(n_samples, sfreq, line_freq, rng)
            continue
        amplitude = (signals.relative_amplitude(drives[name], snr, n_samples, sfreq, rng)
                     if name in drives else np.ones(n_samples))
        data[i] = signals.good_channel(amplitude, sfreq, line_freq, rng)
    expected = {name: round(signals.expected_r(m, during, snr, n_samples, sfreq, rng), 4)
                for name, m in drives.items()}

    ieeg_dir = root / f"sub-{label}" / "ieeg"
    layout.write_recording(ieeg_dir, f"sub-{label}_task-{TASK}_ieeg", data, sfreq, names,
                           data_format)
    layout.write_sidecars(
        ieeg_dir, f"sub-{label}", task=TASK, sfreq=sfreq, line_freq=line_freq,
        duration=n_samples / sfreq, channels=_channel_table(names, bad),
        electrodes=_electrodes(names, driven, rng))
    return GroundTruth(driven=driven, noise=noise, bad=bad, kernels=kernels,
                       peak_lag=peak_lag, expected_r=expected,
                       sources={} if set(sources.values()) == {"envelope"} else sources)


def _channel_table(names: list[str], bad: list[str]) -> pd.DataFrame:
    """``name``, ``status`` and ``status_description`` of every channel."""
    return pd.DataFrame({
        "name": names,
        "status": ["bad" if name in bad else "good" for name in names],
        "status_description": ["excessive broadband noise (synthetic bad channel)"
                               if name in bad else np.nan for name in names],
    })


def _electrodes(names: list[str], driven: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """MNI coordinates: driven channels along the left superior temporal gyrus, the others
    scattered over left frontal, parietal and inferior temporal cortex."""
    along = iter(np.linspace(0.0, 1.0, len(driven)))
    xyz = []
    for name in names:
        if name in driven:
            centre = _STG[0] + next(along) * (_STG[1] - _STG[0])
            xyz.append(centre + rng.uniform(-2.0, 2.0, size=3))
        else:
            centre = _OTHER_REGIONS[rng.integers(len(_OTHER_REGIONS))]
            xyz.append(centre + rng.uniform(-6.0, 6.0, size=3))
    xyz = np.round(np.array(xyz), 2)
    return pd.DataFrame({"name": names, "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]})


def _ground_truth_json(ground_truth: dict[str, GroundTruth], *, seed: int, snr: float,
                       sfreq: float, stim_files: list[str], onsets: list[float],
                       stim_duration: float) -> dict:
    """The ground truth and the definitions a reader needs to use it."""
    return {
        "generator": {"seed": seed, "snr": snr, "sfreq": sfreq,
                      "drive_sd": signals.DRIVE_SD, "highgamma_band": list(signals.HG_BAND)},
        "definitions": {
            "amplitude": "70-150 Hz carrier amplitude a(t) = 1 + g*(k*env)(t) + sigma*eta(t) "
                         "on driven channels (g*(k*env) has SD drive_sd, "
                         "var(g*(k*env))/var(sigma*eta) = snr), 1 on noise channels",
            "env": "RMS of the audio in centred 10 ms windows at 100 Hz, placed at the "
                   "stimulus onsets in recording time, 0 elsewhere",
            "kernels": "causal kernels at 100 Hz; element j is the weight of lag j/100 s",
            "expected_r": "mean Pearson r, over the samples during the stimuli, of k*env "
                          "with the 100 Hz high-gamma envelope (8 Gaussian bands 70-150 Hz, "
                          "sd 0.39*sqrt(centre), Hilbert amplitude averaged over bands, "
                          "polyphase resampling) of 4 independent noise draws of the channel "
                          "without line noise",
        },
        "stimuli": [{"stim_file": f, "onset": o, "duration": stim_duration}
                    for f, o in zip(stim_files, onsets, strict=True)],
        "subjects": {label: gt.to_json() for label, gt in ground_truth.items()},
    }
