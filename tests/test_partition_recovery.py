"""The comparisons on planted truth (:mod:`bids_app.synthetic.partition`), given L.

Electrodes follow content shared by the speech and the language features (on top of an
onset response; and at a realistic level, r about 0.15 on top of stronger onset and envelope
responses), a speech-only frame-level latent, a language-only word latent, the acoustic
envelope (louder during words), a constant-gain onset impulse, sound onsets outside L's span
(the rectified envelope derivative, which the speech model carries), a random filter of the
untrained speech twin, a speech-only and a language-only latent at the same electrode, or
nothing. The truth comes from the generator. The recording and
its analysis are the validation suite's (``planted_validation``: seed 0, default settings,
10 rotations; L = envelope + word onsets + word durations, phrase onsets being too rare):

1. the shared-beyond-L test finds every shared-content electrode, the weak ones included, and
   the negative classes (envelope, onset, sound onsets outside L, untrained filter,
   speech-only, language-only, both of these at one electrode, noise) no more often than
   a calibrated test would; the untrained twins reproduce none of the shared content;
2. the variance partition beyond L puts the largest share of each class with information
   beyond L in its region, and gives the classes inside L next to nothing;
3. the word onset never enters ``shared`` (only ``preset: reference`` puts it back).
"""

from __future__ import annotations

import pytest
from scipy import stats

from bids_app.analysis import ComparisonConfig, ComparisonInputs
from bids_app.analysis.partition import region_shares
from bids_app.analysis.unions import SetDesigns
from bids_app.encoding import EncodingConfig
from bids_app.errors import UsageError
from bids_app.synthetic.partition import CLASS_REGIONS, SFREQ, planted_comparison

ENCODING = EncodingConfig()
LAGS = ENCODING.lags_samples(SFREQ)


@pytest.fixture(scope="module")
def planted():
    return planted_comparison(n_noise=16, seed=0)  # the recording of planted_validation


@pytest.fixture(scope="module")
def comparison(planted_validation):
    return planted_validation.comparison


def _class_of(table):
    return table["channel"].str.rstrip("0123456789")


def test_shared_beyond_low_finds_shared_content_and_no_negative_class(planted, comparison):
    assert any("phrase_onset (1 events)" in w for w in comparison.warnings)
    table = comparison.tables["beyond"]
    assert table["tested"].all() and (table["layer_a"] == "layer07").all()
    found = table.groupby(_class_of(table))["significant_shared_beyond_low"].sum()
    assert found["shared"] == 4 and found["shared_weak"] == 4
    # false positives: within the 99 % binomial quantile of the FDR level, class by class
    for negative in ("acoustic", "onset", "outside", "untrained", "speech", "language",
                     "both", "noise"):
        n = int((_class_of(table) == negative).sum())
        assert found[negative] <= stats.binom.ppf(0.99, n, 0.05), negative
    gains = table.groupby(_class_of(table))[["significant_gain_a", "significant_gain_b"]].mean()
    assert gains.loc["speech", "significant_gain_a"] == 1.0
    assert gains.loc["language", "significant_gain_b"] == 1.0
    # both models predict the "both" electrodes (each its own latent), which share nothing
    assert gains.loc["both"].min() == 1.0
    # sound onsets outside L: the speech model adds them, the language model does not
    assert gains.loc["outside", "significant_gain_a"] == 1.0
    assert gains.loc["outside", "significant_gain_b"] == 0.0
    # the language model gets no credit for sound or word timing; the speech model's frames
    # may refine L's smooth onset response (a small low-level gain outside L's span)
    assert gains.loc["acoustic"].max() == 0.0 and gains.loc["onset", "significant_gain_b"] == 0.0
    # the language model beyond word timing: content, not onsets
    beyond_onsets = table.groupby(_class_of(table))["b_beyond_onsets"].median()
    assert beyond_onsets["language"] > 0.1 and abs(beyond_onsets["onset"]) < 0.01


def test_untrained_twins_reproduce_none_of_the_shared_content(comparison):
    table = comparison.tables["beyond"]
    assert (table["space_a_untrained"] == "wav2vec2untrained").all()
    shared = table[_class_of(table).isin(["shared", "shared_weak"])]
    assert shared["significant_delta_shared"].all()
    assert not shared["significant_shared_beyond_low_untrained"].any()
    assert not table["reproduced_by_untrained"].any()


def test_a_broken_table_fails_the_check(comparison):
    """The checks above fail when the test's answers are swapped between classes."""
    table = comparison.tables["beyond"].copy()
    classes = _class_of(table)
    table.loc[classes == "onset", "significant_shared_beyond_low"] = True
    found = table.groupby(classes)["significant_shared_beyond_low"].sum()
    assert found["onset"] > stats.binom.ppf(0.99, 4, 0.05)


