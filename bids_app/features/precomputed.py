"""Feature spaces read from files: vectors a user computed elsewhere (``file:`` of a space).

A feature space with a ``file`` is not computed; its layers are read from that file, one per
stimulus (``{stim}`` in the path stands for the stimulus id):

- **HDF5** (``.h5``, ``.hdf5``): one dataset per layer (``layer-24``), or one matrix;
- **NumPy** (``.npy``: one matrix; ``.npz``: one array per layer);
- **TSV** (``.tsv``): the numeric columns are one matrix.

Layers are named by the file (``layer-24`` and ``layer_24`` become ``layer24``, so that
``cca_language_layer: 24`` finds them) and ordered naturally (``layer2`` before ``layer10``).

**Word level** (the default): rows are words, or tokens with a ``word_idx`` column, listed in a
row table (``rows``; default ``transcript.tsv`` beside the file, as OpenNeuro ds005574's
``stimuli/<model>/`` folders have it) with ``word`` and ``start`` columns. A word's tokens are
pooled (mean, first or last); its token count becomes the ``tokens`` scalar of a language
space (L's ``word_tokens``). The words are aligned to the stimulus transcript by their text
(never by position alone); a transcript word without a row gets the mean vector, which the
in-fold centring makes uninformative, and is reported.

**Frame level**: a JSON sidecar beside the file (``features.json`` for ``features.h5``) gives
``SamplingFrequency`` (and ``StartTime``, default 0 s) of the rows.
"""

from __future__ import annotations

import logging
import re
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bids_app.errors import (
    BadDataError,
    MissingInputError,
    read_json_object,
    require_readable,
)
from bids_app.layers import layer_name

logger = logging.getLogger("ssl_ieeg")

#: Share of the transcript's words that must find a row (else the file is for another story).
MIN_MATCHED = 0.9
#: How far (s) frame-level rows may stop short of either end of the stimulus.
EDGE_S = 0.5
#: The scalar of a language space that counts a word's tokens (L's ``word_tokens``).
TOKENS = "tokens"
_LAYER = re.compile(r"^(?:layer|hidden|h)?[-_ ]?(\d+)$", re.IGNORECASE)


def read_layers(path: Path, layers: list[int] | str = "all") -> dict[str, np.ndarray]:
    """The layers of a feature file, named and ordered naturally.

    Only the selected arrays are read (one layer of a 49-layer GPT-2 XL file stays small).

    Parameters
    ----------
    path : Path
    layers : list of int | "all"
        Layer numbers to keep (``layer-24`` is 24), or every array.

    Returns
    -------
    layers : dict of str to ndarray, shape (n_rows, n_features) (float32)
    """
    if not path.is_file():
        raise MissingInputError(f"{path}: feature file not found (features[].file.path)")
    require_readable(path)
    try:
        with _ArrayFile(path) as arrays:
            names = arrays.names()
            if not names:
                raise BadDataError(f"{path}: the feature file holds no array")
            wanted = (sorted(names, key=_natural) if layers == "all"
                      else [layer_name(i) for i in layers])
            missing = [name for name in wanted if name not in names]
            if missing:
                raise BadDataError(f"{path}: no layer {missing} (features[].layers); it holds "
                                   f"{sorted(names, key=_natural)}")
            out = {name: _checked(arrays.read(names[name]), name, path) for name in wanted}
    except BadDataError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise BadDataError(f"{path}: cannot read the feature file ({err}); it must be HDF5, "
                           ".npy, .npz or .tsv (with a header row) of numbers") from err
    lengths = {values.shape[0] for values in out.values()}
    if len(lengths) > 1:
        raise BadDataError(f"{path}: the layers have different numbers of rows {sorted(lengths)}")
    return out


def _checked(values: np.ndarray, name: str, path: Path) -> np.ndarray:
    """A layer as float32 rows x features, refusing other shapes and non-finite rows."""
    values = np.asarray(values, dtype=np.float32)
    values = values[:, None] if values.ndim == 1 else values
    if values.ndim != 2:
        raise BadDataError(f"{path}: {name} has shape {values.shape}; each layer must be "
                           "rows x features")
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise BadDataError(f"{path}: {name} has {int(bad.sum())} row(s) with NaN or "
                           f"infinite values (first: row {int(np.argmax(bad))}); "
                           "recompute or drop them together with their rows")
    return values


