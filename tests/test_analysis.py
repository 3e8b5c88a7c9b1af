"""Model comparisons on synthetic recordings whose answers are known.

Words carry latents: ``z`` shared by the speech and the language model, ``p`` private to the
speech model, ``q`` private to the language model, ``s`` a static embedding. Electrodes respond
to word-onset impulses weighted by one latent: shared electrodes to ``z``, private ones to
``p``, static ones to ``s``; the others are noise.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from bids_app.analysis import (
    ComparisonConfig,
    ComparisonInputs,
    FeatureSpaceInfo,
    WordSamples,
    best_layer_result,
    compare_models,
    fit_shared_space,
    partition_regions,
    prediction_correlation,
)
from bids_app.analysis.partition import partition_table, subsets
from bids_app.encoding import (
    Backend,
    EncodingConfig,
    StatisticsConfig,
    cross_validate,
    cross_validate_folds,
    cross_validate_subsets,
)
from bids_app.errors import UsageError

ENCODING = EncodingConfig(n_folds=4, alphas=[float(a) for a in np.logspace(-2, 5, 8)])
LAGS = np.arange(7)
KERNEL = np.array([0.5, 1.0, 1.0, 0.6, 0.3])
GROUPS = {"shared": range(0, 4), "private": range(4, 8), "static": range(8, 12)}


@dataclass
class Recording:
    """A synthetic recording: designs by (space, layer), data, words, latents."""

    designs: dict
    spaces: dict
    Y: np.ndarray
    segments: np.ndarray
    words: WordSamples
    latents: dict


def _words(rng: np.random.Generator, segments: np.ndarray) -> WordSamples:
    onsets, offsets = [], []
    t = 5
    while t < len(segments) - 40:
        if segments[t] >= 0 and segments[t + 30] == segments[t]:
            length = int(rng.integers(12, 22))
            onsets.append(t)
            offsets.append(t + length)
            t += length + int(rng.integers(3, 10))
        else:
            t += 1
    return WordSamples(np.array(onsets), np.array(offsets))


def _impulses(n: int, onsets: np.ndarray, values: np.ndarray) -> np.ndarray:
    X = np.zeros((n, values.shape[1]), dtype=np.float32)
    X[onsets] = values
    return X


def _frames(n: int, words: WordSamples, values: np.ndarray) -> np.ndarray:
    X = np.zeros((n, values.shape[1]), dtype=np.float32)
    for a, b, row in zip(words.onsets, words.offsets, values, strict=True):
        X[a:b] = row
    return X


def make_recording(seed: int = 0, n_noise: int = 8, n_samples: int = 12000,
                   shared_noise: float = 0.5) -> Recording:
    """Speech (frame-level), language and static (word-level) spaces and driven electrodes."""
    rng = np.random.default_rng(seed)
    segments = np.repeat(np.arange(4), n_samples // 4)
    segments[np.arange(n_samples) % (n_samples // 4) > n_samples // 4 - 30] = -1
    words = _words(rng, segments)
    n_words = len(words.onsets)
    z, p, q = rng.standard_normal((3, n_words))
    s = rng.standard_normal((n_words, 3))
    speech = (np.c_[z, p, rng.standard_normal((n_words, 3))] @ rng.standard_normal((5, 8))
              + 0.1 * rng.standard_normal((n_words, 8)))
    language = (np.c_[z + shared_noise * rng.standard_normal(n_words), q,
                      rng.standard_normal((n_words, 3))] @ rng.standard_normal((5, 8))
                + 0.1 * rng.standard_normal((n_words, 8)))
    designs = {
        ("wav2vec2", "layer00"): _frames(n_samples, words, rng.standard_normal((n_words, 8))),
        ("wav2vec2", "layer01"): _frames(n_samples, words, speech),
        ("gpt2", "layer00"): _impulses(n_samples, words.onsets,
                                       rng.standard_normal((n_words, 8))),
        ("gpt2", "layer01"): _impulses(n_samples, words.onsets, language),
        ("gpt2", "layer02"): _impulses(n_samples, words.onsets,
                                       rng.standard_normal((n_words, 8))),
        ("glove", "static"): _impulses(n_samples, words.onsets, s),
    }
    spaces = {"wav2vec2": FeatureSpaceInfo("speech", ["layer00", "layer01"]),
              "gpt2": FeatureSpaceInfo("language", ["layer00", "layer01", "layer02"], True),
              "glove": FeatureSpaceInfo("static", ["static"], True)}
    drive = np.zeros((n_samples, 12))
    for latent, group in ((z, "shared"), (p, "private"), (s[:, 0], "static")):
        response = np.convolve(_impulses(n_samples, words.onsets, latent[:, None])[:, 0],
                               KERNEL)[:n_samples]
        drive[:, list(GROUPS[group])] = response[:, None]
    Y = np.c_[drive, np.zeros((n_samples, n_noise))] + 0.3 * rng.standard_normal(
        (n_samples, 12 + n_noise))
    return Recording(designs, spaces, Y.astype(np.float32), segments, words,
                     {"z": z, "p": p, "q": q, "s": s})


def _results(rec: Recording) -> dict:
    out: dict = {}
    for (space, layer), X in rec.designs.items():
        out.setdefault(space, {})[layer] = cross_validate(
            X, rec.Y, lags=LAGS, segments=rec.segments, config=ENCODING)
    return out


def _compare(rec: Recording, results: dict, n_refits: int = 10, **options) -> object:
    config = ComparisonConfig(**{"cca_speech_layer": 1, "n_components": 1,
                                 "n_refits": n_refits, **options})
    inputs = ComparisonInputs(lambda space, layer: rec.designs[(space, layer)], rec.spaces,
                              results, rec.Y, rec.segments, LAGS,
                              [f"ch{i}" for i in range(rec.Y.shape[1])], rec.words)
    return compare_models(inputs, config=config, encoding=ENCODING,
                          statistics=StatisticsConfig(n_permutations=200))


@pytest.fixture(scope="module")
def recording() -> Recording:
    return make_recording()


@pytest.fixture(scope="module")
def comparison(recording: Recording):
    return _compare(recording, _results(recording), n_refits=40, predcorr_null=True,
                    variance_partitioning=["shared", "speech_rest", "language_rest", "static"])


# -- variance-partition formulas ---------------------------------------------------------

def test_two_set_formulas_and_negative_estimates_are_kept():
    r2 = {frozenset("A"): np.array([0.3, 0.1]), frozenset("B"): np.array([0.2, 0.1]),
          frozenset("AB"): np.array([0.4, 0.25])}
    regions = partition_regions(r2, ["A", "B"])
    np.testing.assert_allclose(regions[frozenset("A")], r2[frozenset("AB")] - r2[frozenset("B")])
    np.testing.assert_allclose(regions[frozenset("AB")], [0.1, -0.05])
    table = partition_table(r2, ["A", "B"], ["e1", "e2"], np.array([True, True]))
    row = table[(table["channel"] == "e2") & (table["region"] == "A∩B")].iloc[0]
    assert row["r2"] == pytest.approx(-0.05) and bool(row["negative"])
    assert set(table["region"]) == {"A_only", "B_only", "A∩B"}


@pytest.mark.parametrize("n_sets", [3, 4])
def test_regions_invert_planted_venn_masses(n_sets):
    names = list("ABCD"[:n_sets])
    rng = np.random.default_rng(n_sets)
    masses = {region: rng.uniform(-0.02, 0.1, 5) for region in subsets(names)}
    r2 = {union: sum(m for region, m in masses.items() if region & union)
          for union in subsets(names)}
    regions = partition_regions(r2, names)
    assert len(regions) == 2**n_sets - 1
    for region, mass in masses.items():
        np.testing.assert_allclose(regions[region], mass, atol=1e-12)
    np.testing.assert_allclose(sum(regions.values()), r2[frozenset(names)], atol=1e-12)


# -- engine pieces -----------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_per_fold_design_reproduces_cross_validate(recording, backend):
    # float64: the two algorithms must agree to rounding, which float32 would blur (1e-5)
    config = dataclasses.replace(ENCODING, dtype="float64")
    X = recording.designs[("gpt2", "layer01")]
    ref = cross_validate(X, recording.Y, lags=LAGS, segments=recording.segments,
                         config=config)
    ours = cross_validate_folds(lambda k: [X], recording.Y, lags=LAGS,
                                segments=recording.segments, config=config,
                                engine=Backend(backend))
    np.testing.assert_allclose(ours.r, ref.r, atol=1e-5)
    np.testing.assert_array_equal(ours.alphas, ref.alphas)
    np.testing.assert_allclose(ours.inner_error, ref.inner_error, rtol=1e-5)


@pytest.mark.parametrize("banded", [False, True])
def test_subset_models_from_one_union_equal_separate_fits(recording, banded):
    blocks = [recording.designs[("gpt2", "layer01")], recording.designs[("wav2vec2", "layer01")]]
    config = dataclasses.replace(ENCODING, dtype="float64")
    args = dict(lags=LAGS, segments=recording.segments, config=config, banded=banded)
    subsets = [[0], [1], [0, 1]]
    together = cross_validate_subsets(lambda k: blocks, recording.Y, subsets, **args)
    for subset, result in zip(subsets, together, strict=True):
        alone = cross_validate_folds(lambda k, s=subset: [blocks[b] for b in s], recording.Y,
                                     **args)
        np.testing.assert_allclose(result.r, alone.r, atol=1e-8)
        np.testing.assert_allclose(result.inner_error, alone.inner_error, rtol=1e-8)


def test_banded_ridge_helps_a_small_informative_set_next_to_a_large_noisy_one():
    rng = np.random.default_rng(3)
    small = rng.standard_normal((3000, 2))
    noise = rng.standard_normal((3000, 60))
    Y = small @ np.array([[1.0], [0.5]]) + 1.5 * rng.standard_normal((3000, 1))
    args = dict(lags=[0], config=EncodingConfig(n_folds=4))
    joint = cross_validate_folds([small, noise], Y, **args)
    banded = cross_validate_folds([small, noise], Y, banded=True, **args)
    assert banded.r2[0] > joint.r2[0]


# -- CCA ---------------------------------------------------------------------------------

def test_cca_recovers_planted_latent():
    rng = np.random.default_rng(1)
    n, sigma = 3000, 0.5
    z = rng.standard_normal(n)
    speech = np.c_[z, rng.standard_normal((n, 4))] @ rng.standard_normal((5, 10))
    language = np.c_[z + sigma * rng.standard_normal(n),
                     rng.standard_normal((n, 4))] @ rng.standard_normal((5, 12))
    train, test = slice(0, 2000), slice(2000, None)
    space = fit_shared_space(speech[train], language[train], variance=0.99, n_components=3)
    u, v = space.variates(speech[test], language[test])
    true_r = 1 / np.sqrt(1 + sigma**2)
    assert np.corrcoef(u[:, 0], v[:, 0])[0, 1] == pytest.approx(true_r, abs=0.03)
    assert abs(np.corrcoef(u[:, 0], z[test])[0, 1]) > 0.97
    sets = space.transform(speech[test], language[test])
    assert abs(np.corrcoef(sets["shared_speech"][:, 0], z[test])[0, 1]) > 0.97
    assert abs(np.corrcoef(sets["shared_language"][:, 0], z[test])[0, 1]) > true_r - 0.03
    # the rest spaces carry (almost) nothing of the shared latent
    beta = np.linalg.lstsq(sets["speech_rest"], z[test] - z[test].mean(), rcond=None)[0]
    assert np.corrcoef(sets["speech_rest"] @ beta, z[test])[0, 1] < 0.15
    # on the fitting words, each rest is uncorrelated with its own variates (least squares)
    fitted = space.transform(speech[train], language[train])
    for side in ("speech", "language"):
        cross = np.corrcoef(fitted[f"{side}_rest"].T, fitted[f"shared_{side}"].T)
        n_rest = fitted[f"{side}_rest"].shape[1]
        assert np.abs(cross[:n_rest, n_rest:]).max() < 1e-8
    # together the variates and the rest span the whole PCA space of each side
    scores = space.speech.transform(speech[test])
    both = np.c_[sets["shared_speech"], sets["speech_rest"]]
    assert np.linalg.matrix_rank(both, tol=1e-6) == scores.shape[1]


def test_heldout_selection_keeps_planted_components_and_rarely_any_of_noise():
    from bids_app.analysis.cca import HELDOUT_ALPHA

    def pair(rng, n_shared, n=1200):
        z = rng.standard_normal((n, n_shared))
        mix = lambda d: np.c_[z, rng.standard_normal((n, 6))] @ rng.standard_normal(  # noqa: E731
            (n_shared + 6, d))
        return mix(10), mix(12)

    def serial(rng, n=1200, phi=0.8):  # unrelated sets whose words are serially correlated
        def one(d):
            x, e = np.zeros((n, d)), rng.standard_normal((n, d))
            for t in range(1, n):
                x[t] = phi * x[t - 1] + e[t]
            return x @ rng.standard_normal((d, d + 2))
        return one(8), one(9)

    rng = np.random.default_rng(3)
    for unrelated in (pair, serial):  # a Fisher critical value kept 23 % of the serial ones
        kept = [fit_shared_space(*unrelated(rng, 0) if unrelated is pair else unrelated(rng),
                                 variance=1.0, n_components=5, significant_only=True).n_kept
                for _ in range(100)]
        # a component of unrelated sets is kept at about HELDOUT_ALPHA (99 % bound: 11)
        assert sum(k > 0 for k in kept) <= 11 and HELDOUT_ALPHA == 0.05
    assert max(kept) <= 2
    planted = [fit_shared_space(*pair(rng, 2), variance=1.0, n_components=5,
                                significant_only=True).n_kept for _ in range(10)]
    assert all(k >= 2 for k in planted) and np.mean(planted) < 2.5
    # with nothing kept, shared is empty and the rest spaces are the whole PCA spaces
    while (empty := fit_shared_space(*pair(rng, 0), variance=1.0, n_components=5,
                                     significant_only=True)).n_kept:
        pass
    parts = empty.transform(*pair(rng, 0))
    assert parts["shared_speech"].shape[1] == 0
    assert parts["speech_rest"].shape[1] == empty.speech.components.shape[1] == 6


def test_partial_cca_finds_no_shared_direction_in_a_covariate_both_models_carry():
    """Word frequency in both models is a shared direction of plain CCA, not of partial."""
    rng = np.random.default_rng(4)
    n = 1500
    frequency = rng.normal(4.5, 1.2, n)
    speech = np.c_[frequency, rng.standard_normal((n, 7))] @ rng.standard_normal((8, 10))
    language = np.c_[frequency, rng.standard_normal((n, 9))] @ rng.standard_normal((10, 12))
    train, test = slice(0, 1000), slice(1000, None)
    plain = fit_shared_space(speech[train], language[train], variance=1.0, n_components=5,
                             significant_only=True)
    partial = fit_shared_space(speech[train], language[train], variance=1.0, n_components=5,
                               significant_only=True, covariates=frequency[train])
    u, v = plain.variates(speech[test], language[test])
    assert plain.n_kept >= 1 and np.corrcoef(u[:, 0], v[:, 0])[0, 1] > 0.9
    assert partial.n_kept == 0
    u, v = partial.variates(speech[test], language[test], frequency[test], candidates=True)
    assert abs(np.corrcoef(u[:, 0], v[:, 0])[0, 1]) < 0.15
    assert abs(np.corrcoef(u[:, 0], frequency[test])[0, 1]) < 0.15
    with pytest.raises(ValueError, match="covariates"):
        partial.variates(speech[test], language[test], candidates=True)
    # with a shared latent besides, the rest spaces and the covariates together carry none of
    # the (partial) shared variates on the fitting words
    z = rng.standard_normal(n)
    both = [np.c_[z, frequency, rng.standard_normal((n, 6))] @ rng.standard_normal((8, d))
            for d in (10, 12)]
    space = fit_shared_space(*both, variance=1.0, n_components=3, significant_only=True,
                             covariates=frequency)
    parts = space.transform(*both, frequency)
    assert space.n_kept >= 1
    for side in ("speech", "language"):
        design = np.c_[np.ones(n), parts[f"{side}_rest"], frequency]
        shared = parts[f"shared_{side}"][:, 0]
        fitted = design @ np.linalg.lstsq(design, shared, rcond=None)[0]
        assert np.var(shared - fitted) / np.var(shared) > 0.99


def test_in_fold_cca_is_not_optimistic_on_noise_but_all_data_is():
    rec = make_recording(seed=5, n_samples=8000)
    rng = np.random.default_rng(7)
    n_words = len(rec.words.onsets)
    rec.designs[("wav2vec2", "layer01")] = _frames(8000, rec.words,
                                                   rng.standard_normal((n_words, 25)))
    rec.designs[("gpt2", "layer01")] = _impulses(8000, rec.words.onsets,
                                                 rng.standard_normal((n_words, 25)))
    tables = {}
    for fit in ("in_fold", "all_data"):
        result = _compare(rec, {}, prediction_correlation=[], variance_partitioning=[],
                          n_components=5, cca_fit=fit)
        tables[fit] = result.tables["cca"]
        assert any("all_data" in w for w in result.warnings) == (fit == "all_data")
    in_fold, all_data = tables["in_fold"], tables["all_data"]
    assert abs(in_fold["r_test"].mean()) < 0.07
    assert in_fold["r_train"].iloc[0] > 0.3  # the fitting words are overfitted ...
    assert all_data["r_test"].iloc[0] > 0.3  # ... and all-data "held-out" words with them
    assert in_fold["p"].iloc[0] > 0.01


# -- prediction correlation --------------------------------------------------------------

def test_prediction_correlation_high_for_shared_low_for_private(comparison):
    table = comparison.tables["wav2vec2Xgpt2"]
    shared = table.iloc[list(GROUPS["shared"])]
    private = table.iloc[list(GROUPS["private"])]
    assert (shared["r_pred"] > 0.5).all() and shared["significant"].all()
    assert (private["r_pred"].abs() < 0.2).all() and not private["significant"].any()
    assert (shared["layer_a"] == "layer01").all() and (shared["layer_b"] == "layer01").all()
    assert (private["r_a"] > 0.4).all() and (private["r_b"] < 0.2).all()
    assert any("correlate at mean r" in s for s in comparison.summaries)
    assert (table["delta_r"] == table["r_a"] - table["r_b"]).all()  # paired, same folds
    assert (private["folds_a_better"] == 4).all()  # the speech-only electrodes, every fold
    assert any("Paired on the same folds" in s for s in comparison.summaries)


def test_auto_pairs_add_each_model_against_its_untrained_twin():
    from bids_app.analysis.plan import comparison_pairs

    spaces = {name: FeatureSpaceInfo(kind, ["layer00"]) for name, kind in (
        ("wav2vec2", "speech"), ("gpt2", "language"), ("wav2vec2untrained", "speech"),
        ("gpt2untrained", "language"))}
    assert comparison_pairs(ComparisonConfig(), spaces, []) == [
        ("wav2vec2", "gpt2"), ("wav2vec2", "wav2vec2untrained"), ("gpt2", "gpt2untrained")]
    del spaces["gpt2untrained"]
    assert comparison_pairs(ComparisonConfig(), spaces, [])[1:] == [
        ("wav2vec2", "wav2vec2untrained")]


def test_prediction_correlation_is_tested_where_both_models_predict(recording, comparison):
    # calibration of the refit null on noise: tests/test_predcorr_null.py
    results = _results(recording)
    fitted = [best_layer_result(results[name], recording.Y)[0] for name in ("wav2vec2", "gpt2")]
    asked = []

    def null(tested):
        asked.append(tested.copy())
        return np.zeros((9, tested.sum()))  # every observed r_pred > 0 beats this null

    channels = [f"ch{i}" for i in range(recording.Y.shape[1])]
    table = prediction_correlation(*fitted, recording.Y, channels, null=null,
                                   n_permutations=200)
    tested = table["both_significant"].to_numpy()
    assert tested.any() and not tested.all()
    np.testing.assert_array_equal(asked[0], tested)
    assert table.loc[~tested, "p"].isna().all() and not table.loc[~tested, "significant"].any()
    positive = tested & (table["r_pred"] > 0).to_numpy()
    np.testing.assert_allclose(table.loc[positive, "p"], 1 / 10)
    untested = prediction_correlation(*fitted, recording.Y, channels, n_permutations=200)
    assert untested["p"].isna().all()
    # in compare_models, noise channels are not tested
    noise = comparison.tables["wav2vec2Xgpt2"].iloc[12:]
    assert noise["p"].isna().all()


def test_best_layer_is_chosen_in_fold_from_inner_errors(recording):
    results = _results(recording)["wav2vec2"]
    combined, chosen = best_layer_result(results, recording.Y)
    assert chosen.shape == (ENCODING.n_folds, recording.Y.shape[1])
    assert (chosen[:, list(GROUPS["private"])] == "layer01").all()
    layer01 = results["layer01"]
    # the combination's r scores float32 predictions, the layer's its Gram statistics
    np.testing.assert_allclose(combined.r[list(GROUPS["private"])],
                               layer01.r[list(GROUPS["private"])], atol=1e-5)


# -- variance partitioning ---------------------------------------------------------------

@pytest.mark.parametrize(("group", "region"), [("shared", "shared_only"),
                                                ("private", "speech_rest_only"),
                                                ("static", "static_only")])
def test_partition_assigns_variance_to_the_planted_region(comparison, group, region):
    table = comparison.tables["varpart"]
    rows = table[table["channel"].isin([f"ch{i}" for i in GROUPS[group]])]
    mine = rows[rows["region"] == region]
    assert (mine["r2_union"] > 0.2).all() and mine["significant"].all()
    assert (mine["fraction"] > 0.75).all()
    others = rows[rows["region"] != region].groupby("channel")["r2"].apply(
        lambda r: r.abs().sum())
    union = mine.set_index("channel")["r2_union"]
    assert (others.sub(0.25 * union) < 0).all()


def test_varpart_table_and_summary(comparison):
    table = comparison.tables["varpart"]
    assert table["region"].nunique() == 15
    np.testing.assert_allclose(table.groupby("channel")["r2"].sum(),
                               table.groupby("channel")["r2_union"].first(), atol=1e-9)
    noise = table[table["channel"].isin([f"ch{i}" for i in range(12, 20)])]
    assert not noise["significant"].any()
    sentence = next(s for s in comparison.summaries if "uniquely explains" in s)
    used = table[table["significant"] & (table["r2_union"] > 0)]
    assert used.equals(table[table["summarized"]])
    sums = used.groupby("region")["r2"].sum()
    assert f"{round(sums['shared_only'] / sums.clip(lower=0).sum(), 2):.0%}" in sentence
    n_negative = int((sums < 0).sum())
    assert (f"{n_negative} of 15 regions have a negative summed estimate" in sentence) == (
        n_negative > 0)
    assert "12 electrodes" in sentence


def test_group_moments_give_every_union_of_groups_in_one_pass():
    """The CCA's frame moments of every fold, summed per fit: equal to each fit's own pass
    (far from zero means, as in GPT-2's outlier dimensions, included)."""
    from bids_app.analysis.cca import GroupMoments

    rng = np.random.default_rng(5)
    X = (rng.standard_normal((3000, 6)) + np.array([0, 0, 0, 0, 0, 1e4])).astype(np.float32)
    labels = np.repeat([-1, 0, 1, 2, -1, 1], 500)
    moments = GroupMoments.of(X, labels, 3, chunk_size=700)
    for groups in ([0, 1, 2], [0, 2], [1]):
        rows = np.isin(labels, groups)
        mean, covariance = moments.of_groups(groups)
        np.testing.assert_allclose(mean, X[rows].astype(float).mean(0), rtol=1e-12)
        np.testing.assert_allclose(covariance, np.cov(X[rows].T.astype(float), bias=True),
                                   atol=1e-9)


def test_cca_components_table(comparison):
    table = comparison.tables["cca"]
    assert list(table["component"]) == [1]
    assert table["r_test"].iloc[0] > 0.7 and table["p"].iloc[0] < 1e-10
    assert {f"r_test_fold{k}" for k in range(1, 5)} <= set(table.columns)


def test_auto_sets_and_config_validation(recording):
    rec = make_recording(seed=2, n_samples=6000)
    rec.designs[("mel", "mel")] = np.random.default_rng(0).standard_normal(
        (6000, 3)).astype(np.float32)
    rec.spaces["mel"] = FeatureSpaceInfo("mel", ["mel"])
    result = _compare(rec, _results(rec), prediction_correlation=[])
    partitions = set(result.tables["varpart"]["partition"])
    assert partitions == {"shared+speech_rest+language_rest"}  # mel is in L
    unconditioned = _compare(rec, _results(rec), prediction_correlation=[], conditioning=[])
    partitions = set(unconditioned.tables["varpart"]["partition"])
    assert partitions == {"shared+speech_rest+language_rest", "shared+static+acoustic"}
    with pytest.raises(UsageError, match=r"comparison\.rest_components"):
        ComparisonConfig(rest_components=0)
    with pytest.raises(UsageError, match=r"comparison\.n_components"):
        ComparisonConfig(n_components=0)
    with pytest.raises(UsageError, match=r"comparison\.variance_partitioning"):
        ComparisonConfig(variance_partitioning=["shared"])
    with pytest.raises(UsageError, match=r"comparison\.cca_fit"):
        ComparisonConfig(cca_fit="everything")


def test_rest_components_caps_the_rest_spaces(recording):
    rng = np.random.default_rng(4)
    speech, language = rng.standard_normal((2, 500, 12))
    space = fit_shared_space(speech, language, variance=1.0, n_components=3, rest_components=4)
    sets = space.transform(speech, language)
    assert sets["shared_speech"].shape == sets["shared_language"].shape == (500, 3)
    assert sets["speech_rest"].shape == (500, 4) and sets["language_rest"].shape == (500, 4)


def test_word_mode_is_skipped_with_a_warning(recording):
    inputs = ComparisonInputs(lambda space, layer: recording.designs[(space, layer)],
                              recording.spaces, {}, recording.Y, recording.segments, LAGS, [])
    result = compare_models(inputs, config=ComparisonConfig(),
                            encoding=EncodingConfig(mode="word"), statistics=StatisticsConfig())
    assert not result.tables and "encoding.mode: trf" in result.warnings[0]


def test_figures_draw_from_the_tables(comparison):
    from bids_app.report.comparison_figures import cca_figure, predcorr_figure, varpart_figure

    for fig in (predcorr_figure(comparison.tables["wav2vec2Xgpt2"], "wav2vec2", "gpt2"),
                cca_figure(comparison.tables["cca"]),
                varpart_figure(comparison.tables["varpart"])):
        assert fig.axes and all(ax.has_data() for ax in fig.axes)
    bars = varpart_figure(comparison.tables["varpart"]).axes[0].patches
    assert len(bars) == 15


def test_every_table_column_is_described(comparison):
    from bids_app.analysis.dictionary import COLUMNS, table_dictionary

    for table in comparison.tables.values():
        described = table_dictionary(table)
        assert list(described) == list(table.columns)
        for column, entry in described.items():
            assert column in COLUMNS or column.startswith("r_test_fold") or (
                entry["Description"] != column), column
            assert len(entry["Description"]) > 10


def test_cca_problems_become_warnings():
    rec = make_recording(seed=6, n_samples=6000)
    # 8-dimensional features: the PCAs keep all 8 (at least encoding.layer_pca), CCA all 8
    result = _compare(rec, _results(rec), prediction_correlation=[], n_components=12,
                      significant_only=False, variance_partitioning=["shared", "speech_rest"])
    assert any("CCA kept 8 component(s)" in w and "smaller PCA dimension of the two sets is 8"
               in w for w in result.warnings)
    assert any("['speech_rest'] has no dimension in any outer fold" in w
               for w in result.warnings)
    varpart = result.tables["varpart"]  # the empty set explains nothing, by construction
    assert (varpart.loc[varpart["region"] != "shared_only", "r2"] == 0).all()
    assert (varpart.loc[varpart["region"] == "shared_only", "r2"] != 0).any()
    few = make_recording(seed=6, n_samples=600)
    result = _compare(few, {}, prediction_correlation=[], variance_partitioning=[],
                      pca_variance=1.0)
    assert "cca" not in result.tables
    assert any("CCA shared space skipped" in w for w in result.warnings)


def test_summaries_come_from_tables_and_work_on_stacked_participants(comparison):
    from bids_app.analysis import summarize

    assert summarize(comparison.tables) == comparison.summaries
    stacked = {key: pd.concat([table.assign(participant=label) for label in ("01", "02")],
                              ignore_index=True) for key, table in comparison.tables.items()}
    group = summarize(stacked)
    beyond = comparison.tables["beyond"]
    n_shared = int(beyond["significant_shared_beyond_low"].sum())
    assert n_shared > 0
    assert f"share information at {n_shared} of 20 tested" in comparison.summaries[0]
    assert f"share information at {2 * n_shared} of 40 tested" in group[0]
    assert "Across all 40 electrodes" in group[1]
    assert "means over 2 participants" in group[2]
    n_used = 2 * int(comparison.tables["varpart"].groupby("channel")["summarized"].first().sum())
    assert f"in the {n_used} electrodes" in group[3]
    shares = [s.split("uniquely explains ")[1].split(" ")[0] for s in (comparison.summaries[3],
                                                                        group[3])]
    assert shares[0] == shares[1]


def test_word_samples_put_all_stimuli_on_the_neural_timeline(tmp_path):
    from bids_app.analysis import word_samples
    from bids_app.stimuli.stimulus import Stimulus, WordTimings

    stimuli = [Stimulus("b", tmp_path / "b.wav", None, 10.0, 5.0),
               Stimulus("a", tmp_path / "a.wav", None, 1.0, 5.0)]
    words = [WordTimings(("x",), np.array([0.5]), np.array([0.8])),
             WordTimings(("y", "z"), np.array([0.0, 1.004]), np.array([0.9, 1.5]))]
    result = word_samples(stimuli, words, 100.0)
    np.testing.assert_array_equal(result.onsets, [100, 200, 1050])
    np.testing.assert_array_equal(result.offsets, [190, 250, 1080])
    assert word_samples(stimuli, [words[0], None], 100.0) is None


def test_frame_level_speech_sets(recording):
    result = _compare(recording, _results(recording), prediction_correlation=[],
                      variance_partitioning=["shared", "speech_rest", "static"],
                      cca_level="frame")
    table = result.tables["varpart"]
    private = table[table["channel"].isin([f"ch{i}" for i in GROUPS["private"]])]
    best = private.loc[private.groupby("channel")["r2"].idxmax(), "region"]
    assert (best == "speech_rest_only").all()
    shared = table[table["channel"].isin([f"ch{i}" for i in GROUPS["shared"]])]
    assert (shared.loc[shared.groupby("channel")["r2"].idxmax(), "region"] == "shared_only").all()


def test_low_level_set_carries_centred_word_frequencies_or_says_why_not():
    from bids_app.analysis.lowlevel import low_level_set

    rng = np.random.default_rng(0)
    vocabulary = ["the", "of", "podcast", "serendipity", "and", "zygote"]
    texts = tuple(vocabulary[i] for i in rng.integers(0, len(vocabulary), 60))
    onsets = np.arange(60) * 40 + 10
    words = WordSamples(onsets, onsets + 20, texts)
    segments = np.zeros(2500, dtype=int)
    low = low_level_set(["word_onset", "word_frequency"], None, {}, words, segments, 0.5, 100.0)
    assert low.names == ["word_onset", "word_frequency"] and not low.left_out
    frequency = low.blocks[1][onsets, 0]
    assert frequency[np.array(texts) == "the"].min() > 7  # Zipf scale
    assert frequency[np.array(texts) == "zygote"].max() < 3
    assert 1 in low.word_rows and np.array_equal(low.word_rows[1], onsets)  # centred in-fold
    untitled = low_level_set(["word_frequency"], None, {}, WordSamples(onsets, onsets + 20),
                             segments, 0.5, 100.0)
    assert not untitled.names and untitled.left_out == ["word_frequency (no word texts)"]
    with pytest.raises(UsageError, match=r"word_language.*'xx'"):
        low_level_set(["word_frequency"], None, {}, words, segments, 0.5, 100.0, "xx")


def test_low_level_set_takes_tokens_per_word_from_a_language_model():
    from bids_app.analysis.lowlevel import low_level_set

    onsets = np.arange(60) * 40 + 10
    words = WordSamples(onsets, onsets + 20)
    segments = np.zeros(2500, dtype=int)
    tokens = np.zeros((2500, 1), dtype=np.float32)
    tokens[onsets, 0] = np.arange(60) % 3 + 1

    def design(space, layer):
        assert (space, layer) == ("gpt2", "tokens")
        return tokens

    spaces = {"gpt2": FeatureSpaceInfo(kind="language", layers=["layer00", "tokens"],
                                       word_level=True)}
    low = low_level_set(["word_onset", "word_tokens"], design, spaces, words, segments, 0.5,
                        100.0)
    assert low.names == ["word_onset", "word_tokens"]
    assert np.array_equal(low.blocks[1], tokens) and np.array_equal(low.word_rows[1], onsets)
    assert np.array_equal(low.word_covariates(onsets)[:, 0], tokens[onsets, 0])
    without = low_level_set(["word_tokens"], design, {}, words, segments, 0.5, 100.0)
    assert without.left_out == ["word_tokens (no language model's token counts)"]
