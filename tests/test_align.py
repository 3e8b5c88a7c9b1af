"""Features on the neural timeline: interpolation, word impulses, stimulus segments."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bids_app.encoding.align import (
    Designs,
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
    assert design[300, 0] == 200 and not design[:100].any() and not design[301:].any()
    words = FeatureSet("lm", "language", times=np.array([0.5, 1.25, 1.252]),
                       layers={"l0": np.array([[1.0], [2.0], [4.0]], dtype=np.float32)},
                       offsets=np.array([0.9, 1.25, 1.5]))
    impulses = align_features([words], [stimulus], "l0", n_times=400, sfreq=100.0)
    assert impulses[150, 0] == 1.0 and impulses[225, 0] == 6.0  # two words on one sample
    assert np.count_nonzero(impulses) == 2
    segments = stimulus_segments([stimulus], 400, 100.0)
    assert segments[99] == -1 and segments[100] == 0 and segments[300] == 0
    assert segments[301] == -1
    timings = WordTimings(("a", "b"), np.array([0.5, 1.25]), np.array([0.9, 1.5]))
    rows, onsets = word_design([frames], [stimulus], [timings], "env")
    np.testing.assert_allclose(rows[:, 0], [50, 125])
    np.testing.assert_allclose(onsets, [1.5, 2.25])


def test_designs_are_built_once_within_the_budget_and_read_only():
    stimulus = Stimulus("s", Path("s.wav"), None, onset=0.0, duration=2.0)
    frames = FeatureSet("lm", "speech", times=np.arange(0, 2.001, 0.01),
                        layers={f"l{i}": np.full((201, 8), i, dtype=np.float32)
                                for i in range(3)})
    one = 200 * 8 * 4  # bytes of one design (200 samples x 8 features, float32)
    designs = Designs({"lm": [frames]}, [stimulus], n_times=200, sfreq=100.0,
                      max_bytes=2 * one)
    first = designs("lm", "l0")
    np.testing.assert_array_equal(first, align_features([frames], [stimulus], "l0", 200, 100.0))
    assert not first.flags.writeable
    assert designs("lm", "l0") is first and designs.builds == 1
    designs("lm", "l1")
    designs("lm", "l2")  # over budget: l0, the least recently used, goes
    assert designs.builds == 3
    assert designs("lm", "l2") is designs("lm", "l2") and designs.builds == 3
    designs("lm", "l0")
    assert designs.builds == 4
    tiny = Designs({"lm": [frames]}, [stimulus], n_times=200, sfreq=100.0, max_bytes=one - 1)
    assert tiny("lm", "l0") is not tiny("lm", "l0") and tiny.builds == 2
