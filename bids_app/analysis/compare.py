"""The paper's three model comparisons, run on one recording.

1. Prediction correlation of two feature spaces (best layers chosen in-fold).
2. CCA shared space of a speech and a language layer at the word level (fitted in-fold).
3. Variance partitioning of 2–4 feature sets with union models on the same folds.

Every table comes with sentences of numbers computed from it (``summaries``) for the reports.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bids_app.analysis.cca import SharedSpace, bartlett_test, fit_shared_space
from bids_app.analysis.config import CCA_SETS, ComparisonConfig
from bids_app.analysis.partition import partition_table, subsets
from bids_app.analysis.plan import (
    FeatureSpaceInfo,
    comparison_pairs,
    first_of_kind,
    partitions,
    resolve_layer,
    set_members,
    space_layer,
)
from bids_app.analysis.predcorr import best_layer_result, prediction_correlation
from bids_app.analysis.summaries import summarize
from bids_app.analysis.words import WordSamples, modelled_words
from bids_app.encoding import (
    EncodingConfig,
    EncodingResult,
    StatisticsConfig,
    cross_validate_subsets,
    fdr_bh,
    permutation_test,
)
from bids_app.encoding.cv import fold_scores
from bids_app.encoding.folds import outer_folds, piece_indices, segment_pieces
from bids_app.errors import BadDataError, UsageError

logger = logging.getLogger("ssl_ieeg")

#: Level of the Bartlett test that counts a canonical component as significant.
BARTLETT_ALPHA = 0.05
ALL_DATA_WARNING = (
    "CCA was fitted on all words (comparison.cca_fit: all_data, as in the reference code): the "
    "test folds took part in finding the shared space, so held-out canonical correlations and "
    "the shared/rest encoding scores are optimistic. Use cca_fit: in_fold for unbiased "
    "estimates.")

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
    run = _Runner(inputs, config, encoding, statistics, out,
                  dict(backend=backend, device=device, n_jobs=n_jobs, verbose=verbose))
    for a, b in comparison_pairs(config, inputs.spaces, out.warnings):
        run.prediction_correlation(a, b)
    shared = run.shared_spaces()
    blocks = _SetBlocks(run, shared)
    for names in partitions(config, inputs.spaces, shared is not None, out.warnings):
        run.variance_partition(names, blocks)
    out.summaries = summarize(out.tables, statistics.fdr_alpha)
    return out


@dataclass
class _Runner:
    """The inputs and settings shared by the comparisons, and the result they fill."""

    inputs: ComparisonInputs
    config: ComparisonConfig
    encoding: EncodingConfig
    statistics: StatisticsConfig
    out: ComparisonResult
    engine: dict
    kept: tuple[np.ndarray, np.ndarray] | None = None  # onsets, offsets of modelled words
    cca_speech: tuple[str, str] | None = None  # space and layer of the speech side of CCA
    word_vectors: tuple[np.ndarray, np.ndarray] | None = None  # speech, language

    # -- 1. prediction correlation -------------------------------------------------------

    def prediction_correlation(self, a: str, b: str) -> None:
        """Add the ``<a>X<b>`` table and the across-electrode correlation of accuracies."""
        fitted = []
        for name in (a, b):
            if name not in self.inputs.results:
                raise UsageError(f"comparison.prediction_correlation: no encoding results for "
                                 f"feature space {name!r}")
            fitted.append(best_layer_result(self.inputs.results[name], self.inputs.Y))
        stats = self.statistics
        table = prediction_correlation(fitted[0][0], fitted[1][0], self.inputs.Y,
                                       self.inputs.channels,
                                       n_permutations=stats.n_permutations, seed=stats.seed,
                                       fdr_alpha=stats.fdr_alpha)
        table.insert(1, "layer_a", _most_common(fitted[0][1]))
        table.insert(2, "layer_b", _most_common(fitted[1][1]))
        table.insert(1, "space_b", b)
        table.insert(1, "space_a", a)
        self.out.tables[f"{a}X{b}"] = table
        across = float(np.corrcoef(table["r_a"], table["r_b"])[0, 1])
        self.out.metrics[f"{a}X{b}_accuracy_correlation"] = across

    # -- 2. CCA shared space -------------------------------------------------------------

    def shared_spaces(self) -> list[SharedSpace] | None:
        """Fit the shared space (per outer fold, or once); add the ``cca`` table."""
        cfg = self.config
        speech = cfg.cca_speech or first_of_kind(self.inputs.spaces, "speech")
        language = cfg.cca_language or first_of_kind(self.inputs.spaces, "language")
        if speech is None or language is None or self.inputs.words is None:
            self.out.warnings.append("CCA shared space skipped: it needs a speech and a "
                                     "language feature space and word timings.")
            return None
        for key, name in (("cca_speech", speech), ("cca_language", language)):
            if name not in self.inputs.spaces:
                raise UsageError(f"comparison.{key}: unknown feature space {name!r}; known: "
                                 f"{sorted(self.inputs.spaces)}")
        layers = (resolve_layer(cfg.cca_speech_layer, self.inputs.spaces[speech].layers,
                                "cca_speech_layer"),
                  resolve_layer(cfg.cca_language_layer, self.inputs.spaces[language].layers,
                                "cca_language_layer"))
        self.kept = modelled_words(self.inputs.words, self.inputs.segments)
        self.cca_speech = speech, layers[0]
        self.word_vectors = (self._word_matrix(speech, layers[0]),
                             self._word_matrix(language, layers[1]))
        word_folds = self._word_folds()
        options = dict(variance=cfg.pca_variance, n_components=cfg.n_components,
                       rest_components=cfg.rest_components)
        try:
            everything = fit_shared_space(*self.word_vectors, **options)
            if cfg.cca_fit == "all_data":
                fits = [everything] * len(word_folds)
            else:
                fits = [fit_shared_space(*(m[~test] for m in self.word_vectors), **options)
                        for test in word_folds]
        except BadDataError as err:
            self.out.warnings.append(f"CCA shared space skipped: {err}")
            return None
        if cfg.cca_fit == "all_data":
            self.out.warnings.append(ALL_DATA_WARNING)
        if everything.n_components < cfg.n_components:
            self.out.warnings.append(
                f"CCA kept {everything.n_components} components, not comparison.n_components "
                f"= {cfg.n_components}: that is the smaller PCA dimension of the two sets.")
        table = components_table(fits, everything, self.word_vectors, word_folds)
        table.insert(1, "speech", f"{speech} {layers[0]}")
        table.insert(2, "language", f"{language} {layers[1]}")
        table["pca_variance"] = cfg.pca_variance
        table["pca_dims_speech"] = everything.speech.components.shape[1]
        table["pca_dims_language"] = everything.language.components.shape[1]
        table["fit"] = cfg.cca_fit
        self.out.tables["cca"] = table
        return fits

    def _word_matrix(self, space: str, layer: str) -> np.ndarray:
        """Word vectors of one layer: the onset row (word-level) or the word's mean row."""
        X = self.inputs.design(space, layer)
        onsets, offsets = self.kept
        if self.inputs.spaces[space].word_level:
            return np.asarray(X[onsets], dtype=float)
        return np.stack([X[a:max(b, a + 1)].mean(0) for a, b in zip(onsets, offsets,
                                                                    strict=True)])

    def _word_folds(self) -> list[np.ndarray]:
        """Boolean test mask over the kept words of every outer fold."""
        folds = outer_folds(segment_pieces(self.inputs.segments, self.inputs.Y.shape[0]),
                            self.encoding.n_folds)
        fold_of = np.full(self.inputs.Y.shape[0], -1)
        for k, fold in enumerate(folds):
            fold_of[piece_indices(fold)] = k
        owner = fold_of[self.kept[0]]
        return [owner == k for k in range(len(folds))]

    # -- 3. variance partitioning --------------------------------------------------------

    def variance_partition(self, names: list[str], blocks: _SetBlocks) -> None:
        """Fit every union model of ``names``; add the partition to the ``varpart`` table."""
        empty = [name for name in names if name in CCA_SETS and any(
            fit.transform(*(m[:1] for m in self.word_vectors))[name].shape[1] == 0
            for fit in blocks.shared)]
        if empty:
            self.out.warnings.append(
                f"Variance partitioning {names} skipped: {empty} has no dimensions left after "
                "projecting out the shared space (lower comparison.n_components or raise "
                "comparison.pca_variance).")
            return
        models = blocks.fit([[n for n in names if n in subset] for subset in subsets(names)])
        r2 = {subset: model.r2 for subset, model in zip(subsets(names), models, strict=True)}
        union = models[-1]
        stats = self.statistics
        p = permutation_test(union, self.inputs.Y, n_permutations=stats.n_permutations,
                             seed=stats.seed)
        significant = fdr_bh(p, stats.fdr_alpha)[1]
        table = partition_table(r2, names, self.inputs.channels, significant)
        previous = self.out.tables.get("varpart")
        self.out.tables["varpart"] = (table if previous is None
                                      else pd.concat([previous, table], ignore_index=True))


