"""Group statistics on small synthetic tables (bids_app.group_stats), the group figures and the
group report's behaviour when a section's inputs are missing."""

from __future__ import annotations

from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import false_discovery_control

from bids_app import group_stats as gs
from bids_app.bids.discovery import Filters
from bids_app.config import AppConfig
from bids_app.group import run_group
from bids_app.layers import layer_order
from bids_app.outputs.atomic import write_text, write_tsv
from bids_app.report.group_figures import group_cca_figure
from bids_app.steps.run import RunOptions


def _scores(subject: str, channels: list[str], layers: list[str], seed: int) -> pd.DataFrame:
    """A stacked scores table of one participant (as collect_scores builds it)."""
    rng = np.random.default_rng(seed)
    rows = [{"subject": subject, "session": None, "run": None, "channel": c, "layer": layer,
             "r": rng.uniform(-0.05, 0.5), "p": rng.uniform(0, 1), "responsive": i % 2 == 0}
            for i, c in enumerate(channels) for layer in layers]
    table = pd.DataFrame(rows)
    return table.assign(significant=table["r"] > 0.3)


def test_layer_order_and_best_layer_tie_goes_to_lower_index():
    assert layer_order(["surprisal", "layer10", "layer02", "entropy"]) == [
        "layer02", "layer10", "entropy", "surprisal"]
    profile = pd.DataFrame({"electrode_set": "significant",
                            "layer": ["layer03", "layer01", "layer02", "entropy"],
                            "mean_r": [0.2, 0.2, 0.1, 0.9]})
    assert gs.best_layer(profile) == "layer01"  # entropy is not on the layer axis
    empty = profile.assign(mean_r=np.nan)
    fallback = pd.concat([empty, profile.assign(electrode_set="all", mean_r=[0.1, 0, 0.3, 1])])
    assert gs.best_layer(fallback) == "layer02"
    assert gs.best_layer(profile[profile["layer"] == "entropy"]) is None


def test_participant_means_use_a_fixed_significant_set_along_the_layers():
    table = pd.DataFrame({"subject": "01", "session": None, "run": None,
                          "channel": ["a", "a", "b", "b", "a"],
                          "layer": ["layer00", "layer01", "layer00", "layer01", "surprisal"],
                          "r": [0.1, 0.5, 0.0, 0.1, 0.3],
                          "significant": [False, True, False, False, False],
                          "responsive": [True] * 5})
    means = gs.participant_layer_means(table, "significant").set_index("layer")
    # a is significant at layer01 only, and counts at layer00 too; not for surprisal
    assert means.loc["layer00", "mean_r"] == pytest.approx(0.1)
    assert means.loc["layer01", "n_electrodes"] == 1
    assert means.loc["surprisal", "n_electrodes"] == 0 and np.isnan(
        means.loc["surprisal", "mean_r"])
    assert gs.participant_layer_means(table, "all").set_index("layer").loc[
        "layer00", "mean_r"] == pytest.approx(0.05)


def test_bootstrap_ci_contains_the_mean_and_narrows_with_more_participants():
    rng = np.random.default_rng(1)
    population = rng.normal(0.2, 0.1, size=400)
    few, many = gs.bootstrap_ci(population[:8]), gs.bootstrap_ci(population)
    for ci in (few, many):
        assert ci.low < ci.mean < ci.high
    assert many.high - many.low < few.high - few.low
    assert gs.bootstrap_ci([0.3, np.nan]).n == 1
    assert np.isnan(gs.bootstrap_ci([0.3]).low)
    assert gs.bootstrap_ci(population[:8]) == few  # seeded


def test_sign_flip_p_is_exact_on_a_tiny_case():
    values = [0.3, 0.1, 0.05]
    result = gs.sign_flip_test(values)
    # by hand: |sum| over the 8 sign patterns is 0.45, 0.35, 0.25, 0.15 twice each
    means = [abs(np.dot(s, values)) / 3 for s in product((1, -1), repeat=3)]
    assert result.exact and result.n == 3
    assert result.p == pytest.approx(np.mean(np.array(means) >= 0.45 / 3 - 1e-12))
    assert result.p == pytest.approx(2 / 8)
    assert gs.sign_flip_test([0.1, 0.2]).p == pytest.approx(0.5)  # smallest p with 2
    large = gs.sign_flip_test(np.full(20, 0.1), n_resamples=2000)
    assert not large.exact and large.p == pytest.approx(1 / 2001)


