"""False-positive rates of the encoding test on pure noise, regime by regime.

A regime is a noise model of the targets (white or 1/f), of the features (white or smooth),
a feature width, a fold count, the in-fold PCA on or off, the encoding mode (TRF or word) and
the null (circular shifts of the predictions, or refits on shifted data).
:func:`false_positive_rates` fits the engine with the default statistics to noise electrodes
that nothing drives and counts how many the permutation test calls significant: a calibrated
test rejects a fraction ``alpha`` of them, within the binomial interval.
``benchmarks/calibration.py`` prints the table; the tests check a few fast regimes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats
from scipy.ndimage import gaussian_filter1d

from bids_app.encoding import (
    EncodingConfig,
    EncodingResult,
    StatisticsConfig,
    cross_validate,
    cross_validate_word_lags,
    fdr_bh,
    significance,
)

SFREQ = 100.0


@dataclass(frozen=True)
class Regime:
    """One noise regime of the calibration.

    Attributes
    ----------
    targets : str
        ``"white"`` Gaussian or ``"pink"`` (1/f power spectrum) electrode noise.
    features : str
        ``"white"`` or ``"smooth"`` (Gaussian-smoothed over 5 samples) features.
    width : int
        Number of feature columns.
    n_folds : int
    layer_pca : int | None
        ``encoding.layer_pca`` (None: no in-fold PCA).
    mode : str
        ``"trf"`` or ``"word"`` (word-level features, one per word every ~0.3 s).
    seconds : float
        Recording length.
    method : str
        The null: ``"circular_shift"`` or ``"refit"`` (``statistics.method``; ``"auto"`` is
        resolved as the app resolves it).
    """

    targets: str = "white"
    features: str = "smooth"
    width: int = 10
    n_folds: int = 5
    layer_pca: int | None = 50
    mode: str = "trf"
    seconds: float = 120.0
    method: str = "circular_shift"


def false_positive_rates(regime: Regime, *, n_electrodes: int = 200, n_permutations: int = 200,
                         n_refits: int = 100, seed: int = 0) -> dict:
    """Fit the engine to pure-noise electrodes and count the significant ones.

    Parameters
    ----------
    regime : Regime
    n_electrodes : int
        Independent noise electrodes (word mode: every lag of every electrode is a test).
    n_permutations : int
        Circular shifts (``method: circular_shift``).
    n_refits : int
        Refits (``method: refit``).
    seed : int

    Returns
    -------
    row : dict
        The regime's fields, ``n_tests``, ``fpr_01`` and ``fpr_05`` (fraction of tests with
        p <= 0.01 and <= 0.05), their 95 % binomial intervals under a calibrated test
        (``ci_01``, ``ci_05``), whether each rate is inside (``ok_01``, ``ok_05``) and
        ``fdr_05`` (fraction significant after FDR at 0.05; about 0 when calibrated).
    """
    rng = np.random.default_rng(seed)
    n = int(regime.seconds * SFREQ)
    Y = _noise(rng, (n, n_electrodes), regime.targets)
    config = EncodingConfig(n_folds=regime.n_folds, layer_pca=regime.layer_pca)
    if regime.mode == "trf":
        X = _features(rng, (n, regime.width), regime.features)

        def fit(data: np.ndarray) -> tuple[EncodingResult, np.ndarray]:
            return cross_validate(X, data, lags=config.lags_samples(SFREQ), config=config), data
    else:
        onsets = np.arange(int(SFREQ), n - int(3 * SFREQ), int(0.3 * SFREQ))
        X = _features(rng, (len(onsets), regime.width), regime.features)

        def fit(data: np.ndarray) -> tuple[EncodingResult, np.ndarray]:
            return cross_validate_word_lags(X, data, onsets,
                                            config.word_lags_samples(SFREQ)[::10], config=config)
    result, targets = fit(Y)
    statistics = StatisticsConfig(n_permutations=n_permutations, n_refits=n_refits,
                                  method=regime.method, seed=seed)
    p = significance(result, targets, lambda data: fit(data)[0], Y, statistics, regime.mode,
                     max_columns=4096).ravel()
    p = p[~np.isnan(p)]
    row = {**asdict(regime), "n_tests": len(p)}
    for alpha, key in ((0.01, "01"), (0.05, "05")):
        low, high = stats.binom.interval(0.95, len(p), alpha)
        rate = float((p <= alpha).mean())
        row[f"fpr_{key}"] = rate
        row[f"ci_{key}"] = (low / len(p), high / len(p))
        row[f"ok_{key}"] = bool(low / len(p) <= rate <= high / len(p))
    row["fdr_05"] = float(fdr_bh(p, 0.05)[1].mean())
    return row


def _noise(rng: np.random.Generator, shape: tuple[int, int], kind: str) -> np.ndarray:
    """Unit-variance white or 1/f (pink) Gaussian noise, one column per series."""
    white = rng.standard_normal(shape)
    if kind == "white":
        return white.astype(np.float32)
    if kind != "pink":
        raise ValueError(f"targets must be 'white' or 'pink', got {kind!r}")
    spectrum = np.fft.rfft(white, axis=0)
    freqs = np.fft.rfftfreq(shape[0])
    spectrum[1:] /= np.sqrt(freqs[1:, None])
    spectrum[0] = 0
    pink = np.fft.irfft(spectrum, n=shape[0], axis=0)
    return (pink / pink.std(0)).astype(np.float32)


def _features(rng: np.random.Generator, shape: tuple[int, int], kind: str) -> np.ndarray:
    """White or smoothed Gaussian features."""
    X = rng.standard_normal(shape)
    if kind == "smooth":
        X = gaussian_filter1d(X, 5.0, axis=0)
    elif kind != "white":
        raise ValueError(f"features must be 'white' or 'smooth', got {kind!r}")
    return (X / X.std(0)).astype(np.float32)
