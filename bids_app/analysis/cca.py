"""CCA shared space of a speech and a language representation, paired at the word level.

Following the reference study's code, each set is standardised and reduced by PCA to a
fraction of its variance, then CCA finds ``k`` pairs of maximally correlated directions of the
word vectors. The speech side may be standardised and reduced on its frames instead of its
word means (``speech_frames``), so that it keeps what varies within a word. From a fit (on
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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from bids_app.errors import BadDataError

#: Level of the Bartlett test that counts a canonical component as significant.
BARTLETT_ALPHA = 0.05


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
    mean, covariance = _moments(X, rows, chunk_size)
    scale = np.sqrt(np.diag(covariance))
    scale[scale <= 1e-12 * max(scale.max(), 1e-300)] = 1.0
    power, axes = np.linalg.eigh(covariance / np.outer(scale, scale))
    power, axes = power[::-1].clip(0), axes[:, ::-1]
    explained = np.cumsum(power) / max(power.sum(), 1e-300)
    n_kept = max(int(np.searchsorted(explained, variance - 1e-12) + 1), min_components)
    n_kept = max(min(n_kept, int((power > 1e-12 * power[0]).sum()) if power.size else 0), 1)
    return Reducer(mean, scale, axes[:, :n_kept], power[:n_kept])


def _moments(X: np.ndarray, rows: np.ndarray | None,
             chunk_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (ddof 0) of the selected rows, accumulated in float64 chunks.

    The sums are taken about the first chunk's mean, which keeps them accurate for features
    whose mean is large next to their spread (as in GPT-2's hidden states).
    """
    shift, n = None, 0
    total = np.zeros(X.shape[1])
    gram = np.zeros((X.shape[1], X.shape[1]))
    for start in range(0, X.shape[0], chunk_size):
        chunk = np.asarray(X[start:start + chunk_size], dtype=float)
        if rows is not None:
            chunk = chunk[rows[start:start + chunk_size]]
        if not len(chunk):
            continue
        shift = chunk.mean(0) if shift is None else shift
        chunk -= shift
        total += chunk.sum(0)
        gram += chunk.T @ chunk
        n += len(chunk)
    if n == 0:
        raise BadDataError("no rows to fit the PCA of a CCA set on")
    centre = total / n
    return shift + centre, gram / n - np.outer(centre, centre)