def test_electrode_differences_group_fdr_equals_a_direct_computation():
    speech = pd.concat([_scores(s, list("abcdefgh"), ["layer00", "layer01"], i)
                        for i, s in enumerate(["01", "02", "03"])], ignore_index=True)
    language = pd.concat([_scores(s, list("abcdefgh"), ["layer00", "layer01"], 10 + i)
                          for i, s in enumerate(["01", "02", "03"])], ignore_index=True)
    table = gs.electrode_differences(speech, language, "layer01", "layer00", fdr_alpha=0.05)
    assert len(table) == 24
    expected = speech[speech["layer"] == "layer01"]["p"].to_numpy()
    np.testing.assert_allclose(table["p_speech"], expected)
    np.testing.assert_allclose(table["p_fdr_speech"], false_discovery_control(expected))
    np.testing.assert_allclose(table["p_fdr_language"],
                               false_discovery_control(table["p_language"].to_numpy()))
    np.testing.assert_allclose(table["delta_r"], table["r_speech"] - table["r_language"])
    hits = table["p_fdr_speech"] <= 0.05
    assert ((table["preference"].isin(["speech", "both"])) == hits).all()
    tests = gs.speech_language_tests(table, n_resamples=500).set_index("electrode_set")
    assert tests.loc["all", "n_participants"] == 3
    assert tests.loc["all", "signflip_exact"]
    assert np.isfinite(tests.loc["all", "lmm_delta_z"])  # statsmodels fitted


def test_mixed_model_is_not_fitted_with_one_participant():
    table = pd.DataFrame({"subject": "01", "delta_z": [0.1, 0.2, 0.3]})
    result = gs.mixed_model_test(table)
    assert np.isnan(result.p) and "2 or more participants" in result.note


