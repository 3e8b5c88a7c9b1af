"""Bounded design width: in-fold PCA of each feature block, and a smooth lag basis.

A 768-dim layer with 41 lags is 31,488 lagged columns, whose Gram matrix does not fit in
memory for a 30-minute recording. Two reductions bound the width whatever the model width and
lag grid (``encoding.layer_pca`` and ``encoding.lag_basis``):

- **PCA before lagging** (the reference practice): every feature block wider than
  ``layer_pca`` is standardised and reduced to its ``layer_pca`` leading principal components,
  fitted on the modelled samples of the stimulus features (``layer_pca_fit: recording``, the
  default: no neural data, so every fold shares one design) or on each outer training set
  (``in_fold``; at most :data:`PCA_SAMPLES` of them, evenly spaced), and applied to all
  samples.
- **Raised-cosine lag basis**: instead of one shifted copy per lag, each feature enters as
  ``lag_basis`` copies filtered by smooth bumps ``φ_b(lag)`` that tile the lag window (they
  sum to one at every lag). The response at each lag is then a smooth combination of the
  bumps, and the design width is ``n_features · lag_basis`` instead of ``n_features ·
  n_lags``. The bumps filter the features at every sample of the lag window, whatever
  ``encoding.lag_step`` (which then only sets the lags at which the TRF is reported):
  impulse-like features (one per word, such as L's word onsets) keep a response at every
  delay. Filtered at the lag grid only, a grid coarser than one sample turns their response
  into a comb that a frame-level model (whose features are smooth) does not suffer, and the
  speech model then "adds beyond L" the word-timing response that L could not represent.

With both (the defaults), a layer becomes ``50 · 9 = 450`` columns instead of 31,488.

**Word-level blocks are centred across the words** (``word_rows``): a language
model's vector sits at each word onset as an impulse, zero elsewhere. Uncentred, every impulse
carries the model's large mean vector, so the block's first principal component is the train
of word onsets and the model "predicts" any electrode with an evoked onset response. Each such
block is standardised (and reduced, when wider than ``layer_pca``) on its word rows (all of
them, or the outer training set's with ``in_fold``), and its impulses carry the centred
scores: what the model says about *which* word it is, not *that* a word starts. Word timing
is a regressor of its own (the comparisons' conditioning set).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from bids_app.encoding.folds import Piece, mean_over, piece_indices
from bids_app.encoding.result import sample_profile, sample_rows

#: Samples on which a PCA's covariance is estimated, at most (evenly spaced, every k-th): it
#: is a basis of the stimulus features, and more samples of a smooth series do not move it.
#: On a 1,800 s, 768-wide layer (180,000 samples), every 3rd sample changed the
#: cross-validated r by 1e-5 on average (at most 7e-4). Every 6th (60 ms; this bound), against
#: every 3rd, on two random-weight wav2vec2-base layers of the 1,800 s participant benchmark:
#: r of the 28 predicted electrodes (r 0.51) within 1e-4 on average (at most 6e-4), of all
#: 235 within 7e-4 (at most 4e-3, where r is noise of sd 0.0075).
PCA_SAMPLES = 30_000


def lag_basis(lags: Sequence[int], n_basis: int | None) -> np.ndarray | None:
    """Raised-cosine bumps that tile the lag window.

    Bump ``b`` is centred at ``c_b`` (evenly spaced from the first to the last lag, spacing
    ``Δ``) and is ``cos²(π/2 · (lag - c_b) / Δ)`` within ``Δ`` of its centre, zero elsewhere;
    neighbouring bumps sum to one.

    Parameters
    ----------
    lags : sequence of int
        Lags in samples.
    n_basis : int | None
        Number of bumps. None, or at least as many bumps as samples in the lag window (from
        the first lag to the last), means no basis. The window's samples, not the lags,
        decide: lags coarser than one sample still get a basis, which filters every sample.

    Returns
    -------
    basis : ndarray, shape (n_lags, n_basis) | None
        The bumps at ``lags``.
    """
    lags = np.asarray(lags, dtype=float)
    if n_basis is None or n_basis >= lags.max() - lags.min() + 1:
        return None
    if n_basis == 1:
        return np.ones((lags.size, 1))
    centres = np.linspace(lags.min(), lags.max(), n_basis)
    distance = (lags[:, None] - centres[None, :]) / (centres[1] - centres[0])
    return np.where(np.abs(distance) < 1, np.cos(np.pi / 2 * distance) ** 2, 0.0)


def filter_lags(X: np.ndarray, pieces: Sequence[Piece], lags: Sequence[int],
                basis: np.ndarray, chunk_size: int = 1024,
                out: np.ndarray | None = None) -> np.ndarray:
    """The lag-basis design: ``Z[t, b·F + j] = Σ_l basis[l, b] · X[t - lags[l], j]``.

    Lags never reach across a segment edge (zero padding), as in the lagged design; samples
    outside ``pieces`` are zero. Each bump is non-zero on a few lags only, so every chunk of
    rows is the sum of those few shifted copies of ``X``: one BLAS ``saxpy`` per non-zero
    ``basis[l, b]`` on contiguous, cache-sized rows, never the full lagged design.

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_features)
    pieces : sequence of Piece
        The modelled samples (whole segments).
    lags : sequence of int
    basis : ndarray, shape (n_lags, n_basis)
    chunk_size : int
        Rows per chunk.
    out : ndarray, shape (n_samples, n_features * n_basis) | None
        Where to write ``Z`` (e.g. a column slice of a wider design); it must be zero outside
        ``pieces``. None: a new float32 array.

    Returns
    -------
    Z : ndarray, shape (n_samples, n_features * n_basis)
    """
    from scipy.linalg.blas import saxpy

    lags = np.asarray(lags, dtype=int)
    left, right = max(int(lags.max()), 0), max(-int(lags.min()), 0)
    taps = [(int(lag), b, float(basis[i, b])) for i, lag in enumerate(lags)
            for b in np.flatnonzero(basis[i])]
    n_features, n_basis = X.shape[1], basis.shape[1]
    Z = np.zeros((X.shape[0], n_features * n_basis), dtype=np.float32) if out is None else out
    for s, e, seg_s, seg_e in pieces if n_features else []:
        padded = np.zeros((seg_e - seg_s + left + right, n_features), dtype=np.float32)
        padded[left:left + seg_e - seg_s] = X[seg_s:seg_e]
        flat = padded.ravel()
        for start in range(s, e, chunk_size):
            rows = min(start + chunk_size, e) - start
            bumps = np.zeros((n_basis, rows * n_features), dtype=np.float32)
            first = start - seg_s + left  # padded row of X[start]
            for lag, b, weight in taps:  # bumps[b] += weight * X[t - lag], in place
                source = flat[(first - lag) * n_features:(first - lag + rows) * n_features]
                saxpy(source, bumps[b], a=weight)
            Z[start:start + rows] = bumps.reshape(n_basis, rows, n_features).transpose(
                1, 0, 2).reshape(rows, -1)
    return Z


@dataclass
class FoldPCA:
    """Standardisation and principal axes of one block, fitted on one training set.

    Attributes
    ----------
    mean, scale : ndarray, shape (n_features,)
        Training mean and standard deviation (1 for a constant column).
    components : ndarray, shape (n_features, n_components)
        Leading principal axes of the standardised training samples.
    """

    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray

    def transform(self, X: np.ndarray, chunk_size: int = 8192) -> np.ndarray:
        """Scores ``((X - mean) / scale) @ components`` (float32), a chunk of rows at a time."""
        projection = (self.components / self.scale[:, None]).astype(np.float32)
        offset = (self.mean / self.scale) @ self.components
        out = np.empty((X.shape[0], self.components.shape[1]), dtype=np.float32)
        for start in range(0, X.shape[0], chunk_size):
            part = np.asarray(X[start:start + chunk_size], dtype=np.float32)
            out[start:start + chunk_size] = part @ projection - offset.astype(np.float32)
        return out


def fold_pcas(X: np.ndarray, folds: Sequence[Sequence[Piece]], n_components: int,
              chunk_size: int = 8192) -> list[FoldPCA]:
    """One :class:`FoldPCA` per outer fold, fitted on the samples of the other folds.

    The cross-products of every fold are computed once (float32 products of the centred data,
    accumulated in float64), so ``n_folds`` fits cost one pass over the data.

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_features)
    folds : sequence of list of Piece
        The outer folds; fold ``k``'s PCA sees none of its samples.
    n_components : int
    chunk_size : int

    Returns
    -------
    pcas : list of FoldPCA
    """
    pieces = [piece for fold in folds for piece in fold]
    centre = mean_over(X, pieces)
    stride = pca_stride(sum(piece.size for piece in pieces))
    stats = [_cross_products(X, fold, centre, chunk_size, stride) for fold in folds]
    return [_pca([s for j, s in enumerate(stats) if j != k], centre, n_components)
            for k in range(len(folds))]


@dataclass
class WordPCA(FoldPCA):
    """A :class:`FoldPCA` of a word-level impulse block, fitted on its word rows.

    Attributes
    ----------
    rows : ndarray of int
        The samples that hold a word's impulse; every other sample stays zero.
    """

    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    def transform(self, X: np.ndarray, chunk_size: int = 8192) -> np.ndarray:
        """Centred (standardised, projected) impulses at ``rows``; zero elsewhere."""
        out = np.zeros((X.shape[0], self.components.shape[1]), dtype=np.float32)
        out[self.rows] = super().transform(np.asarray(X[self.rows]), chunk_size)
        return out


def fit_word_pca(X: np.ndarray, rows: np.ndarray, pieces: Sequence[Piece],
                 n_components: int | None) -> WordPCA:
    """Standardisation (and PCA) of an impulse block across the words inside ``pieces``.

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_features)
        Impulse design: word vectors at ``rows``, zero elsewhere.
    rows : ndarray of int
        Word samples (two words on one sample count as one summed word).
    pieces : sequence of Piece
        The training samples: only their words are fitted on.
    n_components : int | None
        Principal axes kept when the block is wider; None or a narrower block keeps every
        (standardised, centred) column.

    Returns
    -------
    pca : WordPCA
    """
    inside = np.zeros(X.shape[0], dtype=bool)
    for piece in pieces:
        inside[piece.start:piece.stop] = True
    words = np.asarray(X[rows[inside[rows]]], dtype=float)
    if len(words) < 2:
        raise ValueError("a word-level block needs at least two training words")
    mean, std = words.mean(0), words.std(0)
    std[std <= 1e-10 * max(float(std.max()), 1e-300)] = 1.0
    if n_components is None or X.shape[1] <= n_components:
        components = np.eye(X.shape[1])
    else:
        standard = (words - mean) / std
        components = np.linalg.eigh(standard.T @ standard)[1][:, ::-1][:, :n_components]
    return WordPCA(mean, std, components, rows=np.asarray(rows))


def fit_pca(X: np.ndarray, pieces: Sequence[Piece], n_components: int,
            chunk_size: int = 8192) -> FoldPCA:
    """The :class:`FoldPCA` of the samples of ``pieces`` (e.g. all of them, for a final fit)."""
    centre = mean_over(X, list(pieces))
    stride = pca_stride(sum(piece.size for piece in pieces))
    return _pca([_cross_products(X, pieces, centre, chunk_size, stride)], centre, n_components)


def pca_stride(n_samples: int) -> int:
    """Every how many samples a PCA's covariance is estimated: :data:`PCA_SAMPLES` at most."""
    return max(1, -(-n_samples // PCA_SAMPLES))


def _cross_products(X: np.ndarray, pieces: Sequence[Piece], centre: np.ndarray,
                    chunk_size: int, stride: int = 1) -> tuple[int, np.ndarray, np.ndarray]:
    """``(n, sum, cross-products)`` of ``X - centre`` over every ``stride``-th sample of
    ``pieces`` (in chunks whose phase turns)."""
    shift = centre.astype(np.float32)
    n, total, cross = 0, np.zeros_like(centre), np.zeros((X.shape[1],) * 2)
    steps = itertools.count()
    for piece in pieces:
        for start in range(piece.start, piece.stop, chunk_size * stride):
            stop = min(start + chunk_size * stride, piece.stop)
            # the phase turns chunk by chunk: 50 Hz frames on a 100 Hz grid alternate two
            # interpolation phases, and an even stride would see one of them only
            part = np.asarray(X[start + next(steps) % stride:stop:stride]) - shift
            n += len(part)
            total += part.sum(0, dtype=np.float64)
            cross += (part.T @ part).astype(np.float64)
    return n, total, cross


def _pca(stats: list[tuple[int, np.ndarray, np.ndarray]], centre: np.ndarray,
         n_components: int) -> FoldPCA:
    """Standardised PCA from the summed cross-products of the training sets."""
    n = sum(s[0] for s in stats)
    mean = sum(s[1] for s in stats) / n
    covariance = sum(s[2] for s in stats) / n - mean[:, None] * mean[None, :]
    std = np.sqrt(np.clip(np.diag(covariance), 0, None))
    std[std <= 1e-10 * max(float(std.max()), 1e-300)] = 1.0
    eigvecs = np.linalg.eigh(covariance / std[:, None] / std[None, :])[1]
    return FoldPCA(mean + centre, std, eigvecs[:, ::-1][:, :n_components])


@dataclass
class ReducedDesign:
    """Feature blocks and the reductions that make each outer fold's design.

    Call it with an outer-fold index to get that fold's blocks: PCA scores fitted without the
    fold (for blocks wider than ``layer_pca``), filtered by the lag basis. Only one fold's
    design is in memory at a time.

    Attributes
    ----------
    source : list of ndarray | callable
        The feature blocks, each (n_samples, n_features_b), or ``source(k)`` giving the blocks
        of outer fold ``k`` (e.g. a shared space fitted on its training words).
    pieces : list of Piece
        All modelled samples (one piece per segment).
    folds : list of list of Piece
        The outer folds.
    lags : ndarray of int
        The requested lags.
    basis : ndarray, shape (n_lags, n_basis) | None
    layer_pca : int | None
    word_rows : dict of int to ndarray
        Word-level (impulse) blocks by index, with their word samples: centred across the
        words (:class:`WordPCA`; each fold's training words with ``in_fold``) whatever their
        width.
    pcas : dict of int to list of FoldPCA
        For a list source: the PCA of every outer fold of each wide or word-level block (one
        shared object when fitted on the recording; in-fold ones of wide frame-level blocks
        fitted in one pass).
    fitted : dict of int to list of (int, FoldPCA | None)
        Each block's raw width and the PCA used for it (None: none), for each fold built so
        far (for :meth:`raw_weights`).
    """

    source: list[np.ndarray] | Callable[[int], Sequence[np.ndarray]]
    pieces: list[Piece]
    folds: list[list[Piece]]
    lags: np.ndarray
    basis: np.ndarray | None
    layer_pca: int | None
    word_rows: dict[int, np.ndarray] = field(default_factory=dict)
    pcas: dict[int, list[FoldPCA]] = field(default_factory=dict)
    fitted: dict[int, list[tuple[int, FoldPCA | None]]] = field(default_factory=dict)

    @classmethod
    def build(cls, source: list[np.ndarray] | Callable[[int], Sequence[np.ndarray]],
              pieces: Sequence[Piece], folds: Sequence[Sequence[Piece]], lags: Sequence[int],
              layer_pca: int | None, n_basis: int | None,
              word_rows: dict[int, np.ndarray] | None = None,
              fit: str = "in_fold") -> ReducedDesign:
        """Set up the reductions; those of a list source are fitted here.

        ``fit="recording"`` fits each block's reduction once on every modelled sample (the
        stimulus features only), so that every fold shares it (:attr:`fold_invariant`);
        ``"in_fold"`` fits one per outer training set.
        """
        design = cls(source, list(pieces), [list(f) for f in folds],
                     np.asarray(lags, dtype=int), lag_basis(lags, n_basis), layer_pca,
                     dict(word_rows or {}))
        if not callable(source):
            design.pcas = {j: design._fit_block(j, block, fit)
                           for j, block in enumerate(source)
                           if design._wide(block) or j in design.word_rows}
        return design

    def _fit_block(self, j: int, block: np.ndarray, fit: str) -> list[FoldPCA]:
        """The reduction of block ``j`` for every fold (one shared object when fitted once)."""
        n_folds = len(self.folds)
        if j in self.word_rows:
            if fit == "recording":
                return [fit_word_pca(block, self.word_rows[j], self.pieces,
                                     self.layer_pca)] * n_folds
            return [self._pca(j, block, k) for k in range(n_folds)]
        if fit == "recording":
            return [fit_pca(block, self.pieces, self.layer_pca)] * n_folds
        return fold_pcas(block, self.folds, self.layer_pca)

    def _wide(self, block: np.ndarray) -> bool:
        return self.layer_pca is not None and block.shape[1] > self.layer_pca

    @property
    def fold_invariant(self) -> bool:
        """True when every fold gets the same design: a list source whose reductions, if
        any, were fitted once for all folds."""
        return not callable(self.source) and all(
            all(pca is fits[0] for pca in fits) for fits in self.pcas.values())

    @property
    def filter_taps(self) -> tuple[np.ndarray, np.ndarray]:
        """The basis's filter: every lag from the first to the last, and the bumps there."""
        dense = np.arange(self.lags.min(), self.lags.max() + 1)
        return dense, lag_basis(dense, self.basis.shape[1])

    @property
    def engine_lags(self) -> np.ndarray:
        """The lags the engine still applies: ``[0]`` when the basis took them in."""
        return np.array([0]) if self.basis is not None else self.lags

    def __call__(self, k: int) -> tuple[np.ndarray, list[int]]:
        """The design of outer fold ``k`` (blocks side by side) and each block's width.

        Each block is reduced straight into its columns of the one output array (float32
        unless a raw block is wider).
        """
        blocks = self.source(k) if callable(self.source) else self.source
        pcas = [self._pca(j, block, k) for j, block in enumerate(blocks)]
        widths = [block.shape[1] if pca is None else pca.components.shape[1]
                  for block, pca in zip(blocks, pcas, strict=True)]
        self.fitted[k] = [(block.shape[1], pca) for block, pca in zip(blocks, pcas, strict=True)]
        n_basis = 1 if self.basis is None else self.basis.shape[1]
        if self.basis is None and len(blocks) == 1 and pcas[0] is None:
            return np.asarray(blocks[0]), widths  # nothing to reduce: no copy
        # reduced blocks are float32; a raw block keeps its dtype
        dtype = np.result_type(np.float32, *(block.dtype for block, pca in zip(
            blocks, pcas, strict=True) if pca is None and self.basis is None))
        out = np.zeros((len(blocks[0]), sum(widths) * n_basis), dtype=dtype)
        start = 0
        taps = None if self.basis is None else self.filter_taps
        for block, pca, width in zip(blocks, pcas, widths, strict=True):
            columns = out[:, start:start + width * n_basis]
            scores = block if pca is None else pca.transform(block)
            if taps is None:
                columns[:] = scores
            else:
                filter_lags(scores, self.pieces, *taps, out=columns)
            start += width * n_basis
        return out, [width * n_basis for width in widths]

    def _pca(self, j: int, block: np.ndarray, k: int) -> FoldPCA | None:
        """The PCA of block ``j`` for fold ``k`` (None for a narrow block)."""
        if k < len(self.pcas.get(j, ())):
            return self.pcas[j][k]
        training = [p for i, fold in enumerate(self.folds) if i != k for p in fold]
        if j in self.word_rows:
            return fit_word_pca(block, self.word_rows[j], training, self.layer_pca)
        if callable(self.source) and self._wide(block):
            return fit_pca(block, training, self.layer_pca)
        return None

    def raw_weights(self, k: int, weights: np.ndarray) -> np.ndarray:
        """Weights of fold ``k``'s design mapped back to the raw lagged features.

        Parameters
        ----------
        k : int
            A fold whose design was built.
        weights : ndarray, shape (n_design_columns * n_engine_lags, n_targets)

        Returns
        -------
        raw : ndarray, shape (n_lags, n_features, n_targets)
            Coefficients of ``X[t - lag, j]`` (all blocks side by side).
        """
        raw = []
        for pca, part in self._block_weights(k, weights):
            if pca is not None:  # to raw features first: the basis then mixes n_basis rows
                part = (pca.components / pca.scale[:, None]) @ part
            raw.append(self._through_basis(part))
        return np.concatenate(raw, axis=1)

    def lag_profile(self, weights: np.ndarray, k: int | None = None,
                    max_rows: int = 20000) -> np.ndarray:
        """The lag profile (:func:`~bids_app.encoding.result.lag_profile`) of the raw blocks.

        With fold ``k``'s design weights it is computed through each block's PCA, without
        the raw weights: ``X W_l = (X / scale) C V_l`` with ``V_l`` the lag-``l`` weights of
        the components, so the covariance is of the ``layer_pca`` projected columns instead
        of every raw feature (a 768-wide layer: 0.03 s instead of 0.5 s).

        Parameters
        ----------
        weights : ndarray
            Fold ``k``'s design weights (as :meth:`raw_weights` takes them), or with ``k``
            None raw weights, shape (n_lags, n_features, n_targets) (e.g. averaged over folds
            whose reductions differ).
        k : int | None
        max_rows : int
            Samples of the covariance.

        Returns
        -------
        profile : ndarray, shape (n_lags, n_targets)
        """
        rows = sample_rows(piece_indices(self.pieces), max_rows)
        blocks = [np.asarray(block[rows], dtype=np.float64) for block in self.source]
        if k is None:
            return sample_profile(weights, np.hstack(blocks))
        terms, sample = [], []
        for block, (pca, part) in zip(blocks, self._block_weights(k, weights), strict=True):
            sample.append(block if pca is None else block @ (pca.components
                                                             / pca.scale[:, None]))
            terms.append(self._through_basis(part))
        return sample_profile(np.concatenate(terms, axis=1), np.hstack(sample))

    def _block_weights(self, k: int, weights: np.ndarray
                       ) -> Iterator[tuple[FoldPCA | None, np.ndarray]]:
        """Each block's PCA and weights, shape (n_basis or n_lags, width, n_targets), in fold
        ``k``'s design."""
        n_targets = weights.shape[1]
        widths = [width if pca is None else pca.components.shape[1]
                  for width, pca in self.fitted[k]]
        n_basis = 1 if self.basis is None else self.basis.shape[1]
        w = weights.reshape(len(self.engine_lags), sum(widths) * n_basis, n_targets)
        if self.basis is not None:
            w = w[0]
        start = 0
        for width, (_, pca) in zip(widths, self.fitted[k], strict=True):
            part = (w[start:start + width * n_basis].reshape(n_basis, width, n_targets)
                    if self.basis is not None else w[:, start:start + width])
            start += width * n_basis
            yield pca, part

    def _through_basis(self, part: np.ndarray) -> np.ndarray:
        """Weights per lag bump, shape (n_basis, width, n_targets), as weights per lag."""
        if self.basis is None:
            return part
        n_basis, _, n_targets = part.shape
        return (self.basis @ part.reshape(n_basis, -1)).reshape(len(self.basis), -1, n_targets)
