"""Model comparisons: prediction correlation, CCA shared space, variance partitioning.

The lead's workflow calls one function per recording::

    result = compare_models(design, spaces, results, Y, segments, lags, config=config,
                            encoding=encoding, statistics=statistics, channel_names=names,
                            words=word_samples(stimuli, word_timings, sfreq))
"""

from bids_app.analysis.cca import SharedSpace, fit_shared_space
from bids_app.analysis.compare import (
    ComparisonResult,
    FeatureSpaceInfo,
    WordSamples,
    compare_models,
    word_samples,
)
from bids_app.analysis.config import ComparisonConfig
from bids_app.analysis.dictionary import table_dictionary
from bids_app.analysis.partition import partition_regions
from bids_app.analysis.predcorr import best_layer_result, prediction_correlation
from bids_app.analysis.summaries import summarize

__all__ = [
    "ComparisonConfig",
    "ComparisonResult",
    "FeatureSpaceInfo",
    "SharedSpace",
    "WordSamples",
    "best_layer_result",
    "compare_models",
    "fit_shared_space",
    "partition_regions",
    "prediction_correlation",
    "summarize",
    "table_dictionary",
    "word_samples",
]
