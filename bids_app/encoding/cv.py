"""The one blocked nested-CV solver of time-lagged ridge (TRF) encoding models.

Every encoding model of the app goes through :func:`cross_validate_subsets` (single layers,
the comparisons' union models and their subsets, :class:`~bids_app.encoding.TRFEncoder`):

1. the design is reduced (:class:`~bids_app.encoding.reduce.ReducedDesign`: PCA of wide blocks,
   the raised-cosine lag basis), once for all outer folds when its reductions were fitted on
   the whole recording (*fold-invariant*), otherwise per outer fold (in-fold PCA, a shared space
   fitted on the training words);
2. the Gram statistics of every outer fold are computed once per design
   (:func:`~bids_app.encoding.gram.lagged_stats`); a training set is a sum of them;
3. in every outer training set, one alpha per target (and one band scaling, with banded ridge)
   is chosen by blocked inner CV from one ``eigh`` per inner training set
   (:func:`~bids_app.encoding.ridge.validation_errors`). With a fold-invariant design and the
   other outer folds as inner folds, the training set without folds ``j`` and ``k`` serves
   both outer fold ``k`` (validated on ``j``) and outer fold ``j`` (validated on ``k``): one
   ``eigh`` for the two;
4. every outer training set is fitted with its chosen alphas and scored on its test fold's
   statistics; the test fold is predicted, a chunk of rows at a time, only where the
   predictions are kept.

Banded ridge gives every feature set (band) its own penalty. Ridge with penalty ``alpha / g_b²``
on band ``b`` equals ridge with penalty ``alpha`` after scaling band ``b`` by ``g_b``; so each
candidate scaling is a cheap rescaling of the standardised Gram statistics, and the scaling and
alpha of every target are chosen together by the inner CV.
"""

from __future__ import annotations

import copy
import itertools
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from bids_app.encoding.backend import Backend
from bids_app.encoding.config import EncodingConfig
from bids_app.encoding.folds import (
    Piece,
    mean_over,
    outer_folds,
    piece_indices,
    segment_pieces,
    split_pieces,
)
from bids_app.encoding.gram import GramStats, lag_array, lagged_design, lagged_stats
from bids_app.encoding.reduce import ReducedDesign
from bids_app.encoding.result import EncodingResult
from bids_app.encoding.ridge import (
    Standardized,
    fit,
    scores_from_stats,
    standardize,
    validation_errors,
)
from bids_app.errors import BadDataError

logger = logging.getLogger("ssl_ieeg")

#: Relative squared scalings ``g_b²`` of every band but the first, searched by banded ridge.
BAND_SCALINGS = (0.1, 1.0, 10.0)

Design = Sequence[np.ndarray] | Callable[[int], Sequence[np.ndarray]]


