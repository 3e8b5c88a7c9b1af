"""Variance partitioning on planted truth (:mod:`bids_app.synthetic.partition`).

Electrodes follow a latent shared by the speech and the language features, a speech-only
frame-level latent, a language-only word latent, or the acoustic envelope. With the default
comparison settings:

1. the union of shared + speech_rest + language_rest (+ acoustic) predicts every driven
   electrode about as well as the better single model, and the shared set alone predicts the
   shared-latent electrodes;
2. the partition puts the largest share of each class in its region, and the shares stay in
   [0, 100 %] up to the estimation noise;
3. a one-set model that equals an encoding already fitted is not refitted.

Tolerance of (1). Adding ``Δp`` lagged columns that carry nothing new costs an ordinary
least-squares model ``Δp / (n_train - p) · (1 - R²)`` of held-out R² (the expected excess
risk of a random-design regression); the union has ``Δp`` more columns than the better single
model. The sets are themselves estimated in-fold (PCA, CCA) and the ridge penalty is chosen
per electrode, which adds to that cost: over seeds 0–4 the measured loss was -0.2 to 1.7
times the OLS cost, so the test allows 2.5 times it.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from bids_app.analysis import ComparisonConfig, ComparisonInputs, compare_models, unions
from bids_app.analysis.partition import region_shares
from bids_app.encoding import EncodingConfig, StatisticsConfig, cross_validate
from bids_app.synthetic.partition import CLASS_REGIONS, SFREQ, planted_comparison
from bids_app.synthetic.validation import COST_MARGIN, share_tolerance

ENCODING = EncodingConfig()
LAGS = ENCODING.lags_samples(SFREQ)


@pytest.fixture(scope="module")
def planted():
    return planted_comparison(seed=3)


@pytest.fixture(scope="module")
def encodings(planted):
    return {space: {layer: cross_validate(X, planted.Y, lags=LAGS, segments=planted.segments,
                                          config=ENCODING)}
            for (space, layer), X in planted.designs.items()}


def _compare(planted, encodings, **options):
    inputs = ComparisonInputs(lambda space, layer: planted.designs[(space, layer)],
                              planted.spaces, encodings, planted.Y, planted.segments, LAGS,
                              planted.channels, planted.words)
    return compare_models(inputs, config=ComparisonConfig(**options), encoding=ENCODING,
                          statistics=StatisticsConfig(n_permutations=200))


@pytest.fixture(scope="module")
def comparison(planted, encodings):
    return _compare(planted, encodings, prediction_correlation=[])


def _by_channel(table, column):
    return table.groupby("channel", sort=False)[column].first()


def _subset_r2(table, sets):
    """R² of the model on ``sets`` alone: the sum of the regions that contain one of them."""
    regions = table["region"].str.replace("_only", "").str.split("∩")
    inside = regions.apply(lambda members: bool(set(members) & set(sets)))
    return table[inside].groupby("channel", sort=False)["r2"].sum()


def test_union_predicts_as_well_as_the_better_single_model(planted, encodings, comparison):
    table = comparison.tables["varpart"]
    assert table["partition"].iloc[0] == "shared+speech_rest+language_rest+acoustic"
    union = _by_channel(table, "r2_union").to_numpy()
    singles = np.array([next(iter(layers.values())).r2 for layers in encodings.values()])
    widths = np.array([planted.designs[key].shape[1] for key in planted.designs])
    best, best_width = singles.max(0), widths[singles.argmax(0)]
    cca = comparison.tables["cca"]
    k, d_speech, d_language = (len(cca), cca["pca_dims_speech"].iloc[0],
                               cca["pca_dims_language"].iloc[0])
    n_basis = ENCODING.lag_basis
    p_union = ((2 * k + 1) + (d_speech - k) + (d_language - k) + 1) * n_basis
    n_train = (planted.segments >= 0).sum() * (ENCODING.n_folds - 1) / ENCODING.n_folds
    cost = (p_union - best_width * n_basis) / (n_train - p_union) * (1 - best)
    driven = np.array(planted.classes) != "noise"
    assert (best[driven] > 0.4).all()  # the single models find the planted drive
    assert (union[driven] >= best[driven] - COST_MARGIN * cost[driven]).all()
    # the shared set alone predicts the shared-latent electrodes like the language model
    shared_alone = _subset_r2(table, ["shared"]).to_numpy()
    mine = np.array(planted.classes) == "shared"
    assert (shared_alone[mine] >= best[mine] - COST_MARGIN * cost[mine]).all()
    noise = ~driven
    assert (np.abs(union[noise]) < 0.01).all()


@pytest.mark.parametrize("planted_class", list(CLASS_REGIONS))
def test_partition_recovers_planted_shares(planted, comparison, planted_class):
    table = comparison.tables["varpart"]
    rows = table[table["channel"].str.rstrip("0123456789") == planted_class]
    assert rows["summarized"].all()
    shares = region_shares(rows)
    assert shares.idxmax() == CLASS_REGIONS[planted_class]
    assert shares.max() > 0.7
    n_train = (planted.segments >= 0).sum() * (ENCODING.n_folds - 1) / ENCODING.n_folds
    tolerance = share_tolerance(comparison.tables["cca"], n_train, planted.drive_r2.max(),
                                ENCODING.lag_basis)
    assert 0 < tolerance < 0.1
    assert shares.min() > -tolerance and shares.max() <= 1.0 + 1e-12


def test_no_share_outside_bounds_reaches_a_summary(comparison):
    table = comparison.tables["varpart"]
    shares = region_shares(table)
    assert shares[shares > 0].sum() == pytest.approx(1.0)
    sentence = next(s for s in comparison.summaries if "uniquely explains" in s)
    percents = [int(p) for p in re.findall(r"(-?\d+)%", sentence)]
    assert percents and all(0 <= p <= 100 for p in percents)
    assert f"in the {int(_by_channel(table, 'summarized').sum())} electrodes" in sentence


def test_one_set_model_equal_to_an_encoding_is_not_refitted(planted, encodings, monkeypatch):
    fitted = []
    real = unions.cross_validate_subsets

    def counting(design, Y, subsets, **kwargs):
        fitted.append(len(subsets))
        return real(design, Y, subsets, **kwargs)

    monkeypatch.setattr(unions, "cross_validate_subsets", counting)
    reused = _compare(planted, encodings, prediction_correlation=[])
    assert fitted == [2**4 - 2]  # 15 union models less acoustic (= the envelope encoding)
    fitted.clear()
    refitted = _compare(planted, {}, prediction_correlation=[])  # nothing to reuse
    assert fitted == [2**4 - 1]
    np.testing.assert_allclose(reused.tables["varpart"]["r2"], refitted.tables["varpart"]["r2"],
                               atol=1e-5)
