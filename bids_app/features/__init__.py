"""Stimulus features (acoustic, speech, language, static, phonetic), cached per stimulus.

The names below are imported on first use (:mod:`bids_app._lazy`): the feature spec is light,
the extractors load torch and transformers.
"""

from bids_app._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "extract": ("load_or_compute_features", "needs_words"),
    "featureset": ("FeatureSet",),
    "spec": ("FeatureSpec",),
})
