"""Atomic BrainVision (``.vhdr``/``.vmrk``/``.eeg``) writer for float32 derivatives."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pybv

from bids_app.errors import OutputError

BRAINVISION_SUFFIXES = (".eeg", ".vmrk", ".vhdr")  # the header is renamed last


def write_brainvision(vhdr_path: str | Path, data: np.ndarray, sfreq: float,
                      ch_names: list[str], unit: str = "µV") -> list[Path]:
    """Write a BrainVision triplet of IEEE float32 samples, atomically.

    The three files are written under their final names in a temporary folder beside
    ``vhdr_path`` (the header refers to its companions by name), then renamed into place,
    header last: a reader that finds the ``.vhdr`` finds complete ``.eeg`` and ``.vmrk`` files.

    Parameters
    ----------
    vhdr_path : str | Path
        Destination header, ending in ``.vhdr``.
    data : ndarray, shape (n_channels, n_times)
        Samples, stored unscaled in ``unit`` (resolution 1).
    sfreq : float
        Sampling rate in Hz.
    ch_names : list of str
        Channel names.
    unit : str
        Unit written in the header for every channel (``"µV"``, or e.g. ``"z"`` for z-scores;
        values are never rescaled).

    Returns
    -------
    paths : list of Path
        The ``.eeg``, ``.vmrk`` and ``.vhdr`` files written.

    Raises
    ------
    OutputError
        When the folder cannot be created or written.
    """
    vhdr_path = Path(vhdr_path)
    if vhdr_path.suffix != ".vhdr":
        raise OutputError(f"{vhdr_path}: a BrainVision header must end in .vhdr")
    stem = vhdr_path.stem
    try:
        vhdr_path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=vhdr_path.parent, prefix=f".{stem}.") as tmp:
            # pybv scales volts to the unit; feed values that come out unchanged.
            scale = 1e-6 if unit == "µV" else 1.0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # non-voltage units are outside the spec
                pybv.write_brainvision(
                    data=np.asarray(data, dtype=np.float64) * scale if scale != 1.0 else data,
                    sfreq=float(sfreq), ch_names=list(ch_names), fname_base=stem,
                    folder_out=tmp, unit=unit, resolution=1.0, fmt="binary_float32",
                    overwrite=True)
            paths = []
            for suffix in BRAINVISION_SUFFIXES:
                final = vhdr_path.with_suffix(suffix)
                os.chmod(Path(tmp) / f"{stem}{suffix}", 0o644)
                os.replace(Path(tmp) / f"{stem}{suffix}", final)
                paths.append(final)
    except OSError as err:
        raise OutputError(f"Cannot write {vhdr_path}: {err}") from err
    return paths