@dataclass
class _SetBlocks:
    """Design blocks of the variance-partitioning sets, and the union models fitted on them.

    Feature-space sets are kept on the timeline; shared-space sets are kept at the word level
    (``word_sets``: fold -> set -> word vectors) and put on the timeline when needed, since
    one timeline copy per set and fold would not fit in memory for long recordings.
    """

    runner: _Runner
    shared: list[SharedSpace] | None
    space_sets: dict[str, np.ndarray] = field(default_factory=dict)
    word_sets: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    speech_frames: np.ndarray | None = None
    fitted: dict[frozenset[str], EncodingResult] = field(default_factory=dict)

    def fit(self, models: list[list[str]]) -> list[EncodingResult]:
        """Cross-validated union models, each a list of set names (same folds for all).

        The models not fitted yet are fitted together, from one design and Gram per fold of
        all their sets (:func:`~bids_app.encoding.cross_validate_subsets`); fitted models are
        kept, so partitions that share a union (e.g. ``shared`` alone) fit it once. Only the
        union of all the sets keeps its predictions (for its permutation test).
        """
        todo = [m for m in models if frozenset(m) not in self.fitted]
        union = frozenset(n for m in models for n in m)
        if todo:
            names = list(dict.fromkeys(n for m in todo for n in m))
            logger.info("variance partitioning: %d union model(s) of %s", len(todo),
                        "+".join(names))
            run = self.runner

            def fold_design(k: int) -> list[np.ndarray]:
                return [self.block(name, k) for name in names]

            design = fold_design if set(names) & set(CCA_SETS) else fold_design(0)
            fitted = cross_validate_subsets(
                design, run.inputs.Y, [[names.index(n) for n in m] for m in todo],
                lags=run.inputs.lags, segments=run.inputs.segments, config=run.encoding,
                banded=run.config.banded,
                keep_predictions=[frozenset(m) == union for m in todo], **run.engine)
            for members, result in zip(todo, fitted, strict=True):
                self.fitted[frozenset(members)] = result
        return [self.fitted[frozenset(m)] for m in models]

    def block(self, name: str, k: int) -> np.ndarray:
        """The design of one set (for outer fold ``k`` if it comes from the shared space)."""
        if name not in CCA_SETS:
            if name not in self.space_sets:
                self.space_sets[name] = self._space_block(name)
            return self.space_sets[name]
        run = self.runner
        if k not in self.word_sets:
            self.word_sets[k] = self.shared[k].transform(*run.word_vectors)
        values = self.word_sets[k][name]
        X = np.zeros((run.inputs.Y.shape[0], values.shape[1]), dtype=np.float32)
        np.add.at(X, run.kept[0], values)
        frame_level = (run.config.cca_level == "frame"
                       and not run.inputs.spaces[run.cca_speech[0]].word_level)
        if frame_level and name in ("shared", "speech_rest"):
            frames = self._speech_frames(k, name)
            X = frames if name == "speech_rest" else np.hstack([frames, X])
        return X

    def _speech_frames(self, k: int, name: str) -> np.ndarray:
        """Frame-level speech variates (``shared``) or rest (``speech_rest``) of fold ``k``.

        The speech maps fitted on word means are applied to every sample of the speech
        design; samples outside the stimuli stay zero.
        """
        run = self.runner
        if self.speech_frames is None:
            self.speech_frames = run.inputs.design(*run.cca_speech)
        fit = self.shared[k]
        weights = fit.speech_rest if name == "speech_rest" else fit.speech_weights
        scores = fit.speech.transform(self.speech_frames, then=weights).astype(np.float32)
        scores[run.inputs.segments < 0] = 0
        return scores

    def _space_block(self, name: str) -> np.ndarray:
        """The feature spaces of a set, side by side on the timeline."""
        inputs = self.runner.inputs
        blocks = [inputs.design(space, space_layer(space, inputs.results, inputs.spaces))
                  for space in set_members(name, inputs.spaces)]
        return (blocks[0] if len(blocks) == 1 else np.hstack(blocks)).astype(np.float32,
                                                                             copy=False)


