"""Feature spaces read from files (``file:`` of a feature space), on ds005574's real row tables.

The Podcast dataset ships, per model, a ``transcript.tsv`` (words, or GPT-2 tokens with their
``word_idx``) beside the vectors. These tests build vectors on those real tables (skipped,
named, where ``../shared/data`` is missing) and read them the way a user's files are read.
"""

from __future__ import annotations

import json
import logging
import re

import h5py
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from bids_app.config import with_untrained_twins
from bids_app.errors import BadDataError, MissingInputError, UsageError
from bids_app.features import FeatureSpec, load_or_compute_features
from bids_app.features.precomputed import read_layers, word_vectors
from bids_app.stimuli import Stimulus
from bids_app.stimuli.alignments import read_words


@pytest.fixture
def podcast_tables(shared_data):
    stimuli = shared_data / "ds005574" / "stimuli"
    return {name: stimuli / name / "transcript.tsv" for name in ("gpt2-xl", "whisper-medium")}


def _token_file(tmp_path, table: pd.DataFrame, names=("layer-10", "layer-2", "layer-1")):
    """An HDF5 file whose token rows encode (layer, word_idx, token position)."""
    path = tmp_path / "gpt2-xl" / "features.hdf5"
    path.parent.mkdir(exist_ok=True)
    position = table.groupby("word_idx").cumcount().to_numpy()
    with h5py.File(path, "w") as fh:
        for name in names:
            layer = int(name.split("-")[1])
            fh[name] = np.c_[np.full(len(table), layer), table["word_idx"], position].astype(
                np.float32)
    table.to_csv(path.with_name("transcript.tsv"), sep="\t")
    return path


def test_token_rows_are_pooled_per_word_and_matched_to_the_transcript(podcast_tables, tmp_path,
                                                                     caplog):
    tokens = pd.read_csv(podcast_tables["gpt2-xl"], sep="\t", index_col=0)
    words = read_words(podcast_tables["whisper-medium"])  # another folder's word list
    path = _token_file(tmp_path, tokens)
    layers = read_layers(path)
    assert list(layers) == ["layer01", "layer02", "layer10"]  # natural order
    with caplog.at_level(logging.WARNING, logger="ssl_ieeg"):
        out = word_vectors(layers, path.with_name("transcript.tsv"), path, words, 1800.0,
                           scalars=["surprisal", "entropy"], count_tokens=True)
    assert {name: values.shape for name, values in out.items()} == {
        "layer01": (len(words.words), 3), "layer02": (len(words.words), 3),
        "layer10": (len(words.words), 3), "surprisal": (len(words.words), 1),
        "entropy": (len(words.words), 1), "tokens": (len(words.words), 1)}
    # a word's vector is the mean of its tokens': its word_idx, the mean token position
    counts = tokens.groupby("word_idx").size()
    first = tokens.groupby("word_idx")["word"].first()
    matched = [i for i, w in enumerate(words.words) if out["layer10"][i, 0] == 10
               and first.get(int(out["layer10"][i, 1])) == w]
    assert len(matched) > 0.99 * len(words.words)
    for i in matched[:200]:
        idx = int(out["layer02"][i, 1])
        assert out["tokens"][i, 0] == counts[idx]
        assert out["layer02"][i, 2] == pytest.approx((counts[idx] - 1) / 2)
        p = tokens.loc[tokens["word_idx"] == idx, "true_prob"]
        assert out["surprisal"][i, 0] == pytest.approx(-np.log(p).sum(), rel=1e-5)
    if len(first) != len(words.words):  # counts differ: aligned by text, the rest reported
        assert "words have no row" in caplog.text or "differ in text" in caplog.text


