"""Model comparisons: prediction correlation, CCA shared space, variance partitioning.

The workflow calls one function per recording::

    inputs = ComparisonInputs(design, spaces, results, Y, segments, lags, channel_names,
                              words=word_samples(stimuli, word_timings, sfreq))
    result = compare_models(inputs, config=config, encoding=encoding, statistics=statistics)
"""

from bids_app._lazy import lazy_exports

# Imported on first use (bids_app._lazy), so that the configuration loads without pandas or SciPy.
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "cca": ("SharedSpace", "fit_shared_space"),
    "compare": ("compare_models",),
    "inputs": ("ComparisonInputs", "ComparisonResult"),
    "config": ("ComparisonConfig",),
    "dictionary": ("table_dictionary",),
    "partition": ("partition_regions",),
    "plan": ("FeatureSpaceInfo",),
    "predcorr": ("best_layer_result", "prediction_correlation"),
    "summaries": ("summarize",),
    "words": ("WordSamples", "word_samples"),
})