class _ArrayFile:
    """The arrays of a feature file by layer name, read one at a time (a context manager)."""

    def __init__(self, path: Path) -> None:
        self.path, self.suffix, self._handle = path, path.suffix.lower(), None

    def __enter__(self) -> _ArrayFile:
        if self.suffix in (".h5", ".hdf5"):
            import h5py

            self._handle = h5py.File(self.path, "r")
        elif self.suffix == ".npz":
            self._handle = np.load(self.path, allow_pickle=False)
        elif self.suffix not in (".npy", ".tsv"):
            raise ValueError(f"unknown extension {self.path.suffix!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()

    def names(self) -> dict[str, str]:
        """Layer name -> the array's key in the file; two arrays of one name are an error."""
        if self.suffix in (".npy", ".tsv"):
            return {"vectors": "vectors"}
        keys = ([name for name, _ in _datasets(self._handle)] if self.suffix != ".npz"
                else list(self._handle.files))
        names: dict[str, str] = {}
        for key in keys:
            name = _layer_name(key.rsplit("/", 1)[-1])
            if name in names:
                raise BadDataError(f"{self.path}: {names[name]!r} and {key!r} are both layer "
                                   f"{name!r}; rename one")
            names[name] = key
        return names

    def read(self, key: str) -> np.ndarray:
        if self.suffix == ".npy":
            return np.load(self.path, allow_pickle=False)
        if self.suffix == ".tsv":
            return _tsv_matrix(self.path)
        return self._handle[key][()]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        if self.suffix == ".npy":
            return {"vectors": np.load(self.path, mmap_mode="r").shape}
        if self.suffix == ".tsv":
            return {"vectors": _tsv_matrix(self.path).shape}
        return {name: tuple(self._handle[key].shape) for name, key in self.names().items()}


#: Row-table columns a feature TSV may carry beside its features (never features).
ROW_COLUMNS = {"word_idx", "word", "token", "start", "end", "onset", "offset", "time",
               "index", "duration"}


def _tsv_matrix(path: Path) -> np.ndarray:
    """The feature columns of a TSV with a header row (row and index columns left out)."""
    table = pd.read_csv(path, sep="\t")
    if all(_is_number(column) for column in table.columns):
        raise ValueError("the first row is numbers: a feature TSV needs a header row")
    features = [c for c in table.columns
                if str(c).lower() not in ROW_COLUMNS and not str(c).startswith("Unnamed")]
    return table[features].to_numpy(dtype=np.float32)


def _is_number(text: object) -> bool:
    try:
        float(str(text))
    except ValueError:
        return False
    return True


def layer_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """The shape of each layer of a feature file, without reading its values (empty if the
    file cannot be read: the features stage names the problem)."""
    try:
        with _ArrayFile(path) as arrays:
            return arrays.shapes()
    except (OSError, ValueError, KeyError, TypeError, BadDataError):
        return {}


def word_vectors(layers: dict[str, np.ndarray], rows_path: Path, feature_path: Path,
                 words: Any, duration: float, pooling: str = "mean",
                 scalars: list[str] | tuple[str, ...] = (), count_tokens: bool = False
                 ) -> dict[str, np.ndarray]:
    """One vector per stimulus-transcript word from word or token rows.

    Parameters
    ----------
    layers : dict of str to ndarray
        The file's layers (rows as in ``rows_path``).
    rows_path, feature_path : Path
        The row table and the feature file (for messages).
    words : WordTimings
        The stimulus transcript.
    duration : float
        Stimulus duration (s); a row that starts after it is an error.
    pooling : str
    scalars : sequence of str
        Row-table columns to add as one-column layers (``surprisal`` from ``true_prob``).
    count_tokens : bool
        Add the ``tokens`` layer (rows per word) when the rows are tokens (``word_idx``).

    Returns
    -------
    layers : dict of str to ndarray, shape (n_transcript_words, n_features)
    """
    table = _row_table(rows_path, feature_path, next(iter(layers.values())).shape[0], duration)
    groups = (table["word_idx"].to_numpy() if "word_idx" in table
              else np.arange(len(table)))
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])  # runs of one word
    if len(np.unique(groups[starts])) < len(starts):
        raise BadDataError(f"{rows_path}: the rows of one word_idx must be consecutive (the "
                           "tokens of a word, in story order)")
    counts = np.diff(np.r_[starts, len(table)])
    columns = {**layers}
    for name in scalars:
        columns[name] = _scalar(table, name, rows_path)
    if count_tokens and "word_idx" in table:
        columns[TOKENS] = np.ones((len(table), 1), dtype=np.float32)
    pooled = {name: _pool(values, starts, counts, "sum" if name in ("surprisal", TOKENS)
                          else pooling) for name, values in columns.items()}
    match = _match(table["word"].to_numpy()[starts], words.words, rows_path)
    out = {}
    for name, values in pooled.items():
        filled = np.repeat(values[match[match >= 0]].mean(0, keepdims=True),
                           len(match), axis=0)
        filled[match >= 0] = values[match[match >= 0]]
        out[name] = filled.astype(np.float32)
    return out