def test_word_rows_first_and_last_pooling(podcast_tables, tmp_path):
    tokens = pd.read_csv(podcast_tables["gpt2-xl"], sep="\t", index_col=0)
    words = read_words(podcast_tables["gpt2-xl"])  # one word per word_idx
    path = _token_file(tmp_path, tokens, names=("layer-0",))
    rows = path.with_name("transcript.tsv")
    layers = read_layers(path)
    first = word_vectors(layers, rows, path, words, 1800.0, pooling="first")["layer00"]
    last = word_vectors(layers, rows, path, words, 1800.0, pooling="last")["layer00"]
    counts = tokens.groupby("word_idx").size().to_numpy()
    assert (first[:, 2] == 0).all() and (last[:, 2] == counts - 1).all()


def test_bad_files_are_named_with_what_to_fix(podcast_tables, tmp_path):
    tokens = pd.read_csv(podcast_tables["gpt2-xl"], sep="\t", index_col=0)
    words = read_words(podcast_tables["gpt2-xl"])
    path = _token_file(tmp_path, tokens, names=("layer-1",))
    rows = path.with_name("transcript.tsv")
    with pytest.raises(BadDataError, match=r"no layer \['layer07'\].*layer01"):
        read_layers(path, [7])
    tokens.iloc[:-1].to_csv(rows, sep="\t")  # one row short
    with pytest.raises(BadDataError, match=r"has 5491 rows but its row table .* has 5490"):
        word_vectors(read_layers(path), rows, path, words, 1800.0)
    tokens.to_csv(rows, sep="\t")
    with pytest.raises(BadDataError, match=r"outside the 600.0-s stimulus"):
        word_vectors(read_layers(path), rows, path, words, 600.0)
    story = read_words(podcast_tables["gpt2-xl"])
    shuffled = type(story)(tuple(np.random.default_rng(0).permutation(story.words)),
                           story.onsets, story.offsets)
    with pytest.raises(BadDataError, match=r"of this stimulus"):
        word_vectors(read_layers(path), rows, path, shuffled, 1800.0)
    with h5py.File(path, "a") as fh:
        fh["layer-1"][3, 0] = np.nan
    with pytest.raises(BadDataError, match=r"layer01 has 1 row\(s\) with NaN.*first: row 3"):
        read_layers(path)
    path.write_bytes(b"not an HDF5 file")
    with pytest.raises(BadDataError, match=r"cannot read the feature file"):
        read_layers(path)
    with pytest.raises(MissingInputError, match=r"feature file not found"):
        read_layers(tmp_path / "missing.h5")


def _stimulus(tmp_path, seconds=20.0):
    audio = tmp_path / "story.wav"
    sf.write(audio, np.zeros(int(seconds * 16000), dtype=np.float32), 16000)
    onsets = np.arange(0.5, seconds - 1, 0.5)
    pd.DataFrame({"word": [f"w{i}" for i in range(len(onsets))], "start": onsets,
                  "end": onsets + 0.3}).to_csv(tmp_path / "story.tsv", sep="\t", index=False)
    return Stimulus("story", audio, tmp_path / "story.tsv", 0.0, seconds), len(onsets)


def test_spaces_from_files_go_through_the_features_stage(tmp_path):
    """Word level (a .npz with its row table) and frame level (a .npy with a rate sidecar),
    cached with the file's hash like computed spaces."""
    stimulus, n_words = _stimulus(tmp_path)
    rows = pd.read_csv(tmp_path / "story.tsv", sep="\t")
    words_file = tmp_path / "lm" / "stim-story.npz"
    words_file.parent.mkdir()
    np.savez(words_file, **{"layer_3": np.ones((n_words, 4)), "layer_12": np.zeros((n_words, 4))})
    rows.to_csv(words_file.with_name("rows.tsv"), sep="\t", index=False)
    spec = FeatureSpec("lm", "language", file={"path": str(tmp_path / "lm" / "stim-{stim}.npz"),
                                               "rows": str(words_file.with_name("rows.tsv"))})
    features = load_or_compute_features(spec, stimulus, tmp_path / "cache")
    assert features.is_word_level and features.layer_names == ["layer03", "layer12"]
    np.testing.assert_allclose(features.times, rows["start"])
    frames_file = tmp_path / "speech.npy"
    np.save(frames_file, np.arange(40 * 3, dtype=np.float32).reshape(40, 3))
    frames_file.with_suffix(".json").write_text(json.dumps({"SamplingFrequency": 2.0,
                                                            "StartTime": 0.25}))
    spec = FeatureSpec("sp", "speech", file={"path": str(frames_file)})
    features = load_or_compute_features(spec, stimulus, tmp_path / "cache")
    assert not features.is_word_level and features.layer_names == ["vectors"]
    np.testing.assert_allclose(features.times[:3], [0.25, 0.75, 1.25])
    assert features.meta["InputHashes"]["file"]
    np.save(frames_file, np.ones((40, 3), dtype=np.float32))  # a new file is a new key
    again = load_or_compute_features(spec, stimulus, tmp_path / "cache")
    assert np.asarray(again.layers["vectors"]).max() == 1.0