def _most_common(chosen: np.ndarray) -> np.ndarray:
    """The layer chosen most often over folds, per electrode."""
    return np.array([pd.Series(column).mode().iloc[0] for column in chosen.T], dtype=object)


def components_table(fits: Sequence[SharedSpace], everything: SharedSpace,
                     word_vectors: tuple[np.ndarray, np.ndarray],
                     word_folds: Sequence[np.ndarray]) -> pd.DataFrame:
    """One row per canonical component: held-out and training r, Bartlett test on all words.

    Parameters
    ----------
    fits : sequence of SharedSpace
        The fit used for each outer fold.
    everything : SharedSpace
        The fit on all words (for Wilks' lambda and Bartlett's test).
    word_vectors : tuple of ndarray
        Speech and language word vectors (all kept words).
    word_folds : sequence of ndarray of bool
        Test words of every outer fold.

    Returns
    -------
    table : DataFrame
        ``component`` (1-based), ``r_test_fold<k>`` (canonical correlation of the fold's
        variates on its test words), ``r_test`` (their mean), ``r_train`` (mean over folds of
        the fitting words' r), ``wilks_lambda``, ``chi2``, ``df``, ``p``, ``significant``.
    """
    n = max(fit.n_components for fit in fits)
    table = pd.DataFrame({"component": np.arange(1, n + 1)})
    tests, trains = [], []
    for k, (fit, test) in enumerate(zip(fits, word_folds, strict=True)):
        u, v = fit.variates(*(m[test] for m in word_vectors))
        r = np.full(n, np.nan)
        r[:fit.n_components] = fold_scores(u, v)[0]
        train = np.full(n, np.nan)
        train[:fit.n_components] = fit.canonical_r[:fit.n_components]
        table[f"r_test_fold{k + 1}"] = r
        tests.append(r)
        trains.append(train)
    table["r_test"] = np.nanmean(tests, axis=0)
    table["r_train"] = np.nanmean(trains, axis=0)
    test = bartlett_test(everything.canonical_r, everything.n_words,
                         everything.speech.components.shape[1],
                         everything.language.components.shape[1])
    for key, values in test.items():
        column = np.full(n, np.nan)
        m = min(n, len(values))
        column[:m] = values[:m]
        table[key] = column
    table["significant"] = table["p"] < BARTLETT_ALPHA
    return table