@pytest.mark.parametrize("planted_class", list(CLASS_REGIONS))
def test_partition_beyond_low_recovers_the_planted_regions(comparison, planted_class):
    table = comparison.tables["varpart"]
    assert table["partition"].iloc[0] == "shared+speech_rest+language_rest"
    # the planted words have no pauses: phrase onsets are too rare to estimate, and left out
    assert table["conditioning"].iloc[0] == ("envelope + word_onset + word_offset + "
                                             "word_duration + word_tokens")
    rows = table[_class_of(table) == planted_class]
    regions = CLASS_REGIONS[planted_class]
    if not regions:  # inside L: no region beyond L holds a share of its variance
        per_channel = rows.groupby("channel")["r2"].apply(lambda r: r.clip(lower=0).sum())
        assert (per_channel < 0.02).all()
        if planted_class != "untrained":  # the twin's random filter is not in L either
            assert (rows.groupby("channel")["r2_low"].first() > 0.3).all()
        return
    assert rows["summarized"].all()
    shares = region_shares(rows)
    assert shares.idxmax() in regions
    assert (shares[list(regions)] > 0.5 / len(regions)).all()  # "both": about half in each
    # the shared content is also in the speech rest's frames (held over each word), so the
    # regions that contain shared hold it together (the weak class: its much stronger onset
    # and envelope responses, which the speech frames refine beyond L, leave about 10 % in
    # speech_rest_only)
    mine = [name for name in shares.index
            if any(region.removesuffix("_only") in name for region in regions)]
    assert shares[mine].clip(lower=0).sum() > (0.8 if planted_class == "shared_weak" else 0.9)


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
    assert not config.significant_only


def test_trained_beyond_untrained_puts_the_twins_in_l(planted):
    from bids_app.analysis import compare_models
    from bids_app.encoding import StatisticsConfig

    inputs = ComparisonInputs(lambda space, layer: planted.designs[(space, layer)],
                              planted.spaces, {}, planted.Y, planted.segments, LAGS,
                              planted.channels, planted.words, SFREQ)
    config = ComparisonConfig(beyond_untrained=True, n_refits=4, prediction_correlation=[],
                              variance_partitioning=[])
    table = compare_models(inputs, config=config, encoding=ENCODING,
                           statistics=StatisticsConfig()).tables["beyond"]
    assert table["conditioning"].iloc[0].endswith("+ wav2vec2untrained + gpt2untrained")
    assert not any(column.endswith("_untrained") for column in table.columns)
    # the untrained filter's electrodes: the speech model adds nothing beyond its twin
    untrained = table[_class_of(table) == "untrained"]
    assert not untrained["significant_gain_a"].any()
    assert table.loc[_class_of(table) == "speech", "significant_gain_a"].mean() >= 0.5
    with pytest.raises(UsageError, match="untrained_control"):
        ComparisonConfig(beyond_untrained=True, untrained_control=False)


def test_reference_preset_reproduces_the_confound_the_defaults_remove(planted, comparison):
    """``preset: reference`` (no L, uncentred words, the onset in shared) credits word timing
    to shared information, as the study's pipeline did; the defaults give it nothing."""
    import dataclasses

    from bids_app.analysis import compare_models
    from bids_app.analysis.compare import REFERENCE_WARNING
    from bids_app.encoding import StatisticsConfig

    inputs = ComparisonInputs(lambda space, layer: planted.designs[(space, layer)],
                              planted.spaces, {}, planted.Y, planted.segments, LAGS,
                              planted.channels, planted.words, SFREQ)
    out = compare_models(inputs, config=ComparisonConfig(preset="reference", n_refits=4,
                                                         prediction_correlation=[]),
                         encoding=dataclasses.replace(ENCODING, centre_words=False),
                         statistics=StatisticsConfig(n_permutations=200))
    assert REFERENCE_WARNING in out.warnings
    varpart = out.tables["varpart"]
    assert (varpart["conditioning"] == "nothing").all()
    assert (varpart["partition"] == "shared+speech_rest+language_rest+acoustic").all()
    shares = region_shares(varpart[_class_of(varpart) == "onset"])
    assert shares[[r for r in shares.index if "shared" in r]].clip(lower=0).sum() > 0.5
    assert not any("hold on held-out words" in w for w in out.warnings)  # all components
    default = comparison.tables["varpart"]
    onset = default[_class_of(default) == "onset"]
    assert onset.loc[onset["region"].str.contains("shared"), "r2"].clip(lower=0).max() < 0.02
