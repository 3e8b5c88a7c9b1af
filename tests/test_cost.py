"""The cost estimate: known before the work, and a run that cannot fit is refused (exit 64)."""

from __future__ import annotations

import dataclasses

import pytest

from bids_app.cli import main
from bids_app.config import AppConfig
from bids_app.cost import BASE_BYTES, check_memory, estimate_cost, parse_memory
from bids_app.encoding import EncodingConfig, StatisticsConfig
from bids_app.errors import UsageError


def test_default_design_fits_a_podcast_participant_and_the_unreduced_one_does_not(
        podcast_sized):
    recording, stimuli, config, paths = podcast_sized
    default = estimate_cost(recording, stimuli, config, paths)
    assert [s.name for s in default.stages] == ["high-gamma", "encoding", "comparisons"]
    assert default.peak_bytes < 6e9
    assert "450 x 450" in default.stages[1].largest  # 50 components x 9 lag bumps
    unreduced = dataclasses.replace(config, encoding=EncodingConfig(layer_pca=None,
                                                                    lag_basis=None))
    old = estimate_cost(recording, stimuli, unreduced, paths)
    assert old.peak_bytes > 24e9  # 31,488 lagged columns of a 768-dim layer
    assert old.seconds > 10 * default.seconds
    with pytest.raises(UsageError, match=r"needs about .* more than --mem") as err:
        check_memory(old, parse_memory("24GB"), "sub-03")
    assert "encoding.layer_pca" in str(err.value) and "encoding" in str(err.value)
    check_memory(default, parse_memory("8GB"), "sub-03")


def test_a_word_level_layer_fits_its_pca_on_its_words(podcast_sized):
    """GPT-2's layers (word-level) cost less than wav2vec2's of the same width and depth:
    their PCA sees one row per word, not every sample."""
    recording, stimuli, config, paths = podcast_sized
    spec = {s.name: s for s in config.features}

    def encoding(name: str) -> float:
        alone = dataclasses.replace(config, features=[spec[name], spec["envelope"]])
        return estimate_cost(recording, stimuli, alone, paths).stages[1].seconds

    assert encoding("gpt2") < 0.95 * encoding("wav2vec2")


def test_high_gamma_blocks_are_sized_to_mem(podcast_sized):
    recording, stimuli, config, paths = podcast_sized
    roomy = estimate_cost(recording, stimuli, config, paths, mem_bytes=parse_memory("16G"))
    assert roomy.highgamma_block == config.preprocessing.block_size == 16
    tight = estimate_cost(recording, stimuli, config, paths, mem_bytes=parse_memory("1.5G"))
    assert 1 <= tight.highgamma_block < 16
    assert tight.stages[0].peak_bytes < roomy.stages[0].peak_bytes
    assert BASE_BYTES + tight.stages[0].peak_bytes <= 1.5e9  # the step now fits
    assert f"blocks of {tight.highgamma_block} channels" in tight.stages[0].largest


def test_refit_null_is_priced_by_its_batches(podcast_sized):
    recording, stimuli, config, paths = podcast_sized
    shift = estimate_cost(recording, stimuli, config, paths).stages[1]
    refit = dataclasses.replace(config, statistics=StatisticsConfig(method="refit"))
    priced = estimate_cost(recording, stimuli, refit, paths).stages[1]
    # 100 refits of 235 channels, 2 shifted copies (470 columns) per batch: 50 batches, each
    # at least as costly as the layer's fit without its permutations
    assert priced.seconds > 40 * shift.seconds
    fewer = dataclasses.replace(config, statistics=StatisticsConfig(method="refit", n_refits=10))
    assert estimate_cost(recording, stimuli, fewer, paths).stages[1].seconds < priced.seconds / 4


def test_comparisons_are_priced_by_the_tested_electrodes_and_the_refits(podcast_sized):
    recording, stimuli, config, paths = podcast_sized
    config = AppConfig(features=[dataclasses.replace(spec, weights="pretrained")
                                 for spec in config.features])  # which adds the twins
    paths = {**paths, "wav2vec2untrained": paths["wav2vec2"], "gpt2untrained": paths["gpt2"]}
    estimate = estimate_cost(recording, stimuli, config, paths)
    assert "wav2vec2untrained" in [spec.name for spec in config.features]
    comparisons = estimate.stages[-1]
    assert "beyond" in comparisons.largest and "varpart" in comparisons.largest
    assert "70 tested electrodes" in comparisons.largest  # 30 % of 235 before it is known
    few, many = (estimate.given_tested(n).stages[-1] for n in (10, 200))
    assert few.seconds < comparisons.seconds < many.seconds
    assert "200 tested electrodes" in many.largest
    assert estimate.given_tested(200).stages[:-1] == estimate.stages[:-1]
    more = dataclasses.replace(config, comparison=dataclasses.replace(config.comparison,
                                                                      n_refits=100))
    assert (estimate_cost(recording, stimuli, more, paths).stages[-1].seconds
            > 2 * comparisons.seconds)
    no_twins = AppConfig(features=config.features[:5],
                         comparison=dataclasses.replace(config.comparison,
                                                        untrained_control=False))
    alone = estimate_cost(recording, stimuli, no_twins, paths).stages[-1]
    assert alone.seconds < comparisons.seconds


