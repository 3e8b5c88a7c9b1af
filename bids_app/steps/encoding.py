"""Step 4, encoding: one model per layer of every feature space (``encoding`` and ``statistics``
sections), each saved in the stage cache as it finishes; the scores tables and TRF outputs.

:func:`run` fits (or reloads) every layer and adds the per-electrode test; the scores tables
are written last by :func:`write_scores` (their presence marks a complete recording).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from bids_app.bids.recording import Recording
from bids_app.encoding import (
    Backend,
    EncodingConfig,
    EncodingResult,
    StatisticsConfig,
    cross_validate,
    cross_validate_word_lags,
    fdr_bh,
    significance,
)
from bids_app.encoding.align import Designs, word_design
from bids_app.encoding.folds import outer_fold_indices
from bids_app.encoding.reduce import PCA_SAMPLES
from bids_app.encoding.result import peak_lags
from bids_app.encoding.stats import ShiftNull, max_t_p_values
from bids_app.errors import BadDataError, MissingInputError
from bids_app.features.cache import release_pages
from bids_app.features.featureset import FeatureSet
from bids_app.features.spec import FeatureSpec
from bids_app.neural import NeuralData
from bids_app.outputs.atomic import write_json, write_tsv
from bids_app.outputs.derivatives import bids_name, scores_dictionary
from bids_app.outputs.stages import StageStore, stage_key
from bids_app.outputs.trf import write_trf_outputs
from bids_app.progress import Progress
from bids_app.steps.run import RunOptions, parallel_layers
from bids_app.steps.run import engine as run_engine
from bids_app.stimuli.stimulus import Stimulus, WordTimings

logger = logging.getLogger("ssl_ieeg")
#: What an encoding stage saves, and how (a method fixed within a version changes it); part
#: of its key, so caches of another content are not reused.
ENCODING_STAGE_CONTENT = ("scores", "predictions", "lag_profile", "weights", "centred words",
                          "lag basis on every sample",
                          f"PCA on at most {PCA_SAMPLES} samples, phase turning")


def run(encoder: LayerEncoder, feature_sets: dict[str, list[FeatureSet]],
        specs: Sequence[FeatureSpec], recording: Recording,
        responsive: pd.DataFrame | None
        ) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, EncodingResult]]]:
    """Every feature space's scores table (with the per-electrode test and the
    ``responsive`` column) and its layers' results."""
    fitted = encoder.feature_spaces({spec.name: feature_sets[spec.name] for spec in specs})
    tables, results = {}, {}
    for spec in specs:
        tables[spec.name], results[spec.name] = fitted[spec.name]
        check_finite(tables[spec.name], spec.name, recording)
        tables[spec.name] = electrode_significance(
            tables[spec.name], results[spec.name], encoder.targets, encoder.encoding.mode,
            encoder.statistics)
        if responsive is not None:
            tables[spec.name] = tables[spec.name].merge(
                responsive[["channel", "responsive"]], on="channel", how="left")
    return tables, results


def score_paths(out_dir: Path, entities: dict[str, str],
                specs: Sequence[FeatureSpec]) -> dict[str, Path]:
    """Where each feature space's scores table goes."""
    return {spec.name: out_dir / bids_name(entities, "scores", ".tsv", desc=spec.name)
            for spec in specs}


def write_trf(out_dir: Path, entities: dict[str, str], tables: dict[str, pd.DataFrame],
              results: dict[str, dict[str, EncodingResult]], neural: NeuralData,
              encoding: EncodingConfig, provenance: dict) -> None:
    """The TRF weights and lag profiles of every feature space (TRF mode)."""
    for space, table in tables.items():
        write_trf_outputs(out_dir, entities, space, results[space], table, neural.ch_names,
                          neural.sfreq, encoding, provenance)


def write_scores(paths: dict[str, Path], tables: dict[str, pd.DataFrame],
                 feature_sets: dict[str, list[FeatureSet]], provenance: dict) -> None:
    """The scores tables with their data dictionaries: written last, they mark the
    recording as complete."""
    for space, path in paths.items():
        write_json(path.with_suffix(".json"), scores_dictionary(
            space, {**provenance, "FeatureSpace": feature_sets[space][0].meta}))
        write_tsv(path, tables[space])
        logger.info("wrote %s", path)


def check_finite(table: pd.DataFrame, space: str, recording: Recording) -> None:
    """Refuse (exit 65) a non-finite R²: a failed participant, not a NaN result.

    R² is undefined only where the data are (constant or non-finite high gamma); r is also
    undefined where a model's predictions are constant (a huge penalty), which is a result.
    """
    bad = table.loc[~np.isfinite(table["r2"].to_numpy(float)), "channel"].unique()
    if len(bad):
        named = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
        raise BadDataError(
            f"{recording.data_path}: the encoding of {space} gave non-finite scores for "
            f"{len(bad)} channel(s) ({named}): "
            "their high gamma is constant or not finite over the modelled samples. Check "
            "these channels in the recording, or mark them bad in channels.tsv.")


