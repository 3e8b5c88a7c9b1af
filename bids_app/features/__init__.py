"""Stimulus features (acoustic, speech, language, static, phonetic), cached per stimulus."""

from bids_app.features.extract import load_or_compute_features, needs_words
from bids_app.features.featureset import FeatureSet
from bids_app.features.spec import FeatureSpec

__all__ = ["FeatureSet", "FeatureSpec", "load_or_compute_features", "needs_words"]