def cross_validate(X: np.ndarray, Y: np.ndarray, *, lags: Sequence[int],
                   segments: np.ndarray | None = None, config: EncodingConfig | None = None,
                   engine: Backend | None = None, return_weights: bool = False,
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
    engine : Backend | None
        Array library, device and threads (default: numpy on the CPU, one thread).
    return_weights : bool
        Also return the weights averaged over folds, as coefficients of ``X[t - lag]``, and
        their lag profile (:func:`~bids_app.encoding.result.lag_profile`).
    word_rows : ndarray of int | None
        When ``X`` is a word-level impulse design: the samples of its words. Its word vectors
        are then standardised across the words (all of them, or each outer fold's training
        words with ``layer_pca_fit: in_fold``; and reduced by PCA fitted on them), so the
        model carries word content, not word timing.

    Returns
    -------
    result : EncodingResult
    """
    return cross_validate_folds([np.asarray(X)], Y, lags=lags, segments=segments, config=config,
                                engine=engine, return_weights=return_weights,
                                word_rows=None if word_rows is None else {0: word_rows})


def cross_validate_folds(design: Design, Y: np.ndarray, *, lags: Sequence[int],
                         segments: np.ndarray | None = None,
                         config: EncodingConfig | None = None, banded: bool = False,
                         engine: Backend | None = None, return_weights: bool = False,
                         word_rows: dict[int, np.ndarray] | None = None) -> EncodingResult:
    """Blocked nested-CV ridge of a design of several blocks, or one per outer fold.

    The blocks are reduced as ``config`` says (PCA of blocks wider than ``layer_pca``, then
    the lag basis) before they are stacked.

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
    engine, return_weights
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
    config, engine = config or EncodingConfig(), engine or Backend()
    Y, folds, reduced = _prepare(design, Y, lags, segments, config, engine, word_rows)
    return _nested_cv(reduced, Y, folds, [None], config, banded, engine, [True],
                      return_weights=return_weights)[0]


def cross_validate_subsets(design: Design, Y: np.ndarray, subsets: Sequence[Sequence[int]], *,
                           lags: Sequence[int], segments: np.ndarray | None = None,
                           config: EncodingConfig | None = None, banded: bool = False,
                           keep_predictions: Sequence[bool] | None = None,
                           keep_targets: int | None = None, engine: Backend | None = None,
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
    lags, segments, config, banded, engine, word_rows
        As in :func:`cross_validate_folds`.
    bands : sequence of int | None
        With ``banded``: the band of every block (blocks of one band share a penalty); None
        gives every block its own.

    Returns
    -------
    results : list of EncodingResult
        One per subset, in order; ``predictions`` is None where not kept.
    """
    config, engine = config or EncodingConfig(), engine or Backend()
    Y, folds, reduced = _prepare(design, Y, lags, segments, config, engine, word_rows)
    keep = [True] * len(subsets) if keep_predictions is None else list(keep_predictions)
    if len(keep) != len(subsets):
        raise ValueError(f"keep_predictions has {len(keep)} entries for {len(subsets)} subsets")
    return _nested_cv(reduced, Y, folds, [list(s) for s in subsets], config, banded, engine,
                      keep, bands=bands, keep_targets=keep_targets)


def check_arrays(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validated 2-D design and targets with the same number of finite samples."""
    X, Y = np.asarray(X), np.asarray(Y)
    if Y.ndim == 1:
        Y = Y[:, None]
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise BadDataError(f"encoding needs X (n_samples, n_features) and Y (n_samples, "
                           f"n_targets) with the same n_samples, got {X.shape} and {Y.shape}")
    if not (_finite(X) and _finite(Y)):
        raise BadDataError("encoding inputs contain NaN or infinite values")
    return X, Y


def _finite(a: np.ndarray, chunk_size: int = 8192) -> bool:
    """Whether every value is finite: one sum (NaN and infinity propagate), or, where the sum
    is not finite (a bad value, or finite ones that overflow it), a chunk of rows at a time."""
    if a.size == 0 or np.isfinite(a.sum()):
        return True
    return all(np.isfinite(a[start:start + chunk_size]).all()
               for start in range(0, len(a), chunk_size))


def _prepare(design: Design, Y: np.ndarray, lags: Sequence[int], segments: np.ndarray | None,
             config: EncodingConfig, engine: Backend, word_rows: dict[int, np.ndarray] | None
             ) -> tuple[np.ndarray, list[list[Piece]], ReducedDesign]:
    """Validated targets, the outer folds, and the reduced design."""
    Y = np.asarray(Y)
    Y = Y[:, None] if Y.ndim == 1 else Y
    check_arrays(np.empty((len(Y), 0)), Y)
    if not callable(design):
        for block in design:
            check_arrays(block, Y[:, :0])
    pieces = segment_pieces(segments, Y.shape[0])
    folds = outer_folds(pieces, config.n_folds)
    with engine.threads():  # the PCAs are BLAS work too
        reduced = ReducedDesign.build(design, pieces, folds, lag_array(lags), config.layer_pca,
                                      config.lag_basis, word_rows, config.layer_pca_fit)
    return Y, folds, reduced


def _nested_cv(reduced: ReducedDesign, Y: np.ndarray, folds: list[list[Piece]],
               subsets: list[list[int] | None], config: EncodingConfig, banded: bool,
               engine: Backend, keep: list[bool], *, return_weights: bool = False,
               bands: Sequence[int] | None = None, keep_targets: int | None = None
               ) -> list[EncodingResult]:
    """The solver: each fold's design and Gram once, one nested CV per block subset.

    A fold-invariant design (:attr:`ReducedDesign.fold_invariant`) is built once and the
    statistics of each fold are computed once for all outer folds, which then share their
    inner training sets' decompositions (:func:`_inner_plan`).

    A subset's model is fitted on the slices of the union's statistics and scored on the
    test fold's (:func:`~bids_app.encoding.ridge.scores_from_stats`); ``keep[m]`` says whether
    subset ``m`` also predicts its test folds (the first ``keep_targets`` targets), with the
    union's design and zero weights on the other blocks, so no subset copies the design.
    """
    if None in subsets and len(subsets) > 1:  # its outer fit consumes the union's statistics
        raise ValueError("the whole design (None) can only be fitted alone")
    lags, n_folds = reduced.engine_lags, len(folds)
    invariant = reduced.fold_invariant
    plan = _inner_plan(n_folds, config)
    paired = invariant and plan is not None  # inner training sets serve two outer folds
    kept = Y.shape[1] if keep_targets is None else keep_targets
    # target-major memory (a transposed view): saved and FFT-ed by target without a copy
    predictions = [np.full((kept, Y.shape[0]), np.nan, dtype=config.dtype).T if k else None
                   for k in keep]
    scores = [[] for _ in subsets]  # (r, r2) of every test fold
    chosen = [[] for _ in subsets]
    inner = [[] for _ in subsets]
    # inner errors of a later outer fold computed from an earlier one's training set
    carried: dict[tuple[int, int], np.ndarray] = {}
    mean_weights = 0.0
    pieces = reduced.pieces
    # offsets only serve float32 precision: products use X - center and Y - y_center
    with engine.threads():
        Yb = engine.asarray(Y, config.dtype)
        y_center = engine.asarray(mean_over(Y, pieces), config.dtype)
        y_offset = engine.asarray(y_center, "float64")  # added back to the predictions
        for k, fold in enumerate(folds):
            if k == 0 or not invariant:
                X, widths = reduced(k)
                Xb = engine.asarray(X, config.dtype)
                centers = engine.asarray(mean_over(X, pieces), config.dtype), y_center
                # every fold, the test fold too: it is scored from its statistics
                stats = {j: lagged_stats(Xb, Yb, f, lags, engine, config.chunk_size, *centers)
                         for j, f in enumerate(folds)}
                logger.debug("Gram statistics of %d folds computed (p = %d)", len(stats),
                             X.shape[1] * len(lags))
            train = _total([stats[j] for j in range(n_folds) if j != k])
            validations = (_chunk_stats(folds, k, Xb, Yb, lags, centers, config, engine)
                           if plan is None else [(j, stats[j]) for j in plan[k]])
            n_columns = X.shape[1] * len(lags)
            for m, subset in enumerate(subsets):
                cols = None if subset is None else engine.index(
                    _lagged(_columns(widths, subset), X.shape[1], len(lags)))
                blocks = range(len(widths)) if subset is None else subset
                scalings = _band_scalings(
                    [widths[b] for b in blocks],
                    [bands[b] if bands else b for b in blocks] if banded else None,
                    len(lags), engine)
                errors = carried.pop((m, k), 0.0)
                sub_train = _slice(train, cols)  # consumed by the outer fit
                for j, val in validations:
                    if paired and j < k and k in plan[j]:
                        continue  # computed with outer fold j's, from the same training set
                    sets = [_slice(val, cols)]
                    partner = paired and j > k and k in plan[j]
                    if partner:  # outer fold j validated on fold k
                        sets.append(_slice(stats[k], cols))
                    found = _inner_errors(sub_train.minus(sets[0]), sets, scalings, config,
                                          engine)
                    errors = errors + found[0]
                    if partner:
                        carried[(m, j)] = carried.get((m, j), 0.0) + found[1]
                alphas, error, sub_weights, intercept = _fit_outer(
                    sub_train, errors, scalings, config, engine)
                scores[m].append(scores_from_stats(_slice(stats[k], cols), sub_weights,
                                                   intercept, engine))
                if keep[m]:  # of the first `kept` targets only, in the data's units
                    weights = sub_weights[:, :kept]
                    if cols is not None:  # zero weights on the blocks outside the subset
                        weights = engine.zeros((n_columns, kept), "float64")
                        weights[cols] = sub_weights[:, :kept]
                    for rows, predicted in fold_predictions(
                            Xb, fold, lags, centers[0], weights,
                            intercept[:kept] + y_offset[:kept], config, engine):
                        predictions[m][rows] = predicted
                chosen[m].append(alphas)
                inner[m].append(error)
                if return_weights:  # the whole design; averaged in its basis when folds share it
                    w = engine.to_numpy(sub_weights)
                    mean_weights = mean_weights + (
                        w if invariant else reduced.raw_weights(k, w)) / n_folds
            del train, validations
            if not invariant:  # the next fold's design is built without this one beside it
                del X, Xb, stats
            logger.debug("outer fold %d/%d fitted (%d model(s))", k + 1, n_folds, len(subsets))
        del Yb, carried  # and the shared design: before the weights' back-projection
        if invariant:
            del X, Xb, stats
    test_folds = [piece_indices(fold) for fold in folds]
    results = []
    for m in range(len(subsets)):
        r_folds, r2_folds = np.array(scores[m]).transpose(1, 0, 2)
        results.append(EncodingResult(
            r=r_folds.mean(0), r2=r2_folds.mean(0), r_folds=r_folds, r2_folds=r2_folds,
            alphas=np.array(chosen[m]), predictions=predictions[m], test_folds=test_folds,
            lags=reduced.lags, inner_error=np.array(inner[m])))
    if return_weights:
        result = results[0]
        if invariant:
            result.lag_profile = reduced.lag_profile(mean_weights, 0)
            result.weights = reduced.raw_weights(0, mean_weights)
        else:
            result.lag_profile = reduced.lag_profile(mean_weights)
            result.weights = mean_weights
    return results


def _inner_plan(n_folds: int, config: EncodingConfig) -> dict[int, list[int]] | None:
    """The other outer folds that validate each outer fold's alphas (None: chunks instead).

    With ``config.inner_folds`` None the inner folds are the other outer folds (all of them,
    or the last with ``inner_cv: holdout``); otherwise the training samples are cut into
    ``inner_folds`` chunks (:func:`_chunk_stats`).
    """
    if config.inner_folds is not None:
        return None
    others = {k: [j for j in range(n_folds) if j != k] for k in range(n_folds)}
    return {k: js[-1:] if config.inner_cv == "holdout" else js for k, js in others.items()}


def _chunk_stats(folds: list[list[Piece]], k: int, X: Any, Y: Any, lags: np.ndarray,
                 centers: tuple[Any, Any], config: EncodingConfig, engine: Backend
                 ) -> list[tuple[None, GramStats]]:
    """Outer fold ``k``'s training samples cut into ``config.inner_folds`` validation chunks
    (the last only with ``inner_cv: holdout``), with their statistics."""
    training = [piece for j, fold in enumerate(folds) if j != k for piece in fold]
    chunks = split_pieces(training, config.inner_folds)
    if config.inner_cv == "holdout":
        chunks = chunks[-1:]
    return [(None, lagged_stats(X, Y, chunk, lags, engine, config.chunk_size, *centers))
            for chunk in chunks]


def _total(stats: list[GramStats]) -> GramStats:
    """The statistics of the union of disjoint sample sets, in new arrays (a fit consumes
    its training statistics)."""
    return sum(stats[2:], stats[0] + stats[1]) if len(stats) > 1 else copy.deepcopy(stats[0])


def _inner_errors(train: GramStats, validations: list[GramStats], scalings: list[Any],
                  config: EncodingConfig, engine: Backend) -> np.ndarray:
    """Validation errors of one inner training set (consumed), one ``eigh`` per scaling.

    Returns
    -------
    errors : ndarray, shape (n_validations, n_scalings, n_alphas, n_targets)
    """
    system = standardize(train, config.standardize, engine)
    errors = np.zeros((len(validations), len(scalings), len(config.alphas),
                       validations[0].xy.shape[1]))
    for s, g in enumerate(scalings):
        for v, err in enumerate(validation_errors(_scaled(system, g), validations,
                                                  config.alphas, engine, config.dtype,
                                                  config.pca)):
            errors[v, s] = engine.to_numpy(err)
    return errors


def _fit_outer(train: GramStats, errors: np.ndarray, scalings: list[Any],
               config: EncodingConfig, engine: Backend
               ) -> tuple[np.ndarray, np.ndarray, Any, Any]:
    """Each target's (scaling, alpha) of least summed inner error; the outer training fit.

    Returns the chosen alphas, the least inner errors, the weights and the intercepts.
    """
    n_targets = train.xy.shape[1]
    flat = errors.reshape(-1, n_targets)
    which, alpha_index = np.divmod(flat.argmin(0), len(config.alphas))
    target_alphas = np.asarray(config.alphas)[alpha_index]
    system = standardize(train, config.standardize, engine)
    weights = engine.zeros((train.xx.shape[0], n_targets), "float64")
    intercept = engine.zeros((n_targets,), "float64")
    for s in np.unique(which):
        cols = np.flatnonzero(which == s)
        index = engine.index(cols)
        sub = Standardized(system.xx, system.xy[:, index], system.mean, system.scale,
                           system.ymean[index])
        weights[:, index], intercept[index] = fit(_scaled(sub, scalings[s]), target_alphas[cols],
                                                  engine, config.dtype, config.pca)
    return target_alphas, flat.min(0), weights, intercept


def _slice(stats: GramStats, cols: Any) -> GramStats:
    """The statistics of columns ``cols`` (all columns when None)."""
    return stats if cols is None else stats.columns(cols)


def _columns(widths: list[int], subset: list[int]) -> np.ndarray:
    """Design columns of the blocks in ``subset``."""
    edges = np.concatenate([[0], np.cumsum(widths)])
    return np.concatenate([np.arange(edges[b], edges[b + 1]) for b in subset])


def _lagged(base: np.ndarray, n_base: int, n_lags: int) -> np.ndarray:
    """Columns of the lagged design (lag-major) that belong to the base columns ``base``."""
    return (np.arange(n_lags)[:, None] * n_base + base[None, :]).ravel()


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


def predict_fold(X: Any, fold: list[Piece], lags: np.ndarray, center: Any, weights: Any,
                 intercept: Any, config: EncodingConfig, engine: Backend) -> np.ndarray:
    """Predictions on the samples of ``fold``, in the order of ``piece_indices``."""
    return np.concatenate([pred for _, pred in fold_predictions(
        X, fold, lags, center, weights, intercept, config, engine)])


def fold_predictions(X: Any, fold: list[Piece], lags: np.ndarray, center: Any, weights: Any,
                     intercept: Any, config: EncodingConfig, engine: Backend
                     ) -> Iterator[tuple[slice, np.ndarray]]:
    """``(rows, predictions)`` on the samples of ``fold``, ``config.chunk_size`` rows at a time.

    Each chunk is computed target by target (``Wᵀ Zᵀ``) in the working dtype and returned as
    its transposed view, so that target-major storage takes it without a strided copy.
    ``Z @ w`` is computed as ``(Z - center) @ w`` plus, for each lag that reads inside the
    segment, ``center @ w_lag``; that offset and the intercept, which nearly cancel, are
    summed in float64, so large feature offsets cost no precision.
    """
    n_base = X.shape[1]
    offset = (engine.asarray(center, "float64")[None, :, None]
              * weights.reshape(len(lags), n_base, -1)).sum(1)  # (n_lags, n_targets)
    every_lag = engine.asarray(offset.sum(0) + intercept, config.dtype)[:, None]
    weights = engine.asarray(weights, config.dtype).T
    for piece in fold:
        for start in range(piece.start, piece.stop, config.chunk_size):
            rows = piece._replace(start=start, stop=min(start + config.chunk_size, piece.stop))
            Z, valid = lagged_design(X, rows, lags, engine, config.dtype, center)
            pred = weights @ Z.T  # (n_targets, n_rows)
            if bool((valid == 1).all()):
                pred += every_lag
            else:  # rows where some lag reads outside the segment
                pred += engine.asarray((valid @ offset + intercept).T, config.dtype)
            yield slice(rows.start, rows.stop), engine.to_numpy(pred).T
