"""Readers of word and phone timings: Praat TextGrid, TSV/CSV, TIMIT .wrd/.phn, HTS .lab.

All readers return times in seconds of stimulus time. Silence and empty intervals are dropped.
A missing file raises :class:`~bids_app.errors.MissingInputError`; an empty, placeholder or
unparsable file raises :class:`~bids_app.errors.BadDataError` naming the file.
"""

from __future__ import annotations

import logging
import re
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from praatio import textgrid
from praatio.data_classes.interval_tier import IntervalTier

from bids_app.errors import BadDataError, MissingInputError, require_readable
from bids_app.stimuli.stimulus import WordTimings

logger = logging.getLogger("ssl_ieeg")

#: Interval labels that mean "no speech" in common aligners (MFA, Gentle, HTK, TIMIT).
SILENCE_LABELS = frozenset(
    {"", "sil", "sp", "spn", "pau", "<sil>", "<eps>", "{sl}", "h#", "#", "x", "n/a"}
)
TIMIT_SFREQ = 16000.0
HTS_TIME_UNIT = 1e-7  # HTS labels count time in 100 ns units
#: Characters that make a label punctuation only (ASCII and common typographic marks).
PUNCTUATION = frozenset(string.punctuation + "“”‘’…—–«»¿¡")

_WORD_COLUMNS = ("word", "text", "item", "label", "token")
_PHONE_COLUMNS = ("phone", "phoneme", "text", "item", "label")
_START_COLUMNS = ("start", "onset", "begin", "xmin", "tmin")
_END_COLUMNS = ("end", "offset", "stop", "xmax", "tmax")


@dataclass(frozen=True, eq=False)
class PhoneTimings:
    """Time-aligned phones, in seconds of stimulus time.

    Attributes
    ----------
    phones : tuple of str
        Phone labels as written in the alignment (ARPAbet, TIMIT, ...; stress digits kept).
    onsets, offsets : ndarray, shape (n_phones,)
        Start and end of each phone, in seconds.
    """

    phones: tuple[str, ...]
    onsets: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.phones)


@dataclass(frozen=True)
class _Intervals:
    labels: tuple[str, ...]
    onsets: np.ndarray
    offsets: np.ndarray


def read_words(path: str | Path, tier: str | None = None) -> WordTimings:
    """Read word timings from a TextGrid, TSV/CSV or TIMIT ``.wrd`` file.

    Parameters
    ----------
    path : str | Path
        A ``.TextGrid`` (tier named ``words``/``word``, else the first interval tier), a
        ``.tsv``/``.csv`` with word, start and end columns (``word``/``text``/``item`` and
        ``start``/``onset``, ``end``/``offset``; rows repeated per token with a ``word_idx`` column
        are collapsed to one per word; without a header, ``word, start, end`` or ``index,
        word, start, end``), or a TIMIT ``.wrd`` (sample indices at 16 kHz).
    tier : str | None
        The TextGrid tier of the words; it must exist (other formats ignore it).

    Returns
    -------
    words : WordTimings
        The words in file order (the transcript's reading order, which language models need,
        even where overlapping speech makes onsets non-monotonic), silences removed.

    Notes
    -----
    Punctuation, one rule: a word keeps the punctuation written on it (``"one,"``), which the
    language models read as written and the static embeddings strip. A label that is only
    punctuation (an aligner's ``","`` or ``"--"`` token) is not a word: it is attached to the
    word before it (to the next word when it comes first), so it adds no word onset.
    """
    path = _check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".textgrid":
        iv = _textgrid_tier(path, ("words", "word"), required=tier)
    elif suffix in (".tsv", ".csv", ".txt"):
        iv = _table_intervals(path, _WORD_COLUMNS, collapse_on="word_idx")
    elif suffix == ".wrd":
        iv = _columns_intervals(path, scale=1.0 / TIMIT_SFREQ)
    else:
        raise BadDataError(
            f"{path}: unknown word-timing format {path.suffix!r}; use .TextGrid, .tsv, .csv or .wrd"
        )
    iv = _attach_punctuation(_drop_silence(iv, path), path)
    return WordTimings(words=iv.labels, onsets=iv.onsets, offsets=iv.offsets)


