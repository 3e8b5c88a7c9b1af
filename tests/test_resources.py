"""``--nprocs`` bounds every thread pool of a run (bids_app.resources)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import app_command

from bids_app.resources import THREAD_VARIABLES, limit_threads


def test_limit_threads_bounds_every_pool():
    import torch
    from mne.parallel import parallel_func
    from threadpoolctl import threadpool_info

    before = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    with limit_threads(1):
        assert {pool["num_threads"] for pool in threadpool_info()} == {1}
        assert torch.get_num_threads() == 1
        assert {os.environ[name] for name in THREAD_VARIABLES} == {"1"}
    with limit_threads(2):
        # MNE's n_jobs (joblib) runs in this process's threads, not in worker processes
        parallel, run, n_jobs = parallel_func(os.getpid, 2)
        assert n_jobs == 2
        assert set(parallel(run() for _ in range(4))) == {os.getpid()}
    assert {name: os.environ.get(name) for name in THREAD_VARIABLES} == before


def _thread_ticks(pid: int, ticks: dict[str, int]) -> None:
    """Record the CPU ticks (user + system) of each live thread of ``pid`` into ``ticks``."""
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread (or the process) has just ended
            continue
        ticks[task.name] = int(fields[11]) + int(fields[12])  # utime, stime


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_nprocs_1_runs_on_one_thread(synthetic, demo_config, tmp_path):
    """One participant of the demo (torch features, encoding, comparisons) with --nprocs 1."""
    command, env = app_command(synthetic.root, tmp_path / "out", "participant",
                               "--participant-label", "01", "--config", demo_config,
                               "--skip-bids-validation", "--nprocs", "1", "-w", tmp_path / "w")
    log = tmp_path / "log.txt"
    with log.open("w") as stderr:
        task = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        ticks: dict[str, int] = {}
        while task.poll() is None:
            _thread_ticks(task.pid, ticks)
            time.sleep(0.05)
    assert task.returncode == 0, log.read_text()[-3000:]
    busiest, total = max(ticks.values()), sum(ticks.values())
    assert total > 500  # more than 5 s of CPU: the run did real work
    assert busiest / total > 0.97, sorted(ticks.values())


@pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc",
                    reason="mallopt is glibc's")
def test_keep_freed_memory_keeps_a_freed_large_array_resident():
    """Without the call glibc unmaps a freed 128 MB array (resident memory drops by 128 MB);
    with it, the pages stay in the process for the next array, in worker threads too
    (whose own arenas would serve it with mmap)."""
    script = """
import sys, numpy as np
from concurrent.futures import ThreadPoolExecutor
from bids_app.resources import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def resident():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
def dropped():
    a = np.ones(2**24)  # 128 MB, above glibc's mmap threshold and a thread arena's heap
    before = resident()
    del a
    return (before - resident()) / 2**20
with ThreadPoolExecutor(2) as pool:
    print(max(dropped(), *pool.map(lambda _: dropped(), range(2))))
"""
    dropped = {mode: float(subprocess.run([sys.executable, "-c", script, mode], check=True,
                                          capture_output=True, text=True).stdout)
               for mode in ("keep", "default")}
    assert dropped["default"] > 120
    assert dropped["keep"] < 4