def test_a_mixed_model_with_a_singular_hessian_is_not_reported():
    """Two participants alike: the participant variance sits on its boundary, the Hessian is
    not positive definite and the standard error (0.0099 where the electrodes' spread alone
    gives 0.019) would make a false test."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"subject": np.repeat(["01", "02"], [20, 8]),
                          "delta_z": rng.normal(0.5, 0.1, 28)})
    result = gs.mixed_model_test(table)
    assert np.isnan(result.estimate) and np.isnan(result.p) and not result.converged
    assert "not usable" in result.note and "positive definite" in result.note


def test_electrode_union_is_exact():
    channels = pd.concat([
        _scores("01", ["a", "b"], ["layer00"], 0), _scores("01", ["b", "c"], ["x"], 1),
        _scores("02", ["a", "z"], ["layer00"], 2), _scores("03", ["q"], ["layer00"], 3)])
    electrodes = {
        "01": (pd.DataFrame({"name": ["a", "b", "c", "unused"], "x": [1.0, 2, 3, 4],
                             "y": 0.0, "z": 0.0, "Anat": ["STG", "STG", "MTG", "IFG"]}),
               "MNI152NLin2009aSym"),
        "02": (pd.DataFrame({"name": ["a"], "x": [9.0], "y": 0.0, "z": 0.0}), "MNI305"),
    }
    union = gs.electrode_union(channels, electrodes)
    assert set(zip(union["subject"], union["name"], strict=True)) == {
        ("01", "a"), ("01", "b"), ("01", "c"), ("02", "a"), ("02", "z"), ("03", "q")}
    assert len(union) == 6
    indexed = union.set_index(["subject", "name"])
    assert indexed.loc[("01", "c"), "x"] == 3 and indexed.loc[("01", "c"), "label"] == "MTG"
    assert indexed.loc[("02", "a"), "x"] == 9 and pd.isna(indexed.loc[("02", "z"), "x"])
    assert pd.isna(indexed.loc[("03", "q"), "space"])


def test_share_summary_averages_participants():
    rows = []
    for subject, share in (("01", 0.8), ("02", 0.6)):
        for region, r2 in (("a_only", share), ("b_only", 1 - share)):
            rows.append({"subject": subject, "channel": "e1", "partition": "a+b",
                         "region": region, "r2": r2, "summarized": True})
    shares = gs.participant_shares(pd.DataFrame(rows))
    summary = gs.share_summary(shares, n_resamples=200).set_index("region")
    assert summary.loc["a_only", "mean_share"] == pytest.approx(0.7)
    assert summary.loc["a_only", "ci_low"] <= 0.7 <= summary.loc["a_only", "ci_high"]


def _cca(subject: str, shift: float) -> pd.DataFrame:
    return pd.DataFrame({"subject": subject, "component": [1, 2, 3],
                         "r_test": np.array([0.5, 0.3, 0.1]) + shift,
                         "r_train": np.array([0.7, 0.5, 0.3]) + shift,
                         "significant": [True, True, False]})


def _held_out_lines(fig) -> list:
    return [line for line in fig.axes[0].get_lines() if "held-out" in line.get_label()]


def test_group_cca_figure_draws_one_line_when_identical_one_per_participant_otherwise():
    same = group_cca_figure(pd.concat([_cca("sub-01", 0), _cca("sub-02", 0)]))
    lines = _held_out_lines(same)
    assert len(lines) == 1
    np.testing.assert_array_equal(lines[0].get_xdata(), [1, 2, 3])  # no wrap-around
    differ = group_cca_figure(pd.concat([_cca("sub-01", 0), _cca("sub-02", 0.1),
                                         _cca("sub-03", 0)]))
    lines = _held_out_lines(differ)
    assert len(lines) == 2  # sub-01 and sub-03 share a curve
    assert all(list(line.get_xdata()) == [1, 2, 3] for line in lines)


def _participant(output_dir: Path, subject: str, seed: int) -> None:
    ieeg = output_dir / f"sub-{subject}" / "ieeg"
    for space, layers in (("wav2vec2", ["layer00", "layer01"]),
                          ("gpt2", ["layer00", "layer01", "surprisal"])):
        table = _scores(subject, ["e1", "e2", "e3", "e4"], layers, seed + len(space))
        write_tsv(ieeg / f"sub-{subject}_task-listen_desc-{space}_scores.tsv",
                  table.drop(columns=["subject", "session", "run"]))
    write_tsv(ieeg / f"sub-{subject}_space-MNI152NLin2009aSym_electrodes.tsv",
              pd.DataFrame({"name": ["e1", "e2", "e3", "e4"], "x": [-50.0, -52, -54, -56],
                            "y": -20.0, "z": 5.0}))


def test_group_report_builds_without_comparison_tables_and_says_what_is_missing(tmp_path):
    output_dir, bids_dir = tmp_path / "out", tmp_path / "bids"
    for subject in ("01", "02", "03"):
        (bids_dir / f"sub-{subject}").mkdir(parents=True)
    _participant(output_dir, "01", 0)
    _participant(output_dir, "02", 5)
    write_text(output_dir / "logs" / "crash-sub-03-20260101-000000.txt",
               "ssl-ieeg 0\nTraceback (most recent call last):\n  ...\n"
               "bids_app.errors.MissingInputError: no events.tsv for sub-03\n")
    report = run_group(RunOptions(bids_dir, output_dir), AppConfig(),
                       Filters())
    html = report.read_text()
    assert "No variance-partitioning tables" in html
    assert "No prediction-correlation or CCA tables" in html
    assert "MissingInputError: no events.tsv for sub-03" in html
    assert "Group methods" in html and "untrained twin" in html  # AppConfig(): twins on
    assert "No untrained twins among the participants" in html  # ... but none were analysed
    methods = (output_dir / "logs" / "CITATION-group.md").read_text()
    assert "cannot reach 0.05 below 6 participants" in methods
    assert "No participant&#39;s electrodes.tsv has an anatomical-label column" in html
    group = output_dir / "group"
    assert (group / "task-listen_desc-wav2vec2Xgpt2_difftest.tsv").is_file()
    assert (group / "desc-union_electrodes.json").is_file()
    profile = pd.read_csv(group / "task-listen_desc-gpt2_layerprofile.tsv", sep="\t")
    best = profile.loc[profile["best"], "layer"].unique()
    diffs = pd.read_csv(group / "task-listen_desc-wav2vec2Xgpt2_electrodediff.tsv", sep="\t")
    assert list(best) == list(diffs["layer_language"].unique())  # one rule everywhere
    assert "surprisal" not in best


def test_word_mode_takes_each_electrodes_best_lag():
    table = pd.DataFrame({"subject": "01", "session": None, "run": None, "channel": "a",
                          "layer": "layer00", "lag": [0.0, 0.1, 0.2], "r": [0.1, 0.4, 0.2],
                          "p": 0.01, "significant": [False, True, False]})
    rows = gs.one_row_per_electrode(table)
    assert len(rows) == 1 and rows["lag"].iloc[0] == 0.1 and rows["session"].iloc[0] == ""


def test_a_participant_without_responsiveness_has_no_responsive_electrode():
    """Stacked with one that has the column, its NaN must not count as responsive."""
    with_column = _scores("01", ["A", "B"], ["layer00"], 0)
    without = _scores("02", ["A", "B"], ["layer00"], 1).drop(columns="responsive")
    counts = gs.electrode_counts(pd.concat([with_column, without], ignore_index=True), "w2v")
    assert counts.set_index("subject")["n_responsive"].to_dict() == {"01": 1, "02": 0}


def test_recordings_that_differ_by_acq_stay_apart():
    one = _scores("01", ["A", "B"], ["layer00"], 0).assign(acq="clinical")
    other = _scores("01", ["A", "B"], ["layer00"], 1).assign(acq="research")
    table = pd.concat([one, other], ignore_index=True)
    diff = gs.electrode_differences(table, table, "layer00", "layer00", 0.05)
    assert len(diff) == 4 and set(diff["acq"]) == {"clinical", "research"}


def test_mixed_model_leaves_out_undefined_differences():
    rng = np.random.default_rng(3)
    table = pd.DataFrame({"subject": np.repeat(["01", "02", "03"], 10),
                          "delta_z": rng.normal(0.2, 0.1, 30)})
    table.loc[[0, 11], "delta_z"] = np.nan
    result = gs.mixed_model_test(table)
    assert np.isfinite(result.estimate)


def test_trained_vs_untrained_is_paired_per_electrode_and_tested_at_the_electrode_level():
    """Three participants: the sign flip cannot reach 0.05 (2/2**3), the paired LMM (t) can."""
    channels = [f"E{i:02d}" for i in range(30)]
    twin = pd.concat([_scores(s, channels, ["layer00", "layer01"], seed)
                      for seed, s in enumerate(("01", "02", "03"))])
    rng = np.random.default_rng(0)
    trained = twin.assign(r=twin["r"] + 0.08 + 0.02 * rng.standard_normal(len(twin)))
    table = gs.electrode_differences(trained, twin, "layer01", "layer01", 0.05,
                                     ("trained", "untrained"))
    assert {"r_trained", "r_untrained", "layer_trained", "p_fdr_untrained"} <= set(table)
    assert set(table["preference"]) <= {"trained", "untrained", "both", "neither"}
    merged = table.merge(twin[twin["layer"] == "layer01"], on=["subject", "channel"])
    np.testing.assert_allclose(merged["r_untrained"], merged["r"])  # paired on the electrode
    tests = gs.speech_language_tests(table, n_resamples=500).set_index("electrode_set")
    assert tests.loc["all", "signflip_p"] >= 0.25 and tests.loc["all", "signflip_exact"]
    assert tests.loc["all", "lmm_p"] < 0.01 and tests.loc["all", "lmm_delta_z"] > 0
    assert set(table.columns) <= set(gs.COLUMNS)
    null = gs.electrode_differences(twin, twin, "layer00", "layer00", 0.05,
                                    ("trained", "untrained"))
    assert (null["delta_r"] == 0).all()


def test_mixed_model_is_calibrated_when_participants_differ():
    """Null Δz with participant effects: the Wald z rejected 15 % with 5 participants."""
    rng = np.random.default_rng(1)
    p = []
    for _ in range(200):
        rows = [{"subject": s, "channel": f"E{c}", "delta_z": u + rng.normal(0, 0.1)}
                for s, u in enumerate(rng.normal(0, 0.05, 5)) for c in range(20)]
        p.append(gs.mixed_model_test(pd.DataFrame(rows)).p)
    assert np.mean(np.array(p) <= 0.05) <= 0.09  # 99 % binomial bound of 5 % over 200
