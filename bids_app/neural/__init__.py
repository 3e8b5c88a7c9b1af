"""Neural preprocessing: raw iEEG to z-scored high-gamma envelopes (``NeuralData``)."""

from bids_app.neural.config import PreprocessingConfig
from bids_app.neural.data import NeuralData
from bids_app.neural.io import load_raw
from bids_app.neural.preprocess import preprocess
from bids_app.neural.write import write_highgamma

__all__ = ["NeuralData", "PreprocessingConfig", "load_raw", "preprocess", "write_highgamma"]
