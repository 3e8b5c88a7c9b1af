"""Encoding models: time-lagged (TRF) and word-lag ridge with blocked nested CV and statistics.

The engine works on plain arrays and knows nothing of BIDS::

    result = cross_validate(X, Y, lags=config.lags_samples(100.0), segments=segments)
    p = permutation_test(result, Y)
    p_fdr, significant = fdr_bh(p)
"""

from bids_app.encoding.config import EncodingConfig, StatisticsConfig
from bids_app.encoding.cv import EncodingResult
from bids_app.encoding.perfold import (
    cross_validate,
    cross_validate_folds,
    cross_validate_subsets,
)
from bids_app.encoding.stats import fdr_bh, permutation_test
from bids_app.encoding.word import cross_validate_word_lags, word_targets

__all__ = [
    "EncodingConfig",
    "EncodingResult",
    "StatisticsConfig",
    "cross_validate",
    "cross_validate_folds",
    "cross_validate_subsets",
    "cross_validate_word_lags",
    "fdr_bh",
    "permutation_test",
    "word_targets",
]
