"""``NeuralData``: the z-scored high-gamma of one recording, as passed to the encoding stage."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(eq=False)
class NeuralData:
    """Z-scored high-gamma envelopes of the modelled channels of one recording.

    Attributes
    ----------
    data : ndarray, shape (n_channels, n_times), float32
        Z-scored high-gamma; sample ``j`` is at ``j / sfreq`` seconds after the first sample of
        the recording (the clock of ``events.tsv`` onsets).
    sfreq : float
        Sampling rate of ``data`` in Hz.
    ch_names : list of str
        Modelled channels (good ECOG/SEEG/DBS; ``"A1-A2"`` for bipolar), in row order.
    channels : DataFrame
        Derivative ``channels.tsv``: the modelled channels (``status`` good) first, then every
        other input channel with ``status`` bad and ``status_description`` saying why it was
        excluded (bad in source, not neural, missing, auto-flagged). ``source_status`` keeps
        the input status.
    electrodes : DataFrame | None
        ``name, x, y, z`` for each of ``ch_names`` (bipolar: contact midpoints); NaN where
        unknown. None when the recording has no electrodes file.
    coordinate_space : str | None
        ``space-`` label of the electrode coordinates (``MNI152NLin2009aSym``, ``Pixels``, ...).
    software_filters : dict
        BIDS ``SoftwareFilters``: one entry per processing step with its parameters.
    reference : str
        ``iEEGReference`` of the derivative.
    qc : dict
        Arrays for the report: ``psd_freqs``, ``psd_before`` (raw, per modelled contact),
        ``psd_before_channels``, ``psd_after`` (notched and re-referenced, per row of
        ``data``), ``line_freq``.
    """

    data: np.ndarray
    sfreq: float
    ch_names: list[str]
    channels: pd.DataFrame
    electrodes: pd.DataFrame | None = None
    coordinate_space: str | None = None
    software_filters: dict = field(default_factory=dict)
    reference: str = "n/a"
    qc: dict = field(default_factory=dict)

    @property
    def times(self) -> np.ndarray:
        """Sample times in seconds from the first sample of the recording."""
        return np.arange(self.data.shape[1]) / self.sfreq
