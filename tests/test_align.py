"""Features on the neural timeline: interpolation, word impulses, stimulus segments."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bids_app.encoding.align import (
    align_features,
    interpolate_rows,
    stimulus_segments,
    word_design,
)
from bids_app.features import FeatureSet
from bids_app.stimuli import Stimulus, WordTimings


def test_interpolate_rows_equals_np_interp_per_column():
    rng = np.random.default_rng(0)
    times = np.sort(rng.uniform(0, 10, 50))
    values = rng.normal(size=(50, 4))
    at = np.linspace(-1, 11, 300)
    expected = np.stack([np.interp(at, times, v) for v in values.T], axis=1)
    np.testing.assert_allclose(interpolate_rows(times, values, at), expected, rtol=1e-5,
                               atol=1e-6)


def test_frames_and_word_impulses_land_at_the_right_samples():
    stimulus = Stimulus("s", Path("s.wav"), None, onset=1.0, duration=2.0)
    frames = FeatureSet("env", "envelope", times=np.arange(0, 2.001, 0.01),
                        layers={"env": np.arange(201, dtype=np.float32)[:, None]})
    design = align_features([frames], [stimulus], "env", n_times=400, sfreq=100.0)
    assert design[99, 0] == 0 and design[100, 0] == 0 and design[150, 0] == 50
    assert design[300, 0] == 200 and design[301, 0] == 0
    words = FeatureSet("lm", "language", times=np.array([0.5, 1.25]),
                       layers={"l0": np.array([[1.0], [2.0]], dtype=np.float32)},
                       offsets=np.array([0.9, 1.5]))
    impulses = align_features([words], [stimulus], "l0", n_times=400, sfreq=100.0)
    assert impulses[150, 0] == 1.0 and impulses[225, 0] == 2.0
    assert np.count_nonzero(impulses) == 2
    segments = stimulus_segments([stimulus], 400, 100.0)
    assert segments[99] == -1 and segments[100] == 0 and segments[300] == 0
    assert segments[301] == -1
    timings = WordTimings(("a", "b"), np.array([0.5, 1.25]), np.array([0.9, 1.5]))
    rows, onsets = word_design([frames], [stimulus], [timings], "env")
    np.testing.assert_allclose(rows[:, 0], [50, 125])
    np.testing.assert_allclose(onsets, [1.5, 2.25])
