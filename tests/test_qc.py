"""QC figures read the stimulus envelope from the feature cache when one is analysed."""

from __future__ import annotations

import numpy as np

from bids_app.features import acoustic
from bids_app.features.audio import read_audio
from bids_app.features.featureset import FeatureSet
from bids_app.report.qc import ENVELOPE_SFREQ, _stimulus_envelope
from bids_app.stimuli.stimulus import Stimulus


def test_the_cached_envelope_is_the_one_computed_from_the_audio(synthetic):
    audio_path = synthetic.root / "stimuli" / synthetic.stimuli[0]
    stimulus = Stimulus("s0", audio_path, None, onset=2.0, duration=40.0)
    from_audio = _stimulus_envelope(stimulus, None)
    times, values = acoustic.envelope(read_audio(stimulus.audio_path, 16000), 16000,
                                      ENVELOPE_SFREQ)
    cached = FeatureSet("envelope", "envelope", times, {"envelope": values})
    from_cache = _stimulus_envelope(stimulus, cached)
    assert from_cache.shape == from_audio.shape
    np.testing.assert_allclose(from_cache, from_audio, atol=1e-6)
