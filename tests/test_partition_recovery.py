"""The comparisons on planted truth (:mod:`bids_app.synthetic.partition`), given L.

Electrodes follow content shared by the speech and the language features (on top of an
onset response), a speech-only frame-level latent, a language-only word latent, the
acoustic envelope (louder during words), a constant-gain onset impulse, or nothing. The
truth comes from the generator. With the default comparison settings (L = envelope + word
onsets + phrase onsets + word durations):

1. the shared-beyond-L test finds every shared-content electrode and none of the negative
   classes (envelope, onset, speech-only, language-only, noise), and the untrained twins,
   which carry only what L carries, reproduce none of it;
2. the variance partition beyond L puts the largest share of each class with information
   beyond L in its region, and gives the classes inside L next to nothing;
3. the word onset never enters ``shared`` (only ``preset: reference`` puts it back).
"""

from __future__ import annotations

import pytest

from bids_app.analysis import ComparisonConfig, ComparisonInputs, compare_models
from bids_app.analysis.partition import region_shares
from bids_app.analysis.unions import SetDesigns
from bids_app.encoding import EncodingConfig, StatisticsConfig, cross_validate
from bids_app.synthetic.partition import CLASS_REGIONS, SFREQ, planted_comparison

ENCODING = EncodingConfig()
STATISTICS = StatisticsConfig(n_permutations=200, n_refits=10)
LAGS = ENCODING.lags_samples(SFREQ)


@pytest.fixture(scope="module")
def planted():
    return planted_comparison(seed=3)


@pytest.fixture(scope="module")
def encodings(planted):
    rows = planted.words.onsets
    return {space: {layer: cross_validate(
        X, planted.Y, lags=LAGS, segments=planted.segments, config=ENCODING,
        word_rows=rows if planted.spaces[space].word_level else None)}
        for (space, layer), X in planted.designs.items()}


def _compare(planted, encodings, **options):
    inputs = ComparisonInputs(lambda space, layer: planted.designs[(space, layer)],
                              planted.spaces, encodings, planted.Y, planted.segments, LAGS,
                              planted.channels, planted.words, SFREQ)
    return compare_models(inputs, config=ComparisonConfig(**options), encoding=ENCODING,
                          statistics=STATISTICS)


@pytest.fixture(scope="module")
def comparison(planted, encodings):
    return _compare(planted, encodings, prediction_correlation=[])


def _class_of(table):
    return table["channel"].str.rstrip("0123456789")


def test_shared_beyond_low_finds_shared_content_and_no_negative_class(planted, comparison):
    assert any("phrase_onset (1 events)" in w for w in comparison.warnings)
    table = comparison.tables["beyond"]
    assert table["tested"].all() and (table["layer_a"] == "layer07").all()
    found = table.groupby(_class_of(table))["significant_shared_beyond_low"].mean()
    assert found["shared"] == 1.0
    for negative in ("acoustic", "onset", "untrained", "speech", "language", "noise"):
        assert found[negative] == 0.0, negative
    gains = table.groupby(_class_of(table))[["significant_gain_a", "significant_gain_b"]].mean()
    assert gains.loc["speech", "significant_gain_a"] == 1.0
    assert gains.loc["language", "significant_gain_b"] == 1.0
    # the language model gets no credit for sound or word timing; the speech model's frames
    # may refine L's smooth onset response (a small low-level gain outside L's span)
    assert gains.loc["acoustic"].max() == 0.0 and gains.loc["onset", "significant_gain_b"] == 0.0
    # the language model beyond word timing: content, not onsets
    beyond_onsets = table.groupby(_class_of(table))["b_beyond_onsets"].median()
    assert beyond_onsets["language"] > 0.1 and abs(beyond_onsets["onset"]) < 0.01


def test_untrained_twins_reproduce_none_of_the_shared_content(comparison):
    table = comparison.tables["beyond"]
    assert (table["space_a_untrained"] == "wav2vec2untrained").all()
    shared = table[_class_of(table) == "shared"]
    assert shared["significant_delta_shared"].all()
    assert not shared["significant_shared_beyond_low_untrained"].any()
    assert not table["reproduced_by_untrained"].any()


def test_a_broken_table_fails_the_check(comparison):
    """The checks above fail when the test's answers are swapped between classes."""
    table = comparison.tables["beyond"].copy()
    classes = _class_of(table)
    table.loc[classes == "onset", "significant_shared_beyond_low"] = True
    found = table.groupby(classes)["significant_shared_beyond_low"].mean()
    assert found["onset"] != 0.0


@pytest.mark.parametrize("planted_class", list(CLASS_REGIONS))
def test_partition_beyond_low_recovers_the_planted_regions(comparison, planted_class):
    table = comparison.tables["varpart"]
    assert table["partition"].iloc[0] == "shared+speech_rest+language_rest"
    # the planted words have no pauses: phrase onsets are too rare to estimate, and left out
    assert table["conditioning"].iloc[0] == "envelope + word_onset + word_duration"
    rows = table[_class_of(table) == planted_class]
    region = CLASS_REGIONS[planted_class]
    if region is None:  # inside L: no region beyond L holds a share of its variance
        per_channel = rows.groupby("channel")["r2"].apply(lambda r: r.clip(lower=0).sum())
        assert (per_channel < 0.02).all()
        if planted_class != "untrained":  # the twin's random filter is not in L either
            assert (rows.groupby("channel")["r2_low"].first() > 0.3).all()
        return
    assert rows["summarized"].all()
    shares = region_shares(rows)
    assert shares.idxmax() == region
    assert shares.max() > 0.5
    # the shared content is also in the speech rest's frames (held over each word), so the
    # regions that contain shared hold it together
    mine = [name for name in shares.index if region.removesuffix("_only") in name]
    assert shares[mine].clip(lower=0).sum() > 0.9


def test_onsets_never_enter_shared(planted):
    inputs = ComparisonInputs(lambda space, layer: planted.designs[(space, layer)],
                              planted.spaces, {}, planted.Y, planted.segments, LAGS,
                              planted.channels, planted.words, SFREQ)
    sets = SetDesigns(inputs, None, ComparisonConfig(), ENCODING, {})
    assert "onset" not in sets.parts("shared")
    reference = SetDesigns(inputs, None, ComparisonConfig(preset="reference"), ENCODING, {})
    assert "onset" in reference.parts("shared")


def test_reference_preset_reproduces_the_study_pipeline():
    config = ComparisonConfig(preset="reference", conditioning="auto", untrained_control=True)
    assert config.conditioning == [] and config.onset_in_shared and not config.banded
    assert not config.untrained_control and config.predcorr_null
