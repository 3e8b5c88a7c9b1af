"""Stimulus resolution: which audio and word timings each recording heard, and when."""

from bids_app.stimuli.stimulus import Stimulus, WordTimings

__all__ = ["Stimulus", "WordTimings"]
