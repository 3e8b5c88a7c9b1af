"""Progress of long stages that a person can follow: one line per step, with an ETA."""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

logger = logging.getLogger("ssl_ieeg")


def format_seconds(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"`` or ``"1 h 02 min"``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass
class Progress:
    """Counts the steps of a stage and logs one INFO line per step.

    The ETA is the mean time of the steps computed so far times the steps left, divided by
    the steps that run at once (reused steps take no time and are not counted in the mean).

    Attributes
    ----------
    stage : str
        Name of the stage, e.g. ``"encoding"``.
    total : int
        Number of steps.
    workers : int
        Steps that run at the same time.
    """

    stage: str
    total: int
    workers: int = 1
    done: int = 0
    computed_seconds: list[float] = field(default_factory=list)

    def step(self, label: str, seconds: float, reused: bool = False, detail: str = "") -> None:
        """Record one finished step and log it."""
        self.done += 1
        if not reused:
            self.computed_seconds.append(seconds)
        left = self.total - self.done
        eta = ""
        if left and self.computed_seconds:
            mean = sum(self.computed_seconds) / len(self.computed_seconds)
            eta = f", {self.stage} ETA {format_seconds(mean * left / self.workers)}"
        how = "reused" if reused else format_seconds(seconds)
        extra = f", {detail}" if detail else ""
        logger.info("%s %d/%d: %s: %s%s%s", self.stage, self.done, self.total, label, how,
                    extra, eta)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Log a stage's wall time, CPU time and the process's peak memory when it ends.

    The line reads ``stage <name> done: wall 12 s, CPU 23 s, peak memory 1.4 GB``.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    logger.info("stage %s done: wall %s, CPU %s, peak memory %.2f GB", name,
                format_seconds(time.perf_counter() - wall),
                format_seconds(time.process_time() - cpu), peak / 1e9)
