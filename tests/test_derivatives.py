"""The derivatives naming spec: names built, parsed and found by one module."""

from __future__ import annotations

import pytest

from bids_app.outputs.derivatives import (
    RESERVED_DESCS,
    bids_name,
    find_derivatives,
    find_scores,
    parse_entities,
    parse_name,
    read_electrodes,
)


@pytest.mark.parametrize(("entities", "suffix", "extension", "extra"), [
    ({"sub": "01", "task": "podcast"}, "scores", ".tsv", {"desc": "wav2vec2"}),
    ({"sub": "03", "ses": "ecog", "task": "listen", "acq": "clinical", "run": "2"}, "ieeg",
     ".vhdr", {"desc": "highgamma"}),
    ({"sub": "01"}, "electrodes", ".tsv", {"space": "MNI152NLin2009aSym"}),
    ({"sub": "01", "task": "x"}, "predcorr", ".json", {"desc": "wav2vec2Xgpt2"}),
    ({"sub": "01", "task": "x"}, "features", ".h5", {}),
])
def test_build_then_parse_gives_back_the_parts(entities, suffix, extension, extra):
    name = parse_name(bids_name(entities, suffix, extension, **extra))
    assert name.entities == entities and list(name.entities) == list(entities)
    assert (name.suffix, name.extension) == (suffix, extension)
    assert (name.space, name.desc) == (extra.get("space"), extra.get("desc"))
    assert name.recording == "_".join(f"{k}-{v}" for k, v in entities.items())


@pytest.mark.parametrize("bad", ["scores.tsv", "sub-01_desc-a-b_scores.tsv",
                                 "task-x_sub-01_scores.tsv", "sub-01_sub-02_scores.tsv",
                                 "sub-01_foo-1_scores.tsv", "sub-01_task-x_scores-1.tsv",
                                 ".bidsignore", "sub-01_task-x__scores.tsv"])
def test_names_the_app_does_not_write_are_rejected(bad):
    assert parse_name(bad) is None


def test_find_lists_each_kind_and_skips_reserved_descs(tmp_path):
    ieeg = tmp_path / "sub-01" / "ieeg"
    ieeg.mkdir(parents=True)
    written = [bids_name({"sub": "01", "task": "t"}, "scores", ".tsv", desc=d)
               for d in ("mel", "gpt2", "varpart")]
    written.append(bids_name({"sub": "01"}, "electrodes", ".tsv", space="MNI152NLin2009aSym"))
    for name in [*written, "notes_scores.tsv", "sub-01_task-t_desc-mel_scores.json"]:
        (ieeg / name).write_text("x")
    (tmp_path / "sub-01" / "figures").mkdir()
    (tmp_path / "sub-01" / "figures" / written[0]).write_text("x")  # not in an ieeg folder
    scores = find_scores(tmp_path)
    assert [(n.desc, p.name) for n, p in scores] == [("gpt2", written[1]), ("mel", written[0])]
    assert "varpart" in RESERVED_DESCS
    (electrodes, path), = find_derivatives(tmp_path, "electrodes")
    assert electrodes.space == "MNI152NLin2009aSym" and path.name == written[3]
    assert parse_entities("sub-01_ses-a_task-t") == {"sub": "01", "ses": "a", "task": "t"}
    assert parse_entities("sub-01_task") is None


def test_free_text_labels_are_written_alphanumeric_and_read_back(tmp_path):
    name = bids_name({"sub": "01"}, "electrodes", ".tsv", space="MNI 305")  # iEEGCoordinateSystem
    assert name == "sub-01_space-MNI305_electrodes.tsv"
    ieeg = tmp_path / "sub-01" / "ieeg"
    ieeg.mkdir(parents=True)
    (ieeg / name).write_text("name\tx\ty\tz\nA1\t1\t2\t3\n")
    table, space = read_electrodes(tmp_path / "sub-01")
    assert space == "MNI305" and list(table["name"]) == ["A1"]
