"""The per-stimulus feature cache: one HDF5 file (+ JSON sidecar) per stimulus and space.

Layout of ``stim-<id>/stim-<id>_desc-<name>_features.h5``:

- ``times`` (n_rows,) float64: frame centre or word onset, seconds of stimulus time;
- ``offsets`` (n_rows,) float64: word offsets (word-level spaces only);
- ``layers/<layer>`` (n_rows, n_dims) float32, contiguous and uncompressed, so a reader
  memory-maps them instead of loading every layer;
- ``meta``: the provenance as JSON text (also written to the sidecar);
- attributes ``cache_key``, ``name``, ``kind`` and ``layer_names`` (JSON list).

A file is valid when its ``cache_key`` equals the key of the requested computation (audio hash,
transcript hash, model identity, settings); anything else is recomputed. Files are written to a
temporary name and renamed. Tasks that share ``OUTPUT_DIR`` (a SLURM array) compute each entry
once: :func:`entry_lock` holds a lock per entry while one computes it, and the others wait for
it, then read its file. A writer that still finds a valid file in place when it finishes
discards its own copy.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from bids_app.features.featureset import FeatureSet
from bids_app.outputs.atomic import atomic_path, write_json

#: Bumped when the feature code changes in a way that changes its output.
CACHE_VERSION = 1
#: Seconds between the "still waiting" calls of :func:`entry_lock`.
WAIT_REPORT_SECONDS = 300.0

Allocate = Callable[[str, tuple[int, int]], Any]


class _AlreadyCached(Exception):
    """Raised inside the write block when another writer finished first."""


def feature_paths(cache_dir: Path, stim_id: str, name: str) -> tuple[Path, Path]:
    """The HDF5 file and JSON sidecar of one stimulus and feature space."""
    base = Path(cache_dir) / f"stim-{stim_id}" / f"stim-{stim_id}_desc-{name}_features"
    return base.with_suffix(".h5"), base.with_suffix(".json")


def lock_path(path: Path) -> Path:
    """The lock file of a cache entry: hidden (validators ignore it), beside the entry."""
    return path.with_name(f".{path.stem}.lock")


@contextmanager
def entry_lock(path: Path, on_wait: Callable[[float], None]) -> Iterator[None]:
    """Hold the lock of one cache entry for the duration of the block.

    The lock is :class:`filelock.FileLock` on :func:`lock_path`: an ``flock`` that the kernel
    releases when its holder exits, killed or not, so a lock never outlives the task that took
    it (where the file system has no ``flock``, filelock 4 falls back to a lock file that names
    its holder, and takes it over once that process is gone).

    Parameters
    ----------
    path : Path
        The entry's ``_features.h5`` path.
    on_wait : callable
        ``on_wait(seconds)`` is called when another task holds the lock (``seconds`` = 0),
        then every :data:`WAIT_REPORT_SECONDS` while it still does.
    """
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path(path))
    start = time.monotonic()
    timeout = 0.0
    while True:
        try:
            lock.acquire(timeout=timeout)
            break
        except Timeout:
            on_wait(time.monotonic() - start)
            timeout = WAIT_REPORT_SECONDS
    try:
        yield
    finally:
        lock.release()


def file_sha256(path: Path, block: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(parts: dict[str, Any]) -> str:
    """A hash of everything that determines the features (JSON-serialisable ``parts``)."""
    text = json.dumps({"cache_version": CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def stored_key(path: Path) -> str | None:
    """The cache key stored in ``path``, or None if it is missing or unreadable."""
    try:
        with h5py.File(path, "r", locking=False) as fh:
            return str(fh.attrs["cache_key"])
    except (OSError, KeyError):
        return None


def read_feature_file(path: Path, layers: list[str] | None = None) -> FeatureSet:
    """Load a cached feature file; layer matrices are memory-mapped where possible.

    Parameters
    ----------
    path : Path
        The ``_features.h5`` file.
    layers : list of str | None
        Load only these layers (default all).

    Returns
    -------
    features : FeatureSet
        ``meta`` holds the provenance written with the file, including ``cache_key``.
    """
    with h5py.File(path, "r", locking=False) as fh:  # immutable once renamed into place
        names = json.loads(fh.attrs["layer_names"])
        meta = json.loads(fh["meta"][()])
        offsets = fh["offsets"][()] if "offsets" in fh else None
        loaded = {name: _map_dataset(path, fh["layers"][name])
                  for name in names if layers is None or name in layers}
        return FeatureSet(name=str(fh.attrs["name"]), kind=str(fh.attrs["kind"]),
                          times=fh["times"][()], layers=loaded, offsets=offsets, meta=meta)


def release_pages(array: np.ndarray) -> None:
    """Drop a memory-mapped array's pages from the process's resident memory.

    The pages stay in the operating system's page cache, so the next access maps them again
    at little cost; without this, every layer ever read stays in the resident set of a long
    run. Arrays that are not memory-mapped are left alone.
    """
    mapped = getattr(array, "_mmap", None)  # set by numpy.memmap on the array and its views
    if mapped is not None and hasattr(mmap, "MADV_DONTNEED"):
        mapped.madvise(mmap.MADV_DONTNEED)


def _map_dataset(path: Path, dataset: h5py.Dataset) -> np.ndarray:
    offset = dataset.id.get_offset()
    if offset is None or dataset.chunks is not None or dataset.compression is not None:
        return dataset[()]
    return np.memmap(path, dtype=dataset.dtype, mode="r", offset=offset, shape=dataset.shape)


def write_feature_file(path: Path, key: str, compute: Callable[[Allocate], FeatureSet]) -> bool:
    """Compute a feature set straight into a new cache file, atomically.

    Parameters
    ----------
    path : Path
        The final ``_features.h5`` path.
    key : str
        The cache key stored with the file.
    compute : callable
        ``compute(allocate)`` returns the FeatureSet. It may call ``allocate(layer, shape)`` to
        get an on-disk float32 array to fill in place (long audio with flat memory); layers it
        returns as ndarrays are written afterwards.

    Returns
    -------
    written : bool
        False when another writer produced a valid file first (ours was discarded).
    """
    try:
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as fh:
            group = fh.create_group("layers")

            def allocate(name: str, shape: tuple[int, int]) -> h5py.Dataset:
                return group.create_dataset(name, shape=shape, dtype="float32")

            features = compute(allocate)
            for name, values in features.layers.items():
                if name not in group:
                    group.create_dataset(name, data=np.asarray(values, dtype=np.float32))
            fh.create_dataset("times", data=np.asarray(features.times, dtype=np.float64))
            if features.offsets is not None:
                fh.create_dataset("offsets", data=np.asarray(features.offsets, dtype=np.float64))
            meta = {**features.meta, "CacheKey": key, "NumRows": len(features.times),
                    "Layers": {name: list(group[name].shape) for name in features.layers}}
            fh.create_dataset("meta", data=json.dumps(meta, default=str))  # may exceed 64 kB
            fh.attrs.update({"cache_key": key, "name": features.name, "kind": features.kind,
                             "layer_names": json.dumps(list(features.layers))})
            fh.close()
            if stored_key(path) == key:
                raise _AlreadyCached
    except _AlreadyCached:
        return False
    write_json(path.with_suffix(".json"), meta)
    return True
