"""What a participant run did, for its report: ``logs/sub-<label>_run.json``.

The record is written when a participant's analysis ends (``--reports-only`` never rewrites
it), so a re-rendered report keeps the original command, date, duration, software and
warnings. It holds the facts of each recording that the derivatives do not (the source's
sampling rate, channel counts, stimuli and their word counts).
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from bids_app import __version__
from bids_app.outputs.atomic import write_json

#: Distributions whose versions a report names (those that shape the numbers).
SOFTWARE = ("mne", "mne-bids", "pybids", "numpy", "scipy", "scikit-learn", "torch",
            "transformers", "nilearn")


@dataclass
class StimulusFacts:
    """One stimulus as presented: its file, onset in recording time, duration and words."""

    file: str
    onset: float
    duration: float
    n_words: int | None


@dataclass
class RecordingFacts:
    """One recording as analysed.

    Attributes
    ----------
    recording : str
        The entity stem (``sub-01_task-listen``).
    source : str
        The data file, relative to BIDS_DIR.
    sfreq : float
        Sampling rate of the source file in Hz.
    duration : float
        Length of the recording in seconds.
    n_good, n_bad : int
        Channels modelled, and channels excluded (bad, non-neural, missing, flagged).
    reference : str
        The re-referencing applied.
    line_freq : float | None
        The power-line frequency removed (detected or configured).
    stimuli : list of StimulusFacts
    """

    recording: str
    source: str
    sfreq: float
    duration: float
    n_good: int
    n_bad: int
    reference: str
    line_freq: float | None
    stimuli: list[StimulusFacts] = field(default_factory=list)


@dataclass
class RunRecord:
    """One participant run: command, when and how long, software, warnings, recordings."""

    subject: str
    command: str
    started: str
    seconds: float
    version: str = __version__
    python: str = field(default_factory=platform.python_version)
    software: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    recordings: list[RecordingFacts] = field(default_factory=list)


def software_versions() -> dict[str, str]:
    """Installed versions of :data:`SOFTWARE` (``"not installed"`` where absent)."""
    versions = {}
    for name in SOFTWARE:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def write_run_record(path: Path, record: RunRecord) -> Path:
    """Write ``record`` as JSON (atomically)."""
    return write_json(path, asdict(record))


def read_run_record(path: Path) -> RunRecord | None:
    """The record at ``path``, or None when there is none (or it cannot be read)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        recordings = [RecordingFacts(**{**r, "stimuli": [StimulusFacts(**s)
                                                        for s in r["stimuli"]]})
                      for r in data.pop("recordings")]
        return RunRecord(**data, recordings=recordings)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def now() -> str:
    """The local time as ISO 8601 with its offset, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def collect_warnings(logger: logging.Logger) -> Iterator[list[str]]:
    """Collect the warning (and error) messages ``logger`` emits inside the block."""
    collector = _Collector()
    logger.addHandler(collector)
    try:
        yield collector.messages
    finally:
        logger.removeHandler(collector)
