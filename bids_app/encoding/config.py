"""Configuration of the encoding engine (YAML sections ``encoding`` and ``statistics``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bids_app.errors import UsageError

#: Inner cross-validation schemes: every training fold in turn, or the last one.
INNER_CVS = ("kfold", "holdout")

if TYPE_CHECKING:
    import numpy as np


def _default_alphas() -> list[float]:
    import numpy as np

    return [float(a) for a in np.logspace(-2, 7, 20)]


@dataclass
class EncodingConfig:
    """How encoding models are fitted (YAML section ``encoding``).

    Attributes
    ----------
    mode : str
        ``"trf"``: continuous time-lagged ridge on the neural timeline. ``"word"``: one ridge
        per lag on word-onset epochs (all lags fitted as one multi-target problem).
    tmin, tmax : float
        TRF lag window in seconds (default 0–0.4 s). A positive lag means the neural response
        follows the feature.
    lag_step : float | None
        TRF lag spacing in seconds; None means one neural sample. With the lag basis it only
        sets the lags at which TRF weights are reported (the bumps filter every sample).
        Without it, a step longer than one sample is refused: impulse regressors (word
        onsets, word vectors) would lose the delays between lags and smooth speech features
        would not.
    word_tmin, word_tmax, word_lag_step : float
        Word-mode lag window and spacing in seconds (default −2 to +2 s every 20 ms).
    alphas : list of float
        Ridge penalties searched per target (default 20 values, log-spaced from 1e-2 to 1e7).
        Features are standardised in-fold by default, so the scale is that of a correlation
        matrix times the number of training samples.
    n_folds : int
        Number of blocked, contiguous outer folds.
    inner_folds : int | None
        Inner folds used to choose alpha inside each outer training set. None (default) uses
        the other outer folds as inner folds (``n_folds - 1`` of them); every pair of folds then
        shares one eigendecomposition, which makes this scheme about 40% cheaper than an
        arbitrary split. An integer splits the training samples into that many contiguous
        chunks.
    inner_cv : str
        ``"holdout"`` (default): only the last inner fold (in time) is held out, as in the
        reference study's lab code and the comparisons (``comparison.inner_cv``).
        ``"kfold"``: every inner fold is validated and squared errors are summed; it costs
        up to four times the decompositions, for a test r that was the same within 0.0001
        on average (±0.006 per electrode) on planted TRFs at 600 s (``docs/statistics.md``).
    standardize : bool
        Z-score every lagged feature with the statistics of the (inner or outer) training set.
        The targets are always centred in-fold (the model has an intercept).
    layer_pca : int | None
        Reduce every feature block (a layer, a baseline, a comparison set) that is wider than
        this to its leading principal components before lagging (default 50, the reference
        study's practice). Standardisation and PCA are fitted on the modelled samples of each
        outer training set only and applied to its test fold (``layer_pca_fit``). None keeps
        every dimension.
    layer_pca_fit : str
        What the standardisation and PCA of each block (and the centring of word-level
        blocks) are fitted on. ``"recording"`` (default): every modelled sample of the
        stimulus features, the test folds' included. They see no neural data, so every
        outer fold shares one design and one set of Gram matrices, at the cost of the
        floor; on planted TRFs the test r was 0.0004–0.0009 *lower* than in-fold, and noise
        electrodes stayed at zero (``docs/statistics.md``). ``"in_fold"``: on each outer
        training set only, which makes one design and Gram per fold.
    lag_basis : int | None
        Represent the TRF lag window by this many raised-cosine bumps (default 9: one every
        50 ms over 0–400 ms) instead of one column per lag: each feature enters as its copies
        filtered by the bumps, so the design has ``n_features · lag_basis`` columns, whatever
        the lag grid. The TRF at each lag is a smooth combination of the bumps (they sum to
        one). None, or at least as many bumps as lags, keeps one column per lag.
    centre_words : bool
        Centre (and standardise) the vectors of word-level feature spaces (language models,
        static embeddings) across the training words of each outer fold before they become
        impulses at word onsets (default). Uncentred impulses carry the model's mean vector at
        every word, so their first principal component is the word-onset train, and any
        electrode with an evoked onset response is "predicted" by every language model.
        ``false`` reproduces the reference study (``comparison.preset: reference``).
    pca : int | None
        Keep only this many principal components of the standardised *lagged* training design
        (fitted in-fold). Rarely needed with ``layer_pca``.
    dtype : str
        Working precision of the Gram matrices and decompositions: ``"float32"`` (default) or
        ``"float64"``. Sums across blocks and the centring are always accumulated in float64.
    chunk_size : int
        Rows per matrix product when building Gram matrices and predictions (memory bound).
    """

    mode: str = "trf"
    tmin: float = 0.0
    tmax: float = 0.4
    lag_step: float | None = None
    word_tmin: float = -2.0
    word_tmax: float = 2.0
    word_lag_step: float = 0.02
    alphas: list[float] = field(default_factory=_default_alphas)
    n_folds: int = 5
    inner_folds: int | None = None
    inner_cv: str = "holdout"
    standardize: bool = True
    layer_pca: int | None = 50
    layer_pca_fit: str = "recording"
    lag_basis: int | None = 9
    centre_words: bool = True
    pca: int | None = None
    dtype: str = "float32"
    chunk_size: int = field(default=8192, metadata={"memory_only": True})  # not keyed

    def __post_init__(self) -> None:
        if self.mode not in ("trf", "word"):
            raise UsageError(f"encoding.mode must be 'trf' or 'word', got {self.mode!r}")
        if self.tmax < self.tmin:
            raise UsageError(f"encoding.tmax ({self.tmax}) must be >= encoding.tmin ({self.tmin})")
        if self.word_tmax < self.word_tmin:
            raise UsageError(f"encoding.word_tmax ({self.word_tmax}) must be >= "
                             f"encoding.word_tmin ({self.word_tmin})")
        if self.lag_step is not None and self.lag_step <= 0:
            raise UsageError(f"encoding.lag_step must be > 0 or null, got {self.lag_step}")
        if self.word_lag_step <= 0:
            raise UsageError(f"encoding.word_lag_step must be > 0, got {self.word_lag_step}")
        if not self.alphas or any(not a > 0 for a in self.alphas):
            raise UsageError(f"encoding.alphas must be a non-empty list of positive numbers, "
                             f"got {self.alphas}")
        self.alphas = [float(a) for a in self.alphas]
        if self.n_folds < 2:
            raise UsageError(f"encoding.n_folds must be >= 2, got {self.n_folds}")
        if self.inner_folds is not None and self.inner_folds < 2:
            raise UsageError(f"encoding.inner_folds must be >= 2 or null, got {self.inner_folds}")
        if self.inner_folds is None and self.n_folds < 3:
            raise UsageError("encoding.inner_folds must be set (>= 2) when encoding.n_folds is 2: "
                             "null reuses the other outer folds, which leaves no training data")
        if self.layer_pca_fit not in ("recording", "in_fold"):
            raise UsageError(f"encoding.layer_pca_fit must be 'recording' or 'in_fold', "
                             f"got {self.layer_pca_fit!r}")
        if self.inner_cv not in INNER_CVS:
            raise UsageError(f"encoding.inner_cv must be 'kfold' or 'holdout', "
                             f"got {self.inner_cv!r}")
        for key in ("layer_pca", "lag_basis"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise UsageError(f"encoding.{key} must be an integer >= 1 or null, got "
                                 f"{value!r}")
        if self.pca is not None and self.pca < 1:
            raise UsageError(f"encoding.pca must be >= 1 or null, got {self.pca}")
        if self.dtype not in ("float32", "float64"):
            raise UsageError(f"encoding.dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if self.chunk_size < 1:
            raise UsageError(f"encoding.chunk_size must be >= 1, got {self.chunk_size}")

    def lags_samples(self, sfreq: float) -> np.ndarray:
        """Integer TRF lags (in samples) from ``tmin``, ``tmax`` and ``lag_step``.

        Parameters
        ----------
        sfreq : float
            Sampling rate of the neural timeline (Hz).

        Returns
        -------
        lags : ndarray of int, shape (n_lags,)
        """
        return _lag_grid(self.tmin, self.tmax, self.lag_step or 1.0 / sfreq, sfreq)

    def word_lags_samples(self, sfreq: float) -> np.ndarray:
        """Integer word-mode lags (in samples) from ``word_tmin``/``word_tmax``/``word_lag_step``.

        Parameters
        ----------
        sfreq : float
            Sampling rate of the neural timeline (Hz).

        Returns
        -------
        lags : ndarray of int, shape (n_lags,)
        """
        return _lag_grid(self.word_tmin, self.word_tmax, self.word_lag_step, sfreq)


def _lag_grid(tmin: float, tmax: float, step: float, sfreq: float) -> np.ndarray:
    """Lags ``tmin, tmin + step, ... <= tmax`` rounded to samples, duplicates removed."""
    import numpy as np

    n_steps = int(np.floor((tmax - tmin) / step + 1e-9))
    times = tmin + step * np.arange(n_steps + 1)
    return np.unique(np.round(times * sfreq).astype(int))


#: Nulls of the encoding test (``statistics.method``).
NULL_METHODS = ("auto", "circular_shift", "refit")
#: Shifted columns per refit batch of ``refit_null`` (its memory bound).
REFIT_COLUMNS = 512
#: Words per test fold below which the circular-shift null is anti-conservative in word mode
#: (measured: 8 % at p <= 0.05 with 80 words per fold, 6-7 % with 160-200, 4.4 % with 400;
#: docs/statistics.md). There ``method: auto`` refits, which is affordable at that size.
SHIFT_MIN_WORDS = 400


@dataclass
class StatisticsConfig:
    """Permutation statistics of cross-validated scores (YAML section ``statistics``).

    Attributes
    ----------
    n_permutations : int
        Number of circular shifts of the held-out predictions per electrode
        (``method: circular_shift``).
    n_refits : int
        Number of refits of the encoding model on circularly shifted data where ``method``
        is ``refit`` (the comparisons' refit nulls take ``comparison.n_refits``).
    method : str
        Null of the encoding test. ``"circular_shift"``: each outer test fold's predictions
        are rotated against the data and the null fold mean is scaled by the cross-fitting
        factor √2 (no refit; calibrated in TRF mode with 5 or more folds).
        ``"refit"``: the whole nested CV (alpha choice included) is refitted on the data
        rotated along the recording, ``n_refits`` times, and p comes from the normal
        prediction interval of that null (valid by construction; costs about ``n_refits`` fits
        per electrode, batched). ``"auto"`` (default): ``refit`` in word mode when a test
        fold holds fewer than 400 words, where the circular shift is anti-conservative
        (``docs/statistics.md``) and refits are affordable; ``circular_shift`` otherwise.
    fdr_alpha : float
        Benjamini–Hochberg false discovery rate across electrodes.
    seed : int
        Seed of the random shifts.
    """

    n_permutations: int = 1000
    n_refits: int = 100
    method: str = "auto"
    fdr_alpha: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_permutations < 1:
            raise UsageError(f"statistics.n_permutations must be >= 1, got {self.n_permutations}")
        if self.n_refits < 1:
            raise UsageError(f"statistics.n_refits must be >= 1, got {self.n_refits}")
        if self.method not in NULL_METHODS:
            raise UsageError(f"statistics.method must be one of {list(NULL_METHODS)}, got "
                             f"{self.method!r}")
        if not 0 < self.fdr_alpha < 1:
            raise UsageError(f"statistics.fdr_alpha must be in (0, 1), got {self.fdr_alpha}")

    def null(self, mode: str, words_per_fold: float | None = None) -> str:
        """The encoding null of ``method``, with ``auto`` resolved.

        Parameters
        ----------
        mode : str
            ``encoding.mode``.
        words_per_fold : float | None
            Words in the smallest outer test fold (word mode; None: unknown, counted as few).
        """
        if self.method != "auto":
            return self.method
        if mode == "word" and (words_per_fold is None or words_per_fold < SHIFT_MIN_WORDS):
            return "refit"
        return "circular_shift"
