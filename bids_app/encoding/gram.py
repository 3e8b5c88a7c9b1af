"""Sufficient statistics of the time-lagged design, built without materialising it.

The lagged design ``Z`` has one column block per lag: ``Z[t, (i, j)] = X[t - lags[i], j]``,
zero when ``t - lags[i]`` falls outside the segment of ``t``. A ridge fit with an intercept
needs only ``n``, ``ZᵀZ``, ``Zᵀ1``, ``ZᵀY``, ``Yᵀ1`` and ``diag(YᵀY)`` of its training set, and
a validation score needs the same of the validation set. These are additive over disjoint
sample sets, so they are computed once per fold and combined by addition and subtraction.

The lag trick: block ``(i, j)`` of ``ZᵀZ`` is ``Σ_u X[u + d]ᵀ X[u]`` with ``d = lags[j] -
lags[i]`` over a range of ``u`` that differs between pairs with the same ``d`` only by a few
rows at each end. So each distinct ``d`` costs one product of the base features (plus tiny
edge corrections) instead of one product per lag pair: exact, and ``n_lags``-fold fewer flops
for evenly spaced lags.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bids_app.encoding.backend import Backend
from bids_app.encoding.folds import Piece
from bids_app.errors import UsageError


@dataclass
class GramStats:
    """Additive statistics of a set of samples of the lagged design (float64 backend arrays).

    Attributes
    ----------
    n : int
        Number of samples.
    sx : array, shape (p,)
        Column sums of the lagged design.
    sy : array, shape (n_targets,)
        Column sums of the targets.
    xx : array, shape (p, p)
        ``ZᵀZ``.
    xy : array, shape (p, n_targets)
        ``ZᵀY``.
    yy : array, shape (n_targets,)
        Sums of squared targets.
    """

    n: int
    sx: Any
    sy: Any
    xx: Any
    xy: Any
    yy: Any

    def __add__(self, other: GramStats) -> GramStats:
        return GramStats(self.n + other.n, self.sx + other.sx, self.sy + other.sy,
                         self.xx + other.xx, self.xy + other.xy, self.yy + other.yy)

    def columns(self, index: Any) -> GramStats:
        """The statistics of the design's columns ``index`` only (a copy)."""
        return GramStats(self.n, self.sx[index], self.sy, self.xx[index][:, index],
                         self.xy[index], self.yy)

    def minus(self, *others: GramStats) -> GramStats:
        """New statistics of this set without the (disjoint) sets ``others``."""
        first, *rest = others
        out = GramStats(self.n - first.n, self.sx - first.sx, self.sy - first.sy,
                        self.xx - first.xx, self.xy - first.xy, self.yy - first.yy)
        for other in rest:  # in place: one p × p allocation in all
            out.n -= other.n
            out.sx -= other.sx
            out.sy -= other.sy
            out.xx -= other.xx
            out.xy -= other.xy
            out.yy -= other.yy
        return out


def _cross(a: Any, b: Any, backend: Backend, chunk_size: int, like: Any = None,
           shift: Any = None, b_shift: Any = None) -> Any:
    """``(a - shift)ᵀ (b - b_shift)``, e.g. shifted features against shifted targets.

    Products run in the working dtype chunk by chunk of rows and are accumulated in float64.
    With no rows, returns zeros shaped like ``like``.
    """
    total = None if a.shape[0] else 0 * like
    for start in range(0, a.shape[0], chunk_size):
        a_part, b_part = a[start:start + chunk_size], b[start:start + chunk_size]
        if shift is not None:
            a_part = a_part - shift
        if b_shift is not None:
            b_part = b_part - b_shift
        part = backend.asarray(a_part.T @ b_part, "float64")
        total = part if total is None else total + part
    return total


def _cross_x(a: Any, b: Any, shift: Any, backend: Backend, chunk_size: int,
             like: Any = None) -> Any:
    """``(a - shift)ᵀ (b - shift)`` for two equally long row ranges of the base features.

    ``b`` None means ``a`` itself (lag difference 0): the shift is applied once.
    """
    total = None if a.shape[0] else 0 * like
    for start in range(0, a.shape[0], chunk_size):
        left = a[start:start + chunk_size] - shift
        right = left if b is None else b[start:start + chunk_size] - shift
        part = backend.asarray(left.T @ right, "float64")
        total = part if total is None else total + part
    return total


def _shifted_sum(rows: Any, center: Any, backend: Backend) -> Any:
    """Column sums of ``rows - center`` in float64."""
    return rows.sum(0, dtype=backend.dtype("float64")) - rows.shape[0] * center


