"""CCA shared space of a speech and a language representation, paired at the word level.

Following the reference study's code, each set is standardised and reduced by PCA to a
fraction of its variance, then CCA finds ``k`` pairs of maximally correlated directions of the
word vectors. The speech side may be standardised and reduced on its frames instead of its
word means (``speech_moments``), so that it keeps what varies within a word. From a fit (on
training words only, when fitted in-fold) come:

- ``shared_speech`` / ``shared_language``: the unit-variance canonical variates ``u`` and
  ``v``, the two views of the signal common to both models (together the ``shared`` set;
  their mean ``(u + v) / 2`` would lose what each view carries of the other model's signal
  when the canonical correlation is below 1);
- ``speech_rest`` / ``language_rest``: each model's PCA scores with the part explained by its
  own canonical variates removed (least squares on the fitting rows), i.e. the shared
  subspace projected out, expressed on the principal axes of what is left (``d - k`` columns).

Together the four parts span both models' PCA spaces (up to ``rest_components``). All maps
are affine, so a fit is applied unchanged to held-out words and frames.

Partial CCA. Word covariates that both models carry (e.g. duration, frequency: the word
regressors of the low-level set L) would make a trivial shared direction. Given
``covariates``, both sets of PCA scores are regressed on them (with an intercept) on the
fitting words, the CCA pairs the residuals, and the canonical variates of any words are
their residual projections (the covariates' part removed with the fitting words'
coefficients).

Component selection (``significant_only``). The canonical correlations of the fitting words
are biased upwards; which components are shared is judged on words the CCA did not see: the
CCA is refitted on the first ``1 - HELDOUT_SHARE`` of the fitting words (time order) and the
leading components are kept while their canonical correlation on the rest exceeds the
``1 - HELDOUT_ALPHA`` quantile of a circular-shift null on those words, which keeps their
serial correlation (:func:`heldout_components`). Testing the components in order, stopping
at the first that fails, keeps the chance of keeping any component of two unrelated models
at about ``HELDOUT_ALPHA``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from bids_app.errors import BadDataError

#: Level of the Bartlett test that counts a canonical component as significant.
BARTLETT_ALPHA = 0.05
#: Level of the held-out test that keeps a canonical component in ``shared``.
HELDOUT_ALPHA = 0.05
#: Share of the fitting words (the last ones) on which the components are selected.
HELDOUT_SHARE = 0.25
#: Circular shifts of the held-out words that make the null of each held-out correlation.
HELDOUT_SHIFTS = 199


@dataclass
class Reducer:
    """Standardisation then PCA of one set (training statistics).

    Attributes
    ----------
    mean, scale : ndarray, shape (n_features,)
    components : ndarray, shape (n_features, n_kept)
        Principal axes (columns) of the standardised training data.
    power : ndarray, shape (n_kept,)
        Variance of each principal score on the training rows (the scores are uncorrelated
        there, so this is their whole covariance).
    """

    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray
    power: np.ndarray

    def transform(self, X: np.ndarray, then: np.ndarray | None = None,
                  chunk_size: int = 8192) -> np.ndarray:
        """PCA scores of ``X`` (times ``then``, if given), a chunk of rows at a time.

        The standardisation (and ``then``) are folded into one projection, so a long
        frame-level design (e.g. 180,000 × 768 float32) never has a standardised float64
        copy, and mapping it to a few canonical variates costs a product with that few
        columns.

        Parameters
        ----------
        X : ndarray, shape (n_rows, n_features)
        then : ndarray, shape (n_kept, n_out) | None
            A map applied to the scores (e.g. canonical weights).
        chunk_size : int

        Returns
        -------
        scores : ndarray, shape (n_rows, n_kept or n_out), float64
        """
        components = self.components if then is None else self.components @ then
        projection = components / self.scale[:, None]
        offset = (self.mean / self.scale) @ components
        out = np.empty((X.shape[0], components.shape[1]))
        for start in range(0, X.shape[0], chunk_size):
            out[start:start + chunk_size] = X[start:start + chunk_size] @ projection - offset
        return out


def fit_reducer(X: np.ndarray, variance: float, rows: np.ndarray | None = None, *,
                min_components: int = 1, chunk_size: int = 8192) -> Reducer:
    """Standardise ``X`` and keep the principal axes that explain ``variance`` of it.

    Parameters
    ----------
    X : ndarray, shape (n_rows, n_features)
    variance : float
        Fraction of the total variance kept (0 < variance <= 1).
    rows : ndarray of bool, shape (n_rows,) | None
        The rows to fit on (e.g. the training frames of a long design); None: all.
    min_components : int
        Keep at least this many axes (when the data have that many).
    chunk_size : int
        Rows read at a time: the statistics are accumulated without a copy of ``X``.

    Returns
    -------
    reducer : Reducer
    """
    labels = np.zeros(len(X), dtype=int) if rows is None else np.where(rows, 0, -1)
    moments = GroupMoments.of(X, labels, 1, chunk_size)
    return reducer_from_moments(*moments.of_groups([0]), variance, min_components)


def reducer_from_moments(mean: np.ndarray, covariance: np.ndarray, variance: float,
                         min_components: int = 1) -> Reducer:
    """The :class:`Reducer` of rows of this mean and covariance (:func:`fit_reducer`)."""
    scale = np.sqrt(np.diag(covariance))
    scale[scale <= 1e-12 * max(scale.max(), 1e-300)] = 1.0
    power, axes = np.linalg.eigh(covariance / np.outer(scale, scale))
    power, axes = power[::-1].clip(0), axes[:, ::-1]
    explained = np.cumsum(power) / max(power.sum(), 1e-300)
    n_kept = max(int(np.searchsorted(explained, variance - 1e-12) + 1), min_components)
    n_kept = max(min(n_kept, int((power > 1e-12 * power[0]).sum()) if power.size else 0), 1)
    return Reducer(mean, scale, axes[:, :n_kept], power[:n_kept])


@dataclass
class GroupMoments:
    """Row counts, sums and cross-products of groups of rows (e.g. outer folds), about one
    shift, so that the mean and covariance of any union of groups cost no pass over the data.

    The shift is the first chunk's mean, which keeps the float64 sums accurate for features
    whose mean is large next to their spread (as in GPT-2's hidden states).
    """

    shift: np.ndarray
    n: np.ndarray
    total: np.ndarray
    cross: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray, labels: np.ndarray, n_groups: int,
           chunk_size: int = 8192) -> GroupMoments:
        """The moments of the rows of ``X`` labelled ``0 .. n_groups - 1`` (-1: none), in
        one pass, a chunk of rows at a time."""
        shift, width = None, X.shape[1]
        n, total = np.zeros(n_groups, dtype=int), np.zeros((n_groups, width))
        cross = np.zeros((n_groups, width, width))
        for start in range(0, X.shape[0], chunk_size):
            chunk = np.asarray(X[start:start + chunk_size], dtype=float)
            label = labels[start:start + chunk_size]
            for group in np.unique(label[label >= 0]):
                part = chunk[label == group]
                shift = part.mean(0) if shift is None else shift
                part -= shift
                n[group] += len(part)
                total[group] += part.sum(0)
                cross[group] += part.T @ part
        return cls(np.zeros(width) if shift is None else shift, n, total, cross)

    def of_groups(self, groups: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance (ddof 0) of the rows of ``groups``."""
        n = self.n[list(groups)].sum()
        if n == 0:
            raise BadDataError("no rows to fit the PCA of a CCA set on")
        centre = self.total[list(groups)].sum(0) / n
        return (self.shift + centre,
                self.cross[list(groups)].sum(0) / n - np.outer(centre, centre))


def canonical_correlations(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    """All canonical correlations and weights of two sets (SVD whitening + SVD).

    Directions of a set with no variance (below ``1e-8`` of its largest singular value, as
    after regressing out a covariate the set carries exactly) are dropped rather than
    whitened: their rounding noise would otherwise become unit-variance variates.

    Parameters
    ----------
    A : ndarray, shape (n_rows, p)
    B : ndarray, shape (n_rows, q)
        Both with more rows than columns.

    Returns
    -------
    r : ndarray, shape (min(rank A, rank B),)
        Canonical correlations, decreasing.
    wa : ndarray, shape (p, min(rank A, rank B))
    wb : ndarray, shape (q, min(rank A, rank B))
        Weights of the centred sets giving unit-variance (ddof 1) canonical variates.
    """
    n = A.shape[0]
    if n <= A.shape[1] + B.shape[1]:
        raise BadDataError(f"CCA needs more words ({n}) than PCA dimensions of the two sets "
                           f"together ({A.shape[1]} + {B.shape[1]}); lower "
                           "comparison.pca_variance or use longer recordings")
    (qa, ta), (qb, tb) = _whiten(A), _whiten(B)
    u, r, vt = np.linalg.svd(qa.T @ qb, full_matrices=False)
    scale = np.sqrt(n - 1)
    return np.clip(r, 0, 1), ta @ u * scale, tb @ vt.T * scale


def _whiten(X: np.ndarray, tol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal basis ``Q`` of the centred ``X``'s variance and the map ``T``: ``XcT = Q``."""
    u, s, vt = np.linalg.svd(X - X.mean(0), full_matrices=False)
    keep = s > tol * max(s[0], 1e-300) if s.size else s > 0
    return u[:, keep], vt[keep].T / s[keep]


def bartlett_test(r: np.ndarray, n: int, p: int, q: int) -> dict[str, np.ndarray]:
    """Wilks' lambda and Bartlett's chi-squared test of every canonical component.

    The test of component ``i`` (0-based) asks whether canonical correlations ``i, i+1, ...``
    are all zero: ``Λ_i = Π_{j>=i} (1 - r_j²)``, ``χ² = -(n - 1 - (p + q + 1) / 2) ln Λ_i``
    with ``(p - i)(q - i)`` degrees of freedom. It assumes independent rows, which contextual
    word vectors are not exactly: read the p-values as approximate.

    Parameters
    ----------
    r : ndarray, shape (min(p, q),)
        All canonical correlations of the fit.
    n : int
        Number of rows (words).
    p, q : int
        Dimensions of the two sets.

    Returns
    -------
    test : dict of str to ndarray, shape (min(p, q),)
        ``wilks_lambda``, ``chi2``, ``df``, ``p``.
    """
    log_terms = np.log(np.clip(1 - np.asarray(r) ** 2, 1e-300, None))
    log_lambda = np.cumsum(log_terms[::-1])[::-1]
    chi2 = -(n - 1 - (p + q + 1) / 2) * log_lambda
    i = np.arange(len(r))
    df = (p - i) * (q - i)
    return {"wilks_lambda": np.exp(log_lambda), "chi2": chi2, "df": df,
            "p": stats.chi2.sf(chi2, df)}


@dataclass
class SharedSpace:
    """A fitted CCA shared space (see the module docstring).

    Attributes
    ----------
    speech, language : Reducer
    speech_weights, language_weights : ndarray, shape (d, n_candidates)
        Canonical weights on the (partial) PCA scores of the candidate components; the first
        ``n_kept`` make the shared space.
    speech_rest, language_rest : ndarray, shape (d, d - n_kept) (or fewer columns)
        Maps from PCA scores to the rest spaces.
    canonical_r : ndarray, shape (min(d_speech, d_language),)
        All canonical correlations on the fitting words.
    n_words : int
        Number of fitting words.
    n_kept : int
        Number of shared components (may be 0: no component cleared the held-out test).
    speech_partial, language_partial : ndarray, shape (1 + n_covariates, n_candidates) | None
        The part of each candidate variate explained by ``[1, covariates]`` on the fitting
        words (subtracted from the variates); None: not partial.
    """

    speech: Reducer
    language: Reducer
    speech_weights: np.ndarray
    language_weights: np.ndarray
    speech_rest: np.ndarray
    language_rest: np.ndarray
    canonical_r: np.ndarray
    n_words: int
    n_kept: int
    speech_partial: np.ndarray | None = None
    language_partial: np.ndarray | None = None

    @property
    def n_components(self) -> int:
        """Number of shared components ``k``."""
        return self.n_kept

    def variates(self, speech: np.ndarray, language: np.ndarray,
                 covariates: np.ndarray | None = None, *,
                 candidates: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Canonical variates ``u`` (speech) and ``v`` (language) of word vectors.

        Parameters
        ----------
        speech, language : ndarray, shape (n_words, n_features)
        covariates : ndarray, shape (n_words, n_covariates) | None
            The words' covariates; required when the space is partial.
        candidates : bool
            Every candidate component, not only the kept ones.
        """
        k = self.speech_weights.shape[1] if candidates else self.n_kept
        u = self.speech.transform(speech, then=self.speech_weights[:, :k])
        v = self.language.transform(language, then=self.language_weights[:, :k])
        if self.speech_partial is not None:
            if covariates is None:
                raise ValueError("this shared space is partial to word covariates: pass them")
            design = covariate_design(covariates)
            u -= design @ self.speech_partial[:, :k]
            v -= design @ self.language_partial[:, :k]
        return u, v

    def transform(self, speech: np.ndarray, language: np.ndarray,
                  covariates: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The shared and rest features of word vectors (or of speech frames).

        Parameters
        ----------
        speech : ndarray, shape (n_rows, n_speech_features)
        language : ndarray, shape (n_rows, n_language_features)
        covariates : ndarray, shape (n_rows, n_covariates) | None
            The words' covariates (when the space is partial).

        Returns
        -------
        parts : dict of str to ndarray (float32)
            ``shared_speech`` (``u``, n_rows × k) and ``shared_language`` (``v``), the two
            halves of the ``shared`` set; ``speech_rest`` and ``language_rest``
            (n_rows × d - k).
        """
        u, v = self.variates(speech, language, covariates)
        return {"shared_speech": u.astype(np.float32),
                "shared_language": v.astype(np.float32),
                "speech_rest": self.speech.transform(speech, then=self.speech_rest
                                                     ).astype(np.float32),
                "language_rest": self.language.transform(language, then=self.language_rest
                                                         ).astype(np.float32)}


def covariate_design(covariates: np.ndarray) -> np.ndarray:
    """``[1, covariates]``: the design the partial CCA regresses the scores on."""
    covariates = np.asarray(covariates, dtype=float).reshape(len(covariates), -1)
    return np.c_[np.ones(len(covariates)), covariates]


def fit_shared_space(speech: np.ndarray, language: np.ndarray, *, variance: float = 0.95,
                     n_components: int = 50, rest_components: int | None = None,
                     significant_only: bool = False, min_components: int = 1,
                     covariates: np.ndarray | None = None,
                     speech_moments: tuple[np.ndarray, np.ndarray] | None = None
                     ) -> SharedSpace:
    """Fit standardisation, PCA, (partial) CCA and the rest projections on paired words.

    Parameters
    ----------
    speech : ndarray, shape (n_words, n_speech_features)
        Speech-model vectors of the words (e.g. mean over each word's frames).
    language : ndarray, shape (n_words, n_language_features)
        Language-model vectors of the same words.
    variance : float
        PCA variance fraction kept in each set.
    n_components : int
        Largest number of canonical components (at most the smaller PCA dimension).
    significant_only : bool
        Keep only the leading components that clear the held-out test (module docstring;
        possibly none), at most ``n_components``: a component the two models do not share is
        left to the rest spaces instead of taking its dimensions (and their encoding weight)
        from them.
    rest_components : int | None
        Keep only this many leading principal axes of each rest space; None keeps all
        ``d - k``.
    min_components : int
        Each PCA keeps at least this many axes, whatever ``variance`` (the workflow passes
        ``encoding.layer_pca``, so that the sets span what a single-model encoding uses).
    covariates : ndarray, shape (n_words, n_covariates) | None
        Word covariates regressed out of both sets before the CCA (partial CCA).
    speech_moments : (ndarray, ndarray) | None
        Mean and covariance of the frame-level speech design on the training frames
        (:class:`GroupMoments`). When given, the speech standardisation, PCA and rest space
        are fitted on the frames instead of the word vectors, so that they keep what varies
        within words (word means average it out); CCA still pairs the words.

    Returns
    -------
    space : SharedSpace
    """
    reducers = (fit_reducer(speech, variance, min_components=min_components)
                if speech_moments is None else
                reducer_from_moments(*speech_moments, variance, min_components),
                fit_reducer(language, variance, min_components=min_components))
    scores = reducers[0].transform(speech), reducers[1].transform(language)
    design = None if covariates is None else covariate_design(covariates)
    residuals, betas = zip(*(_partialled(s, design) for s in scores), strict=True)
    r, wa, wb = canonical_correlations(*residuals)
    n_candidates = min(n_components, len(r))
    k = n_candidates
    if significant_only:
        k = min(k, heldout_components(*scores, design))
    weights = wa[:, :n_candidates], wb[:, :n_candidates]
    covariances = [np.diag(reducer.power) if design is None else np.cov(res.T, bias=True)
                   for reducer, res in zip(reducers, residuals, strict=True)]
    rests = [_rest_map(cov, w[:, :k], rest_components)
             for cov, w in zip(covariances, weights, strict=True)]
    partial = [None if b is None else b @ w for b, w in zip(betas, weights, strict=True)]
    return SharedSpace(reducers[0], reducers[1], weights[0], weights[1], rests[0], rests[1],
                       r, speech.shape[0], k, partial[0], partial[1])


def _partialled(scores: np.ndarray, design: np.ndarray | None,
                rows: slice = slice(None)) -> tuple[np.ndarray, np.ndarray | None]:
    """``scores`` minus their least-squares fit on ``design`` (fitted on ``rows``), and its
    coefficients; the scores unchanged and None without a design."""
    if design is None:
        return scores, None
    beta = np.linalg.lstsq(design[rows], scores[rows], rcond=None)[0]
    return scores - design @ beta, beta


def heldout_components(speech: np.ndarray, language: np.ndarray,
                       design: np.ndarray | None) -> int:
    """How many leading canonical components hold on held-out words (module docstring).

    Parameters
    ----------
    speech, language : ndarray, shape (n_words, d)
        PCA scores of the fitting words, in time order.
    design : ndarray, shape (n_words, 1 + n_covariates) | None
        ``[1, covariates]`` of a partial CCA.

    Returns
    -------
    k : int
        The number of leading components whose held-out canonical correlation exceeds the
        ``1 - HELDOUT_ALPHA`` quantile of its null (0 when the first does not, or when too few
        words are left to refit the CCA). The null correlates each language variate with the
        speech variate circularly shifted along the held-out words (:data:`HELDOUT_SHIFTS`
        shifts spread over the middle 80 % of their length), which keeps the words' serial
        correlation: contextual vectors are not independent from word to word, and a
        critical value that assumes they are kept a component of unrelated sets 9-23 % of
        the time (AR(1) 0.5-0.8).
    """
    cut = round(len(speech) * (1 - HELDOUT_SHARE))
    fit, held = slice(0, cut), slice(cut, None)
    if cut <= speech.shape[1] + language.shape[1] + 1:
        return 0
    sides = []
    for scores in (speech, language):
        scores = _partialled(scores, design, fit)[0]
        sides.append(scores - scores[fit].mean(0))
    _, wa, wb = canonical_correlations(sides[0][fit], sides[1][fit])
    u, v = sides[0][held] @ wa, sides[1][held] @ wb
    u = (u - u.mean(0)) / np.linalg.norm(u - u.mean(0), axis=0).clip(1e-300)
    v = (v - v.mean(0)) / np.linalg.norm(v - v.mean(0), axis=0).clip(1e-300)
    n_held = len(u)
    shifts = np.unique(np.linspace(0.1 * n_held, 0.9 * n_held, HELDOUT_SHIFTS).astype(int))
    null = np.stack([(np.roll(u, shift, axis=0) * v).sum(0) for shift in shifts])
    critical = np.quantile(null, 1 - HELDOUT_ALPHA, axis=0)
    return int(np.argmin(np.append((u * v).sum(0) > critical, False)))


def _rest_map(cov: np.ndarray, weights: np.ndarray, n_kept: int | None) -> np.ndarray:
    """Map from PCA scores to their residual on the canonical variates, on its own axes.

    The residual is the least-squares one on the fitting rows, whose scores (partialled, in a
    partial CCA) have covariance ``cov``: with variates ``S W``, ``γ = (WᵀCW)⁻¹WᵀC`` and the
    residual map is ``I - Wγ``; its principal axes come from the residual covariance
    ``(I - Wγ)ᵀ C (I - Wγ)``. With the partialled covariance the rest is uncorrelated with
    the (partial) shared variates on the fitting words, whatever part of the scores the
    covariates explain.
    """
    n_rest = len(cov) - weights.shape[1]
    n_rest = n_rest if n_kept is None else min(n_rest, n_kept)
    if weights.shape[1] == 0:
        residual_map = np.eye(len(cov))
    else:
        gamma = np.linalg.lstsq(weights.T @ cov @ weights, weights.T @ cov, rcond=None)[0]
        residual_map = np.eye(len(cov)) - weights @ gamma
    axes = np.linalg.eigh(residual_map.T @ cov @ residual_map)[1][:, ::-1]
    return residual_map @ axes[:, :n_rest]