def test_file_spaces_are_validated_and_get_no_untrained_twin():
    spec = FeatureSpec("gpt2xl", "language", file={"path": "/data/{stim}.h5",
                                                   "scalars": ["entropy"]})
    assert spec.model is None and with_untrained_twins([spec]) == [spec]
    with pytest.raises(UsageError, match=r"file needs a path"):
        FeatureSpec("x", "language", file={"rows": "a.tsv"})
    with pytest.raises(UsageError, match=r"pooling must be one of"):
        FeatureSpec("x", "language", file={"path": "a.h5", "pooling": "max"})


def test_a_language_model_read_from_files_scores_as_when_computed(synthetic, demo_config,
                                                                  tmp_path):
    """Through the CLI: the demo's GPT-2 vectors, exported per stimulus with their word rows
    and read back as ``gpt2file``, give the computed space's encoding r at every layer."""
    from bids_app.cli import main
    from bids_app.features.cache import read_feature_file

    raw = yaml.safe_load(demo_config.read_text())
    gpt2 = next(space for space in raw["features"] if space["name"] == "gpt2")
    raw["features"] = [gpt2]
    raw["comparison"] = {"prediction_correlation": [], "variance_partitioning": [],
                         "untrained_control": False}
    out, config = tmp_path / "out", tmp_path / "config.yaml"

    def run() -> int:
        config.write_text(yaml.safe_dump(raw))
        return main([str(synthetic.root), str(out), "participant", "--participant-label", "01",
                     "--config", str(config), "--skip-bids-validation"])

    assert run() == 0
    for cached in out.glob("stimuli/stim-*/*_desc-gpt2_features.h5"):
        stim = cached.name.split("_")[0].removeprefix("stim-")
        features = read_feature_file(cached)
        np.savez(tmp_path / f"{stim}.npz", **{name: np.asarray(values) for name, values
                                             in features.layers.items()
                                             if name.startswith("layer")})
        words = read_words(synthetic.root / "stimuli" / f"{stim}.tsv")
        pd.DataFrame({"word": words.words, "start": features.times}).to_csv(
            tmp_path / f"{stim}_rows.tsv", sep="\t", index=False)
    raw["features"].append({"name": "gpt2file", "kind": "language", "file": {
        "path": str(tmp_path / "{stim}.npz"), "rows": str(tmp_path / "{stim}_rows.tsv")}})
    assert run() == 0
    computed, read = (pd.read_csv(next(out.glob(f"sub-01/**/*desc-{name}_scores.tsv")),
                                  sep="\t").set_index(["channel", "layer"])
                      for name in ("gpt2", "gpt2file"))
    assert len(read) and set(read.index) <= set(computed.index)
    np.testing.assert_allclose(read["r"], computed.loc[read.index, "r"], atol=1e-5)