def lagged_stats(X: Any, Y: Any, pieces: Sequence[Piece], lags: Sequence[int],
                 backend: Backend, chunk_size: int = 8192, center: Any = None,
                 y_center: Any = None) -> GramStats:
    """Statistics of the lagged design over ``pieces``, against ``Y - y_center``.

    Products are computed on ``X - center`` in the working dtype and the offset is added back
    exactly in float64, so features with large means (e.g. outlier dimensions of language
    models) keep their precision in float32. The targets are shifted a chunk of rows at a
    time, so no shifted copy of ``Y`` is made.

    Parameters
    ----------
    X : array, shape (n_samples, n_features)
        Base features (backend array in the working dtype).
    Y : array, shape (n_samples, n_targets)
        Targets (backend array in the working dtype).
    pieces : sequence of Piece
        The samples to include.
    lags : sequence of int
        Lags in samples.
    backend : Backend
    chunk_size : int
        Rows per matrix product.
    center : array, shape (n_features,) | None
        Working-dtype offset of the features, e.g. their mean; None means zero.
    y_center : array, shape (n_targets,) | None
        Working-dtype offset of the targets, e.g. their mean (the statistics are those of
        ``Y - y_center``); None means zero.

    Returns
    -------
    stats : GramStats
    """
    n_base, n_targets = X.shape[1], Y.shape[1]
    p = n_base * len(lags)
    stats = GramStats(0, backend.zeros((p,), "float64"), backend.zeros((n_targets,), "float64"),
                      backend.zeros((p, p), "float64"), backend.zeros((p, n_targets), "float64"),
                      backend.zeros((n_targets,), "float64"))
    shift = 0 * X[0] if center is None else center
    y_shift = 0 * Y[0] if y_center is None else y_center
    for piece in pieces:
        _add_piece(stats, X, Y, piece, lags, backend, chunk_size, shift, y_shift)
    return stats


def _add_piece(stats: GramStats, X: Any, Y: Any, piece: Piece, lags: Sequence[int],
               backend: Backend, chunk_size: int, shift: Any, y_shift: Any) -> None:
    """Add the statistics of one piece to ``stats`` in place."""
    s, e, seg_s, seg_e = piece
    n_base, f64 = X.shape[1], backend.dtype("float64")
    c, y_offset = backend.asarray(shift, "float64"), backend.asarray(y_shift, "float64")
    stats.n += e - s
    for start in range(s, e, chunk_size):
        y = Y[start:min(start + chunk_size, e)] - y_shift
        stats.sy += y.sum(0, dtype=f64)
        stats.yy += (y * y).sum(0, dtype=f64)
    # target rows [lo, hi) of the piece where lag i reads inside the segment
    valid = [(max(s, seg_s + lag), min(e, seg_e + lag)) for lag in lags]
    sums = []  # sums of the shifted source rows of each lag over its valid rows
    for i, (lag, (lo, hi)) in enumerate(zip(lags, valid, strict=True)):
        cols = slice(i * n_base, (i + 1) * n_base)
        sums.append(_shifted_sum(X[lo - lag:max(lo, hi) - lag], c, backend))
        if hi > lo:
            stats.sx[cols] += sums[i] + (hi - lo) * c
            y_sum = Y[lo:hi].sum(0, dtype=f64) - (hi - lo) * y_offset
            stats.xy[cols] += (_cross(X[lo - lag:hi - lag], Y[lo:hi], backend, chunk_size,
                                      shift=shift, b_shift=y_shift)
                               + c[:, None] * y_sum[None, :])
    _add_shifted_gram(stats, X, piece, lags, backend, chunk_size, shift)
    for i, j in _pairs(len(lags)):  # add back the offset: Z = Z_shifted + valid * center
        lo, hi = max(valid[i][0], valid[j][0]), min(valid[i][1], valid[j][1])
        if hi <= lo:
            continue
        s_i = _sub_sum(sums[i], X, lags[i], valid[i], (lo, hi), c, backend)
        s_j = _sub_sum(sums[j], X, lags[j], valid[j], (lo, hi), c, backend)
        block = (s_i[:, None] * c[None, :] + c[:, None] * s_j[None, :]
                 + (hi - lo) * (c[:, None] * c[None, :]))
        _add_block(stats.xx, block, i, j, n_base)


def _sub_sum(total: Any, X: Any, lag: int, outer: tuple[int, int], inner: tuple[int, int],
             c: Any, backend: Backend) -> Any:
    """Shifted source-row sum of a lag over target rows ``inner``, from its sum over ``outer``."""
    (a, b), (lo, hi) = outer, inner
    return (total - _shifted_sum(X[a - lag:lo - lag], c, backend)
            - _shifted_sum(X[hi - lag:b - lag], c, backend))


