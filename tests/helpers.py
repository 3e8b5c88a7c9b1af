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