def test_word_rows_out_of_word_idx_order_are_words(podcast_tables, tmp_path):
    """whisper-medium's real table lists word 115 before 114 (by time): unique word_idx
    values are one word each, in row order; a word whose tokens are split is an error."""
    table = pd.read_csv(podcast_tables["whisper-medium"], sep="\t", index_col=0)
    words = read_words(podcast_tables["whisper-medium"])
    path = tmp_path / "features.npy"
    np.save(path, np.arange(len(table), dtype=np.float32)[:, None])
    rows = tmp_path / "transcript.tsv"
    table.to_csv(rows, sep="\t")
    out = word_vectors(read_layers(path), rows, path, words, 1800.0)["vectors"]
    np.testing.assert_array_equal(out[:, 0], np.arange(len(table)))
    table.loc[table.index[2], "word_idx"] = table["word_idx"].iloc[0]  # split "word" 0
    table.to_csv(rows, sep="\t")
    with pytest.raises(BadDataError, match=r"rows of one word_idx must be consecutive"):
        word_vectors(read_layers(path), rows, path, words, 1800.0)


def test_file_layouts_and_their_faults(tmp_path):
    """A TSV needs a header and keeps only feature columns; two arrays of one layer name,
    frame rows that do not cover the stimulus and scalars of frame rows are refused."""
    from bids_app.features.precomputed import frame_times

    table = tmp_path / "features.tsv"
    pd.DataFrame({"word_idx": [0, 1], "start": [0.1, 0.5], "f1": [1.0, 2.0],
                  "f2": [3.0, 4.0]}).to_csv(table, sep="\t")
    np.testing.assert_array_equal(read_layers(table)["vectors"], [[1, 3], [2, 4]])
    table.write_text("1.0\t2.0\n3.0\t4.0\n")
    with pytest.raises(BadDataError, match=r"needs a header row"):
        read_layers(table)
    with h5py.File(tmp_path / "twice.h5", "w") as fh:
        fh["a/layer-3"] = np.ones((2, 2))
        fh["b/layer_3"] = np.zeros((2, 2))
    with pytest.raises(BadDataError, match=r"are both layer 'layer03'"):
        read_layers(tmp_path / "twice.h5")
    sidecar = tmp_path / "frames.json"
    sidecar.write_text(json.dumps({"SamplingFrequency": 50.0}))
    assert len(frame_times(sidecar, 500, 10.0)[0]) == 500
    with pytest.raises(BadDataError, match=r"not the 20.00-s stimulus; check SamplingFreq"):
        frame_times(sidecar, 500, 20.0)  # 10 s of rows: a wrong rate or a cropped file
    stimulus, _ = _stimulus(tmp_path)
    folder = tmp_path / "stim-story"  # {stim} in a folder name
    folder.mkdir()
    np.save(folder / "f.npy", np.ones((40, 2), dtype=np.float32))
    (folder / "f.json").write_text(json.dumps({"SamplingFrequency": 2.0}))
    spec = FeatureSpec("sp", "speech", file={"path": str(tmp_path / "stim-{stim}" / "f.npy"),
                                             "scalars": ["entropy"]})
    assert spec.file.frame_level()
    with pytest.raises(UsageError, match=r"file.scalars: .* frame-level"):
        load_or_compute_features(spec, stimulus, tmp_path / "cache")



@pytest.fixture(scope="module")
def planted_files(tmp_path_factory):
    """One 180-s story (as in ds005574) with electrodes driven by planted file content."""
    from functools import partial

    from bids_app.synthetic import make_synthetic_dataset
    from bids_app.synthetic.files import file_drives

    root = tmp_path_factory.mktemp("planted_files")
    files = root / "files"
    dataset = make_synthetic_dataset(root / "bids", n_subjects=1, n_stimuli=1,
                                     stim_duration=180.0, n_channels=32,
                                     drives=partial(file_drives, out_dir=files))
    return dataset, files


