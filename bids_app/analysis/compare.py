"""The paper's model comparisons, run on one recording, given the low-level set L.

0. The low-level set L (acoustics, word onsets, phrase onsets, word durations and frequencies;
   ``lowlevel``) that every model of every comparison contains.
1. The primary test of shared information: shared variance of a speech and a language
   layer beyond L, with a refit null, for the trained models and their untrained twins
   (``beyond``).
2. Prediction correlation of two feature spaces (best layers chosen in-fold; descriptive by
   default; ``predcorr``).
3. CCA shared space of a speech and a language layer, paired at the word level (fitted
   in-fold; ``shared``).
4. Variance partitioning of 2–4 feature sets beyond L, with union models on the same folds
   (``unions``, ``partition``).

Which comparisons run is planned by ``plan``; every table comes with sentences of numbers
computed from it (``summaries``) for the reports.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from bids_app.analysis.beyond import Side, shared_beyond_low, untrained_contrast
from bids_app.analysis.config import ComparisonConfig, untrained_name
from bids_app.analysis.inputs import ComparisonInputs, ComparisonResult
from bids_app.analysis.lowlevel import (
    MIN_EVENTS,
    ONSETS_ONLY_WARNING,
    WORD_REGRESSORS,
    LowLevelSet,
    conditioning_names,
    low_level_set,
)
from bids_app.analysis.plan import (
    comparison_pairs,
    first_of_kind,
    partitions,
    resolve_layer,
)
from bids_app.analysis.predcorr import (
    best_layer_result,
    prediction_correlation,
    prediction_correlation_null,
)
from bids_app.analysis.shared import fit_recording_shared_space
from bids_app.analysis.summaries import summarize
from bids_app.analysis.unions import SetDesigns, variance_partition
from bids_app.encoding import (
    Backend,
    EncodingConfig,
    EncodingResult,
    StatisticsConfig,
    cross_validate,
)
from bids_app.errors import UsageError
from bids_app.layers import split_layers
from bids_app.progress import stage

logger = logging.getLogger("ssl_ieeg")

#: ``cache(name, settings, compute)``: ``compute()``'s value, or the one saved for the same
#: comparison ``name`` and ``settings`` (what it depends on; the workflow's stage store adds
#: the inputs' keys), so that changing one option reruns only what it affects.
Cache = Callable[[str, dict, Callable[[], Any]], Any]

REFERENCE_WARNING = (
    "comparison.preset: reference reproduces the reference study's pipeline: no low-level "
    "conditioning set, uncentred word vectors, the word onset in the shared set, no "
    "untrained-twin control. Its comparisons do not control word timing, sound energy or "
    "architecture, and can call them shared representation.")


def compare_models(inputs: ComparisonInputs, *, config: ComparisonConfig,
                   encoding: EncodingConfig, statistics: StatisticsConfig,
                   engine: Backend | None = None, cache: Cache | None = None,
                   on_shared: Callable[[int], None] | None = None) -> ComparisonResult:
    """Run the prediction-correlation, CCA and variance-partitioning comparisons.

    Parameters
    ----------
    inputs : ComparisonInputs
        The recording's designs, encoding results and data.
    config : ComparisonConfig
    encoding : EncodingConfig
    statistics : StatisticsConfig
        Its seed, permutations and FDR level (the refit nulls take ``config.n_refits``).
        ``encoding`` gives every fitting option but ``inner_cv`` (``config.inner_cv``).
    engine : Backend | None
        As in ``cross_validate``.
    cache : Cache | None
        Where each comparison (a prediction-correlation pair, the shared-beyond-L test, the
        CCA, each partition) is saved and found again, keyed by the settings it depends on
        (:meth:`ComparisonConfig.depends`); None computes everything.
    on_shared : callable | None
        Called with the most shared components of any outer fold once the shared space is
        fitted (the partition's cost depends on it).

    Returns
    -------
    result : ComparisonResult
    """
    out = ComparisonResult()
    if encoding.mode != "trf":
        out.warnings.append("Model comparisons skipped: they need continuous (TRF) encoding "
                            "results (encoding.mode: trf).")
        return out
    inputs = dataclasses.replace(inputs, Y=np.asarray(inputs.Y), lags=np.asarray(inputs.lags),
                                 channels=list(inputs.channels))
    engine = engine or Backend()
    statistics = dataclasses.replace(statistics, n_refits=config.n_refits)
    encoding = dataclasses.replace(encoding, inner_cv=config.inner_cv)
    if config.preset == "reference":
        out.warnings.append(REFERENCE_WARNING)
    low = _low_level(inputs, config, out.warnings)
    inputs = dataclasses.replace(inputs, tested=_tested(inputs, out.warnings))
    # the spaces in order: they resolve the pair (first speech, first language) and L's
    # sources, so a reordered feature list is a new key
    order = {"spaces": list(inputs.spaces)}

    def cached(name: str, settings: dict, compute: Callable[[list[str]], Any]) -> Any:
        """``compute(warnings)`` under ``stage comparisons/<name>``, or its saved value."""
        def run() -> tuple[Any, list[str]]:
            warnings: list[str] = []
            with stage(f"comparisons/{name}"):
                return compute(warnings), warnings

        value, warnings = (cache or _compute)(name, settings, run)
        out.warnings.extend(warnings)
        return value

    # first: the partition's cost depends on the shared space's size (``on_shared``)
    shared = cached("cca", {**config.depends("cca"), **order},
                    lambda warnings: fit_recording_shared_space(inputs, config, encoding,
                                                                warnings, low))
    if shared is not None:
        out.tables["cca"] = shared.table
        if on_shared is not None:
            on_shared(max(fit.n_kept for fit in shared.fits))
    for a, b in comparison_pairs(config, inputs.spaces, out.warnings):
        table, across = cached(
            f"predcorr-{a}X{b}", {**config.depends("predcorr"), "pair": [a, b]},
            lambda _, a=a, b=b: _prediction_correlation(inputs, a, b, statistics, encoding,
                                                        engine, config.predcorr_null))
        out.tables[f"{a}X{b}"] = table
        out.metrics[f"{a}X{b}_accuracy_correlation"] = across
    beyond = cached("beyond", {**config.depends("beyond"), **order}, lambda warnings: _beyond(
        inputs, low, config, encoding, statistics, engine, warnings))
    if beyond is not None:
        out.tables["beyond"] = beyond
    sets = SetDesigns(inputs, shared, config, encoding, engine, low)
    adds = None  # where a layer of the CCA pair adds beyond L (summarises the CCA sets)
    if beyond is not None and low.blocks:
        adds = (beyond["significant_gain_a"] | beyond["significant_gain_b"]).to_numpy()
    partition_tables = []
    for names in partitions(config, inputs.spaces, shared is not None, out.warnings,
                            low.names):
        partition_tables.append(cached(
            f"varpart-{'+'.join(names)}", {**config.depends("varpart"), **order, "sets": names},
            lambda warnings, names=names: variance_partition(names, sets, statistics,
                                                             warnings, adds)))
    partition_tables = [table for table in partition_tables if table is not None]
    if partition_tables:
        out.tables["varpart"] = pd.concat(partition_tables, ignore_index=True)
    out.summaries = summarize(out.tables, statistics.fdr_alpha)
    return out


def _compute(name: str, settings: dict, compute: Callable[[], Any]) -> Any:
    """The cache of :func:`compare_models` that keeps nothing."""
    return compute()


def _prediction_correlation(inputs: ComparisonInputs, a: str, b: str,
                            statistics: StatisticsConfig, encoding: EncodingConfig,
                            engine: Backend, test: bool) -> tuple[pd.DataFrame, float]:
    """The ``<a>X<b>`` table and the across-electrode correlation of the two accuracies.

    With ``test`` (``comparison.predcorr_null``), the null of ``r_pred`` refits both models
    on shifted data (:func:`prediction_correlation_null`), at each electrode's most often
    chosen layer of each model; otherwise ``r_pred`` is descriptive (``p`` NaN).
    """
    fitted = []
    for name in (a, b):
        if name not in inputs.results:
            raise UsageError(f"comparison.prediction_correlation: no encoding results for "
                             f"feature space {name!r}")
        layers, _ = split_layers(list(inputs.results[name]))  # never surprisal or entropy
        fitted.append(best_layer_result({layer: inputs.results[name][layer]
                                         for layer in layers}, inputs.Y))
    layers = _most_common(fitted[0][1]), _most_common(fitted[1][1])

    def fit(space: str, layer: str) -> Callable[[np.ndarray], EncodingResult]:
        """The cross-validation of a layer as in the encoding stage (word vectors centred)."""
        rows = inputs.impulse_rows(space) if encoding.centre_words else None
        return lambda Y: cross_validate(inputs.design(space, layer), Y, lags=inputs.lags,
                                        segments=inputs.segments, config=encoding,
                                        word_rows=rows, engine=engine)

    def null(tested: np.ndarray) -> np.ndarray:
        channels = np.flatnonzero(tested)
        out = np.empty((statistics.n_refits, len(channels)))
        pairs = [(layers[0][c], layers[1][c]) for c in channels]
        logger.info("prediction correlation %s x %s: %d refits of both models on %d "
                    "electrode(s)", a, b, statistics.n_refits, len(channels))
        for pair in dict.fromkeys(pairs):
            mine = np.array([p == pair for p in pairs])
            out[:, mine] = prediction_correlation_null(
                fit(a, pair[0]), fit(b, pair[1]), inputs.Y[:, channels[mine]],
                segments=inputs.segments, n_refits=statistics.n_refits, seed=statistics.seed)
        return out

    table = prediction_correlation(fitted[0][0], fitted[1][0], inputs.Y, inputs.channels,
                                   null=null if test else None,
                                   n_permutations=statistics.n_permutations,
                                   seed=statistics.seed, fdr_alpha=statistics.fdr_alpha)
    table.insert(1, "layer_a", layers[0])
    table.insert(2, "layer_b", layers[1])
    table.insert(1, "space_b", b)
    table.insert(1, "space_a", a)
    return table, float(np.corrcoef(table["r_a"], table["r_b"])[0, 1])


def _low_level(inputs: ComparisonInputs, config: ComparisonConfig,
               warnings: list[str]) -> LowLevelSet:
    """The recording's low-level set L, with a warning when it lacks acoustics or is empty."""
    names = conditioning_names(config, inputs.spaces, inputs.words is not None)
    low = low_level_set(names, inputs.design, inputs.spaces, inputs.words, inputs.segments,
                        config.phrase_pause, inputs.sfreq, config.word_language)
    if low.left_out:
        warnings.append(f"Left out of the low-level set L: {', '.join(low.left_out)} (a word "
                        f"regressor needs {MIN_EVENTS} events in the recording, and word "
                        "frequency the words' texts).")
    if not names and config.conditioning:
        warnings.append("The comparisons are not conditioned on low-level features: no "
                        f"component of comparison.conditioning ({config.conditioning}) is "
                        "available.")
    elif names and not set(names) - set(WORD_REGRESSORS):
        warnings.append(ONSETS_ONLY_WARNING)
    return low


def _tested(inputs: ComparisonInputs, warnings: list[str]) -> np.ndarray:
    """The electrodes the refit tests run on: the speech-responsive ones, or all of them.

    All, with a warning, when no electrode was found responsive (e.g. from too few stimulus
    onsets): the tests stay valid on every electrode, and only cost more.
    """
    n = len(inputs.channels)
    if inputs.tested is None:
        return np.ones(n, bool)
    tested = np.asarray(inputs.tested, bool)
    if not tested.any():
        warnings.append(f"No electrode was found speech-responsive: the shared-beyond-L test "
                        f"runs on all {n} electrodes.")
        return np.ones(n, bool)
    return tested


def _beyond(inputs: ComparisonInputs, low: LowLevelSet, config: ComparisonConfig,
            encoding: EncodingConfig, statistics: StatisticsConfig, engine: Backend,
            warnings: list[str]) -> pd.DataFrame | None:
    """The shared-beyond-L table of the CCA pair (and of its untrained twins), or None."""
    names = (config.cca_speech or first_of_kind(inputs.spaces, "speech"),
             config.cca_language or first_of_kind(inputs.spaces, "language"))
    if None in names or any(name not in inputs.spaces for name in names):
        warnings.append("Shared-beyond-L test skipped: it needs a speech and a language "
                        "feature space.")
        return None
    layers = (resolve_layer(config.cca_speech_layer, inputs.spaces[names[0]].layers,
                            "cca_speech_layer"),
              resolve_layer(config.cca_language_layer, inputs.spaces[names[1]].layers,
                            "cca_language_layer"))
    tested = np.asarray(inputs.tested, bool)

    def side(space: str, layer: str) -> Side:
        return Side(space, layer, inputs.design(space, layer),
                    inputs.impulse_rows(space) if encoding.centre_words else None)

    def test(a: str, b: str, low: LowLevelSet):
        sides = [side(space, layer) for space, layer in zip((a, b), layers, strict=True)]
        return shared_beyond_low(*sides, low, inputs.Y, inputs.channels, tested,
                                 segments=inputs.segments, lags=inputs.lags,
                                 encoding=encoding, statistics=statistics,
                                 banded=config.banded, engine=engine)

    twins = tuple(untrained_name(name) for name in names)
    present = all(twin in inputs.spaces for twin in twins)
    if not present and config.untrained_control:
        warnings.append("The untrained-twin control of the shared-beyond-L test did not "
                        f"run: {' and '.join(twins)} are not analysed.")
    if present and config.beyond_untrained:  # trained beyond untrained: the twins join L
        for twin, layer in zip(twins, layers, strict=True):
            twin_side = side(twin, layer)
            low = low.plus(twin, twin_side.design, twin_side.word_rows)
    with stage("comparisons/beyond-trained"):
        trained = test(*names, low)
    if not present or config.beyond_untrained:
        return trained.table
    with stage("comparisons/beyond-untrained"):
        untrained = test(*twins, low)
    return untrained_contrast(trained, untrained, statistics.fdr_alpha)


def _most_common(chosen: np.ndarray) -> np.ndarray:
    """The layer chosen most often over folds, per electrode."""
    return np.array([pd.Series(column).mode().iloc[0] for column in chosen.T], dtype=object)
