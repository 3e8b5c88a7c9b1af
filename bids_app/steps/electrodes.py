"""Step 3, electrodes: speech responsiveness, the QC figures, and the modelled electrodes
(``electrodes`` section)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bids_app.bids.recording import Recording
from bids_app.errors import BadDataError
from bids_app.features.featureset import FeatureSet
from bids_app.neural import ElectrodeConfig, NeuralData, response_onsets, speech_responsive
from bids_app.outputs.derivatives import entity_stem
from bids_app.report.qc import write_qc_figures
from bids_app.stimuli.stimulus import Stimulus, WordTimings

logger = logging.getLogger("ssl_ieeg")


def run(neural: NeuralData, recording: Recording, stimuli: Sequence[Stimulus],
        words: Sequence[WordTimings | None], feature_sets: dict[str, list[FeatureSet]],
        electrodes: ElectrodeConfig, figures_dir: Path
        ) -> tuple[NeuralData, pd.DataFrame | None]:
    """The speech-responsiveness table (None where it cannot be tested), the QC figures in
    ``figures_dir``, and the data of the modelled electrodes (``mask``)."""
    onsets, onset_kind = response_onsets(
        [s.onset for s in stimuli],
        [None if w is None else (w.onsets, w.offsets) for w in words], electrodes.pause)
    responsive = speech_responsiveness(neural, onsets, onset_kind, electrodes)
    envelope = next((sets for sets in feature_sets.values() if sets[0].kind == "envelope"), None)
    write_qc_figures(neural, stimuli, responsive, figures_dir, entity_stem(recording.entities),
                     envelope, onsets=(onsets, onset_kind, electrodes.pause))
    if electrodes.mask == "responsive":
        neural = keep_responsive(neural, responsive, recording)
    return neural, responsive


def speech_responsiveness(neural: NeuralData, onsets: np.ndarray, kind: str,
                       config: ElectrodeConfig) -> pd.DataFrame | None:
    """Speech-responsive electrodes from ``onsets`` (:func:`response_onsets`), or None.

    None (logged) when there are fewer than two onsets or their windows do not fit.
    """
    if len(onsets) < 2:
        logger.info("speech responsiveness skipped: it needs two or more stimulus onsets, or "
                    "a transcript with pauses of %g s or more", config.pause)
        return None
    try:
        table = speech_responsive(neural, onsets, window=tuple(config.window),
                                  baseline=tuple(config.baseline), alpha=config.alpha)
    except BadDataError as err:
        logger.warning("speech responsiveness not computed: %s", err)
        return None
    table["onset_kind"] = kind
    logger.info("speech responsiveness from %d %s onsets: %d of %d electrodes responsive",
                table["n_trials"].iloc[0], kind, int(table["responsive"].sum()), len(table))
    return table


def keep_responsive(neural: NeuralData, responsive: pd.DataFrame | None,
                     recording: Recording) -> NeuralData:
    """Restrict the data to speech-responsive electrodes (``electrodes.mask: responsive``)."""
    if responsive is None or not responsive["responsive"].any():
        raise BadDataError(
            f"electrodes.mask is 'responsive' but no electrode of {recording.data_path.name} "
            "is speech-responsive (or it has fewer than 2 stimulus onsets); use mask: all.")
    keep = responsive["responsive"].to_numpy(bool)
    logger.info("keeping %d speech-responsive of %d electrodes", keep.sum(), keep.size)
    return dataclasses.replace(neural, data=neural.data[keep],
                               ch_names=[n for n, k in zip(neural.ch_names, keep, strict=True)
                                         if k])
