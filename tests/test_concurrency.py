"""Participants that share one OUTPUT_DIR (a SLURM array) compute each stimulus feature once."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest
from filelock import FileLock
from helpers import app_command, write_small_config

from bids_app.features.cache import entry_lock, feature_paths, lock_path

pytestmark = pytest.mark.slow  # three participant runs in subprocesses


def _wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


def test_concurrent_participants_compute_each_feature_once(synthetic, demo_config, tmp_path):
    config = write_small_config(demo_config, tmp_path)
    shared = tmp_path / "shared" / "derivatives"
    common = ["--config", config, "--skip-bids-validation", "-w", tmp_path / "work"]
    # Hold the first entry's lock, so that both tasks must meet on it: each waits, then one
    # computes it and the other reuses its file.
    first = feature_paths(shared / "stimuli", "story1", "envelope")[0]
    first.parent.mkdir(parents=True)
    held = FileLock(lock_path(first))
    held.acquire()
    logs, tasks = [], []
    for label in ("01", "02"):
        command, env = app_command(synthetic.root, shared, "participant",
                                   "--participant-label", label, *common)
        logs.append(tmp_path / f"sub-{label}.log")
        tasks.append(subprocess.Popen(command, env=env, stderr=logs[-1].open("w"),
                                      stdout=subprocess.DEVNULL))
    try:
        _wait_for(lambda: all("waiting for envelope for stim-story1" in log.read_text()
                              for log in logs))
    finally:
        held.release()
    assert [task.wait(timeout=300) for task in tasks] == [0, 0], \
        "\n".join(log.read_text()[-3000:] for log in logs)

    text = "".join(log.read_text() for log in logs)
    computed = re.findall(r"features: computing (\S+) for stim-(\S+)", text)
    expected = [(space, f"story{i}") for space in ("envelope", "mel", "wav2vec2")
                for i in (1, 2, 3)]
    assert sorted(computed) == sorted(expected)  # each once, by one task or the other
    assert text.count("features: reusing envelope for stim-story1") == 1

    alone = tmp_path / "alone" / "derivatives"
    command, env = app_command(synthetic.root, alone, "participant", *common)
    subprocess.run(command, env=env, check=True, capture_output=True)
    tables = sorted(p.relative_to(alone) for p in alone.glob("sub-*/ieeg/*_scores.tsv"))
    assert len(tables) == 6
    for table in tables:
        assert (shared / table).read_bytes() == (alone / table).read_bytes(), table


def test_lock_of_a_killed_task_is_released(tmp_path):
    entry = tmp_path / "stim-a" / "stim-a_desc-x_features.h5"
    entry.parent.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from filelock import FileLock; "
         f"lock = FileLock({str(lock_path(entry))!r}); lock.acquire(); print('held', flush=True); "
         "time.sleep(600)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"

    def give_up(seconds: float) -> None:
        raise TimeoutError("busy")

    with pytest.raises(TimeoutError), entry_lock(entry, give_up):
        pass  # never reached while the holder lives
    holder.send_signal(signal.SIGKILL)  # a task killed at its wall-time limit
    holder.wait()
    with entry_lock(entry, give_up):
        pass  # taken at once: the kernel dropped the dead task's lock


def test_a_failed_layer_cancels_the_layers_not_started(tmp_path):
    """With --nprocs 2 the first failed layer stops the participant: the layers queued behind
    it are never fitted (the stage's one pool holds every layer of every space)."""
    import numpy as np

    from bids_app.encoding import EncodingConfig, StatisticsConfig
    from bids_app.steps.encoding import LayerEncoder
    from bids_app.steps.run import RunOptions

    started = []

    def run(job: int) -> int:
        started.append(job)
        if job == 0:
            raise RuntimeError("planted failure of the first layer")
        time.sleep(0.2)
        return job

    encoder = LayerEncoder([], [], None, np.zeros(1), None, EncodingConfig(),
                           StatisticsConfig(), RunOptions(tmp_path, tmp_path, n_jobs=2,
                                                          device="cpu"), None, "", None)
    with pytest.raises(RuntimeError, match="planted failure"):
        for _ in encoder._map(run, list(range(20))):
            pass
    assert len(started) <= 4, started