def read_phones(path: str | Path) -> PhoneTimings:
    """Read phone timings from a TextGrid, TIMIT ``.phn``, HTS ``.lab`` or TSV/CSV file.

    Parameters
    ----------
    path : str | Path
        A ``.TextGrid`` (tier named ``phones``/``phone``, else the first interval tier), a TIMIT
        ``.phn`` (sample indices at 16 kHz), an HTS ``.lab`` (times in 100 ns units; full-context
        labels are reduced to their centre phone) or a ``.tsv``/``.csv`` with phone, start and end
        columns.

    Returns
    -------
    phones : PhoneTimings
        The phones in file order, silences removed.
    """
    path = _check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".textgrid":
        iv = _textgrid_tier(path, ("phones", "phone", "phonemes", "phoneme"))
    elif suffix in (".tsv", ".csv", ".txt"):
        iv = _table_intervals(path, _PHONE_COLUMNS)
    elif suffix == ".phn":
        iv = _columns_intervals(path, scale=1.0 / TIMIT_SFREQ)
    elif suffix == ".lab":
        iv = _columns_intervals(path, scale=HTS_TIME_UNIT)
        iv = _Intervals(tuple(_hts_centre_phone(s) for s in iv.labels), iv.onsets, iv.offsets)
    else:
        raise BadDataError(
            f"{path}: unknown phone-timing format {path.suffix!r}; "
            "use .TextGrid, .phn, .lab, .tsv or .csv"
        )
    iv = _drop_silence(iv, path)
    return PhoneTimings(phones=iv.labels, onsets=iv.onsets, offsets=iv.offsets)


def _check_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: timing file not found")
    require_readable(path)
    text = path.read_bytes()[:200].decode("utf-8", errors="replace")
    if not text.strip():
        raise BadDataError(f"{path}: the timing file is empty; provide real word/phone timings")
    if "this is an empty file" in text.lower():
        raise BadDataError(
            f"{path}: is a placeholder ('This is an empty file...'), not real timings; "
            "replace it with the real file"
        )
    return path


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-16" or "\x00" not in text:
            return text
    return raw.decode("latin-1")


def _drop_silence(iv: _Intervals, path: Path) -> _Intervals:
    keep = np.array(
        [lab.strip().lower() not in SILENCE_LABELS for lab in iv.labels], dtype=bool
    )
    timed = np.isfinite(iv.onsets) & np.isfinite(iv.offsets)
    if (keep & ~timed).any():  # e.g. words a forced aligner could not place
        logger.warning("%s: %d labelled interval(s) without start or end times dropped "
                       "(first: %r)", path.name, int((keep & ~timed).sum()),
                       iv.labels[int(np.flatnonzero(keep & ~timed)[0])])
    keep &= timed
    if not keep.any():
        raise BadDataError(f"{path}: no labelled intervals (only silence or empty labels)")
    labels = tuple(lab.strip() for lab, k in zip(iv.labels, keep, strict=True) if k)
    onsets, offsets = iv.onsets[keep], iv.offsets[keep]
    if np.any(offsets < onsets):
        raise BadDataError(f"{path}: some intervals end before they start")
    return _Intervals(labels, onsets, offsets)


def _attach_punctuation(iv: _Intervals, path: Path) -> _Intervals:
    """Attach punctuation-only labels to the word before them (the first word's to the next)."""
    alone = np.array([all(ch in PUNCTUATION for ch in lab) for lab in iv.labels], dtype=bool)
    if not alone.any():
        return iv
    if alone.all():
        raise BadDataError(f"{path}: every label is punctuation; no words")
    kept = np.flatnonzero(~alone)
    labels = {i: iv.labels[i] for i in kept}
    labels[kept[0]] = "".join(iv.labels[: kept[0]]) + labels[kept[0]]
    for i in np.flatnonzero(alone[kept[0]:]) + kept[0]:
        labels[kept[kept < i][-1]] += iv.labels[i]
    logger.info("%s: %d punctuation-only label(s) attached to their neighbouring words",
                path.name, int(alone.sum()))
    return _Intervals(tuple(labels[i] for i in kept), iv.onsets[kept], iv.offsets[kept])


# --- TextGrid (long, short and binary formats, read by praatio) ------------------------------