#: Each defence alone: word timing out of L (the centring must keep the onset class out),
#: and uncentred word vectors (L's word onsets must).
DEFENCES = {"default": {}, "L without word timing": {"comparison": {"conditioning": ["envelope"]}},
            "uncentred word vectors": {"encoding": {"centre_words": False}}}


@pytest.mark.parametrize("defence", sorted(DEFENCES))
def test_planted_truth_through_the_cli_with_files(planted_files, defence, tmp_path, capsys):
    """The comparisons end to end on ``file:`` spaces whose content is planted
    (:mod:`bids_app.synthetic.files`): electrodes driven by content both files carry are
    called shared beyond L; those driven by one file's own content, by word timing or by the
    envelope (both files carry some of each) are not. Against word timing, either defence
    alone suffices. (Without word timing in L, word durations leave it too, and speech- or
    language-only electrodes can be called shared through them: the default L is needed.)
    ``lag_step`` spans two samples: the lag basis must still see every delay of L's word-onset
    impulses (filtered on the lag grid only, the speech file "added" to L at 4 of 4 onset
    electrodes and a language electrode was called shared)."""
    from bids_app.cli import main

    dataset, files = planted_files
    config = {
        "features": [
            {"name": "envelope", "kind": "envelope"},
            {"name": "speechfile", "kind": "speech",
             "file": {"path": str(files / "{stim}_speech.npy")}},
            {"name": "langfile", "kind": "language",
             "file": {"path": str(files / "{stim}_language.npz"),
                      "rows": str(files / "{stim}_rows.tsv")}},
        ],
        "encoding": {"lag_step": 0.02, "n_folds": 5, **DEFENCES[defence].get("encoding", {})},
        "comparison": {"cca_speech": "speechfile", "cca_language": "langfile",
                       "cca_speech_layer": "vectors", "cca_language_layer": 1,
                       "n_components": 4, "untrained_control": False, "n_refits": 20,
                       **DEFENCES[defence].get("comparison", {})},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    assert main([str(dataset.root), str(out), "participant", "--config",
                 str(tmp_path / "config.yaml"), "--skip-bids-validation"]) == 0
    truth = dataset.ground_truth["01"]
    beyond = pd.read_csv(next(out.glob("sub-01/**/*_beyond.tsv")), sep="\t")
    beyond["source"] = beyond["channel"].map(truth.source_of)
    tested = beyond[beyond["tested"] & beyond["channel"].isin(truth.driven)]
    by_class = tested.groupby("source")
    called = by_class["significant_shared_beyond_low"].sum()
    assert by_class.size()["shared"] >= 3 and called["shared"] == by_class.size()["shared"]
    assert by_class["significant_gain_b"].mean()["language"] == 1
    assert by_class.size()["onset"] >= 3 and called["onset"] == 0  # either defence suffices
    if defence != "default":
        return
    negatives = tested[tested["source"] != "shared"]
    assert set(negatives["source"]) == {"speech", "language", "onset", "envelope"}
    assert len(negatives) >= 12 and not negatives["significant_shared_beyond_low"].any()
    assert by_class["significant_gain_a"].mean()["speech"] == 1
    assert by_class["significant_gain_a"].sum()[["onset", "language"]].eq(0).all()
    assert by_class["significant_gain_b"].sum()[["speech", "onset"]].eq(0).all()
    # the comparisons' cost grows with the electrodes they test, known only now: re-estimated
    log = capsys.readouterr().err
    again = re.search(r"estimated cost with (\d+) speech-responsive electrode\(s\):.*?"
                      r"(\d+) tested electrodes", log, re.S)
    assert again and int(again.group(1)) == int(again.group(2)) == beyond["tested"].sum()
    # and the partition once the shared space's size is known
    kept = re.search(r"the shared space kept (\d+) component\(s\); comparisons re-estimated",
                     log)
    cca = pd.read_csv(next(out.rglob("*desc-cca_components.tsv")), sep="\t")
    assert kept and int(kept.group(1)) == cca["n_folds_kept"].gt(0).sum()
