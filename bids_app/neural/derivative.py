"""Using an already-preprocessed high-gamma FIF (e.g. ds005574 ``derivatives/ecogprep``)."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import scipy.signal

from bids_app.bids import Recording
from bids_app.errors import BadDataError, MissingInputError
from bids_app.neural.channels import exclusion_reason
from bids_app.neural.config import PreprocessingConfig
from bids_app.neural.data import NeuralData
from bids_app.neural.io import reconcile_channels
from bids_app.neural.tables import derivative_channels, electrode_rows, zscore

logger = logging.getLogger("ssl_ieeg")

#: Electrode positions may be stored in m, cm or mm: electrodes.tsv value = FIF metres * scale.
POSITION_SCALES = (1.0, 100.0, 1000.0)
#: Largest allowed FIF-versus-electrodes.tsv distance, in mm.
POSITION_TOLERANCE_MM = 0.5


def bids_root(path: Path) -> Path:
    """The BIDS root above ``path``: the nearest folder with ``dataset_description.json``.

    Parameters
    ----------
    path : Path
        A file inside the dataset.

    Returns
    -------
    root : Path
        The dataset root (the file's grandparent's parent when none is found).
    """
    for parent in Path(path).resolve().parents:
        if (parent / "dataset_description.json").is_file():
            return parent
    return Path(path).resolve().parents[2]


def find_derivative(recording: Recording, pattern: str) -> Path:
    """Resolve ``preprocessing.derivative`` for one recording.

    Parameters
    ----------
    recording : Recording
        The recording; its entities fill ``{subject}``, ``{session}``, ``{task}``, ``{run}``.
    pattern : str
        A path or glob, absolute or relative to the BIDS root.

    Returns
    -------
    path : Path
        The one matching file.

    Raises
    ------
    MissingInputError
        When no file matches, or several do (the message lists them).
    """
    fields = {"subject": recording.subject, "session": recording.session or "",
              "task": recording.task, "run": recording.run or ""}
    filled = pattern.format(**fields)
    base = Path(filled) if Path(filled).is_absolute() else bids_root(recording.data_path) / filled
    matches = sorted(Path(base.anchor).glob(str(base.relative_to(base.anchor))))
    entity = f"sub-{recording.subject}"
    if len(matches) > 1:
        matches = [m for m in matches if entity in m.name] or matches
    if len(matches) != 1:
        found = ", ".join(str(m) for m in matches) or "nothing"
        raise MissingInputError(f"preprocessing.derivative {pattern!r} must match one file for "
                                f"{entity} ({base}); found {found}.")
    return matches[0]


def load_derivative(recording: Recording, config: PreprocessingConfig, *,
                    verbose: bool = False) -> NeuralData:
    """Load an existing high-gamma FIF, resample it to ``sfreq_out`` and z-score it.

    No filtering or re-referencing is applied. Channels bad in ``channels.tsv`` or in the FIF
    (``info['bads']``), and non-neural channels, are excluded as for raw data. Electrode
    positions stored in the FIF must agree with ``electrodes.tsv``.

    Parameters
    ----------
    recording : Recording
        The recording whose derivative is loaded.
    config : PreprocessingConfig
        ``derivative`` (pattern), ``sfreq_out``, ``zscore``, ``baseline`` are used.
    verbose : bool
        Log MNE's reader messages.

    Returns
    -------
    neural : NeuralData
        The derivative's high-gamma, z-scored.

    Raises
    ------
    BadDataError
        Unreadable FIF, no usable channel, or positions that disagree with electrodes.tsv.
    """
    path = find_derivative(recording, config.derivative)
    try:
        raw = mne.io.read_raw_fif(path, preload=False, verbose=verbose or "error")
    except Exception as err:  # MNE raises many types on corrupt files
        raise BadDataError(f"Cannot read the high-gamma derivative {path}: {err}") from err
    table = reconcile_channels(recording.channels, raw.ch_names, path,
                               raw.get_channel_types())
    table["reason"] = [exclusion_reason(row) for _, row in table.iterrows()]
    in_bads = table["name"].isin(raw.info["bads"]) & table["reason"].isna()
    table.loc[in_bads, "reason"] = "bad in the high-gamma derivative"
    good = table.loc[table["reason"].isna(), "name"].tolist()
    if not good:
        raise BadDataError(f"{path}: no good ECOG/SEEG/DBS channel to model.")
    check_positions(raw, recording.electrodes, path)
    sfreq = float(raw.info["sfreq"])
    frac = Fraction(config.sfreq_out / sfreq).limit_denominator(1000)
    blocks = []
    for start in range(0, len(good), config.block_size):  # bounded memory
        block = raw.get_data(picks=good[start:start + config.block_size]).astype(np.float32)
        if frac != 1:
            block = scipy.signal.resample_poly(block, frac.numerator, frac.denominator,
                                               axis=-1, padtype="reflect").astype(np.float32)
        blocks.append(block)
    data = np.concatenate(blocks)
    data, window = zscore(data, config.sfreq_out, config.zscore, config.baseline,
                          recording.events, path)
    derivations = [(name,) for name in good]
    return NeuralData(
        data=data, sfreq=float(config.sfreq_out), ch_names=good,
        channels=derivative_channels(table, derivations, config.sfreq_out),
        electrodes=electrode_rows(recording.electrodes, derivations),
        coordinate_space=recording.coordinate_space,
        software_filters={
            "SourceDerivative": {"Description": "high-gamma read from an existing derivative; "
                                 "no filtering applied here", "File": path.name,
                                 "Value": raw.info.get("description") or "n/a"},
            "Resample": {"Method": "polyphase FIR anti-aliasing (Kaiser window)",
                         "FromHz": sfreq, "ToHz": float(config.sfreq_out)},
            "ZScore": {"Mode": config.zscore, "BaselineS": window}},
        reference=str(recording.sidecar.get("iEEGReference", "n/a")),
        qc={},
    )


def check_positions(raw: mne.io.BaseRaw, electrodes: pd.DataFrame | None, path: Path) -> None:
    """Check that electrode positions in a FIF agree with ``electrodes.tsv``.

    The unit of ``electrodes.tsv`` (m, cm or mm) is the one that fits best.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        The FIF with a montage (no montage: nothing to check).
    electrodes : DataFrame | None
        ``electrodes.tsv``.
    path : Path
        The FIF, for messages.

    Raises
    ------
    BadDataError
        When some shared electrode differs by more than 0.5 mm.
    """
    montage = raw.get_montage()
    if montage is None or electrodes is None:
        return
    fif = montage.get_positions()["ch_pos"]
    coords = electrodes.set_index(electrodes["name"].astype(str).str.strip())
    coords = coords.reindex(columns=["x", "y", "z"]).apply(pd.to_numeric, errors="coerce")
    names = [n for n in fif if n in coords.index and np.all(np.isfinite(fif[n]))
             and np.all(np.isfinite(coords.loc[n].to_numpy(float)))]
    if not names:
        return
    a = np.array([fif[n] for n in names])
    b = coords.loc[names].to_numpy(float)
    errors = {scale: np.linalg.norm(a * scale - b, axis=1) * 1000.0 / scale
              for scale in POSITION_SCALES}
    scale = min(errors, key=lambda s: np.median(errors[s]))
    worst = int(np.argmax(errors[scale]))
    if errors[scale][worst] > POSITION_TOLERANCE_MM:
        raise BadDataError(
            f"Electrode positions in {path} disagree with electrodes.tsv: {names[worst]} is "
            f"{errors[scale][worst]:.1f} mm away ({int(np.sum(errors[scale] > 0.5))} of "
            f"{len(names)} electrodes differ). Use the electrodes file of the same space as "
            "the derivative.")