def _textgrid_tier(path: Path, preferred: tuple[str, ...],
                   required: str | None = None) -> _Intervals:
    """The interval tier named ``required``; without it, the first named like ``preferred``
    (case-insensitive), else the first one."""
    try:
        grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False,
                                     duplicateNamesMode="rename")
    except Exception as err:  # praatio raises bare exceptions of several kinds
        raise BadDataError(f"{path}: not a readable Praat TextGrid ({err})") from err
    tiers = [grid.getTier(name) for name in grid.tierNames]
    tiers = [tier for tier in tiers if isinstance(tier, IntervalTier)]
    if not tiers:
        raise BadDataError(f"{path}: the TextGrid has no interval tier")
    by_lower = {tier.name.lower(): tier for tier in reversed(tiers)}
    if required is not None:
        if required.lower() not in by_lower:
            raise BadDataError(f"{path}: no interval tier {required!r} (stimulus.tier); its "
                               f"interval tiers: {[tier.name for tier in tiers]}")
        preferred = (required.lower(),)
    tier = next((by_lower[want] for want in preferred if want in by_lower), tiers[0])
    return _Intervals(tuple(entry.label for entry in tier.entries),
                      np.array([entry.start for entry in tier.entries], dtype=float),
                      np.array([entry.end for entry in tier.entries], dtype=float))


# --- tables and whitespace-separated columns --------------------------------------------------


def _pick(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    lower = {c.strip().lower(): c for c in columns}
    return next((lower[c] for c in candidates if c in lower), None)


def _table_intervals(
    path: Path, label_columns: tuple[str, ...], collapse_on: str | None = None
) -> _Intervals:
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    try:
        table = pd.read_csv(
            path, sep=sep, encoding="utf-8-sig", na_values=["n/a", "N/A"], keep_default_na=True,
            dtype=str,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise BadDataError(f"{path}: not a readable table ({err})") from err
    label = _pick(list(table.columns), label_columns)
    start = _pick(list(table.columns), _START_COLUMNS)
    end = _pick(list(table.columns), _END_COLUMNS)
    if label is None and start is None and end is None:
        headerless = _headerless(path, sep)
        if headerless is not None:
            table, (label, start, end) = headerless, ("label", "start", "end")
    if label is None or start is None or end is None:
        raise BadDataError(
            f"{path}: needs a label column ({'/'.join(label_columns)}), a start column "
            f"({'/'.join(_START_COLUMNS)}) and an end column ({'/'.join(_END_COLUMNS)}); "
            f"found {list(table.columns)}"
        )
    collapse = _pick(list(table.columns), (collapse_on,)) if collapse_on else None
    if collapse is not None:
        table = table.drop_duplicates(subset=collapse, keep="first")
    starts = pd.to_numeric(table[start], errors="coerce").to_numpy(dtype=float)
    ends = pd.to_numeric(table[end], errors="coerce").to_numpy(dtype=float)
    labels = tuple("" if pd.isna(s) else str(s) for s in table[label])
    return _Intervals(labels, starts, ends)


def _headerless(path: Path, sep: str) -> pd.DataFrame | None:
    """A table without a header: ``label, start, end`` or ``index, label, start, end``.

    Recognised when every row's last two fields are numbers (n/a allowed); None otherwise.
    """
    table = pd.read_csv(path, sep=sep, encoding="utf-8-sig", header=None, dtype=str,
                        na_values=["n/a", "N/A"], keep_default_na=True)
    if table.shape[1] not in (3, 4):
        return None
    times = table.iloc[:, -2:].apply(pd.to_numeric, errors="coerce")
    if (times.isna() & table.iloc[:, -2:].notna()).any().any():
        return None
    table = table.iloc[:, -3:]
    table.columns = ["label", "start", "end"]
    logger.info("%s: no header; read as label, start, end columns", path.name)
    return table


def _columns_intervals(path: Path, scale: float) -> _Intervals:
    """``start end label`` lines (TIMIT, HTS); times multiplied by ``scale`` to get seconds."""
    labels, starts, ends = [], [], []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        parts = line.split(maxsplit=2)
        if not parts:
            continue
        try:
            start, end = float(parts[0]), float(parts[1])
            labels.append(parts[2].strip() if len(parts) > 2 else "")
        except (ValueError, IndexError) as err:
            raise BadDataError(
                f"{path}, line {number}: expected 'start end label', got {line!r}"
            ) from err
        starts.append(start * scale)
        ends.append(end * scale)
    return _Intervals(tuple(labels), np.asarray(starts), np.asarray(ends))


_HTS_CENTRE = re.compile(r"-([^+]+)\+")


def _hts_centre_phone(label: str) -> str:
    """The current phone of an HTS full-context label ``p1^p2-p3+p4=p5@...``, else the label."""
    match = _HTS_CENTRE.search(label)
    return match.group(1) if match else label
