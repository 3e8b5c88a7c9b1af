"""BIDS discovery: recordings, channels, electrodes and events, with the user's filters applied."""

from bids_app.bids.recording import Recording

__all__ = ["Recording"]
