"""Neural preprocessing: raw iEEG to z-scored high-gamma envelopes (``NeuralData``).

The names below are imported on first use (:mod:`bids_app._lazy`), so the configuration
classes load without MNE, SciPy or pandas.
"""

from bids_app._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "config": ("ElectrodeConfig", "PreprocessingConfig"),
    "data": ("NeuralData",),
    "io": ("load_raw", "recording_duration"),
    "preprocess": ("preprocess",),
    "qc": ("envelope_alignment", "onset_response"),
    "responsive": ("phrase_onsets", "response_onsets", "speech_responsive"),
    "write": ("write_highgamma",),
})
