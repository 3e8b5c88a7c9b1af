"""Stimulus resolution: which audio and word timings each recording heard, and when.

The names below are imported on first use (:mod:`bids_app._lazy`), so
``bids_app.stimuli.config`` loads without numpy.
"""

from bids_app._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {"stimulus": ("Stimulus", "WordTimings")})
