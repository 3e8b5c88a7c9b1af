"""The CCA shared space of one recording: word vectors, per-fold fits and their table.

The speech and language layers named by the configuration are reduced to one vector per
modelled word (the onset row of a word-level space, the mean of its frames otherwise). The
shared space is fitted on the training words of every outer fold (``cca_fit: in_fold``), or
once on all words as in the reference code (``cca_fit: all_data``). It is partial to the word
regressors of the low-level set L (phrase onset, duration, frequency, tokens): what both models
carry of those is not a shared direction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bids_app.analysis.cca import (
    BARTLETT_ALPHA,
    GroupMoments,
    SharedSpace,
    bartlett_test,
    fit_shared_space,
)
from bids_app.analysis.config import ComparisonConfig
from bids_app.analysis.lowlevel import LowLevelSet
from bids_app.analysis.plan import first_of_kind, resolve_layer
from bids_app.analysis.words import modelled_words
from bids_app.encoding import EncodingConfig
from bids_app.encoding.folds import outer_folds, piece_indices, segment_pieces
from bids_app.encoding.result import fold_scores
from bids_app.errors import BadDataError, UsageError

if TYPE_CHECKING:
    from bids_app.analysis.inputs import ComparisonInputs

ALL_DATA_WARNING = (
    "CCA was fitted on all words (comparison.cca_fit: all_data, as in the reference code): the "
    "test folds took part in finding the shared space, so held-out canonical correlations and "
    "the shared/rest encoding scores are optimistic. Use cca_fit: in_fold for unbiased "
    "estimates.")


@dataclass
class RecordingSharedSpace:
    """The shared space of one recording, fitted per outer fold.

    Attributes
    ----------
    fits : list of SharedSpace
        The fit used for each outer fold (the same object for every fold with ``all_data``).
    speech, language : tuple of str
        ``(space, layer)`` of each side.
    onsets, offsets : ndarray of int
        Samples of the modelled words (those inside a stimulus).
    word_vectors : tuple of ndarray
        Speech and language word vectors, one row per modelled word.
    table : DataFrame
        One row per canonical component (:func:`components_table`).
    frame_level : bool
        Whether the speech side is fitted on, and applied to, the speech frames
        (``comparison.cca_level: frame`` with a frame-level speech space).
    covariates : ndarray, shape (n_words, n_covariates) | None
        The word covariates the fits are partial to (None: plain CCA).
    """

    fits: list[SharedSpace]
    speech: tuple[str, str]
    language: tuple[str, str]
    onsets: np.ndarray
    offsets: np.ndarray
    word_vectors: tuple[np.ndarray, np.ndarray]
    table: pd.DataFrame
    frame_level: bool = False
    covariates: np.ndarray | None = None

    def transform(self, k: int) -> dict[str, np.ndarray]:
        """The shared and rest parts of every modelled word by the fit of outer fold ``k``."""
        return self.fits[k].transform(*self.word_vectors, self.covariates)


def fit_recording_shared_space(inputs: ComparisonInputs, config: ComparisonConfig,
                               encoding: EncodingConfig, warnings: list[str],
                               low: LowLevelSet | None = None) -> RecordingSharedSpace | None:
    """Fit the shared space of a recording on the words of each outer fold.

    Parameters
    ----------
    inputs : ComparisonInputs
        The recording's designs, feature spaces, segments and word samples.
    config : ComparisonConfig
        ``cca_*``, ``pca_variance``, ``n_components`` and ``rest_components``.
    encoding : EncodingConfig
        The encoding models' ``n_folds`` (the folds are rebuilt the same way) and
        ``layer_pca`` (the fewest PCA axes each side keeps, so that the sets span the
        components a single-model encoding uses).
    warnings : list of str
        What the report must flag is appended here.
    low : LowLevelSet | None
        The low-level set: the CCA is partial to its word regressors (none: plain CCA).

    Returns
    -------
    shared : RecordingSharedSpace | None
        None (with a warning) when there is no speech or language space, no word timings, or
        too few words.
    """
    speech = config.cca_speech or first_of_kind(inputs.spaces, "speech")
    language = config.cca_language or first_of_kind(inputs.spaces, "language")
    if speech is None or language is None or inputs.words is None:
        warnings.append("CCA shared space skipped: it needs a speech and a language feature "
                        "space and word timings.")
        return None
    for key, name in (("cca_speech", speech), ("cca_language", language)):
        if name not in inputs.spaces:
            raise UsageError(f"comparison.{key}: unknown feature space {name!r}; known: "
                             f"{sorted(inputs.spaces)}")
    sides = ((speech, resolve_layer(config.cca_speech_layer, inputs.spaces[speech].layers,
                                    "cca_speech_layer")),
             (language, resolve_layer(config.cca_language_layer,
                                      inputs.spaces[language].layers, "cca_language_layer")))
    onsets, offsets = modelled_words(inputs.words, inputs.segments)
    vectors = tuple(word_matrix(inputs, *side, onsets, offsets) for side in sides)
    covariates = None if low is None else low.word_covariates(onsets)
    fold_of = sample_folds(inputs, encoding.n_folds)
    folds = [fold_of[onsets] == k for k in range(fold_of.max() + 1)]
    frame_level = config.cca_level == "frame" and not inputs.spaces[speech].word_level
    # the speech frames' moments of every fold, in one pass: each fit sums its folds'
    frames = (GroupMoments.of(inputs.design(*sides[0]), fold_of, len(folds))
              if frame_level else None)
    options = dict(variance=config.pca_variance, n_components=config.n_components,
                   rest_components=config.rest_components,
                   significant_only=config.significant_only,
                   min_components=encoding.layer_pca or 1)

    def moments(k: int | None) -> tuple[np.ndarray, np.ndarray] | None:
        """The frames' moments without fold ``k`` (None: all folds)."""
        return None if frames is None else frames.of_groups(
            [j for j in range(len(folds)) if j != k])

    try:
        everything = fit_shared_space(*vectors, covariates=covariates,
                                      speech_moments=moments(None), **options)
        fits = ([everything] * len(folds) if config.cca_fit == "all_data" else
                [fit_shared_space(*(m[~test] for m in vectors), covariates=(
                    None if covariates is None else covariates[~test]),
                                  speech_moments=moments(k), **options)
                 for k, test in enumerate(folds)])
    except BadDataError as err:
        warnings.append(f"CCA shared space skipped: {err}")
        return None
    if config.cca_fit == "all_data":
        warnings.append(ALL_DATA_WARNING)
    dims = min(everything.speech.components.shape[1], everything.language.components.shape[1])
    if everything.n_components < config.n_components:
        why = (f"the smaller PCA dimension of the two sets is {dims}"
               if everything.n_components == dims else
               "only those hold on held-out words (comparison.significant_only)")
        warnings.append(f"CCA kept {everything.n_components} component(s) on all words, not "
                        f"comparison.n_components = {config.n_components}: {why}.")
    table = components_table(fits, everything, vectors, folds, covariates)
    table.insert(1, "speech", " ".join(sides[0]))
    table.insert(2, "language", " ".join(sides[1]))
    table["pca_variance"] = config.pca_variance
    table["pca_dims_speech"] = everything.speech.components.shape[1]
    table["pca_dims_language"] = everything.language.components.shape[1]
    table["fit"] = config.cca_fit
    table["partial_to"] = " + ".join(low.word_covariate_names()) if low else ""
    return RecordingSharedSpace(fits, sides[0], sides[1], onsets, offsets, vectors, table,
                                frame_level, covariates)


