"""Derivative tables (channels, electrodes) and the final z-scoring of ``NeuralData``."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from bids_app.errors import UsageError

logger = logging.getLogger("ssl_ieeg")


def derivative_channels(table: pd.DataFrame, derivations: list[tuple[str, ...]],
                        sfreq_out: float) -> pd.DataFrame:
    """The derivative ``channels.tsv``: modelled channels first, then every excluded channel.

    Parameters
    ----------
    table : DataFrame
        Reconciled source channel table with a ``reason`` column (None for candidates) and,
        optionally, a ``qc_flag`` column (the QC flags of modelled channels).
    derivations : list of tuple of str
        ``(name,)`` per modelled channel, or ``(anode, cathode)`` for bipolar channels.
    sfreq_out : float
        Sampling rate of the derivative.

    Returns
    -------
    channels : DataFrame
        ``name, type, units, low_cutoff, high_cutoff, sampling_frequency, status,
        status_description, source_status`` (plus ``group`` when the source has it). Modelled
        rows are good (their QC flags, if any, in ``status_description``); the others are
        bad with the reason in ``status_description``.
        ``high_cutoff`` is the Nyquist frequency of the resampled envelope (its anti-aliasing
        low-pass); no high-pass acts on the envelope itself (``low_cutoff`` n/a).
    """
    source = table.set_index("name")
    used = {name for d in derivations for name in d}
    rows = []
    for derivation in derivations:
        first = source.loc[derivation[0]]
        rows.append({"name": "-".join(derivation), "type": first["type"], "units": "z",
                     "low_cutoff": np.nan, "high_cutoff": sfreq_out / 2,
                     "sampling_frequency": sfreq_out, "status": "good",
                     "status_description": _qc_flags(source, derivation),
                     "source_status": first["status"],
                     "group": first.get("group", np.nan)})
    modelled = {"-".join(d) for d in derivations}
    for name, row in source.iterrows():
        if name in modelled:
            continue
        reason = row["reason"]
        if not isinstance(reason, str):
            reason = ("contact used in bipolar derivations" if name in used
                      else "no adjacent contact for a bipolar derivation")
        rows.append({"name": name, "type": row["type"], "units": "n/a",
                     "low_cutoff": np.nan, "high_cutoff": np.nan,
                     "sampling_frequency": sfreq_out, "status": "bad",
                     "status_description": reason, "source_status": row["status"],
                     "group": row.get("group", np.nan)})
    out = pd.DataFrame(rows)
    return out if "group" in table.columns else out.drop(columns="group")


def electrode_rows(electrodes: pd.DataFrame | None,
                   derivations: list[tuple[str, ...]]) -> pd.DataFrame | None:
    """Coordinates of each modelled channel (bipolar: midpoint of its two contacts).

    Parameters
    ----------
    electrodes : DataFrame | None
        Source ``electrodes.tsv`` (``name, x, y, z``; ``n/a`` already NaN).
    derivations : list of tuple of str
        Modelled channels as in :func:`derivative_channels`.

    Returns
    -------
    rows : DataFrame | None
        ``name, x, y, z, size`` per modelled channel (NaN where unknown; ``size`` n/a), or
        None without electrodes.
    """
    if electrodes is None or "name" not in electrodes.columns:
        return None
    coords = electrodes.set_index(electrodes["name"].astype(str).str.strip())
    coords = coords.reindex(columns=["x", "y", "z"]).apply(pd.to_numeric, errors="coerce")
    coords = coords[~coords.index.duplicated()]
    rows = []
    for derivation in derivations:
        xyz = coords.reindex(list(derivation)).to_numpy(float).mean(axis=0)
        rows.append({"name": "-".join(derivation), "x": xyz[0], "y": xyz[1], "z": xyz[2],
                     "size": np.nan})
    return pd.DataFrame(rows, columns=["name", "x", "y", "z", "size"])


def zscore(data: np.ndarray, sfreq: float, mode: str, baseline: list[float] | None,
           events: pd.DataFrame | None, path: Path) -> tuple[np.ndarray, list[float] | None]:
    """Z-score each channel over the recording or over a baseline window.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
        High-gamma envelopes.
    sfreq : float
        Sampling rate of ``data``.
    mode : str
        ``"recording"`` or ``"baseline"``.
    baseline : list of float | None
        ``[start, stop]`` in seconds; None with ``"baseline"`` uses the time before the first
        event onset in ``events``.
    events : DataFrame | None
        ``events.tsv`` of the recording.
    path : Path
        The data file, for messages.

    Returns
    -------
    z : ndarray, shape (n_channels, n_times), float32
        Z-scored data (a constant channel becomes zeros, with a warning).
    window : list of float | None
        The baseline window used, in seconds (None for ``"recording"``).
    """
    window = None
    segment = data
    if mode == "baseline":
        window = baseline or _pre_event_window(events, path)
        start, stop = (round(t * sfreq) for t in window)
        segment = data[:, max(start, 0):min(stop, data.shape[1])]
        if segment.shape[1] < 2:
            raise UsageError(f"preprocessing.baseline {window} s holds fewer than 2 samples of "
                             f"{path.name}; choose a window inside the recording.")
    mean = segment.mean(axis=1, keepdims=True, dtype=np.float64)
    std = segment.std(axis=1, keepdims=True, dtype=np.float64)
    if np.any(std == 0):
        logger.warning("%s: %d channel(s) have a constant high-gamma envelope",
                       path.name, int(np.sum(std == 0)))
    z = np.divide(data - mean, std, out=np.zeros(data.shape), where=std > 0)
    return z.astype(np.float32), window


def _pre_event_window(events: pd.DataFrame | None, path: Path) -> list[float]:
    if events is None or "onset" not in events.columns or not len(events):
        raise UsageError(f"preprocessing.zscore='baseline' needs preprocessing.baseline: "
                         f"{path.name} has no events.tsv onsets to find a pre-stimulus period.")
    first = float(pd.to_numeric(events["onset"], errors="coerce").min())
    if not first > 0:
        raise UsageError("preprocessing.zscore='baseline' needs preprocessing.baseline: the "
                         f"first event of {path.name} starts at {first} s.")
    return [0.0, first]


def _qc_flags(source: pd.DataFrame, derivation: tuple[str, ...]) -> str | float:
    """The QC flags of a modelled channel's contacts (NaN when none)."""
    if "qc_flag" not in source.columns:
        return np.nan
    flags = [f"{name}: {flag}" if len(derivation) > 1 else flag
             for name in derivation if isinstance(flag := source.loc[name, "qc_flag"], str)]
    return "; ".join(flags) if flags else np.nan