def canonical_correlations(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    """All canonical correlations and weights of two sets (QR + SVD).

    Parameters
    ----------
    A : ndarray, shape (n_rows, p)
    B : ndarray, shape (n_rows, q)
        Both with more rows than columns.

    Returns
    -------
    r : ndarray, shape (min(p, q),)
        Canonical correlations, decreasing.
    wa : ndarray, shape (p, min(p, q))
    wb : ndarray, shape (q, min(p, q))
        Weights of the centred sets giving unit-variance (ddof 1) canonical variates.
    """
    n = A.shape[0]
    if n <= A.shape[1] + B.shape[1]:
        raise BadDataError(f"CCA needs more words ({n}) than PCA dimensions of the two sets "
                           f"together ({A.shape[1]} + {B.shape[1]}); lower "
                           "comparison.pca_variance or use longer recordings")
    qa, ra = np.linalg.qr(A - A.mean(0))
    qb, rb = np.linalg.qr(B - B.mean(0))
    u, r, vt = np.linalg.svd(qa.T @ qb, full_matrices=False)
    scale = np.sqrt(n - 1)
    return np.clip(r, 0, 1), np.linalg.solve(ra, u) * scale, np.linalg.solve(rb, vt.T) * scale


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
    speech_weights, language_weights : ndarray, shape (d, k)
        Canonical weights on the PCA scores.
    speech_rest, language_rest : ndarray, shape (d, d - k) (or fewer columns)
        Maps from PCA scores to the rest spaces.
    canonical_r : ndarray, shape (min(d_speech, d_language),)
        All canonical correlations on the fitting words.
    n_words : int
        Number of fitting words.
    """

    speech: Reducer
    language: Reducer
    speech_weights: np.ndarray
    language_weights: np.ndarray
    speech_rest: np.ndarray
    language_rest: np.ndarray
    canonical_r: np.ndarray
    n_words: int

    @property
    def n_components(self) -> int:
        """Number of shared components ``k``."""
        return self.speech_weights.shape[1]

    def variates(self, speech: np.ndarray, language: np.ndarray) -> tuple[np.ndarray,
                                                                          np.ndarray]:
        """Canonical variates ``u`` (speech) and ``v`` (language) of word vectors."""
        return (self.speech.transform(speech, then=self.speech_weights),
                self.language.transform(language, then=self.language_weights))

    def transform(self, speech: np.ndarray, language: np.ndarray) -> dict[str, np.ndarray]:
        """The shared and rest features of word vectors (or of speech frames).

        Parameters
        ----------
        speech : ndarray, shape (n_rows, n_speech_features)
        language : ndarray, shape (n_rows, n_language_features)

        Returns
        -------
        parts : dict of str to ndarray (float32)
            ``shared_speech`` (``u``, n_rows × k) and ``shared_language`` (``v``), the two
            halves of the ``shared`` set; ``speech_rest`` and ``language_rest``
            (n_rows × d - k).
        """
        u, v = self.variates(speech, language)
        return {"shared_speech": u.astype(np.float32),
                "shared_language": v.astype(np.float32),
                "speech_rest": self.speech.transform(speech, then=self.speech_rest
                                                     ).astype(np.float32),
                "language_rest": self.language.transform(language, then=self.language_rest
                                                         ).astype(np.float32)}


def fit_shared_space(speech: np.ndarray, language: np.ndarray, *, variance: float = 0.95,
                     n_components: int = 50, rest_components: int | None = None,
                     significant_only: bool = False, min_components: int = 1,
                     speech_frames: np.ndarray | None = None,
                     frame_rows: np.ndarray | None = None) -> SharedSpace:
    """Fit standardisation, PCA, CCA and the rest projections on paired word vectors.

    Parameters
    ----------
    speech : ndarray, shape (n_words, n_speech_features)
        Speech-model vectors of the words (e.g. mean over each word's frames).
    language : ndarray, shape (n_words, n_language_features)
        Language-model vectors of the same words.
    variance : float
        PCA variance fraction kept in each set.
    n_components : int
        Number of canonical components (at most the smaller PCA dimension).
    significant_only : bool
        Keep only the leading components that Bartlett's test finds significant on the
        fitting words (at :data:`BARTLETT_ALPHA`; at least one, at most ``n_components``):
        a component the two models do not share is left to the rest spaces instead of
        taking its dimensions (and their encoding weight) from them.
    rest_components : int | None
        Keep only this many leading principal axes of each rest space; None keeps all
        ``d - k``.
    min_components : int
        Each PCA keeps at least this many axes, whatever ``variance`` (the workflow passes
        ``encoding.layer_pca``, so that the sets span what a single-model encoding uses).
    speech_frames : ndarray, shape (n_samples, n_speech_features) | None
        The frame-level speech design. When given, the speech standardisation, PCA and rest
        space are fitted on its frames (``frame_rows``) instead of the word vectors, so that
        they keep what varies within words (word means average it out); CCA still pairs the
        words.
    frame_rows : ndarray of bool, shape (n_samples,) | None
        The frames to fit on (the training frames inside the stimuli).

    Returns
    -------
    space : SharedSpace
    """
    reducers = (fit_reducer(speech if speech_frames is None else speech_frames, variance,
                            None if speech_frames is None else frame_rows,
                            min_components=min_components),
                fit_reducer(language, variance, min_components=min_components))
    r, wa, wb = canonical_correlations(reducers[0].transform(speech),
                                       reducers[1].transform(language))
    k = min(n_components, len(r))
    if significant_only:
        test = bartlett_test(r, speech.shape[0], wa.shape[0], wb.shape[0])
        k = min(k, max(int(np.argmax(np.append(test["p"], 1.0) >= BARTLETT_ALPHA)), 1))
    weights = wa[:, :k], wb[:, :k]
    rests = [_rest_map(reducer.power, w, rest_components)
             for reducer, w in zip(reducers, weights, strict=True)]
    return SharedSpace(reducers[0], reducers[1], weights[0], weights[1], rests[0], rests[1],
                       r, speech.shape[0])


def _rest_map(power: np.ndarray, weights: np.ndarray, n_kept: int | None) -> np.ndarray:
    """Map from PCA scores to their residual on the canonical variates, on its own axes.

    The residual is the least-squares one on the fitting rows, where the scores are
    uncorrelated with variances ``power``: with ``C = diag(power)`` and variates ``S W``,
    ``γ = (WᵀCW)⁻¹WᵀC`` and the residual map is ``I - Wγ``; its principal axes come from
    the residual covariance ``(I - Wγ)ᵀ C (I - Wγ)``.
    """
    cov = np.diag(power)
    gamma = np.linalg.lstsq(weights.T @ cov @ weights, weights.T @ cov, rcond=None)[0]
    residual_map = np.eye(len(power)) - weights @ gamma
    axes = np.linalg.eigh(residual_map.T @ cov @ residual_map)[1][:, ::-1]
    n_rest = len(power) - weights.shape[1]
    n_rest = n_rest if n_kept is None else min(n_rest, n_kept)
    return residual_map @ axes[:, :n_rest]
