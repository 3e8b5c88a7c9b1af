"""The ``Recording`` dataclass: one iEEG run and its BIDS metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass(frozen=True, eq=False)
class Recording:
    """One iEEG recording with its sidecars, read through BIDS inheritance.

    Attributes
    ----------
    subject, session, task, run, acquisition : str | None
        BIDS entities (``subject`` and ``task`` always set).
    data_path : Path
        The raw data file (``_ieeg.edf``, ``.vhdr``, ``.fif``, ...).
    sidecar : dict
        The ``_ieeg.json`` content (``SamplingFrequency``, ``PowerLineFrequency``, ...).
    channels : DataFrame
        ``channels.tsv`` with at least ``name``, ``type``, ``status`` (``good``/``bad``) and
        ``status_description`` columns; missing cells are NaN.
    electrodes : DataFrame | None
        ``electrodes.tsv`` with ``name``, ``x``, ``y``, ``z`` (and more), if any.
    coordinate_space : str | None
        The ``space-`` label of the electrodes file, e.g. ``"MNI152NLin2009aSym"``.
    events : DataFrame | None
        ``events.tsv`` (found through inheritance), if any.
    events_path : Path | None
        The file ``events`` was read from.
    coordsystem : dict
        The ``coordsystem.json`` of the electrodes file (empty if none).
    """

    subject: str
    task: str
    data_path: Path
    session: str | None = None
    run: str | None = None
    acquisition: str | None = None
    sidecar: dict = field(default_factory=dict)
    channels: pd.DataFrame = field(default_factory=pd.DataFrame)
    electrodes: pd.DataFrame | None = None
    coordinate_space: str | None = None
    events: pd.DataFrame | None = None
    events_path: Path | None = None
    coordsystem: dict = field(default_factory=dict)

    @property
    def entities(self) -> dict[str, str]:
        """The BIDS entities that name this recording's derivatives, in BIDS order."""
        ents = {"sub": self.subject, "ses": self.session, "task": self.task,
                "acq": self.acquisition, "run": self.run}
        return {k: v for k, v in ents.items() if v is not None}

    @property
    def line_freq(self) -> float | None:
        """``PowerLineFrequency`` from the sidecar, or None when absent or ``n/a``."""
        value = self.sidecar.get("PowerLineFrequency")
        return float(value) if isinstance(value, (int, float)) else None
