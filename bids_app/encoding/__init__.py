"""Encoding models: time-lagged (TRF) and word-lag ridge with blocked nested CV and statistics.

The engine works on plain arrays and knows nothing of BIDS::

    result = cross_validate(X, Y, lags=config.lags_samples(100.0), segments=segments)
    p = permutation_test(result, Y)
    p_fdr, significant = fdr_bh(p)
"""

from bids_app._lazy import lazy_exports

# Imported on first use (bids_app._lazy), so that the configuration loads without numpy.
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "backend": ("Backend",),
    "config": ("EncodingConfig", "StatisticsConfig"),
    "cv": ("cross_validate", "cross_validate_folds", "cross_validate_subsets"),
    "estimator": ("TRFEncoder",),
    "result": ("EncodingResult",),
    "stats": ("fdr_bh", "permutation_test", "refit_null", "refit_p_values", "rotations",
              "significance"),
    "word": ("cross_validate_word_lags", "word_targets"),
})
