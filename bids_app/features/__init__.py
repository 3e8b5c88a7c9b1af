"""Stimulus features (acoustic, speech-model, language-model, static, phonetic), cached per stimulus."""

from bids_app.features.featureset import FeatureSet

__all__ = ["FeatureSet"]
