"""The paper's three model comparisons, run on one recording.

1. Prediction correlation of two feature spaces (best layers chosen in-fold; ``predcorr``).
2. CCA shared space of a speech and a language layer, paired at the word level (fitted
   in-fold; ``shared``).
3. Variance partitioning of 2–4 feature sets with union models on the same folds
   (``unions``, ``partition``).

Which comparisons run is planned by ``plan``; every table comes with sentences of numbers
computed from it (``summaries``) for the reports.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bids_app.analysis.config import ComparisonConfig
from bids_app.analysis.plan import FeatureSpaceInfo, comparison_pairs, partitions
from bids_app.analysis.predcorr import best_layer_result, prediction_correlation, refit_null
from bids_app.analysis.shared import fit_recording_shared_space
from bids_app.analysis.summaries import summarize
from bids_app.analysis.unions import SetDesigns, variance_partition
from bids_app.analysis.words import WordSamples
from bids_app.encoding import EncodingConfig, EncodingResult, StatisticsConfig, cross_validate
from bids_app.errors import UsageError
from bids_app.layers import split_layers

logger = logging.getLogger("ssl_ieeg")

Design = Callable[[str, str], np.ndarray]


@dataclass
class ComparisonResult:
    """Tables, summary sentences and warnings of the comparisons of one recording.

    Attributes
    ----------
    tables : dict of str to DataFrame
        desc label -> table: ``"<a>X<b>"`` prediction correlation (suffix ``predcorr``),
        ``"cca"`` canonical components (suffix ``components``), ``"varpart"`` variance
        partition (suffix ``scores``).
    summaries : list of str
        One sentence of numbers per question answered, computed from the tables.
    warnings : list of str
        What the report must flag (e.g. an all-data CCA fit, analyses skipped).
    metrics : dict of str to float
        Scalars behind the summaries (e.g. the across-electrode correlation of two models'
        accuracies), for the data dictionaries.
    """

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    summaries: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class ComparisonInputs:
    """What the comparisons of one recording work on.

    Attributes
    ----------
    design : callable
        ``design(space, layer)`` -> ndarray (n_samples, n_features), float32, on the neural
        timeline (computed on demand; word-level spaces are impulses at word onsets).
    spaces : mapping of str to FeatureSpaceInfo
        Every feature space, by name.
    results : mapping of str to mapping of str to EncodingResult
        space -> layer -> result of ``cross_validate`` on ``design(space, layer)``.
    Y : ndarray, shape (n_samples, n_channels)
        Neural data.
    segments : ndarray of int, shape (n_samples,)
        Stimulus labels (-1 between stimuli), as given to ``cross_validate``.
    lags : ndarray of int
        TRF lags in samples.
    channels : list of str
    words : WordSamples | None
        Word onsets/offsets in samples; needed by the CCA shared space (and the sets derived
        from it). None skips them with a warning.
    """

    design: Design
    spaces: Mapping[str, FeatureSpaceInfo]
    results: Mapping[str, Mapping[str, EncodingResult]]
    Y: np.ndarray
    segments: np.ndarray
    lags: np.ndarray
    channels: list[str]
    words: WordSamples | None = None


def compare_models(inputs: ComparisonInputs, *, config: ComparisonConfig,
                   encoding: EncodingConfig, statistics: StatisticsConfig,
                   backend: str = "numpy", device: str = "cpu", n_jobs: int = 1,
                   verbose: bool = False) -> ComparisonResult:
    """Run the prediction-correlation, CCA and variance-partitioning comparisons.

    Parameters
    ----------
    inputs : ComparisonInputs
        The recording's designs, encoding results and data.
    config : ComparisonConfig
    encoding : EncodingConfig
    statistics : StatisticsConfig
    backend, device, n_jobs, verbose
        As in ``cross_validate``.

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
    engine = dict(backend=backend, device=device, n_jobs=n_jobs, verbose=verbose)
    for a, b in comparison_pairs(config, inputs.spaces, out.warnings):
        table, across = _prediction_correlation(inputs, a, b, statistics, encoding, engine)
        out.tables[f"{a}X{b}"] = table
        out.metrics[f"{a}X{b}_accuracy_correlation"] = across
    shared = fit_recording_shared_space(inputs, config, encoding, out.warnings)
    if shared is not None:
        out.tables["cca"] = shared.table
    sets = SetDesigns(inputs, shared, config, encoding, engine)
    partition_tables = [variance_partition(names, sets, statistics, out.warnings)
                        for names in partitions(config, inputs.spaces, shared is not None,
                                                out.warnings)]
    partition_tables = [table for table in partition_tables if table is not None]
    if partition_tables:
        out.tables["varpart"] = pd.concat(partition_tables, ignore_index=True)
    out.summaries = summarize(out.tables, statistics.fdr_alpha)
    return out


def _prediction_correlation(inputs: ComparisonInputs, a: str, b: str,
                            statistics: StatisticsConfig, encoding: EncodingConfig,
                            engine: dict) -> tuple[pd.DataFrame, float]:
    """The ``<a>X<b>`` table and the across-electrode correlation of the two accuracies.

    The null of ``r_pred`` refits both models on shifted data (:func:`refit_null`), at each
    electrode's most often chosen layer of each model.
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

    def fit(X: np.ndarray, Y: np.ndarray) -> EncodingResult:
        return cross_validate(X, Y, lags=inputs.lags, segments=inputs.segments,
                              config=encoding, **engine)

    def null(tested: np.ndarray) -> np.ndarray:
        channels = np.flatnonzero(tested)
        out = np.empty((statistics.n_refits, len(channels)))
        pairs = [(layers[0][c], layers[1][c]) for c in channels]
        logger.info("prediction correlation %s x %s: %d refits of both models on %d "
                    "electrode(s)", a, b, statistics.n_refits, len(channels))
        for pair in dict.fromkeys(pairs):
            mine = np.array([p == pair for p in pairs])
            out[:, mine] = refit_null(inputs.design(a, pair[0]), inputs.design(b, pair[1]),
                                      inputs.Y[:, channels[mine]], fit,
                                      segments=inputs.segments, n_refits=statistics.n_refits,
                                      seed=statistics.seed)
        return out

    table = prediction_correlation(fitted[0][0], fitted[1][0], inputs.Y, inputs.channels,
                                   null=null, n_permutations=statistics.n_permutations,
                                   seed=statistics.seed, fdr_alpha=statistics.fdr_alpha)
    table.insert(1, "layer_a", layers[0])
    table.insert(2, "layer_b", layers[1])
    table.insert(1, "space_b", b)
    table.insert(1, "space_a", a)
    return table, float(np.corrcoef(table["r_a"], table["r_b"])[0, 1])


def _most_common(chosen: np.ndarray) -> np.ndarray:
    """The layer chosen most often over folds, per electrode."""
    return np.array([pd.Series(column).mode().iloc[0] for column in chosen.T], dtype=object)