def test_the_partition_is_repriced_by_the_shared_components_kept(podcast_sized):
    """Priced at comparison.n_components until the shared space is fitted; with none kept,
    its models with the shared set are not fitted at all."""
    recording, stimuli, config, paths = podcast_sized
    estimate = estimate_cost(recording, stimuli, config, paths).given_tested(30)
    most, some, none = (estimate.given_tested(30, k).stages[-1]
                        for k in (config.comparison.n_components, 5, 0))
    assert estimate.n_tested == 30 and most == estimate.stages[-1]
    assert none.seconds < some.seconds < most.seconds
    assert estimate.given_tested(30, 0).stages[:-1] == estimate.stages[:-1]


def test_the_cca_and_the_prediction_correlations_are_priced(podcast_sized):
    """The CCA's PCAs (of the frames in one pass, of the words once per outer fold with
    cca_fit in_fold) and each prediction-correlation pair (reading its spaces' layers;
    refits with predcorr_null) have their own price."""
    recording, stimuli, config, paths = podcast_sized

    def detail(**options) -> dict[str, float]:
        comparison = dataclasses.replace(config.comparison, **options)
        stage = estimate_cost(recording, stimuli, dataclasses.replace(
            config, comparison=comparison), paths).stages[-1]
        return {part.split(" ~")[0]: part for part in stage.largest.split("; ")[0].split(", ")}

    default = detail()
    assert "cca" in default and "predcorr" in default
    seconds = [_seconds(detail(**options)[name]) for name, options in (
        ("cca", {}), ("cca", {"cca_fit": "all_data"}), ("cca", {"cca_level": "word"}),
        ("predcorr", {}), ("predcorr", {"predcorr_null": True}),
        ("predcorr", {"prediction_correlation": []}))]
    cca, all_data, words, predcorr, refits, none = seconds
    assert all_data < cca / 2 and words < cca  # 1 fit of 6; words, not 100 Hz frames
    assert refits > predcorr > none == 0


def _seconds(part: str) -> float:
    """Seconds of a priced part, ``"name ~1 min 05 s"``."""
    import re

    return sum(float(v) * {"h": 3600, "min": 60, "s": 1}[u]
               for v, u in re.findall(r"([\d.]+) (h|min|s)", part))


@pytest.mark.parametrize("options", [{"variance_partitioning": []}, {"conditioning": []},
                                     {"preset": "reference"}, {"cca_speech": "mel"}])
def test_every_comparison_setting_is_priced(podcast_sized, options):
    recording, stimuli, config, paths = podcast_sized
    comparison = dataclasses.replace(config.comparison, **options)
    stage = estimate_cost(recording, stimuli, dataclasses.replace(config, comparison=comparison),
                          paths).stages[-1]
    assert stage.name == "comparisons" and stage.seconds >= 0 and stage.peak_bytes >= 0


def test_memory_sizes_parse():
    assert parse_memory("16GB") == 16e9
    assert parse_memory("16G") == parse_memory("16000M") == 16e9  # SLURM's spellings
    assert parse_memory("1500MB") == 1.5e9
    assert parse_memory("8GiB") == 8 * 2**30
    for bad in ("not-a-size", "-3GB", "12XB", ""):
        with pytest.raises(UsageError, match="--mem"):
            parse_memory(bad)


def test_run_that_cannot_fit_is_refused_before_any_work(synthetic, demo_config, tmp_path,
                                                        capsys):
    out = tmp_path / "out"
    code = main([str(synthetic.root), str(out), "participant", "--participant-label", "01",
                 "--config", str(demo_config), "--skip-bids-validation", "--mem", "200MB"])
    assert code == 64
    err = capsys.readouterr().err
    assert "more than --mem 0.2 GB" in err and "encoding" in err and "peak" in err
    assert not (out / "sub-01").exists() and not (out / "stages").exists()
    assert not (out / "stimuli").exists()  # not even the features were extracted


def test_bad_mem_value_is_a_usage_error(synthetic, tmp_path):
    assert main([str(synthetic.root), str(tmp_path / "out"), "participant",
                 "--mem", "not-a-size"]) == 64


def test_high_gamma_does_not_depend_on_the_block_size(synthetic):
    """Why --mem may choose the blocks: the result, and so its stage key, stays the same."""
    from bids_app.bids.discovery import Filters, find_recordings, open_layout
    from bids_app.neural import preprocess

    config = AppConfig()
    recording = find_recordings(open_layout(synthetic.root), Filters(), config.bids)[0]
    default = preprocess(recording, config.preprocessing)
    small = preprocess(recording, dataclasses.replace(config.preprocessing, block_size=3))
    assert small.data.tobytes() == default.data.tobytes()

