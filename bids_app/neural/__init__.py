"""Neural preprocessing: raw iEEG to z-scored high-gamma envelopes (``NeuralData``)."""

from bids_app.neural.config import PreprocessingConfig
from bids_app.neural.data import NeuralData
from bids_app.neural.io import load_raw
from bids_app.neural.preprocess import preprocess
from bids_app.neural.qc import envelope_alignment, onset_response
from bids_app.neural.responsive import ElectrodeConfig, speech_responsive
from bids_app.neural.write import write_highgamma

__all__ = ["ElectrodeConfig", "NeuralData", "PreprocessingConfig", "envelope_alignment", "load_raw",
           "onset_response", "preprocess", "speech_responsive", "write_highgamma"]
