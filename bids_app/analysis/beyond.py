"""The primary test of shared information: a model comparison given the low-level set L.

For a speech layer ``A`` and a language layer ``B`` fixed in advance (``comparison.
cca_speech_layer``/``cca_language_layer``, the study's pairing by default), four models are
fitted on the same folds, each containing L (:mod:`~bids_app.analysis.lowlevel`)::

    shared_beyond_low = R²(L+A) + R²(L+B) - R²(L+A+B) - R²(L)

the variance that either model explains beyond L but that both explain alike (the overlap of
the two increments over L). The gains ``R²(L+A) - R²(L)`` and ``R²(L+B) - R²(L)`` say
whether each model adds anything beyond L, and ``R²(onset+B) - R²(onset)`` what the language
model adds beyond word timing alone.

Null. Every model, alpha and band weighting is refitted on the electrode's data rotated
along the modelled samples (``comparison.n_refits`` rotations, the same for every electrode
and statistic; :func:`bids_app.encoding.rotations`), and ``p`` is the upper tail of the
normal prediction interval of that null (:func:`bids_app.encoding.refit_p_values`). A rotation
breaks the data's relation to every feature, L included, so the null is that of data
unrelated to the stimulus; data that follow L only give a statistic at most as spread
(``docs/statistics.md`` measures the false-positive rate of the envelope- and onset-driven
classes). Layers are fixed in advance, so the null repeats every choice the statistic
makes. Every tested electrode (speech-responsive, by default) is tested; FDR runs over them.

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
    Backend,
    EncodingConfig,
    StatisticsConfig,
    cross_validate_subsets,
    fdr_bh,
    refit_p_values,
    rotations,
)

logger = logging.getLogger("ssl_ieeg")

#: Statistics of the test, in the order the fits return them.
STATISTICS = ("shared_beyond_low", "gain_a", "gain_b")
#: Rotated columns per refit of the four models. Each refit builds every fold's design,
#: Gram matrices and eigendecompositions once for all its columns, so one large batch (20
#: rotations of 100 electrodes are 1.4 GB of float32 at 30 minutes) costs far less than
#: several small ones; the observed data are fitted beside the first batch.
NULL_COLUMNS = 2048


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
                      statistics: StatisticsConfig, banded: bool, engine: Backend) -> BeyondTest:
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

    Returns
    -------
    test : BeyondTest
        Its table has ``channel``, ``space_a``, ``layer_a``, ``space_b``, ``layer_b``,
        ``tested``, ``conditioning`` (L's components), ``r2_low``, ``r2_low_a``,
        ``r2_low_b``, ``r2_low_ab``, and for each of ``shared_beyond_low``, ``gain_a``,
        ``gain_b`` its value, ``p_<name>``, ``p_fdr_<name>`` and ``significant_<name>`` (FDR
        over the tested channels); ``r_pred_beyond`` (correlation of the two models'
        prediction increments over L, where both gains are significant), and
        ``b_beyond_onsets`` (``R²(onset+B) - R²(onset)``; NaN without word onsets in L).
    """
    Y = np.asarray(Y, dtype=np.float32)
    fit = _Fits(a, b, low, segments, lags, encoding, banded, engine)
    columns = np.flatnonzero(tested)
    logger.info("shared beyond L (%s): %s %s x %s %s on %d electrode(s), %d refits",
                low.describe(), a.space, a.layer, b.space, b.layer, len(columns),
                statistics.n_refits)
    data, k = Y[:, columns], len(columns)
    parts = []
    for shifted in rotations(data, segments=segments, n_refits=statistics.n_refits,
                             seed=statistics.seed, max_columns=NULL_COLUMNS, lead=True):
        if not parts:  # the data ride along the first batch: one design, Gram and search
            both, named, increments = fit(shifted, keep=k)
            observed, shifted_stats = both[:, :k], both[:, k:]
            named = {name: values[:k] for name, values in named.items()}
        else:
            shifted_stats = fit(shifted)[0]
        parts.append(np.moveaxis(shifted_stats.reshape(len(STATISTICS), -1, k), 1, 0))
    null = np.concatenate(parts)
    n = len(channels)
    table = pd.DataFrame({"channel": list(channels), "space_a": a.space, "layer_a": a.layer,
                          "space_b": b.space, "layer_b": b.layer, "tested": tested,
                          "conditioning": low.describe()})
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
    engine: Backend

    def __call__(self, Y: np.ndarray, keep: int = 0
                 ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray | None]:
        """``(statistics (3, n), R² of each model, prediction-increment correlation)``.

        ``keep``: the leading columns of ``Y`` that are the observed data, whose
        predictions are kept (for the increment correlation, of those columns) and for
        which the onset models are fitted.
        """
        low = list(range(len(self.low.blocks)))
        i_a, i_b = len(low), len(low) + 1
        models = {"low": low, "low_a": [*low, i_a], "low_b": [*low, i_b],
                  "low_ab": [*low, i_a, i_b]}
        onset = self.low.index("word_onset") if keep else None  # observed only, not refits
        if onset is not None:
            models |= {"onset": [onset], "onset_b": [onset, i_b]}
        word_rows = dict(self.low.word_rows)
        for index, side in ((i_a, self.a), (i_b, self.b)):
            if side.word_rows is not None:
                word_rows[index] = side.word_rows
        subsets = [m for m in models.values() if m]
        fitted = cross_validate_subsets(
            [*self.low.blocks, self.a.design, self.b.design], Y, subsets, lags=self.lags,
            segments=self.segments, config=self.encoding, banded=self.banded,
            bands=[0] * len(low) + [1, 2], word_rows=word_rows,
            keep_predictions=[keep > 0 and name in ("low", "low_a", "low_b") and bool(m)
                              for name, m in models.items() if m], keep_targets=keep,
            engine=self.engine)
        results = dict(zip([name for name, m in models.items() if m], fitted, strict=True))
        r2 = {name: results[name].r2 if name in results else np.zeros(Y.shape[1])
              for name in models}
        stats = np.stack([r2["low_a"] + r2["low_b"] - r2["low_ab"] - r2["low"],
                          r2["low_a"] - r2["low"], r2["low_b"] - r2["low"]])
        named = {f"r2_{name}": values for name, values in r2.items()
                 if name not in ("onset", "onset_b")}
        named["b_beyond_onsets"] = (r2["onset_b"] - r2["onset"] if onset is not None
                                    else np.full(Y.shape[1], np.nan))
        increments = None
        if keep:
            base = results["low"].predictions if "low" in results else 0.0
            increments = fold_mean_correlation(results["low_a"].predictions - base,
                                               results["low_b"].predictions - base,
                                               results["low_a"].test_folds)
        return stats, named, increments
