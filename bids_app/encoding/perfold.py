"""Nested-CV ridge whose design changes with the outer fold, optionally banded.

The design of an outer fold may depend on its training samples: the in-fold PCA of wide
feature blocks (``encoding.layer_pca``, see :mod:`~bids_app.encoding.reduce`), or a shared
space fitted on the training words (the model comparisons). This module runs the same blocked
nested CV as :func:`~bids_app.encoding.cross_validate` fold by fold from the engine's pieces
(folds, Gram statistics, standardisation, alpha scores, fit). A design that is the same in
every fold (and not banded) goes to the fixed-design engine, whose folds share
eigendecompositions; a design per fold costs ``n_folds`` times the Gram statistics and about
twice the eigendecompositions of a fixed one.

Banded ridge gives every feature set (band) its own penalty. Ridge with penalty ``alpha / g_b²``
on band ``b`` equals ridge with penalty ``alpha`` after scaling band ``b`` by ``g_b``; so each
candidate scaling is a cheap rescaling of the standardised Gram statistics, and the scaling and
alpha of every target are chosen together by the inner CV.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bids_app.encoding.backend import Backend
from bids_app.encoding.config import EncodingConfig
from bids_app.encoding.cv import (
    EncodingResult,
    ScoreSums,
    check_arrays,
    cross_validate_fixed,
    fold_predictions,
    mean_over,
)
from bids_app.encoding.folds import Piece, outer_folds, piece_indices, segment_pieces, split_pieces
from bids_app.encoding.gram import GramStats, lag_array, lagged_stats
from bids_app.encoding.reduce import ReducedDesign
from bids_app.encoding.ridge import Standardized, fit, standardize, validation_errors

logger = logging.getLogger("ssl_ieeg")

#: Relative squared scalings ``g_b²`` of every band but the first, searched by banded ridge.
BAND_SCALINGS = (0.1, 1.0, 10.0)

Design = Sequence[np.ndarray] | Callable[[int], Sequence[np.ndarray]]


def cross_validate(X: np.ndarray, Y: np.ndarray, *, lags: Sequence[int],
                   segments: np.ndarray | None = None, config: EncodingConfig | None = None,
                   backend: str = "numpy", device: str = "cpu", n_jobs: int = 1,
                   return_weights: bool = False, verbose: bool = False,
                   word_rows: np.ndarray | None = None) -> EncodingResult:
    """Nested blocked cross-validation of a time-lagged ridge model.

    Outer folds are contiguous and keep stimulus segments whole when there are at least
    ``config.n_folds`` of them (otherwise they cut through segments at equal sizes). In every
    outer training set, one alpha per target is chosen by blocked inner cross-validation
    (``config.inner_folds``, ``config.inner_cv``) that never sees the test fold. Features wider
    than ``config.layer_pca`` are reduced by PCA fitted on the recording's features (or on
    each outer training set, ``config.layer_pca_fit``), the lags enter through the
    raised-cosine basis of ``config.lag_basis``, and lagged features are standardised (and
    optionally reduced by ``config.pca``) with training statistics only.

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_features)
        Features on the neural timeline.
    Y : ndarray, shape (n_samples, n_targets)
        Neural data (one column per electrode).
    lags : sequence of int
        Lags in samples; positive means the response follows the feature.
    segments : ndarray of int, shape (n_samples,) | None
        Contiguous stimulus segment labels; -1 marks samples that are not modelled. Lags never
        reach across a segment edge (zero padding). None: one segment.
    config : EncodingConfig | None
        Fitting options (default ``EncodingConfig()``).
    backend : str
        ``"numpy"`` or ``"torch"``.
    device : str
        ``"cpu"`` or a torch device (``"cuda"``).
    n_jobs : int
        BLAS / torch threads (-1: library default).
    return_weights : bool
        Also return the weights averaged over folds, as coefficients of ``X[t - lag]``.
    verbose : bool
        Log progress at DEBUG level.
    word_rows : ndarray of int | None
        When ``X`` is a word-level impulse design: the samples of its words. Its word vectors
        are then standardised across the words (all of them, or each outer fold's training
        words with ``layer_pca_fit: in_fold``; and reduced by PCA fitted on them), so the
        model carries word content, not word timing.

    Returns
    -------
    result : EncodingResult
    """
    X, _ = check_arrays(X, Y)
    return cross_validate_folds([X], Y, lags=lags, segments=segments, config=config,
                                backend=backend, device=device, n_jobs=n_jobs,
                                return_weights=return_weights, verbose=verbose,
                                word_rows=None if word_rows is None else {0: word_rows})


def cross_validate_folds(design: Design, Y: np.ndarray, *, lags: Sequence[int],
                         segments: np.ndarray | None = None,
                         config: EncodingConfig | None = None, banded: bool = False,
                         backend: str = "numpy", device: str = "cpu", n_jobs: int = 1,
                         return_weights: bool = False, verbose: bool = False,
                         word_rows: dict[int, np.ndarray] | None = None) -> EncodingResult:
    """Blocked nested-CV ridge with a design per outer fold (and optional banded penalties).

    The blocks are reduced as ``config`` says (in-fold PCA of blocks wider than
    ``layer_pca``, then the lag basis) before they are stacked.

    Parameters
    ----------
    design : list of ndarray | callable
        The design as a list of column blocks (feature sets), each (n_samples, n_features_b),
        or ``design(k)`` giving the blocks of outer fold ``k`` (fitted on the training samples
        of fold ``k`` only; used for both training and testing).
    Y : ndarray, shape (n_samples, n_targets)
    lags : sequence of int
        Lags in samples.
    segments : ndarray of int, shape (n_samples,) | None
        Stimulus labels (-1: not modelled), as in ``cross_validate``; the folds are the same.
    config : EncodingConfig | None
        Every fitting option but ``mode`` is used.
    banded : bool
        One penalty per block (banded ridge); otherwise one penalty for all columns.
    backend, device, n_jobs, return_weights, verbose
        As in ``cross_validate``. Weights are only available for a list of blocks.
    word_rows : dict of int to ndarray | None
        Word-level (impulse) blocks by index, with their word samples: centred across the
        training words of each outer fold (``cross_validate``).

    Returns
    -------
    result : EncodingResult
        ``alphas`` holds the alpha of the first block; ``inner_error`` is filled; ``weights``
        (n_lags, n_features, n_targets) are in the units of the unreduced blocks.
    """
    if callable(design) and return_weights:
        raise ValueError("return_weights needs a list of design blocks, not a callable")
    config = config or EncodingConfig()
    Y, pieces, folds, reduced = _prepare(design, Y, lags, segments, config, n_jobs, word_rows)
    if reduced.fold_invariant and not (banded and len(design) > 1):
        with Backend().threads(n_jobs):
            X = reduced(0)[0]  # the engine's faster path, which shares eigendecompositions
        result = cross_validate_fixed(X, Y, lags=reduced.engine_lags, segments=segments,
                                      config=config, backend=backend, device=device,
                                      n_jobs=n_jobs, return_weights=return_weights,
                                      verbose=verbose)
        return _with_raw_weights(result, reduced)
    return _per_fold(reduced, Y, folds, pieces, [None], config, banded, backend, device,
                     n_jobs, return_weights, verbose, [True])[0]


def cross_validate_subsets(design: Design, Y: np.ndarray, subsets: Sequence[Sequence[int]], *,
                           lags: Sequence[int], segments: np.ndarray | None = None,
                           config: EncodingConfig | None = None, banded: bool = False,
                           keep_predictions: Sequence[bool] | None = None,
                           keep_targets: int | None = None, backend: str = "numpy",
                           device: str = "cpu", n_jobs: int = 1, verbose: bool = False,
                           word_rows: dict[int, np.ndarray] | None = None,
                           bands: Sequence[int] | None = None) -> list[EncodingResult]:
    """One model per subset of the design's blocks, from one design and Gram per fold.

    The union models of a variance partition share their blocks: building each fold's design
    and its Gram statistics once for all blocks, and slicing them per subset, costs one union
    fit's data passes instead of one per subset. Each result equals
    ``cross_validate_folds`` on that subset's blocks.

    Parameters
    ----------
    design : list of ndarray | callable
        As in :func:`cross_validate_folds`.
    Y : ndarray, shape (n_samples, n_targets)
    subsets : sequence of sequence of int
        Block indices of each model.
    keep_predictions : sequence of bool | None
        Per subset, whether its result keeps the cross-validated predictions (n_samples ×
        n_targets each; None keeps all). The scores are computed either way.
    keep_targets : int | None
        Keep the predictions of the first ``keep_targets`` targets only (None: all), e.g.
        the observed data fitted beside their rotated copies.
    lags, segments, config, banded, backend, device, n_jobs, verbose, word_rows
        As in :func:`cross_validate_folds`.
    bands : sequence of int | None
        With ``banded``: the band of every block (blocks of one band share a penalty); None
        gives every block its own.

    Returns
    -------
    results : list of EncodingResult
        One per subset, in order; ``predictions`` is None where not kept.
    """
    config = config or EncodingConfig()
    Y, pieces, folds, reduced = _prepare(design, Y, lags, segments, config, n_jobs, word_rows)
    keep = [True] * len(subsets) if keep_predictions is None else list(keep_predictions)
    if len(keep) != len(subsets):
        raise ValueError(f"keep_predictions has {len(keep)} entries for {len(subsets)} subsets")
    return _per_fold(reduced, Y, folds, pieces, [list(s) for s in subsets], config, banded,
                     backend, device, n_jobs, False, verbose, keep, bands, keep_targets)


def _prepare(design: Design, Y: np.ndarray, lags: Sequence[int], segments: np.ndarray | None,
             config: EncodingConfig, n_jobs: int, word_rows: dict[int, np.ndarray] | None
             ) -> tuple[np.ndarray, list[Piece], list[list[Piece]], ReducedDesign]:
    """Validated targets, the pieces and outer folds, and the reduced design."""
    Y = np.asarray(Y)
    Y = Y[:, None] if Y.ndim == 1 else Y
    if not callable(design):
        for block in design:
            check_arrays(block, Y)
    pieces = segment_pieces(segments, Y.shape[0])
    folds = outer_folds(pieces, config.n_folds)
    with Backend().threads(n_jobs):  # the in-fold PCAs are BLAS work too
        reduced = ReducedDesign.build(design, pieces, folds, lag_array(lags), config.layer_pca,
                                      config.lag_basis, word_rows, config.layer_pca_fit)
    return Y, pieces, folds, reduced


def _per_fold(reduced: ReducedDesign, Y: np.ndarray, folds: list[list[Piece]],
              pieces: list[Piece], subsets: list[list[int] | None], config: EncodingConfig,
              banded: bool, backend: str, device: str, n_jobs: int, return_weights: bool,
              verbose: bool, keep: list[bool], bands: Sequence[int] | None = None,
              keep_targets: int | None = None) -> list[EncodingResult]:
    """The per-fold engine: each fold's design and Gram once, one fit per block subset.

    A fold-invariant design (:attr:`ReducedDesign.fold_invariant`) is built once, and the
    statistics of each fold are computed once for all outer folds.

    A subset's model is fitted on the slices of the union's statistics, and predicts with
    the union's design and zero weights on the other blocks, so no subset copies the design.
    Each test fold is scored as it is predicted; ``keep[m]`` says whether subset ``m``'s
    predictions are kept (of the first ``keep_targets`` targets).
    """
    lags = reduced.engine_lags
    engine = Backend(backend, device)
    kept = Y.shape[1] if keep_targets is None else keep_targets
    predictions = [np.full((Y.shape[0], kept), np.nan, dtype=config.dtype) if k else None
                   for k in keep]
    scores = [[] for _ in subsets]  # (r, r2) of every test fold
    chosen = [[] for _ in subsets]
    inner = [[] for _ in subsets]
    mean_weights = 0.0
    # as in cross_validate, offsets only serve float32 precision: X - center, Y - y_center
    with engine.threads(n_jobs):
        Yb = engine.asarray(Y, config.dtype)
        y_center = engine.asarray(mean_over(Y, pieces), config.dtype)
        y_offset = engine.to_numpy(y_center).astype(np.float64)
        invariant = reduced.fold_invariant  # one design and one set of fold statistics
        for k, fold in enumerate(folds):
            if k == 0 or not invariant:
                X, widths = reduced(k)
                Xb = engine.asarray(X, config.dtype)
                centers = engine.asarray(mean_over(X, pieces), config.dtype), y_center
                computed: dict[int, GramStats] = {}
            for j, f in enumerate(folds):
                if j != k and j not in computed:
                    computed[j] = lagged_stats(Xb, Yb, f, lags, engine, config.chunk_size,
                                               *centers)
            stats = [computed[j] if j != k else None for j in range(len(folds))]
            vals = _validation_sets(folds, stats, k, Xb, Yb, lags, centers, config, engine)
            n_columns = X.shape[1] * len(lags)
            for m, subset in enumerate(subsets):
                cols = None if subset is None else engine.index(
                    _lagged(_columns(widths, subset), X.shape[1], len(lags)))
                blocks = range(len(widths)) if subset is None else subset
                scalings = _band_scalings(
                    [widths[b] for b in blocks],
                    [bands[b] if bands else b for b in blocks] if banded else None,
                    len(lags), engine)
                alphas, error, sub_weights, intercept = _fit_fold(
                    [_slice(st, cols) for st in stats], [_slice(v, cols) for v in vals],
                    scalings, config, engine)
                weights = sub_weights
                if cols is not None:  # zero weights on the blocks outside the subset
                    weights = engine.zeros((n_columns, Y.shape[1]), "float64")
                    weights[cols] = sub_weights
                sums = ScoreSums()  # scored a chunk of rows at a time: no (fold x targets) copy
                for rows, predicted in fold_predictions(Xb, fold, lags, centers[0], weights,
                                                        intercept, config, engine):
                    sums.add(Y[rows] - y_offset, predicted)
                    if keep[m]:
                        predictions[m][rows] = predicted[:, :kept] + y_offset[:kept]
                scores[m].append(sums.scores())
                chosen[m].append(alphas)
                inner[m].append(error)
                if return_weights:
                    mean_weights = mean_weights + reduced.raw_weights(
                        k, engine.to_numpy(weights)) / len(folds)
            del stats, vals
            if not invariant:
                del X, Xb, computed
            if verbose:
                logger.debug("outer fold %d/%d fitted (%d model(s))", k + 1, len(folds),
                             len(subsets))
    test_folds = [piece_indices(fold) for fold in folds]
    results = []
    for m in range(len(subsets)):
        r_folds, r2_folds = np.array(scores[m]).transpose(1, 0, 2)
        results.append(EncodingResult(
            r=r_folds.mean(0), r2=r2_folds.mean(0), r_folds=r_folds, r2_folds=r2_folds,
            alphas=np.array(chosen[m]), predictions=predictions[m], test_folds=test_folds,
            lags=reduced.lags, weights=mean_weights if return_weights else None,
            inner_error=np.array(inner[m])))
    return results


def _slice(stats: GramStats | None, cols: Any) -> GramStats | None:
    """The statistics of columns ``cols`` (all columns when None)."""
    return stats if stats is None or cols is None else stats.columns(cols)


def _columns(widths: list[int], subset: list[int]) -> np.ndarray:
    """Design columns of the blocks in ``subset``."""
    edges = np.concatenate([[0], np.cumsum(widths)])
    return np.concatenate([np.arange(edges[b], edges[b + 1]) for b in subset])


def _lagged(base: np.ndarray, n_base: int, n_lags: int) -> np.ndarray:
    """Columns of the lagged design (lag-major) that belong to the base columns ``base``."""
    return (np.arange(n_lags)[:, None] * n_base + base[None, :]).ravel()


def _with_raw_weights(result: EncodingResult, reduced: ReducedDesign) -> EncodingResult:
    """The fixed-design result with the requested lags and weights in raw units."""
    result.lags = reduced.lags
    if result.weights is not None:
        flat = result.weights.reshape(-1, result.weights.shape[-1])
        result.weights = reduced.raw_weights(0, flat)
    return result


def _band_scalings(widths: Sequence[int], labels: Sequence[int] | None, n_lags: int,
                   engine: Backend) -> list[Any]:
    """Column scalings ``g`` of the lagged design for every candidate band weighting.

    ``widths`` are the blocks' widths, ``labels`` their bands (None: not banded).
    """
    if labels is None or len(set(labels)) < 2:
        return [None]
    order = list(dict.fromkeys(labels))
    band_of = np.repeat([order.index(label) for label in labels], widths)
    out = []
    for combo in itertools.product(BAND_SCALINGS, repeat=len(order) - 1):
        g = np.sqrt(np.asarray((1.0, *combo)))[band_of]
        out.append(engine.asarray(np.tile(g, n_lags), "float64"))
    return out


def _scaled(system: Standardized, g: Any) -> Standardized:
    """The standardised system with column ``j`` multiplied by ``g[j]``."""
    if g is None:
        return system
    return Standardized(system.xx * (g[:, None] * g[None, :]), system.xy * g[:, None],
                        system.mean, system.scale / g, system.ymean)


def _validation_sets(folds: list[list[Piece]], stats: list[GramStats | None], k: int, X: Any,
                     Y: Any, lags: np.ndarray, centers: tuple[Any, Any],
                     config: EncodingConfig, engine: Backend) -> list[GramStats]:
    """Inner validation statistics of outer fold ``k`` (as ``cross_validate`` splits them);
    ``centers`` are the offsets of the features and the targets."""
    if config.inner_folds is None:
        sets = [stats[j] for j in range(len(folds)) if j != k]
    else:
        training = [piece for j, fold in enumerate(folds) if j != k for piece in fold]
        sets = [lagged_stats(X, Y, chunk, lags, engine, config.chunk_size, *centers)
                for chunk in split_pieces(training, config.inner_folds)]
    return sets[-1:] if config.inner_cv == "holdout" else sets


def _fit_fold(stats: list[GramStats | None], vals: list[GramStats], scalings: list[Any],
              config: EncodingConfig, engine: Backend
              ) -> tuple[np.ndarray, np.ndarray, Any, Any]:
    """Choose (scaling, alpha) per target by inner CV, then fit the outer training set.

    ``stats`` holds the statistics of every outer fold but the test fold (None), ``vals``
    the inner validation sets, which partition the training set.
    """
    present = [s for s in stats if s is not None]
    train = sum(present[1:], present[0])
    n_targets = train.xy.shape[1]
    errors = np.zeros((len(scalings), len(config.alphas), n_targets))
    for val in vals:
        system = standardize(train.minus(val), config.standardize, engine)
        for s, g in enumerate(scalings):
            err = validation_errors(_scaled(system, g), [val], config.alphas, engine,
                                    config.dtype, config.pca)[0]
            errors[s] += engine.to_numpy(err)
    flat = errors.reshape(-1, n_targets)
    best = flat.argmin(0)
    which, alpha_index = np.divmod(best, len(config.alphas))
    target_alphas = np.asarray(config.alphas)[alpha_index]
    system = standardize(train, config.standardize, engine)
    weights = engine.zeros((train.xx.shape[0], n_targets), "float64")
    intercept = engine.zeros((n_targets,), "float64")
    for s in np.unique(which):
        cols = np.flatnonzero(which == s)
        sub = Standardized(system.xx, system.xy[:, engine.index(cols)], system.mean,
                           system.scale, system.ymean[engine.index(cols)])
        w, b = fit(_scaled(sub, scalings[s]), target_alphas[cols], engine, config.dtype,
                   config.pca)
        weights[:, engine.index(cols)] = w
        intercept[engine.index(cols)] = b
    return target_alphas, flat.min(0), weights, intercept