def _add_block(xx: Any, block: Any, i: int, j: int, n_base: int) -> None:
    """Add ``block`` at lag block (i, j) of ``xx`` and its transpose at (j, i)."""
    rows = slice(i * n_base, (i + 1) * n_base)
    cols = slice(j * n_base, (j + 1) * n_base)
    xx[rows, cols] += block
    if i != j:
        xx[cols, rows] += block.T


def _add_shifted_gram(stats: GramStats, X: Any, piece: Piece, lags: Sequence[int],
                      backend: Backend, chunk_size: int, shift: Any) -> None:
    """Add ``Z̃ᵀZ̃`` of the piece, ``Z̃`` the lagged design of ``X - shift`` (lag trick)."""
    s, e, seg_s, seg_e = piece
    for d, pairs in _pairs_by_difference(lags).items():
        ranges = {(i, j): (max(s - lags[j], seg_s, seg_s - d), min(e - lags[j], seg_e, seg_e - d))
                  for i, j in pairs}
        core_lo = max(lo for lo, _ in ranges.values())
        core_hi = min(hi for _, hi in ranges.values())
        core = None
        if core_hi > core_lo:
            core = _cross_x(*_rows(X, d, core_lo, core_hi), shift, backend, chunk_size)
        for (i, j), (u_lo, u_hi) in ranges.items():
            if u_hi <= u_lo:
                continue
            if core is None:
                block = _cross_x(*_rows(X, d, u_lo, u_hi), shift, backend, chunk_size)
            else:  # the core plus the few rows at either end that this pair adds
                block = core + _cross_x(*_rows(X, d, u_lo, core_lo), shift, backend,
                                        chunk_size, like=core)
                block += _cross_x(*_rows(X, d, core_hi, u_hi), shift, backend, chunk_size,
                                  like=core)
            _add_block(stats.xx, block, i, j, X.shape[1])


def _rows(X: Any, d: int, lo: int, hi: int) -> tuple[Any, Any]:
    """Rows ``u + d`` and ``u`` for ``u`` in ``[lo, hi)`` (None for the second when d = 0)."""
    return X[lo + d:hi + d], None if d == 0 else X[lo:hi]


def _pairs(n_lags: int) -> list[tuple[int, int]]:
    """Lag-index pairs ``(i, j)`` with ``i <= j``."""
    return [(i, j) for i in range(n_lags) for j in range(i, n_lags)]


def _pairs_by_difference(lags: Sequence[int]) -> dict[int, list[tuple[int, int]]]:
    """Lag-index pairs ``(i, j)`` with ``i <= j``, grouped by ``lags[j] - lags[i]``."""
    groups: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for i, j in _pairs(len(lags)):
        groups[int(lags[j]) - int(lags[i])].append((i, j))
    return groups


def lagged_design(X: Any, piece: Piece, lags: Sequence[int], backend: Backend, dtype: str,
                  shift: Any = None) -> tuple[Any, Any]:
    """The rows of the lagged design of ``X - shift`` for one piece, zero at segment edges.

    Parameters
    ----------
    X : array, shape (n_samples, n_features)
        Base features (backend array).
    piece : Piece
    lags : sequence of int
    backend : Backend
    dtype : str
    shift : array, shape (n_features,) | None
        Offset taken off the features where they are defined.

    Returns
    -------
    Z : array, shape (piece.size, n_lags * n_features)
    valid : array, shape (piece.size, n_lags)
        1.0 where a lag reads inside the segment, else 0.0 (float64).
    """
    s, e, seg_s, seg_e = piece
    n_base = X.shape[1]
    valid = backend.zeros((e - s, len(lags)), "float64")
    if len(lags) == 1 and lags[0] == 0:  # e.g. a lag-basis design: the rows themselves
        valid += 1.0
        return backend.asarray(X[s:e] if shift is None else X[s:e] - shift, dtype), valid
    Z = backend.zeros((e - s, n_base * len(lags)), dtype)
    for i, lag in enumerate(lags):
        lo, hi = max(s - lag, seg_s), min(e - lag, seg_e)
        if hi > lo:
            rows = X[lo:hi] if shift is None else X[lo:hi] - shift
            Z[lo + lag - s:hi + lag - s, i * n_base:(i + 1) * n_base] = rows
            valid[lo + lag - s:hi + lag - s, i] = 1.0
    return Z, valid


def lag_array(lags: Sequence[int]) -> np.ndarray:
    """Lags as a 1-D array of distinct integers (validated non-empty)."""
    lags = np.asarray(lags, dtype=int).ravel()
    if lags.size == 0 or np.unique(lags).size != lags.size:
        raise UsageError(f"encoding lags must be a non-empty list of distinct integers, got {lags}")
    return lags