def frame_times(sidecar: Path, n_rows: int, duration: float) -> tuple[np.ndarray, float]:
    """Row times (s) and rate of a frame-level feature file, from its JSON sidecar.

    The rows must cover the stimulus, to within :data:`EDGE_S` at each end.
    """
    meta = read_json_object(sidecar)
    sfreq = meta.get("SamplingFrequency")
    if not (isinstance(sfreq, int | float) and sfreq > 0):
        raise BadDataError(f"{sidecar}: SamplingFrequency must be a positive number, got "
                           f"{sfreq!r}")
    start = meta.get("StartTime", 0.0)
    if not isinstance(start, int | float):
        raise BadDataError(f"{sidecar}: StartTime must be a number of seconds, got {start!r}")
    times = float(start) + np.arange(n_rows) / float(sfreq)
    if n_rows < 2 or times[0] > EDGE_S or times[-1] < duration - EDGE_S:
        raise BadDataError(
            f"{sidecar}: {n_rows} rows at {sfreq:g} Hz from {start:g} s cover "
            f"{times[0] if n_rows else start:.2f}-{times[-1] if n_rows else start:.2f} s, not "
            f"the {duration:.2f}-s stimulus; check SamplingFrequency and StartTime")
    return times, float(sfreq)


def _datasets(fh: Any) -> list[tuple[str, Any]]:
    """Every dataset of an open HDF5 file, with its path, in file order."""
    import h5py

    found: list[tuple[str, Any]] = []
    fh.visititems(lambda name, item: found.append((name, item))
                  if isinstance(item, h5py.Dataset) else None)
    return found


def _layer_name(name: str) -> str:
    found = _LAYER.match(name)
    return layer_name(int(found.group(1))) if found else re.sub(r"\W", "", name) or "vectors"


def _natural(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _row_table(path: Path, feature_path: Path, n_rows: int, duration: float) -> pd.DataFrame:
    if not path.is_file():
        raise MissingInputError(
            f"{path}: row table of {feature_path} not found; a word-level feature file needs "
            "one (word, start[, word_idx]) in features[].file.rows, or a JSON sidecar with "
            "SamplingFrequency for frame-level rows")
    require_readable(path)
    table = pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""])
    missing = [c for c in ("word", "start") if c not in table]
    if missing:
        raise BadDataError(f"{path}: row table lacks column(s) {missing}")
    if len(table) != n_rows:
        raise BadDataError(f"{feature_path} has {n_rows} rows but its row table {path} has "
                           f"{len(table)}: they must list the same words or tokens in order")
    start = pd.to_numeric(table["start"], errors="coerce").to_numpy()
    late = np.flatnonzero(~(start <= duration))
    if late.size:
        raise BadDataError(f"{path}: row {late[0]} starts at {table['start'].iloc[late[0]]} s, "
                           f"outside the {duration:.1f}-s stimulus (or not a number)")
    table["word"] = table["word"].astype(str)
    return table


def _scalar(table: pd.DataFrame, name: str, path: Path) -> np.ndarray:
    column = "true_prob" if name == "surprisal" else name
    if column not in table:
        raise BadDataError(f"{path}: no column {column!r} for the scalar {name!r} "
                           "(features[].file.scalars)")
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
    if name == "surprisal":
        values = -np.log(values)  # nats, as the computed language spaces
    if not np.isfinite(values).all():
        raise BadDataError(f"{path}: column {column!r} has missing or non-numeric values "
                           f"(first: row {int(np.argmax(~np.isfinite(values)))})")
    return values[:, None].astype(np.float32)


def _pool(values: np.ndarray, starts: np.ndarray, counts: np.ndarray, how: str) -> np.ndarray:
    if how == "first":
        return values[starts]
    if how == "last":
        return values[starts + counts - 1]
    sums = np.add.reduceat(values.astype(np.float64), starts, axis=0)
    return sums if how == "sum" else sums / counts[:, None]


def _normalise(word: str) -> str:
    return re.sub(r"[\W_]", "", str(word)).lower()


def _match(file_words: np.ndarray, transcript: tuple[str, ...], path: Path) -> np.ndarray:
    """For each transcript word, its row among ``file_words`` (-1: none).

    Words are aligned by their text (lower case, without punctuation), never by position
    alone: a word inserted or dropped on one side, or two words listed in another order,
    leaves the others matched and those without a row.
    """
    mine = [_normalise(w) for w in file_words]
    theirs = [_normalise(w) for w in transcript]
    match = np.full(len(theirs), -1)
    for block in SequenceMatcher(None, mine, theirs, autojunk=False).get_matching_blocks():
        match[block.b:block.b + block.size] = np.arange(block.a, block.a + block.size)
    matched = (match >= 0).mean() if len(theirs) else 0.0
    if matched < MIN_MATCHED:
        raise BadDataError(f"{path}: only {matched:.0%} of the stimulus transcript's "
                           f"{len(theirs)} words match its {len(mine)} words; is it the row "
                           "table of this stimulus?")
    _report(int((match < 0).sum()), len(theirs), path,
            "have no row (given the mean vector)")
    return match


def _report(n: int, total: int, path: Path, what: str) -> None:
    if n:
        logger.warning("%s: %d of the stimulus transcript's %d words %s", path, n, total, what)
