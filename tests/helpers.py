"""Shared helpers of the test suite (not a test module)."""

from __future__ import annotations

import shutil
from pathlib import Path

import mne
import numpy as np


def copy_metadata(source: Path, dest: Path) -> Path:
    """Copy a text-only BIDS dataset (e.g. one under ``shared_data``) into a temporary folder."""
    shutil.copytree(source, dest)
    return dest


def write_edf(path: Path, ch_names: list[str], sfreq: float, seconds: float = 4.0,
              seed: int = 0) -> Path:
    """Write a short EDF of white noise (in volts, ~50 µV) with the given channel names."""
    rng = np.random.default_rng(seed)
    n_times = int(seconds * sfreq)
    info = mne.create_info(ch_names, sfreq, ch_types="ecog")
    raw = mne.io.RawArray(rng.normal(0, 50e-6, (len(ch_names), n_times)), info, verbose=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    mne.export.export_raw(path, raw, fmt="edf", overwrite=True, verbose=False)
    return path


def write_driven_recording(path: Path, ch_names: list[str], driven: list[str], sfreq: float,
                           seconds: float, audio: np.ndarray, onset: float,
                           line_freq: float, seed: int = 0) -> Path:
    """Write a recording whose ``driven`` channels' high gamma follows ``audio`` from ``onset``.

    The other channels are background, carrier and line noise (the demo generator's signals);
    ``.edf`` or ``.vhdr`` by the suffix of ``path``.
    """
    from bids_app.synthetic import AUDIO_SFREQ, broadband_envelope, signals
    from bids_app.synthetic.layout import write_recording

    timeline = np.zeros(round(seconds * signals.ENVELOPE_SFREQ))
    envelope = broadband_envelope(audio, AUDIO_SFREQ, signals.ENVELOPE_SFREQ)
    start = round(onset * signals.ENVELOPE_SFREQ)
    timeline[start:start + len(envelope)] = envelope[: len(timeline) - start]
    data = signals.driven_signals(timeline, np.isin(ch_names, driven), round(seconds * sfreq),
                                  sfreq, line_freq, np.random.default_rng(seed))
    stem = path.name.removesuffix(path.suffix)
    fmt = "EDF" if path.suffix == ".edf" else "BrainVision"
    return write_recording(path.parent, stem, data, sfreq, ch_names, fmt)


def write_small_config(demo_config: Path, out_dir: Path) -> Path:
    """A quick configuration: the demo's acoustic spaces and its tiny Wav2Vec2, no comparisons.

    A participant of the synthetic dataset runs in a few seconds with it.
    """
    import yaml

    config = yaml.safe_load(demo_config.read_text())
    config["features"] = [spec for spec in config["features"]
                          if spec["name"] in ("envelope", "mel", "wav2vec2")]
    config["statistics"] = {"n_permutations": 100}
    config.pop("comparison", None)
    path = out_dir / "small_config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def app_command(*args: str | Path) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run ``ssl-ieeg ARGS`` from this checkout.

    ``python -m bids_app`` with the repository root first on ``PYTHONPATH``, so a subprocess
    runs this working tree's code even where another copy of the package is installed.
    """
    import os
    import sys

    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return ([sys.executable, "-m", "bids_app", *map(str, args)],
            {**os.environ, "PYTHONPATH": path})
