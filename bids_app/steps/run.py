"""What both levels share: the run's options, its engine settings, and failed participants'
crash files and partial outputs (the group level reads the crash files without importing the
participant pipeline)."""

from __future__ import annotations

import logging
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from bids_app import __version__
from bids_app.encoding.backend import Backend
from bids_app.features.models import resolve_device
from bids_app.outputs.atomic import write_text
from bids_app.outputs.derivatives import crash_path

logger = logging.getLogger("ssl_ieeg")
#: Prefix of the message line of a crash file.
CRASH_MESSAGE = "error: "


@dataclass(frozen=True)
class RunOptions:
    """Resources and housekeeping options from the command line.

    Attributes
    ----------
    bids_dir, output_dir : Path
        Input dataset, derivatives root. (The scratch space, ``-w``, is the run's ``TMPDIR``,
        set by the command line; no stage reads it from here.)
    n_jobs : int
        Threads for numerical work (``--nprocs``).
    device : str
        ``auto``, ``cpu`` or ``cuda`` for models and the ridge engine.
    model_dir : Path | None
        Where local model checkpoints live (``--model-dir``).
    mem_bytes : int | None
        Memory the run may use (``--mem``); a recording whose estimated peak exceeds it is
        refused before any work. None: no check.
    reports_only : bool
        Re-render reports from existing derivatives, computing nothing.
    command : str
        The command line, for provenance.
    """

    bids_dir: Path
    output_dir: Path
    n_jobs: int = 1
    device: str = "auto"
    model_dir: Path | None = None
    mem_bytes: int | None = None
    reports_only: bool = False
    command: str = ""


@dataclass(frozen=True)
class ParticipantOutcome:
    """How one participant's run ended."""

    subject: str
    exit_code: int
    message: str = ""
    crash_file: Path | None = None


def remove_participant_outputs(output_dir: Path, subject: str) -> None:
    """Remove what a failed participant wrote (``sub-<label>/`` and its report).

    The stage cache (``stages/``) and the per-stimulus feature cache are kept: they hold only
    complete results, and a rerun resumes from them.
    """
    folder, report = output_dir / f"sub-{subject}", output_dir / f"sub-{subject}.html"
    if folder.exists() or report.exists():
        shutil.rmtree(folder, ignore_errors=True)
        report.unlink(missing_ok=True)
        logger.info("sub-%s: removed its partial outputs", subject)


def write_crash_file(output_dir: Path, subject: str, error: BaseException) -> Path:
    """Write the error of a failed participant to ``logs/crash-sub-<label>-<time>.txt``.

    The file holds the version, the message (up to the first blank line;
    :func:`read_crash_message` reads it back for the group report) and the traceback.
    """
    text = "".join(traceback.format_exception(error))
    path = crash_path(output_dir, subject, time.strftime("%Y%m%d-%H%M%S"))
    return write_text(path, f"ssl-ieeg {__version__}\n{CRASH_MESSAGE}{error}\n\n{text}")


def read_crash_message(path: Path) -> str:
    """The error message written by :func:`write_crash_file`; for a crash file of an earlier
    version (a bare traceback), its last line, which names the exception and its message."""
    text = path.read_text(encoding="utf-8", errors="replace")
    _, found, message = text.split("\n\n", 1)[0].partition(CRASH_MESSAGE)
    if found:
        return message.strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def parallel_layers(options: RunOptions) -> int:
    """Layers fitted at once: ``--nprocs`` on the CPU, one on the GPU."""
    return 1 if resolve_device(options.device) == "cuda" else options.n_jobs


def engine(options: RunOptions) -> Backend:
    """The ridge engine's backend for ``--device`` and ``--nprocs``."""
    device = resolve_device(options.device)
    return Backend("torch" if device == "cuda" else "numpy", device, options.n_jobs)
