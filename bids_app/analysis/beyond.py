"""The primary test of shared information: a model comparison given the low-level set L.

For a speech layer ``A`` and a language layer ``B`` fixed in advance (``comparison.
cca_speech_layer``/``cca_language_layer``, the study's pairing by default), four models are
fitted on the same folds, each containing L (:mod:`~bids_app.analysis.lowlevel`)::

    shared_beyond_low = R²(L+A) + R²(L+B) - R²(L+A+B) - R²(L)

the variance that either model explains beyond L but that both explain alike (the overlap of
the two increments over L). The gains ``R²(L+A) - R²(L)`` and ``R²(L+B) - R²(L)`` say
whether each model adds anything beyond L, and ``R²(onset+B) - R²(onset)`` what the language
model adds beyond word timing alone.

Null. Every model is refitted on the electrode's data rotated along the modelled samples
(``statistics.n_refits`` rotations, the same for every electrode and statistic; see
:func:`bids_app.encoding.rotations`), and ``p`` is the upper tail of the normal approximation
of that null (:func:`bids_app.encoding.refit_p_values`). Each refit keeps the band scaling
and alpha that the inner CV chose on the observed data for that electrode, model and fold
(:meth:`bids_app.encoding.SubsetFits.refit_r2`): a refit then costs the rotated data's
cross-products with the design, not a nested CV, which makes the test affordable on every
responsive electrode of a 30-minute recording. ``comparison.refit_search`` repeats the
choice on every rotation instead (about a hundred times the cost); ``docs/statistics.md``
calibrates both on null electrodes (envelope-, onset-, untrained-filter-driven, speech- and
language-only, noise). A rotation breaks the data's relation to every feature, L included,
so the null is that of data unrelated to the stimulus. Layers are fixed in advance. Every
tested electrode (speech-responsive, by default) is tested; FDR runs over them.

Significance is an intersection–union test: information shared beyond L is information each
model explains beyond L, so an electrode counts as sharing it only where the statistic *and*
both gains are significant. (The statistic alone is biased upwards where one model predicts
strongly and the other adds nothing: the useless set costs the larger union a little more
than it costs L alone, a bias the rotation null, under which nothing is predicted, does not
have. On planted truth, 3 of 4 speech-only electrodes had p < 0.001 for it.)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bids_app.analysis.lowlevel import LowLevelSet
from bids_app.analysis.predcorr import fold_mean_correlation
from bids_app.encoding import (
    EncodingConfig,
    StatisticsConfig,
    SubsetFits,
    fdr_bh,
    fit_subsets,
    refit_null,
    refit_p_values,
    rotations,
)

logger = logging.getLogger("ssl_ieeg")

#: Statistics of the test, in the order the fits return them.
STATISTICS = ("shared_beyond_low", "gain_a", "gain_b")


@dataclass
class Side:
    """One model of the comparison: its feature space, layer and design.

    Attributes
    ----------
    space, layer : str
    design : ndarray, shape (n_samples, n_features)
    word_rows : ndarray of int | None
        The word samples of a word-level (impulse) design, centred in-fold.
    """

    space: str
    layer: str
    design: np.ndarray
    word_rows: np.ndarray | None = None


@dataclass
class BeyondTest:
    """The shared-beyond-L test of one pair of models.

    Attributes
    ----------
    table : DataFrame
        One row per channel (see :func:`shared_beyond_low`).
    observed : ndarray, shape (3, n_tested)
        :data:`STATISTICS` of the tested channels.
    null : ndarray, shape (n_refits, 3, n_tested)
        Their values refitted on rotated data (the same rotations for every pair, so two
        tests on the same data are paired).
    columns : ndarray of int
        The tested channels.
    """

    table: pd.DataFrame
    observed: np.ndarray
    null: np.ndarray
    columns: np.ndarray


def shared_beyond_low(a: Side, b: Side, low: LowLevelSet, Y: np.ndarray,
                      channels: Sequence[str], tested: np.ndarray, *, segments: np.ndarray,
                      lags: np.ndarray, encoding: EncodingConfig,
                      statistics: StatisticsConfig, banded: bool, engine: dict,
                      search: bool = False) -> BeyondTest:
    """The shared-beyond-L test of two models on the tested channels.

    Parameters
    ----------
    a, b : Side
        The speech and the language model at their fixed layers.
    low : LowLevelSet
        The conditioning set (may be empty: then the statistic is the plain overlap).
    Y : ndarray, shape (n_samples, n_channels)
    channels : sequence of str
    tested : ndarray of bool, shape (n_channels,)
        The electrodes to test (the others get NaN).
    segments, lags, encoding, engine
        As in :func:`bids_app.encoding.cross_validate_subsets`.
    statistics : StatisticsConfig
        ``n_refits``, ``seed`` and ``fdr_alpha``.
    banded : bool
        One penalty per set (L, A, B) instead of one for all.
    search : bool
        The null's refits repeat the inner CV's choice of band scaling and alpha (a full
        fit per batch of rotations) instead of keeping the observed choices.

    Returns
    -------
    test : BeyondTest
        Its table has ``channel``, ``space_a``, ``layer_a``, ``space_b``, ``layer_b``,
        ``tested``, ``r2_low``, ``r2_low_a``, ``r2_low_b``, ``r2_low_ab``, and for each of
        ``shared_beyond_low``, ``gain_a``, ``gain_b`` its value, ``p_<name>``,
        ``p_fdr_<name>`` and ``significant_<name>`` (FDR over the tested channels);
        ``r_pred_beyond`` (correlation of the two models' prediction increments over L,
        where both gains are significant), and ``b_beyond_onsets``
        (``R²(onset+B) - R²(onset)``; NaN without word onsets in L).
    """
    Y = np.asarray(Y, dtype=np.float32)
    models = _Fits(a, b, low, segments, lags, encoding, banded, engine)
    columns = np.flatnonzero(tested)
    logger.info("shared beyond L (%s): %s %s x %s %s on %d electrode(s), %d refits",
                low.describe(), a.space, a.layer, b.space, b.layer, len(columns),
                statistics.n_refits)
    fits, observed, named, increments = models.observed(Y[:, columns])
    null = models.null(fits, Y[:, columns], statistics, search)
    n = len(channels)
    table = pd.DataFrame({"channel": list(channels), "space_a": a.space, "layer_a": a.layer,
                          "space_b": b.space, "layer_b": b.layer, "tested": tested})
    for name, values in named.items():
        table[name] = _spread(values, columns, n)
    for i, name in enumerate(STATISTICS):
        table[name] = _spread(observed[i], columns, n)
        _add_test(table, name, _spread(refit_p_values(observed[i], null[:, i]), columns, n),
                  statistics.fdr_alpha)
    both = table["significant_gain_a"] & table["significant_gain_b"]
    table["significant_shared_beyond_low"] &= both
    table["r_pred_beyond"] = np.where(both, _spread(increments, columns, n), np.nan)
    return BeyondTest(table, observed, null, columns)


def untrained_contrast(trained: BeyondTest, untrained: BeyondTest,
                       fdr_alpha: float) -> pd.DataFrame:
    """The trained table with the untrained twins' statistics and the paired difference.

    Both tests ran on the same folds and rotations, so ``trained - untrained`` has a paired
    null (the difference of the two nulls); it is tested where the trained models share
    information beyond L (FDR over those electrodes; NaN elsewhere). A finding is
    ``reproduced_by_untrained`` where the twins' shared-beyond-L is significant and the
    difference is not.

    Parameters
    ----------
    trained, untrained : BeyondTest
    fdr_alpha : float

    Returns
    -------
    table : DataFrame
        ``trained.table`` plus ``space_a_untrained``, ``space_b_untrained``, each statistic
        of the twins with ``_untrained`` appended (value and ``significant_``), and
        ``delta_shared`` (trained minus untrained shared_beyond_low) with ``p_delta_shared``,
        ``p_fdr_delta_shared``, ``significant_delta_shared``, and
        ``reproduced_by_untrained``.
    """
    table = trained.table.copy()
    twin = untrained.table
    table["space_a_untrained"], table["space_b_untrained"] = twin["space_a"], twin["space_b"]
    for name in STATISTICS:
        table[f"{name}_untrained"] = twin[name]
        table[f"significant_{name}_untrained"] = twin[f"significant_{name}"]
    delta = trained.observed[0] - untrained.observed[0]
    null = trained.null[:, 0] - untrained.null[:, 0]
    n = len(table)
    table["delta_shared"] = _spread(delta, trained.columns, n)
    p = _spread(refit_p_values(delta, null), trained.columns, n)
    _add_test(table, "delta_shared",
              np.where(table["significant_shared_beyond_low"], p, np.nan), fdr_alpha)
    table["reproduced_by_untrained"] = (table["significant_shared_beyond_low"]
                                        & table["significant_shared_beyond_low_untrained"]
                                        & ~table["significant_delta_shared"])
    return table


def _add_test(table: pd.DataFrame, name: str, p: np.ndarray, fdr_alpha: float) -> None:
    """``p_<name>``, ``p_fdr_<name>`` and ``significant_<name>`` (FDR over non-NaN p)."""
    p_fdr, significant = fdr_bh(p, fdr_alpha)
    table[f"p_{name}"], table[f"p_fdr_{name}"] = p, p_fdr
    table[f"significant_{name}"] = significant


def _spread(values: np.ndarray, columns: np.ndarray, n: int) -> np.ndarray:
    """Values of the tested columns at their places among ``n`` channels (NaN elsewhere)."""
    out = np.full(n, np.nan)
    out[columns] = values
    return out


@dataclass
class _Fits:
    """The models of the test, fitted together from one design per fold."""

    a: Side
    b: Side
    low: LowLevelSet
    segments: np.ndarray
    lags: np.ndarray
    encoding: EncodingConfig
    banded: bool
    engine: dict

    def models(self, observed: bool) -> dict[str, list[int]]:
        """Block indices of every model (the onset models on the observed data only)."""
        low = list(range(len(self.low.blocks)))
        i_a, i_b = len(low), len(low) + 1
        models = {"low": low, "low_a": [*low, i_a], "low_b": [*low, i_b],
                  "low_ab": [*low, i_a, i_b]}
        onset = self.low.index("word_onset") if observed else None
        if onset is not None:
            models |= {"onset": [onset], "onset_b": [onset, i_b]}
        return {name: blocks for name, blocks in models.items() if blocks}

    def fit(self, Y: np.ndarray, observed: bool = False) -> SubsetFits:
        """Every model of :meth:`models` on ``Y`` (predictions kept for the observed data)."""
        word_rows = dict(self.low.word_rows)
        n_low = len(self.low.blocks)
        for index, side in ((n_low, self.a), (n_low + 1, self.b)):
            if side.word_rows is not None:
                word_rows[index] = side.word_rows
        models = self.models(observed)
        return fit_subsets(
            [*self.low.blocks, self.a.design, self.b.design], Y, list(models.values()),
            lags=self.lags, segments=self.segments, config=self.encoding, banded=self.banded,
            bands=[0] * n_low + [1, 2], word_rows=word_rows,
            keep_predictions=[observed and name in ("low", "low_a", "low_b")
                              for name in models], **self.engine)

    def statistics(self, r2: dict[str, np.ndarray]) -> np.ndarray:
        """:data:`STATISTICS` (3, n) from the R² of every model (L missing: zero)."""
        low = r2.get("low", 0.0)
        return np.stack([r2["low_a"] + r2["low_b"] - r2["low_ab"] - low,
                         r2["low_a"] - low, r2["low_b"] - low])

    def observed(self, Y: np.ndarray
                 ) -> tuple[SubsetFits, np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """The fits, statistics, R² columns and prediction-increment correlation of ``Y``."""
        fits = self.fit(Y, observed=True)
        results = dict(zip(self.models(True), fits.results, strict=True))
        r2 = {name: result.r2 for name, result in results.items()}
        named = {f"r2_{name}": r2.get(name, np.zeros(Y.shape[1]))
                 for name in ("low", "low_a", "low_b", "low_ab")}
        named["b_beyond_onsets"] = (r2["onset_b"] - r2["onset"] if "onset" in r2
                                    else np.full(Y.shape[1], np.nan))
        base = results["low"].predictions if "low" in results else 0.0
        increments = fold_mean_correlation(results["low_a"].predictions - base,
                                           results["low_b"].predictions - base,
                                           results["low_a"].test_folds)
        return fits, self.statistics(r2), named, increments

    def null(self, fits: SubsetFits, Y: np.ndarray, statistics: StatisticsConfig,
             search: bool) -> np.ndarray:
        """The statistics on rotated data, shape (n_refits, 3, n): refitted with the
        observed hyperparameters, or (``search``) with the inner CV repeated."""
        rotate = {"segments": self.segments, "n_refits": statistics.n_refits,
                  "seed": statistics.seed}
        if search:
            def refitted(shifted: np.ndarray) -> np.ndarray:
                names = self.models(False)
                r2 = [result.r2 for result in self.fit(shifted).results]
                return self.statistics(dict(zip(names, r2, strict=True)))
            return refit_null(refitted, Y, **rotate)
        names = self.models(False)  # the observed fits' first models
        r2 = fits.refit_r2(lambda: rotations(Y, **rotate),
                           np.tile(np.arange(Y.shape[1]), statistics.n_refits),
                           models=range(len(names)))
        r2 = r2.reshape(len(names), statistics.n_refits, Y.shape[1])
        return np.moveaxis(self.statistics(dict(zip(names, r2, strict=True))), 1, 0)
