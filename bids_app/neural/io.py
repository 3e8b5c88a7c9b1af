"""Reading raw iEEG signal files and reconciling them with ``channels.tsv``."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import mne
import pandas as pd

from bids_app.bids import Recording
from bids_app.errors import BadDataError, MissingInputError, require_readable

logger = logging.getLogger("ssl_ieeg")

#: BIDS channel types mapped to MNE channel types.
BIDS_TO_MNE_TYPES = {
    "ECOG": "ecog", "SEEG": "seeg", "DBS": "dbs", "EEG": "eeg", "EOG": "eog", "ECG": "ecg",
    "EMG": "emg", "MISC": "misc", "TRIG": "stim", "RESP": "resp", "GSR": "gsr",
    "TEMP": "temperature", "REF": "misc", "AUDIO": "misc", "PUPIL": "misc", "SYSCLOCK": "syst",
    "VEOG": "eog", "HEOG": "eog",
}
#: Placeholder texts found in dataset mirrors that drop binaries (bids-examples, git-annex, LFS).
PLACEHOLDER_MARKERS = (b"this is an empty file", b"version https://git-lfs", b"/annex/objects/")
#: Companion binary files of multi-file formats, by header suffix.
BINARY_COMPANIONS = {".vhdr": ".eeg", ".set": ".fdt"}
#: What MNE's readers warn when a file holds fewer samples than its header says (EDF, BDF).
TRUNCATION_WARNINGS = ("does not match the file size",)
#: Largest disagreement (s) between the sidecar's RecordingDuration and the file.
DURATION_TOLERANCE = 1.0


def load_raw(recording: Recording, verbose: bool = False) -> mne.io.BaseRaw:
    """Open a recording's signal file (not preloaded) with channel types from ``channels.tsv``.

    Channels listed in ``channels.tsv`` but absent from the file are dropped from the table
    with a warning; channels only in the file keep the type MNE gave them.

    Parameters
    ----------
    recording : Recording
        The recording; ``data_path`` is any format :func:`mne.io.read_raw` reads (EDF,
        BrainVision, FIF, ...). Units come from the file header (µV and mV are scaled to V).
    verbose : bool
        Log MNE's reader messages.

    Returns
    -------
    raw : mne.io.BaseRaw
        The recording, data on disk.

    Raises
    ------
    MissingInputError
        If the file does not exist.
    BadDataError
        If the file (or its binary companion) is empty, a placeholder, unreadable, has no
        samples, holds fewer samples than its header says, or contradicts the sidecar's
        ``SamplingFrequency`` or ``RecordingDuration``; the message names the file.
    """
    raw = _open(recording, verbose)
    _set_types(raw, recording.channels, Path(recording.data_path))
    return raw


def recording_duration(recording: Recording) -> float:
    """The length (s) of a recording, from its file header, after the checks of
    :func:`load_raw` (placeholders, truncation, sidecar agreement)."""
    raw = _open(recording, verbose=False)
    return raw.n_times / raw.info["sfreq"]


def _open(recording: Recording, verbose: bool) -> mne.io.BaseRaw:
    """Open the signal file, refusing placeholders, truncation and contradicting sidecars."""
    path = Path(recording.data_path)
    _check_not_placeholder(path)
    require_readable(path)
    companion = path.with_suffix(BINARY_COMPANIONS.get(path.suffix.lower(), path.suffix))
    if companion != path:
        _check_not_placeholder(companion)
        require_readable(companion)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            raw = mne.io.read_raw(path, preload=False, verbose=verbose or "warning")
    except Exception as err:  # MNE readers raise many types on corrupt files
        raise BadDataError(f"Cannot read {path}: {err}. Check that the file is a complete "
                           "recording in a format MNE reads.") from err
    if raw.n_times < 2:
        raise BadDataError(f"{path} contains no samples (is {companion.name} a placeholder?); "
                           "replace it with the real recording.")
    _check_integrity(raw, [str(w.message) for w in caught], recording.sidecar, path)
    return raw


def _check_integrity(raw: mne.io.BaseRaw, messages: list[str], sidecar: dict,
                     path: Path) -> None:
    """Refuse a truncated file, or one whose sampling rate or duration contradict its sidecar.

    MNE reads what it can of a truncated file and only warns; an analysis of the part that
    was read would look plausible and be wrong. Other reader warnings are logged at debug
    level.
    """
    for message in messages:
        if any(marker in message for marker in TRUNCATION_WARNINGS):
            raise BadDataError(
                f"{path} holds fewer samples than its header says ({raw.n_times} samples, "
                f"{raw.n_times / raw.info['sfreq']:.1f} s, could be read): the file is "
                "truncated. Copy or export it again.")
        logger.debug("%s: %s", path.name, message)
    sfreq, stated = raw.info["sfreq"], sidecar.get("SamplingFrequency")
    if isinstance(stated, (int, float)) and abs(stated - sfreq) > 1e-3 * sfreq:
        raise BadDataError(
            f"The *_ieeg.json sidecar of {path} says SamplingFrequency {stated:g} Hz, but the "
            f"file is sampled at {sfreq:g} Hz. Correct the sidecar (or the file).")
    duration, stated = raw.n_times / sfreq, sidecar.get("RecordingDuration")
    if isinstance(stated, (int, float)) and abs(stated - duration) > DURATION_TOLERANCE:
        raise BadDataError(
            f"The *_ieeg.json sidecar of {path} says RecordingDuration {stated:g} s, but the "
            f"file holds {duration:.1f} s. If the file is cut short, copy or export it again; "
            "otherwise correct the sidecar.")


def reconcile_channels(channels: pd.DataFrame, ch_names: list[str], path: Path,
                       ch_types: list[str] | None = None) -> pd.DataFrame:
    """Align ``channels.tsv`` with the channels in the data file, by name.

    Parameters
    ----------
    channels : DataFrame
        ``channels.tsv`` (may be empty: then types come from ``ch_types``, all good).
    ch_names : list of str
        Channel names in the data file.
    path : Path
        The data file, for messages.
    ch_types : list of str | None
        MNE channel types of ``ch_names`` (``"ecog"``, ``"seeg"``, ...), used without
        ``channels.tsv``.

    Returns
    -------
    table : DataFrame
        One row per channel of the union, with ``name``, ``type``, ``status``,
        ``status_description`` and ``in_file`` (bool) columns; rows ordered as in the file, then
        the listed channels missing from it.
    """
    if len(channels):
        table = channels.copy()
    else:
        logger.warning("%s: no channels.tsv; channel types are taken from the data file",
                       path.name)
        types = [t.upper() for t in ch_types] if ch_types else "MISC"
        table = pd.DataFrame({"name": list(ch_names), "type": types})
    table["name"] = table["name"].astype(str).str.strip()
    for col, default in (("type", "MISC"), ("status", "good"), ("status_description", pd.NA)):
        if col not in table.columns:
            table[col] = default
    table["type"] = table["type"].fillna("MISC").astype(str).str.upper().str.strip()
    table["status"] = table["status"].fillna("good").astype(str).str.lower().str.strip()
    missing = [n for n in table["name"] if n not in set(ch_names)]
    if missing:
        logger.warning("%s: %d channel(s) of channels.tsv are not in the data file and are "
                       "skipped: %s", path.name, len(missing), ", ".join(missing[:10]))
    unlisted = [n for n in ch_names if n not in set(table["name"])]
    if unlisted and len(channels):
        logger.warning("%s: %d channel(s) in the data file are not in channels.tsv and are not "
                       "modelled: %s", path.name, len(unlisted), ", ".join(unlisted[:10]))
    extra = pd.DataFrame({"name": unlisted, "type": "MISC", "status": "bad",
                          "status_description": "not listed in channels.tsv"})
    table = pd.concat([table, extra], ignore_index=True) if unlisted else table
    table["in_file"] = table["name"].isin(ch_names)
    order = {n: i for i, n in enumerate(ch_names)}
    table["_order"] = table["name"].map(order).fillna(len(ch_names) + table.index.to_series())
    return table.sort_values("_order").drop(columns="_order").reset_index(drop=True)


def _check_not_placeholder(path: Path) -> None:
    if not path.exists():
        raise MissingInputError(f"{path}: iEEG data file not found.")
    size = path.stat().st_size
    if size == 0:
        raise BadDataError(f"{path} is empty (0 bytes); replace it with the real recording.")
    if size < 1024:
        head = path.read_bytes()[:200].lower()
        if any(marker in head for marker in PLACEHOLDER_MARKERS):
            raise BadDataError(f"{path} is a {size}-byte placeholder, not a recording; fetch "
                               "the real file (e.g. with datalad get or git annex get).")


def _set_types(raw: mne.io.BaseRaw, channels: pd.DataFrame, path: Path) -> None:
    if not len(channels) or "type" not in channels.columns:
        return
    mapping = {}
    for name, bids_type in zip(channels["name"].astype(str), channels["type"], strict=True):
        mne_type = BIDS_TO_MNE_TYPES.get(str(bids_type).upper().strip())
        if name in raw.ch_names and mne_type is not None:
            mapping[name] = mne_type
    if mapping:
        raw.set_channel_types(mapping, on_unit_change="ignore", verbose="error")
    logger.debug("%s: channel types set from channels.tsv", path.name)
