"""The union models of a variance partition: designs of the sets, and their fits.

A set is a feature space (or several, side by side) at its best layer, or a part of the CCA
shared space (``shared``, ``speech_rest``, ``language_rest``), which is fitted per outer fold
and therefore has one design per fold. Every union of a partition's sets contains the
low-level set L (:mod:`~bids_app.analysis.lowlevel`), and the partition is of the R² beyond
``R²(L)``. Every union is fitted on the same folds, from one design and Gram per fold
(:func:`~bids_app.encoding.cross_validate_subsets`), with one penalty per set (L one of them)
when ``comparison.banded``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bids_app.analysis.config import CCA_SETS, ComparisonConfig
from bids_app.analysis.lowlevel import LowLevelSet
from bids_app.analysis.partition import partition_table, subsets
from bids_app.analysis.plan import set_members, space_layer
from bids_app.analysis.shared import RecordingSharedSpace
from bids_app.encoding import (
    Backend,
    EncodingConfig,
    EncodingResult,
    StatisticsConfig,
    cross_validate_subsets,
    fdr_bh,
    permutation_test,
    refit_null,
    refit_p_values,
)

if TYPE_CHECKING:
    from bids_app.analysis.inputs import ComparisonInputs

logger = logging.getLogger("ssl_ieeg")


#: The design blocks of each shared-space set. Each block is at most ``n_components`` wide,
#: so that ``encoding.layer_pca`` (which reduces blocks wider than it) leaves it whole.
#: Word timing is in L, never in ``shared`` (``comparison.onset_in_shared`` puts it back,
#: as the reference pipeline did: :data:`REFERENCE_SHARED`).
SET_PARTS = {"shared": ("shared_speech", "shared_language"),
             "speech_rest": ("speech_rest",), "language_rest": ("language_rest",)}
REFERENCE_SHARED = ("shared_speech", "shared_language", "onset")


@dataclass
class SetDesigns:
    """Design blocks of the variance-partitioning sets, and the union models fitted on them.

    Feature-space sets are kept on the timeline; shared-space sets are kept at the word level
    (``word_sets``: fold -> part -> word vectors) and put on the timeline when needed, since
    one timeline copy per set and fold would not fit in memory for long recordings.

    Parameters
    ----------
    inputs : ComparisonInputs
    shared : RecordingSharedSpace | None
        The recording's shared space (None: only feature-space sets can be used).
    config : ComparisonConfig
    encoding : EncodingConfig
    engine : Backend
        As in ``cross_validate``.
    low : LowLevelSet
        The conditioning set every union contains.
    """

    inputs: ComparisonInputs
    shared: RecordingSharedSpace | None
    config: ComparisonConfig
    encoding: EncodingConfig
    engine: Backend
    low: LowLevelSet = field(default_factory=LowLevelSet)
    space_sets: dict[str, np.ndarray] = field(default_factory=dict)
    word_sets: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    onsets: np.ndarray | None = None
    fitted: dict[frozenset[str], EncodingResult] = field(default_factory=dict)

    def empty_sets(self, names: list[str]) -> list[str]:
        """The shared-space sets of ``names`` left with no dimension in every fold.

        (A set empty in some folds only enters those folds as one zero column, which the
        ridge weights at 0: dropping it everywhere would leave the variance its other folds
        took from the rest spaces in no set.)
        """
        cca = [name for name in names if name in CCA_SETS]
        if not cca:
            return []
        shared = self.shared
        first = [m[:1] for m in shared.word_vectors]
        covariates = None if shared.covariates is None else shared.covariates[:1]
        widths = [{part: values.shape[1]
                   for part, values in fit.transform(*first, covariates).items()}
                  for fit in shared.fits]  # one transform per fold, not per part
        return [name for name in cca if all(
            fold[part] == 0 for fold in widths for part in self.parts(name) if part != "onset")]

    def parts(self, name: str) -> tuple[str | None, ...]:
        """The design blocks of a set: its shared-space parts, or ``(None,)``."""
        if name == "shared" and self.config.onset_in_shared:
            return REFERENCE_SHARED
        return SET_PARTS.get(name, (None,))

    def fit(self, models: list[list[str]]) -> list[EncodingResult]:
        """Cross-validated union models, each a list of set names plus L (same folds for all).

        The models not fitted yet are fitted together, from one design and Gram per fold of
        all their sets' blocks and L's; fitted models are kept, so partitions that share a
        union (e.g. ``shared`` alone) fit it once. The empty list is L alone. Without L, a
        one-set model of a single feature space is the encoding of its layer, already fitted
        on the same folds: that result is used. Without L, the union of all the sets keeps
        its predictions (for its permutation test).
        """
        for members in models:
            encoded = self._encoded(members)
            if encoded is not None:
                self.fitted.setdefault(frozenset(members), encoded)
        todo = [m for m in models if frozenset(m) not in self.fitted]
        union = frozenset(n for m in models for n in m)
        if todo:
            logger.info("variance partitioning: %d union model(s) of %s given L (%s)",
                        len(todo), "+".join(dict.fromkeys(n for m in todo for n in m)),
                        self.low.describe())
            keep = [frozenset(m) == union and not self.low.blocks for m in todo]
            fitted = self._cross_validate(todo, self.inputs.Y, keep)
            for members, result in zip(todo, fitted, strict=True):
                self.fitted[frozenset(members)] = result
        return [self.fitted[frozenset(m)] for m in models]

    def increment_p(self, names: list[str], statistics: StatisticsConfig) -> np.ndarray:
        """p-values of ``R²(L + all sets) - R²(L)`` on the tested channels (NaN elsewhere).

        Both models are refitted on the data rotated along the modelled samples
        (``comparison.n_refits`` rotations, as the shared-beyond-L test), and p is the upper
        tail of the normal prediction interval of that null. Call after :meth:`fit` of both.
        """
        inputs = self.inputs
        columns = (np.arange(len(inputs.channels)) if inputs.tested is None
                   else np.flatnonzero(inputs.tested))
        p = np.full(len(inputs.channels), np.nan)
        if not columns.size:
            return p
        union, base = self.fitted[frozenset(names)], self.fitted[frozenset()]
        observed = (union.r2 - base.r2)[columns]

        def statistic(shifted: np.ndarray) -> np.ndarray:
            fits = self._cross_validate([names, []], shifted, [False, False])
            return fits[0].r2 - fits[1].r2

        logger.info("variance partitioning: %d refits of L and L+%s on %d electrode(s)",
                    statistics.n_refits, "+".join(names), len(columns))
        null = refit_null(statistic, np.asarray(inputs.Y)[:, columns],
                          segments=inputs.segments, n_refits=statistics.n_refits,
                          seed=statistics.seed)
        p[columns] = refit_p_values(observed, null)
        return p

    def _cross_validate(self, models: list[list[str]], Y: np.ndarray,
                        keep: list[bool]) -> list:
        """Fit ``models`` (lists of set names, each plus L) on ``Y`` from one design per fold."""
        names = list(dict.fromkeys(n for m in models for n in m))
        n_low = len(self.low.blocks)
        parts = [(name, part) for name in names for part in self.parts(name)]

        def fold_design(k: int) -> list[np.ndarray]:
            return [*self.low.blocks, *(self.block(name, part, k) for name, part in parts)]

        design = fold_design if set(names) & set(CCA_SETS) else fold_design(0)
        blocks = [[*range(n_low), *(n_low + i for i, (name, _) in enumerate(parts)
                                    if name in m)] for m in models]
        return cross_validate_subsets(
            design, Y, blocks, lags=self.inputs.lags, segments=self.inputs.segments,
            config=self.encoding, banded=self.config.banded,
            bands=[0] * n_low + [1 + names.index(name) for name, _ in parts],
            word_rows={**self.low.word_rows, **self._word_rows(parts, n_low)},
            keep_predictions=keep, engine=self.engine)

    def _word_rows(self, parts: list[tuple[str, str | None]], offset: int
                   ) -> dict[int, np.ndarray]:
        """Word-level feature-space sets among ``parts`` (block index -> word samples).

        Their impulses are centred across training words, as in the single-model encodings;
        the shared-space parts are centred by their own fit.
        """
        inputs = self.inputs
        if not self.encoding.centre_words:
            return {}
        out = {}
        for i, (name, part) in enumerate(parts):
            members = set_members(name, inputs.spaces) if part is None else []
            rows = [inputs.impulse_rows(space) for space in members]
            if rows and all(r is not None for r in rows):
                out[offset + i] = np.unique(np.concatenate(rows))
        return out

    def _encoded(self, members: list[str]) -> EncodingResult | None:
        """The encoding result that a one-set model of one feature space equals, if any."""
        if len(members) != 1 or members[0] in CCA_SETS or self.low.blocks:
            return None
        inputs = self.inputs
        spaces = set_members(members[0], inputs.spaces)
        if len(spaces) != 1 or spaces[0] not in inputs.results:
            return None
        return inputs.results[spaces[0]].get(space_layer(spaces[0], inputs.results,
                                                         inputs.spaces))

    def block(self, name: str, part: str | None, k: int) -> np.ndarray:
        """One design block of a set (for outer fold ``k`` if it comes from the shared space).

        ``part`` is one of :data:`SET_PARTS` for a shared-space set, None for a feature-space
        set.
        """
        if part is None:
            if name not in self.space_sets:
                self.space_sets[name] = self._space_block(name)
            return self.space_sets[name]
        shared, n_samples = self.shared, self.inputs.Y.shape[0]
        if part == "onset":
            if self.onsets is None:
                self.onsets = np.zeros((n_samples, 1), dtype=np.float32)
                np.add.at(self.onsets, shared.onsets, 1.0)
            return self.onsets
        if shared.frame_level and part == "speech_rest":
            X = self._speech_frames(k)
        else:
            if k not in self.word_sets:
                self.word_sets[k] = shared.transform(k)
            values = self.word_sets[k][part]
            X = np.zeros((n_samples, values.shape[1]), dtype=np.float32)
            np.add.at(X, shared.onsets, values)
        # a part with no dimension in this fold (but some in others): one zero column
        return X if X.shape[1] else np.zeros((n_samples, 1), dtype=np.float32)

    def _speech_frames(self, k: int) -> np.ndarray:
        """The frame-level speech rest (``speech_rest``) of fold k.

        The speech maps of fold ``k`` are applied to every sample of the speech design;
        samples outside the stimuli stay zero. (The speech variates of ``shared`` stay at the
        word level: what varies within a word is not shared with a language model.)
        """
        fit = self.shared.fits[k]
        frames = self.inputs.design(*self.shared.speech)
        scores = fit.speech.transform(frames, then=fit.speech_rest).astype(np.float32)
        scores[self.inputs.segments < 0] = 0
        return scores

    def _space_block(self, name: str) -> np.ndarray:
        """The feature spaces of a set, side by side on the timeline."""
        inputs = self.inputs
        blocks = [inputs.design(space, space_layer(space, inputs.results, inputs.spaces))
                  for space in set_members(name, inputs.spaces)]
        return (blocks[0] if len(blocks) == 1 else np.hstack(blocks)).astype(np.float32,
                                                                             copy=False)

def variance_partition(names: list[str], sets: SetDesigns, statistics: StatisticsConfig,
                       warnings: list[str], adds: np.ndarray | None = None
                       ) -> pd.DataFrame | None:
    """Fit every union model of ``names`` given L and partition their R² beyond ``R²(L)``.

    The channels counted in the summaries are the tested ones whose union of all the sets
    predicts significantly beyond L: ``adds`` when given (for sets of the CCA shared space,
    which decompose the layers of the shared-beyond-L test: where either layer's gain over L
    is significant), else by :meth:`SetDesigns.increment_p`; without L, those the union
    predicts significantly by permutation test (FDR over channels).

    A shared-space set with no dimension in any outer fold (no canonical component held on
    held-out words, or none left after projecting out the shared space) explains nothing:
    its regions are 0 by construction, and the unions are fitted without it (with a
    warning). None when every set is empty.
    """
    empty = sets.empty_sets(names)
    present = [name for name in names if name not in empty]
    if empty:
        warnings.append(
            f"Variance partitioning {names}: {empty} has no dimension in any outer fold (no "
            "canonical component held on held-out words, or none left after projecting out "
            "the shared space); its regions are 0 by construction and the union models are "
            "fitted without it.")
    if not present:
        return None
    unions = [[n for n in present if n in subset] for subset in subsets(present)]
    models = sets.fit(unions + ([[]] if sets.low.blocks else []))
    union, base = models[len(unions) - 1], models[-1] if sets.low.blocks else None
    fitted = dict(zip(subsets(present), models, strict=False))
    r2 = {subset: (fitted[subset & set(present)].r2 - (0.0 if base is None else base.r2)
                   if subset & set(present) else np.zeros(len(sets.inputs.channels)))
          for subset in subsets(names)}
    if base is None:
        p = permutation_test(union, sets.inputs.Y, n_permutations=statistics.n_permutations,
                             seed=statistics.seed)
        adds = fdr_bh(p, statistics.fdr_alpha)[1]
    elif adds is None or not set(names) <= set(CCA_SETS):
        adds = fdr_bh(sets.increment_p(present, statistics), statistics.fdr_alpha)[1]
    table = partition_table(r2, names, sets.inputs.channels, np.asarray(adds, bool))
    n_channels = len(sets.inputs.channels)
    table["r2_low"] = np.tile(np.zeros(n_channels) if base is None else base.r2,
                              len(table) // n_channels)
    table["conditioning"] = sets.low.describe()
    return table
