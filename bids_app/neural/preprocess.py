"""``preprocess``: raw iEEG to z-scored high-gamma, in bounded memory.

Order: good ECOG/SEEG/DBS channels → notch at the line frequency and harmonics → re-reference →
high-gamma envelope → anti-aliased resampling → z-score per channel. Notch and re-referencing are
both linear, so the common average is computed from the raw channels in a first pass and
subtracted before the notch: the result equals notching first.

The recording stays on disk. Two passes read channel blocks of ``config.block_size``: the first
computes the QC spectra, flagging statistics and group sums for the common average; the second
re-references, notches and extracts the envelope block by block (float32).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import mne
import numpy as np
import pandas as pd

from bids_app.bids import Recording
from bids_app.errors import BadDataError
from bids_app.neural.channels import (
    channel_stats,
    dead_channels,
    exclusion_reason,
    flag_channels,
    sample_defect,
    welch_psd,
)
from bids_app.neural.config import PreprocessingConfig
from bids_app.neural.data import NeuralData
from bids_app.neural.derivative import load_derivative
from bids_app.neural.envelope import gaussian_centres, highgamma_envelope
from bids_app.neural.io import load_raw, reconcile_channels
from bids_app.neural.notch import harmonics, notch, resolve_line_freq
from bids_app.neural.reference import bipolar, bipolar_pairs, group_labels, pair_name
from bids_app.neural.tables import derivative_channels, electrode_rows, zscore

logger = logging.getLogger("ssl_ieeg")


@dataclass
class _Scan:
    """First-pass results for the candidate channels."""

    freqs: np.ndarray
    psd: np.ndarray
    log_var: np.ndarray
    line_ratio: np.ndarray
    spikes: np.ndarray
    group_sums: dict[str, np.ndarray]
    defects: dict[str, str]  # channels whose samples are unusable (not in the sums)


def preprocess(recording: Recording, config: PreprocessingConfig, *, n_jobs: int = 1,
               verbose: bool = False) -> NeuralData:
    """Turn a raw iEEG recording into z-scored high-gamma envelopes.

    Parameters
    ----------
    recording : Recording
        The recording and its BIDS metadata.
    config : PreprocessingConfig
        The ``preprocessing`` configuration. With ``derivative`` set, an existing high-gamma
        FIF is loaded instead (:func:`~bids_app.neural.derivative.load_derivative`).
    n_jobs : int
        Threads for the FFTs and jobs for the notch filter.
    verbose : bool
        Log progress at INFO level per channel block.

    Returns
    -------
    neural : NeuralData
        High-gamma at ``config.sfreq_out``; time 0 is the first sample of the recording.

    Raises
    ------
    BadDataError
        Unreadable or placeholder data, no good neural channel, or a sampling rate too low
        for the band.
    """
    if config.derivative is not None:
        return load_derivative(recording, config, verbose=verbose)
    path = Path(recording.data_path)
    raw = load_raw(recording, verbose=verbose)
    sfreq = float(raw.info["sfreq"])
    band = config.resolved_band
    if band[0] >= 0.45 * sfreq or (config.highgamma == "multiband" and band[1] >= sfreq / 2):
        raise BadDataError(f"{path}: sampling rate {sfreq:g} Hz is too low for the high-gamma "
                           f"band {band} Hz; lower preprocessing.band.")
    table = reconcile_channels(recording.channels, raw.ch_names, path,
                               raw.get_channel_types())
    table["reason"] = [exclusion_reason(row) for _, row in table.iterrows()]
    candidates = table.loc[table["reason"].isna(), "name"].tolist()
    if not candidates:
        raise BadDataError(f"{path}: no good ECOG/SEEG/DBS channel to model; check the type "
                           "and status columns of channels.tsv.")
    group_of = _group_of(table, candidates)
    line_freq = resolve_line_freq(config.line_freq, recording)
    scan = _scan(raw, candidates, group_of, line_freq, config, verbose)
    flags, kept = _exclusions(raw, candidates, scan, group_of, config)
    for name, reason in flags.items():
        logger.warning("%s: %s excluded before referencing: %s", path.name, name, reason)
    for name, reason in kept.items():
        logger.warning("%s: %s: %s; preprocessing.auto_flag: true excludes flagged channels",
                       path.name, name, reason)
    table.loc[table["name"].isin(list(flags)), "reason"] = table["name"].map(flags)
    table["qc_flag"] = table["name"].map(kept)
    good = [c for c in candidates if c not in flags]
    if not good:
        raise BadDataError(f"{path}: every neural channel is defective or was auto-flagged "
                           f"({'; '.join(f'{n}: {r}' for n, r in list(flags.items())[:3])}"
                           f"{'; ...' if len(flags) > 3 else ''}); check the recording, or "
                           "disable preprocessing.auto_flag or raise auto_flag_threshold.")
    derivations = _derivations(config.reference, good, [group_of[name] for name in good])
    if not derivations:
        raise BadDataError(f"{path}: no bipolar pair of adjacent contacts; use "
                           "preprocessing.reference 'car' or 'none'.")
    references = (_group_means(scan.group_sums, good, group_of) if config.reference == "car"
                  else {})
    envelopes, psd_after = _highgamma(raw, derivations, group_of, references,
                                      harmonics(line_freq, sfreq), config, n_jobs, verbose)
    ch_names = [pair_name(d) if len(d) == 2 else d[0] for d in derivations]
    data, baseline = zscore(envelopes, config.sfreq_out, config.zscore, config.baseline,
                            recording.events, path)
    return NeuralData(
        data=data,
        sfreq=float(config.sfreq_out),
        ch_names=ch_names,
        channels=derivative_channels(table, derivations, config.sfreq_out),
        electrodes=electrode_rows(recording.electrodes, derivations),
        coordinate_space=recording.coordinate_space,
        software_filters=_software_filters(recording, config, sfreq, line_freq,
                                           len(references) > 1, len(good), baseline),
        reference=_reference_text(recording, config.reference, len(references) > 1),
        qc={"psd_freqs": scan.freqs, "psd_before": scan.psd, "psd_before_channels": candidates,
            "psd_after": psd_after, "line_freq": line_freq},
    )


def _exclusions(raw: mne.io.BaseRaw, candidates: list[str], scan: _Scan,
                group_of: dict[str, str], config: PreprocessingConfig
                ) -> tuple[dict[str, str], dict[str, str]]:
    """``(excluded, kept)``: the candidates excluded before referencing, with why (defects,
    then QC flags with ``auto_flag``), and the QC-flagged candidates that stay modelled.

    Defective channels (:mod:`bids_app.neural.channels`) are excluded whatever
    ``auto_flag`` says; the excluded channels leave the common-average sums.
    """
    excluded = dict(scan.defects)
    rest = [i for i, name in enumerate(candidates) if name not in excluded]
    excluded |= dead_channels([candidates[i] for i in rest], scan.log_var[rest])
    rest = [i for i in rest if candidates[i] not in excluded]
    flags = flag_channels([candidates[i] for i in rest], scan.log_var[rest],
                          scan.line_ratio[rest], scan.spikes[rest], config.auto_flag_threshold)
    kept = {}
    if config.auto_flag:
        excluded |= {name: f"auto-flagged: {reason}" for name, reason in flags.items()}
    else:
        kept = {name: f"QC flag (modelled): {reason}" for name, reason in flags.items()}
    _remove_from_sums(raw, scan.group_sums, {n: r for n, r in excluded.items()
                                              if n not in scan.defects}, group_of)
    return excluded, kept


def _group_of(table: pd.DataFrame, names: list[str]) -> dict[str, str]:
    """Common-average group of each channel: its type, and its ``group`` when that exists.

    ECoG grids and sEEG shafts are never averaged together.
    """
    rows = table.set_index("name").loc[names]
    types = rows["type"].astype(str)
    if "group" not in rows.columns:
        return dict(zip(names, types, strict=True))
    groups = group_labels(len(names), rows["group"].tolist())
    return {name: f"{kind}/{group}" for name, kind, group in zip(names, types, groups,
                                                                 strict=True)}


def _blocks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _scan(raw: mne.io.BaseRaw, names: list[str], group_of: dict[str, str], line_freq: float,
          config: PreprocessingConfig, verbose: bool) -> _Scan:
    """First pass: QC spectra, flagging statistics, sample defects and per-group sums.

    A channel with a sample defect (:func:`~bids_app.neural.channels.sample_defect`) enters
    neither the sums nor, with its non-finite samples zeroed, the statistics as they are.
    """
    sums: dict[str, np.ndarray] = {}
    psds, log_vars, ratios, spikes = [], [], [], []
    defects: dict[str, str] = {}
    freqs = np.array([])
    for i, block in enumerate(_blocks(list(range(len(names))), config.block_size)):
        data = raw.get_data(picks=[names[j] for j in block])
        for row, j in enumerate(block):
            reason = sample_defect(data[row], raw.info["sfreq"])
            if reason is not None:
                defects[names[j]] = reason
                data[row] = np.nan_to_num(data[row], nan=0.0, posinf=0.0, neginf=0.0)
        freqs, psd, log_var, ratio, spike = channel_stats(data, raw.info["sfreq"], line_freq)
        psds.append(psd)
        log_vars.append(log_var)
        ratios.append(ratio)
        spikes.append(spike)
        if config.reference == "car":
            for row, j in enumerate(block):
                total = sums.setdefault(group_of[names[j]], np.zeros(raw.n_times))
                if names[j] not in defects:
                    total += data[row]
        if verbose:
            logger.info("scan: block %d, %d/%d channels", i + 1, block[-1] + 1, len(names))
    return _Scan(freqs, np.concatenate(psds), np.concatenate(log_vars), np.concatenate(ratios),
                 np.concatenate(spikes), sums, defects)


def _remove_from_sums(raw: mne.io.BaseRaw, sums: dict[str, np.ndarray], flags: dict[str, str],
                      group_of: dict[str, str]) -> None:
    """Subtract flagged channels from the common-average sums (they were summed in pass 1)."""
    if sums:
        for name in flags:
            sums[group_of[name]] -= raw.get_data(picks=[name])[0]


def _group_means(sums: dict[str, np.ndarray], good: list[str], group_of: dict[str, str]
                 ) -> dict[str, np.ndarray]:
    """Common-average signal of each group: group sum over good channels / their count."""
    counts = pd.Series([group_of[name] for name in good]).value_counts()
    return {label: (sums[label] / count).astype(np.float32) for label, count in counts.items()}


def _derivations(reference: str, good: list[str], groups: list[str] | None
                 ) -> list[tuple[str, ...]]:
    if reference == "bipolar":
        return list(bipolar_pairs(good, groups))
    return [(name,) for name in good]


def _highgamma(raw: mne.io.BaseRaw, derivations: list[tuple[str, ...]],
               group_of: dict[str, str], references: dict[str, np.ndarray],
               line_freqs: np.ndarray, config: PreprocessingConfig, n_jobs: int,
               verbose: bool) -> tuple[np.ndarray, np.ndarray]:
    """Second pass: re-reference, notch and extract the envelope, block by block."""
    sfreq = raw.info["sfreq"]
    envelopes, psds = [], []
    for i, block in enumerate(_blocks(derivations, config.block_size)):
        names = list(dict.fromkeys(name for d in block for name in d))
        data = raw.get_data(picks=names)
        if references:
            for row, name in enumerate(names):
                data[row] -= references[group_of[name]]
        if len(block[0]) == 2:
            data = bipolar(data, names, block)
        data = notch(data, sfreq, line_freqs, n_jobs=n_jobs)
        psds.append(welch_psd(data, sfreq)[1])
        envelopes.append(highgamma_envelope(
            data, sfreq, config.sfreq_out, method=config.highgamma, band=config.resolved_band,
            n_bands=config.n_bands, order=config.butterworth_order, workers=n_jobs))
        if verbose:
            logger.info("high-gamma: block %d/%d", i + 1, -(-len(derivations) //
                                                           config.block_size))
    return np.concatenate(envelopes), np.concatenate(psds)


def _software_filters(recording: Recording, config: PreprocessingConfig, sfreq: float,
                      line_freq: float, per_group: bool, n_good: int,
                      baseline: list[float] | None) -> dict:
    """BIDS ``SoftwareFilters`` describing every step applied."""
    band = config.resolved_band
    steps: dict = {}
    source = recording.sidecar.get("SoftwareFilters")
    if source not in (None, "n/a", "", {}, []):
        steps["SourceFilters"] = {"Description": "filters of the source recording",
                                  "Value": source}
    steps["NotchFilter"] = {
        "Method": "zero-phase FIR band-stop (mne.filter.notch_filter, default widths)",
        "FrequenciesHz": [float(f) for f in harmonics(line_freq, sfreq)],
    }
    if config.reference == "car":
        steps["Rereference"] = {"Method": "common average", "PerGroup": per_group,
                                "NChannels": n_good}
    elif config.reference == "bipolar":
        steps["Rereference"] = {"Method": "bipolar, adjacent contacts of one shaft or strip"}
    if config.highgamma == "multiband":
        centres, sds = gaussian_centres(band, config.n_bands)
        steps["HighGamma"] = {
            "Method": "Gaussian filter bank (Chang lab), Hilbert amplitude averaged over bands",
            "BandHz": band, "CentresHz": np.round(centres, 3).tolist(),
            "StandardDeviationsHz": np.round(sds, 3).tolist()}
    else:
        steps["HighGamma"] = {
            "Method": "zero-phase Butterworth band-pass (squared magnitude response), "
                      "Hilbert amplitude",
            "BandHz": [band[0], min(band[1], 0.45 * sfreq)], "Order": config.butterworth_order}
    steps["Resample"] = {"Method": "polyphase FIR anti-aliasing (Kaiser window)",
                         "FromHz": sfreq, "ToHz": float(config.sfreq_out)}
    steps["ZScore"] = {"Mode": config.zscore, "BaselineS": baseline}
    return steps


def _reference_text(recording: Recording, reference: str, per_group: bool) -> str:
    if reference == "car":
        return ("common average of the good ECOG/SEEG/DBS channels"
                + (" within each electrode group and channel type" if per_group else ""))
    if reference == "bipolar":
        return "bipolar: each channel minus the adjacent contact of the same shaft or strip"
    return str(recording.sidecar.get("iEEGReference", "n/a"))
