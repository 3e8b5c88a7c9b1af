"""Quality-control figures of one recording, drawn at analysis time and saved as PNG files.

They need the preprocessed signals (not kept in the derivatives tables), so the workflow draws
them while the data are in memory; the participant report inlines the saved files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bids_app.features.acoustic import envelope
from bids_app.features.audio import read_audio
from bids_app.features.featureset import FeatureSet
from bids_app.neural.data import NeuralData
from bids_app.neural.qc import envelope_alignment, onset_response
from bids_app.outputs.atomic import write_with
from bids_app.stimuli.stimulus import Stimulus

ENVELOPE_SFREQ = 100.0


def write_qc_figures(neural: NeuralData, stimuli: Sequence[Stimulus],
                     responsive: pd.DataFrame | None, figure_dir: Path, stem: str,
                     envelopes: Sequence[FeatureSet] | None = None,
                     onsets: tuple[np.ndarray, str, float] | None = None) -> list[Path]:
    """Draw the PSD, onset-response and alignment figures of a recording.

    Parameters
    ----------
    neural : NeuralData
        The preprocessed recording (with its ``qc`` spectra).
    stimuli : sequence of Stimulus
        Its stimuli, for onsets and the audio envelope.
    responsive : DataFrame | None
        Output of :func:`bids_app.neural.speech_responsive`, or None when not computed.
    figure_dir : Path
        ``OUTPUT_DIR/sub-<label>/figures``.
    stem : str
        The recording's BIDS name stem (``sub-01_task-listen``).
    envelopes : sequence of FeatureSet | None
        The cached envelope feature of each stimulus, when one is analysed; otherwise the
        envelope is computed from the audio.
    onsets : (ndarray, str, float) | None
        The onsets of the speech-responsiveness test, their kind (``"stimulus"`` or
        ``"phrase"``) and the pause that starts a phrase
        (:func:`bids_app.neural.response_onsets`); None: the stimulus onsets.

    Returns
    -------
    paths : list of Path
        The PNG files written.
    """
    mask = None if responsive is None else responsive["responsive"].to_numpy(bool)
    if onsets is None:
        onsets = (np.array([s.onset for s in stimuli]), "stimulus", 0.0)
    figures = {"onsets": _onset_figure(neural, *onsets, mask),
               "alignment": _alignment_figure(neural, stimuli, mask, envelopes)}
    if "psd_freqs" in neural.qc:  # absent when the input was already high-gamma
        figures["psd"] = _psd_figure(neural)
    paths = []
    for desc, fig in figures.items():
        path = figure_dir / f"{stem}_desc-{desc}_qc.png"
        write_with(path, lambda tmp, fig=fig: fig.savefig(tmp, format="png", dpi=110,
                                                          bbox_inches="tight"))
        plt.close(fig)
        paths.append(path)
    return paths


def _psd_figure(neural: NeuralData):
    qc = neural.qc
    fig, ax = plt.subplots(figsize=(5, 2.8))
    ax.semilogy(qc["psd_freqs"], np.mean(qc["psd_before"], axis=0), label="raw (mean)")
    if qc.get("psd_after") is not None:
        ax.semilogy(qc["psd_freqs"], np.mean(qc["psd_after"], axis=0),
                    label="after notch and re-reference")
    ax.axvspan(70, 150, color="orange", alpha=0.15, label="high-gamma band")
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("PSD (V²/Hz)")
    ax.set_title("Power spectral density", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def _onset_figure(neural: NeuralData, onsets: np.ndarray, kind: str, pause: float,
                  mask: np.ndarray | None):
    """Mean high-gamma around the onsets the responsiveness test used."""
    times, response = onset_response(neural, onsets)
    fig, ax = plt.subplots(figsize=(5, 2.8))
    groups = [("all channels", np.ones(len(response), bool))] if mask is None else [
        ("speech-responsive", mask), ("other", ~mask)]
    for label, rows in groups:
        if rows.any():
            ax.plot(times, np.nanmean(response[rows], axis=0), label=f"{label} ({rows.sum()})")
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel(f"time from {kind} onset (s)")
    ax.set_ylabel("high-gamma (z)")
    what = (f"{len(onsets)} phrase onsets (speech after ≥ {pause:g} s of silence)"
            if kind == "phrase" else f"{len(onsets)} stimulus onset(s)")
    ax.set_title(f"High-gamma around {what}", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def _stimulus_envelope(stimulus: Stimulus, cached: FeatureSet | None) -> np.ndarray:
    """The stimulus envelope at :data:`ENVELOPE_SFREQ`: from the feature cache, or the audio."""
    if cached is None:
        audio = read_audio(stimulus.audio_path, 16000)
        return envelope(audio, 16000, ENVELOPE_SFREQ)[1][:, 0]
    values = np.asarray(cached.layers[cached.layer_names[0]][:, 0], dtype=float)
    grid = np.arange(round(cached.times[-1] * ENVELOPE_SFREQ) + 1) / ENVELOPE_SFREQ
    return np.interp(grid, cached.times, values)


def _alignment_figure(neural: NeuralData, stimuli: Sequence[Stimulus], mask: np.ndarray | None,
                      envelopes: Sequence[FeatureSet] | None):
    fig, ax = plt.subplots(figsize=(5, 2.8))
    channels = mask if mask is not None and mask.any() else None
    for i, stimulus in enumerate(stimuli):
        env = _stimulus_envelope(stimulus, None if envelopes is None else envelopes[i])
        check = envelope_alignment(neural, env, ENVELOPE_SFREQ, onset=stimulus.onset,
                                   channels=channels)
        ax.plot(check["lags"], check["xcorr"], lw=1,
                label=f"{stimulus.stim_id}: peak {check['peak_lag']:+.2f} s")
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("lag (s; > 0: high-gamma follows the sound)")
    ax.set_ylabel("r")
    ax.set_title("Stimulus envelope vs. mean high-gamma", fontsize=9)
    ax.legend(fontsize=6)
    return fig
