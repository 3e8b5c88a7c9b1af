"""Step 5, comparisons: the model comparisons of one recording (``comparison`` section, given
the encodings), each saved in the stage cache under its own key, and their tables."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bids_app.analysis import (
    ComparisonInputs,
    ComparisonResult,
    FeatureSpaceInfo,
    compare_models,
    table_dictionary,
    word_samples,
)
from bids_app.analysis.compare import Cache
from bids_app.analysis.config import ComparisonConfig
from bids_app.encoding import EncodingConfig, EncodingResult, StatisticsConfig
from bids_app.encoding.align import Designs
from bids_app.features.featureset import FeatureSet
from bids_app.neural import ElectrodeConfig, NeuralData
from bids_app.outputs.atomic import write_json, write_tsv
from bids_app.outputs.derivatives import COMPARISON_SUFFIXES, bids_name
from bids_app.outputs.stages import StageStore, comparison_key
from bids_app.steps.run import RunOptions, engine
from bids_app.stimuli.stimulus import Stimulus, WordTimings

logger = logging.getLogger("ssl_ieeg")


#: How the comparisons are computed, where a fix within a version changed it; part of every
#: comparison's key, so caches of an earlier method are not reused.
COMPARISON_STAGE_CONTENT = ("word offsets in L", "refit null with centred word vectors")


def stage_cache(store: StageStore, encodings: list[str], electrodes: ElectrodeConfig,
                statistics: StatisticsConfig) -> Cache:
    """Each comparison keyed by its settings, the encodings it reads and the electrodes it
    tests (:func:`~bids_app.outputs.stages.comparison_key`)."""
    def cache(name: str, settings: dict, compute: Callable[[], Any]) -> Any:
        key = comparison_key(encodings, electrodes, statistics, settings,
                             COMPARISON_STAGE_CONTENT)
        value = store.load(f"comparison-{name}", key)
        if value is None:
            value = compute()
            store.save(f"comparison-{name}", key, value)
        else:
            logger.info("comparisons/%s: reused (its settings and inputs are unchanged)", name)
        return value

    return cache


def run(feature_sets: dict[str, list[FeatureSet]], designs: Designs,
        results: dict[str, dict[str, EncodingResult]], stimuli: Sequence[Stimulus],
        words: Sequence[WordTimings | None], neural: NeuralData, segments: np.ndarray,
        comparison: ComparisonConfig, encoding: EncodingConfig, statistics: StatisticsConfig,
        options: RunOptions, responsive: pd.DataFrame | None,
        cache: Cache | None = None,
        on_shared: Callable[[int], None] | None = None) -> ComparisonResult:
    """The model comparisons of one recording (:func:`compare_models`).

    The shared-beyond-L test runs on the speech-responsive electrodes (every electrode when
    responsiveness could not be tested). ``cache`` keeps each comparison (see
    :data:`~bids_app.analysis.compare.Cache`); ``on_shared`` learns the shared space's size.
    """
    spaces = {name: FeatureSpaceInfo(kind=sets[0].kind, layers=sets[0].layer_names,
                                     word_level=sets[0].is_word_level)
              for name, sets in feature_sets.items()}
    tested = None
    if responsive is not None:
        flags = dict(zip(responsive["channel"], responsive["responsive"].fillna(False),
                         strict=True))
        tested = np.array([bool(flags.get(name, False)) for name in neural.ch_names])
    inputs = ComparisonInputs(designs, spaces, results, neural.data.T, segments,
                              encoding.lags_samples(neural.sfreq), neural.ch_names,
                              word_samples(stimuli, words, neural.sfreq), neural.sfreq, tested,
                              designs.word_rows)
    return compare_models(inputs, config=comparison, encoding=encoding,
                          statistics=statistics, cache=cache, engine=engine(options),
                          on_shared=on_shared)


def write(comparison: ComparisonResult, out_dir: Path, entities: dict[str, str],
                     provenance: dict) -> None:
    """Write each comparison table with its JSON data dictionary (docs/outputs.md)."""
    for warning in comparison.warnings:
        logger.warning("%s", warning)
    for desc, table in comparison.tables.items():
        suffix = COMPARISON_SUFFIXES.get(desc, "predcorr")
        path = out_dir / bids_name(entities, suffix, ".tsv", desc=desc)
        write_json(path.with_suffix(".json"), {
            **table_dictionary(table),
            "Provenance": {**provenance, "Metrics": comparison.metrics,
                           "Warnings": comparison.warnings}})
        write_tsv(path, table)
        logger.info("wrote %s", path)