@dataclass
class LayerEncoder:
    """Fits (or reloads) the encoding model of every layer of a recording's feature spaces."""

    stimuli: Sequence[Stimulus]
    words: Sequence[WordTimings | None]
    neural: NeuralData
    segments: np.ndarray
    designs: Designs
    encoding: EncodingConfig
    statistics: StatisticsConfig
    options: RunOptions
    store: StageStore
    base_key: str
    progress: Progress
    keys: list[str] = dataclasses.field(default_factory=list)
    _null_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, init=False,
                                                   repr=False)

    @functools.cached_property
    def targets(self) -> np.ndarray:
        """The high gamma as (n_samples, n_channels), C-ordered once for every layer (a
        transposed view would be copied by each fit and each null)."""
        return np.ascontiguousarray(self.neural.data.T)

    @functools.cached_property
    def shifts(self) -> ShiftNull | None:
        """The circular-shift null of the high gamma on the TRF folds, its data side
        computed once for every layer that is fitted, by the first (None where the test
        refits or in word mode)."""
        if self.encoding.mode != "trf":
            return None
        folds = outer_fold_indices(self.segments, len(self.targets), self.encoding.n_folds)
        if self.statistics.null("trf", min(map(len, folds))) != "circular_shift":
            return None
        return ShiftNull(self.targets, folds, self.statistics.n_permutations,
                         self.statistics.seed)

    def feature_spaces(self, spaces: dict[str, Sequence[FeatureSet]]
                       ) -> dict[str, tuple[pd.DataFrame, dict[str, EncodingResult]]]:
        """One encoding model per layer of every feature space, saved as each one finishes.

        The layers of all spaces share the ``--nprocs`` workers, widest first, so that no
        worker waits for the last layer of a space and the narrow layers fill the end.

        Parameters
        ----------
        spaces : dict of str to sequence of FeatureSet
            The feature sets of each space (one per stimulus), by space name.

        Returns
        -------
        fitted : dict of str to (DataFrame, dict of str to EncodingResult)
            Per space, its table (one row per channel and layer, and lag in word mode:
            ``channel``, ``layer``, [``lag``], ``r``, ``r2``, ``alpha``, ``p``, ``p_fdr``,
            ``significant`` and, in TRF mode, ``peak_lag`` (s)) and the result of each layer,
            with its cross-validated predictions memory-mapped.
        """
        keys = {}
        for name, sets in spaces.items():
            space_key = stage_key(self.base_key, [fs.meta for fs in sets])
            keys[name] = {layer: stage_key(space_key, layer) for layer in sets[0].layer_names}
            self.keys += keys[name].values()

        def run(job: tuple[str, str]) -> tuple[EncodingResult, pd.DataFrame, float, bool]:
            name, layer = job
            start, stage = time.perf_counter(), f"encoding-{name}-{layer}"
            saved = self.store.load_result(stage, keys[name][layer])
            if saved is not None:
                return *saved, time.perf_counter() - start, True
            with self._null_lock:  # built once, not by the first layers at once
                shifts = self.shifts
            result, table = self._fit(spaces[name], layer, shifts)
            result = self.store.save_result(stage, keys[name][layer], result, table)
            for feature_set in spaces[name]:  # bounded memory: the next layer reads its own
                release_pages(feature_set.layers[layer])
            return result, table, time.perf_counter() - start, False

        jobs = sorted(((name, layer) for name, sets in spaces.items()
                       for layer in sets[0].layer_names),
                      key=lambda job: -np.prod(spaces[job[0]][0].layers[job[1]].shape[1:]))
        done: dict[tuple[str, str], tuple[EncodingResult, pd.DataFrame]] = {}
        for (name, layer), (result, table, seconds, reused) in self._map(run, jobs):
            done[name, layer] = result, table
            layers = spaces[name][0].layer_names
            self.progress.step(f"{name} layer {layers.index(layer) + 1}/{len(layers)} "
                               f"({layer})", seconds, reused=reused,
                               detail=f"max r {np.nanmax(result.r):.3f}")
        return {name: (pd.concat([done[name, layer][1] for layer in sets[0].layer_names],
                                 ignore_index=True),
                       {layer: done[name, layer][0] for layer in sets[0].layer_names})
                for name, sets in spaces.items()}

    def _map(self, run: Callable, jobs: list) -> Iterator[tuple[Any, Any]]:
        """``(job, run(job))`` as each finishes: ``--nprocs`` layers at a time on the CPU.

        Each layer then runs single-threaded, which uses the cores better than one layer with
        multi-threaded BLAS (much of the work is copies, FFTs and small products). A failed
        layer cancels the layers not started, so the participant fails without fitting them.
        """
        if self._parallel_layers() < 2 or len(jobs) < 2:
            for job in jobs:
                yield job, run(job)
            return
        pool = ThreadPoolExecutor(self._parallel_layers())
        with threadpool_limits(limits=1):
            try:
                futures = {pool.submit(run, job): job for job in jobs}
                for future in as_completed(futures):
                    yield futures[future], future.result()
            finally:
                pool.shutdown(cancel_futures=True)

    def _engine(self) -> Backend:
        """The engine; threads are set by :meth:`_map` when layers run in parallel."""
        engine = run_engine(self.options)
        if self._parallel_layers() > 1:
            return dataclasses.replace(engine, n_jobs=-1)
        return engine

    def _parallel_layers(self) -> int:
        return parallel_layers(self.options)

    def _fit(self, feature_sets: Sequence[FeatureSet], layer: str,
             shifts: ShiftNull | None) -> tuple[EncodingResult, pd.DataFrame]:
        encoding, statistics, neural = self.encoding, self.statistics, self.neural
        if encoding.mode == "word":
            if any(w is None for w in self.words) and not all(f.is_word_level
                                                              for f in feature_sets):
                raise MissingInputError("encoding.mode 'word' needs a transcript for every "
                                        "stimulus.")
            design, onsets = word_design(feature_sets, self.stimuli, self.words, layer)
            lags = encoding.word_lags_samples(neural.sfreq)

            def fit(data: np.ndarray) -> tuple[EncodingResult, np.ndarray]:
                return cross_validate_word_lags(
                    design, data, np.round(onsets * neural.sfreq).astype(int), lags,
                    segments=self.segments, config=encoding, engine=self._engine())

            result, targets = fit(self.targets)
            lags = lags / neural.sfreq
        else:
            design = self.designs(feature_sets[0].name, layer)
            rows = (self.designs.word_rows(feature_sets[0].name)
                    if encoding.centre_words else None)

            def fit(data: np.ndarray, **kwargs) -> tuple[EncodingResult, np.ndarray]:
                return cross_validate(design, data, segments=self.segments,
                                      config=encoding, word_rows=rows,
                                      lags=encoding.lags_samples(neural.sfreq),
                                      engine=self._engine(), **kwargs), data

            result, targets = fit(self.targets, return_weights=True)
            result.weights = result.weights.astype(np.float32)  # saved with the stage
            lags = None
        p_values = significance(result, targets, lambda data: fit(data)[0], self.targets,
                                statistics, encoding.mode, segments=self.segments,
                                shifts=shifts)
        table = scores_table(result, p_values, layer, neural.ch_names, lags,
                              statistics.fdr_alpha)
        if result.lag_profile is not None:
            table["peak_lag"] = np.round(peak_lags(result.lag_profile,
                                                   result.lags / neural.sfreq), 6)
        return result, table


