"""BIDS discovery: recordings, channels, electrodes and events, with the user's filters applied.

``Recording`` is imported on first use (:mod:`bids_app._lazy`), so ``bids_app.bids.config``
loads without pandas.
"""

from bids_app._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {"recording": ("Recording",)})
