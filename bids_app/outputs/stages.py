"""Resumable stage outputs, each keyed by the configuration it depends on.

Every stage of a recording (high-gamma, the encoding of each feature space × layer, the model
comparisons) saves its result atomically as soon as it finishes, under
``OUTPUT_DIR/stages/<recording>/<stage>-<key>.*``. The key hashes exactly what the stage depends
on (its config sections, its inputs' keys, the app version), the MNE-BIDS-Pipeline way: a rerun
loads every stage whose key matches and recomputes the others, so a run killed in layer 9
resumes at layer 9, and changing one ``comparison`` option reruns only the comparisons that
depend on it (each comparison is a stage of its own). Saving a stage removes its files of other
keys. The folder is a cache: deleting it only costs recomputation, and the derivatives never
read from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bids_app import __version__
from bids_app.encoding import EncodingResult
from bids_app.outputs.atomic import atomic_path

if TYPE_CHECKING:
    from bids_app.encoding import EncodingConfig, StatisticsConfig
    from bids_app.neural.config import ElectrodeConfig, PreprocessingConfig

#: File suffix of a stage's TRF weights (a ``.``-suffix, so that a key is parsed alone).
WEIGHTS_SUFFIX = ".weights.npy"


#: Metadata key of a config field that changes only memory or speed, never a result
#: (``field(metadata={"memory_only": True})``): left out of every stage key.
MEMORY_ONLY = "memory_only"


def stage_key(*parts: Any) -> str:
    """A short hash of ``parts`` (config sections, dicts, strings) and the app version.

    A config section (a dataclass) enters with its fields but the memory-only ones.
    """
    plain = [_settings(p) if dataclasses.is_dataclass(p) else p for p in parts]
    text = json.dumps([__version__, *plain], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _settings(section: Any) -> dict:
    return {f.name: getattr(section, f.name) for f in dataclasses.fields(section)
            if not f.metadata.get(MEMORY_ONLY)}


def highgamma_key(preprocessing: PreprocessingConfig, source: dict) -> str:
    """The high-gamma stage: its settings and the recording's files."""
    return stage_key(preprocessing, source)


def encoding_key(highgamma: str, electrodes: ElectrodeConfig, encoding: EncodingConfig,
                 statistics: StatisticsConfig, content: tuple[str, ...]) -> str:
    """The encoding of every layer (which then adds its features and layer name).

    The electrode settings change which channels are modelled only with ``mask:
    responsive``; otherwise they change the ``responsive`` column alone, which is added
    after the stage.
    """
    modelled = electrodes if electrodes.mask == "responsive" else "every good channel"
    return stage_key(highgamma, modelled, encoding, statistics, content)


def comparison_key(encodings: list[str], electrodes: ElectrodeConfig,
                   statistics: StatisticsConfig, settings: dict,
                   content: tuple[str, ...]) -> str:
    """One comparison: the encodings it reads, the electrodes it tests (the
    speech-responsive ones, so every electrode setting), its own settings, and how it is
    computed (``content``, as for the encodings)."""
    return stage_key(sorted(encodings), electrodes, statistics, settings, content)


@dataclass(frozen=True)
class StageStore:
    """The stage outputs of one recording.

    Attributes
    ----------
    root : Path
        ``OUTPUT_DIR/stages/<entity stem>``.
    """

    root: Path

    def _path(self, stage: str, key: str, suffix: str) -> Path:
        return self.root / f"{stage}-{key}{suffix}"

    def load(self, stage: str, key: str) -> Any | None:
        """The saved value of ``stage`` under ``key``, or None."""
        path = self._path(stage, key, ".pkl")
        if not path.is_file():
            return None
        with path.open("rb") as handle:
            return pickle.load(handle)

    def save(self, stage: str, key: str, value: Any) -> None:
        """Save ``value`` atomically and drop the stage's files of other keys."""
        with atomic_path(self._path(stage, key, ".pkl")) as tmp, tmp.open("wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        self._drop_others(stage, key)

    def load_result(self, stage: str, key: str) -> tuple[EncodingResult, pd.DataFrame] | None:
        """An encoding result (predictions and weights memory-mapped) and its table, or None."""
        saved = self.load(stage, key)
        predictions = self._path(stage, key, ".npy")
        if saved is None or not predictions.is_file():
            return None
        result, table = saved
        result.predictions = np.load(predictions, mmap_mode="r").T
        weights = self._path(stage, key, WEIGHTS_SUFFIX)
        if weights.is_file():
            result.weights = np.load(weights, mmap_mode="r")
        return result, table

    def save_result(self, stage: str, key: str, result: EncodingResult,
                    table: pd.DataFrame) -> EncodingResult:
        """Save a result and its table; returns it with its large arrays memory-mapped.

        The predictions (and the TRF weights, when present) go to ``.npy`` files first, and
        the small rest (the completion marker) last. Predictions are stored target-major
        (transposed), so that reading some targets of a memory-mapped result touches only
        their pages.
        """
        predictions = self._path(stage, key, ".npy")
        with atomic_path(predictions) as tmp:
            np.save(tmp, np.ascontiguousarray(result.predictions.T))
        weights = self._path(stage, key, WEIGHTS_SUFFIX)
        if result.weights is not None:
            with atomic_path(weights) as tmp:
                np.save(tmp, result.weights)
        self.save(stage, key, (dataclasses.replace(result, predictions=None, weights=None),
                               table))
        return dataclasses.replace(
            result, predictions=np.load(predictions, mmap_mode="r").T,
            weights=None if result.weights is None else np.load(weights, mmap_mode="r"))

    def _drop_others(self, stage: str, key: str) -> None:
        for path in self.root.glob(f"{stage}-*"):
            owner, _, other = path.name.split(".")[0].rpartition("-")
            if owner == stage and other != key:  # not a longer stage name's file
                path.unlink(missing_ok=True)