def electrode_significance(table: pd.DataFrame, results: dict[str, EncodingResult],
                           data: np.ndarray, mode: str,
                           statistics: StatisticsConfig) -> pd.DataFrame:
    """Add ``p_electrode`` and ``significant_electrode``: one test per electrode and space.

    With the circular-shift null (TRF mode), max-T over the space's layers
    (:func:`~bids_app.encoding.stats.max_t_p_values`); otherwise Bonferroni over the rows
    of each channel (layers and lags). FDR then runs across electrodes.
    """
    stats = statistics
    if mode == "trf" and stats.null("trf") == "circular_shift":
        p = dict(zip(table["channel"].drop_duplicates(), max_t_p_values(
            list(results.values()), data, stats.n_permutations, stats.seed), strict=True))
    else:
        rows = table.groupby("channel", sort=False)["p"]
        p = (rows.min() * rows.size()).clip(upper=1.0).to_dict()
    channels = list(p)
    significant = fdr_bh(np.array([p[c] for c in channels]), stats.fdr_alpha)[1]
    return table.assign(p_electrode=table["channel"].map(p),
                        significant_electrode=table["channel"].map(
                            dict(zip(channels, significant, strict=True))))


def scores_table(result: EncodingResult, p_values: np.ndarray, layer: str,
                  channels: list[str], lags: np.ndarray | None, fdr_alpha: float) -> pd.DataFrame:
    """Long table of one layer's scores; FDR runs across channels (and lags, in word mode)."""
    p_fdr, significant = fdr_bh(p_values.ravel(), fdr_alpha)
    n_lags = 1 if lags is None else len(lags)
    table = pd.DataFrame({
        "channel": np.tile(channels, n_lags), "layer": layer,
        "r": result.r.ravel(), "r2": result.r2.ravel(),
        "alpha": np.median(result.alphas, axis=0).ravel(), "p": p_values.ravel(),
        "p_fdr": p_fdr, "significant": significant})
    if lags is not None:
        table.insert(2, "lag", np.repeat(np.round(lags, 6), len(channels)))
    return table
