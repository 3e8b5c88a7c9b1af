"""A synthetic BIDS iEEG speech-listening dataset with a known ground truth (demo and tests).

- :mod:`~bids_app.synthetic.audio`: speech-like audio, word timings, broadband envelope.
- :mod:`~bids_app.synthetic.signals`: iEEG signals whose high-gamma follows the envelope.
- :mod:`~bids_app.synthetic.layout`: the BIDS files.
- :mod:`~bids_app.synthetic.dataset`: :func:`make_synthetic_dataset` and the ground truth.
"""

from bids_app.synthetic.audio import AUDIO_SFREQ, broadband_envelope, make_speech
from bids_app.synthetic.dataset import (
    GroundTruth,
    SyntheticDataset,
    make_synthetic_dataset,
    read_ground_truth,
)

__all__ = [
    "AUDIO_SFREQ",
    "GroundTruth",
    "SyntheticDataset",
    "broadband_envelope",
    "make_speech",
    "make_synthetic_dataset",
    "read_ground_truth",
]