def word_matrix(inputs: ComparisonInputs, space: str, layer: str, onsets: np.ndarray,
                offsets: np.ndarray) -> np.ndarray:
    """Word vectors of one layer: the onset row (word-level) or the word's mean row."""
    X = inputs.design(space, layer)
    if inputs.spaces[space].word_level:
        return np.asarray(X[onsets], dtype=float)
    return np.stack([X[a:max(b, a + 1)].mean(0) for a, b in zip(onsets, offsets, strict=True)])


def sample_folds(inputs: ComparisonInputs, n_folds: int) -> np.ndarray:
    """The outer fold of every sample, as in the encoding models (-1 outside the stimuli)."""
    n_samples = inputs.Y.shape[0]
    fold_of = np.full(n_samples, -1)
    for k, fold in enumerate(outer_folds(segment_pieces(inputs.segments, n_samples),
                                         n_folds)):
        fold_of[piece_indices(fold)] = k
    return fold_of


def components_table(fits: Sequence[SharedSpace], everything: SharedSpace,
                     word_vectors: tuple[np.ndarray, np.ndarray],
                     word_folds: Sequence[np.ndarray],
                     covariates: np.ndarray | None = None) -> pd.DataFrame:
    """One row per candidate component: held-out and training r, folds that kept it.

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
    covariates : ndarray | None
        The words' covariates of a partial CCA.

    Returns
    -------
    table : DataFrame
        ``component`` (1-based), ``r_test_fold<k>`` (canonical correlation of the fold's
        variates on its test words), ``r_test`` (their mean), ``r_train`` (mean over folds of
        the fitting words' r), ``n_folds_kept`` (the folds whose fit kept the component in
        ``shared``), ``wilks_lambda``, ``chi2``, ``df``, ``p``, ``significant`` (Bartlett's
        test on all words, descriptive).
    """
    n = max(fit.speech_weights.shape[1] for fit in fits)
    table = pd.DataFrame({"component": np.arange(1, n + 1)})
    tests, trains = [], []
    for k, (fit, test) in enumerate(zip(fits, word_folds, strict=True)):
        u, v = fit.variates(*(m[test] for m in word_vectors),
                            None if covariates is None else covariates[test], candidates=True)
        m = u.shape[1]
        r, train = np.full(n, np.nan), np.full(n, np.nan)
        r[:m] = fold_scores(u, v)[0]
        train[:m] = fit.canonical_r[:m]
        table[f"r_test_fold{k + 1}"] = r
        tests.append(r)
        trains.append(train)
    table["r_test"] = np.nanmean(tests, axis=0)
    table["r_train"] = np.nanmean(trains, axis=0)
    table["n_folds_kept"] = [sum(fit.n_kept > i for fit in fits) for i in range(n)]
    n_covariates = 0 if covariates is None else np.reshape(covariates, (len(covariates), -1)
                                                           ).shape[1]
    test = bartlett_test(everything.canonical_r, everything.n_words - n_covariates,
                         everything.speech.components.shape[1],
                         everything.language.components.shape[1])
    for key, values in test.items():
        column = np.full(n, np.nan)
        m = min(n, len(values))
        column[:m] = values[:m]
        table[key] = column
    table["significant"] = table["p"] < BARTLETT_ALPHA
    return table
