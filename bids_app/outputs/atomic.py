"""Atomic file writes: write to a temporary file in the same directory, then rename.

A reader (or a concurrent SLURM task writing the same file) never sees a half-written file:
``os.replace`` is atomic on POSIX file systems.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


#: Marks the temporary files of :func:`atomic_path` (``.<stem>.partial-XXXXXXXX<suffix>``).
PARTIAL = "partial-"
#: A temporary file untouched for this long (s) belongs to a killed run, not a live writer.
STALE_AFTER = 6 * 3600


def remove_stale_partials(root: str | Path, max_age: float = STALE_AFTER) -> int:
    """Delete temporary files left under ``root`` by killed runs; return how many.

    A run killed while writing (SIGKILL, out of memory, a wall-time limit) cannot remove its
    temporary file. One that has not been modified for ``max_age`` seconds is not being
    written by a concurrent run (they write continuously), so it is removed.
    """
    now, removed = time.time(), 0
    for path in Path(root).rglob(f".*.{PARTIAL}*"):
        try:
            if path.is_file() and now - path.stat().st_mtime > max_age:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # removed by a concurrent run
            continue
    return removed


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    The temporary name keeps the final suffix, so writers that infer the format from the
    extension (h5py, soundfile, pandas) behave as with the real name.

    Parameters
    ----------
    path : str | Path
        The final destination. Its parent directory is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.{PARTIAL}",
                               suffix=path.suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    """Atomically write ``text`` (UTF-8) to ``path`` and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, data: Any) -> Path:
    """Atomically write ``data`` as indented JSON."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_tsv(path: str | Path, table: pd.DataFrame) -> Path:
    """Atomically write a table as a BIDS TSV (tab separated, ``n/a`` for missing values)."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep="n/a")
    return Path(path)


def write_with(path: str | Path, writer: Callable[[Path], None]) -> Path:
    """Atomically create ``path`` with ``writer(tmp_path)``, for formats with their own writer."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)
