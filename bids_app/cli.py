"""The BIDS-Apps command line: ``ssl-ieeg BIDS_DIR OUTPUT_DIR {participant,group} [options]``.

It parses and checks arguments, sets up logging, and hands over to :mod:`bids_app.workflow`
and :mod:`bids_app.group`. Every expected error becomes its documented exit code (the
README's table, :mod:`bids_app.errors`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bids_app import __version__
from bids_app.environment import prepare_environment, user_temp_dir, writable_dir
from bids_app.errors import (
    EXIT_SUCCESS,
    EXIT_UNKNOWN_LEVEL,
    MissingInputError,
    OutputError,
    SslIeegError,
    UsageError,
)

if TYPE_CHECKING:
    from bids_app.bids.discovery import Filters
    from bids_app.config import AppConfig
    from bids_app.steps.run import RunOptions

logger = logging.getLogger("ssl_ieeg")
ANALYSIS_LEVELS = ("participant", "group")


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are exit 64 (usage), as the BIDS-Apps spec asks."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; hyphen and underscore spellings of each option are accepted."""
    parser = _Parser(prog="ssl-ieeg", description=(
        "Encoding models of iEEG high-gamma from self-supervised speech and language models "
        "(Chen et al., ICASSP 2024) as a BIDS App."))
    parser.add_argument("bids_dir", type=Path, help="the BIDS dataset root")
    parser.add_argument("output_dir", type=Path,
                        help="the derivatives root, e.g. BIDS_DIR/derivatives/ssl-ieeg")
    parser.add_argument("analysis_level", help="participant or group")
    parser.add_argument("--version", action="version", version=f"ssl-ieeg {__version__}")
    filters = parser.add_argument_group("selection")
    _add(filters, "--participant-label", nargs="+", default=[], metavar="LABEL",
         help="participants to analyse, with or without 'sub-' (default: all)")
    _add(filters, "--session-label", nargs="+", default=[], metavar="LABEL")
    _add(filters, "--task-label", nargs="+", default=[], metavar="LABEL")
    _add(filters, "--run-label", nargs="+", default=[], metavar="LABEL")
    _add(filters, "--bids-filter-file", type=Path, metavar="FILE",
         help="JSON of PyBIDS filters applied to the iEEG query, e.g. {\"ieeg\": {\"acquisition\": "
              "\"clinical\"}}")
    analysis = parser.add_argument_group("analysis")
    analysis.add_argument("--config", type=Path, metavar="FILE", help="YAML configuration")
    analysis.add_argument("--models", nargs="+", metavar="NAME",
                          help="feature spaces to run (names from the config's features list)")
    _add(analysis, "--model-dir", type=Path, metavar="DIR",
         help="directory of local model checkpoints, searched before the Hugging Face cache")
    resources = parser.add_argument_group("resources")
    _add(resources, "-w", "--work-dir", type=Path, metavar="DIR",
         help="scratch directory for temporary files, e.g. node-local storage on HPC "
              "(default: OUTPUT_DIR/../work, or a per-run temporary directory where that "
              "cannot be created)")
    resources.add_argument("--nprocs", type=int, default=1,
                           help="threads: bounds every thread pool of the run (BLAS, torch, "
                                "MNE's n_jobs, layers fitted at once) (default 1)")
    resources.add_argument("--mem", type=str, metavar="SIZE",
                           help="memory the run may use, e.g. 16G, 16000M or 16GiB; a "
                                "recording whose estimated peak exceeds it is refused before "
                                "any work (exit 64) (default: 90%% of the machine's or "
                                "cgroup's memory)")
    resources.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    house = parser.add_argument_group("housekeeping")
    _add(house, "--skip-bids-validation", action="store_true")
    _add(house, "--reports-only", action="store_true",
         help="re-render reports from existing derivatives")
    house.add_argument("-v", "--verbose", action="count", default=0,
                       help="-v for debugging output (per-fold and library messages); "
                            "progress is shown by default")
    return parser


def _add(group: argparse._ArgumentGroup, *flags: str, **kwargs) -> None:
    """Add an option under its hyphen spelling and, as an alias, its underscore spelling."""
    aliases = ["--" + f[2:].replace("-", "_") for f in flags if f.startswith("--") and "-" in f[2:]]
    group.add_argument(*flags, *aliases, **kwargs)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ssl-ieeg`` and ``python -m bids_app``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        with _logging_to_stderr(args.verbose):
            for change in prepare_environment():
                logger.debug("%s", change)
            return _run(args, "ssl-ieeg " + shlex.join(argv))
    except SslIeegError as err:
        print(f"ssl-ieeg: error: {err}", file=sys.stderr)
        return err.exit_code


def _run(args: argparse.Namespace, command: str) -> int:
    # Imported here so that --help, --version and usage errors answer instantly.
    from bids_app.config import load_config
    from bids_app.group import run_group
    from bids_app.resources import keep_freed_memory, limit_threads
    from bids_app.steps.run import RunOptions

    if args.analysis_level not in ANALYSIS_LEVELS:
        print(f"ssl-ieeg: error: unknown analysis level {args.analysis_level!r}; "
              f"choose one of {ANALYSIS_LEVELS}", file=sys.stderr)
        return EXIT_UNKNOWN_LEVEL
    bids_dir = args.bids_dir.resolve()
    output_dir = args.output_dir.resolve()
    if not bids_dir.is_dir():
        raise MissingInputError(f"BIDS_DIR {args.bids_dir} does not exist or is not a directory.")
    if output_dir == bids_dir:
        raise UsageError("OUTPUT_DIR must differ from BIDS_DIR; use e.g. "
                         f"{bids_dir / 'derivatives' / 'ssl-ieeg'}")
    if args.nprocs < 1:
        raise UsageError(f"--nprocs must be >= 1, got {args.nprocs}")
    from bids_app.cost import default_memory, parse_memory

    mem_bytes = parse_memory(args.mem) if args.mem is not None else default_memory()
    config = load_config(args.config, args.models)
    filters = build_filters(args)
    _prepare_output(output_dir)
    work_dir, per_run = _work_dir(args.work_dir, output_dir)
    options = RunOptions(bids_dir=bids_dir, output_dir=output_dir,
                         n_jobs=args.nprocs, device=args.device, model_dir=args.model_dir,
                         mem_bytes=mem_bytes, reports_only=args.reports_only, command=command)
    keep_freed_memory()
    with _temporary_files_in(work_dir, remove=per_run), limit_threads(args.nprocs):
        if args.analysis_level == "group":
            run_group(options, config, filters)
            return EXIT_SUCCESS
        return _run_participant_level(args, options, config, filters)


def _run_participant_level(args: argparse.Namespace, options: RunOptions, config: AppConfig,
                           filters: Filters) -> int:
    """Validate, discover, run every participant; the first failure's code is returned."""
    from bids_app.bids.discovery import (
        check_description,
        find_recordings,
        open_layout,
        validate_dataset,
    )
    from bids_app.outputs.atomic import remove_stale_partials, write_text
    from bids_app.outputs.citation import methods_text
    from bids_app.outputs.derivatives import initialize_derivatives
    from bids_app.workflow import run_participants

    bids_dir, output_dir = options.bids_dir, options.output_dir
    if not args.skip_bids_validation:
        validate_dataset(bids_dir, output_dir / "logs" / "bids-validator.json",
                         filters.participant_labels)
    check_description(bids_dir)
    unreadable: dict[str, SslIeegError] = {}  # participants whose sidecars cannot be read
    recordings = find_recordings(open_layout(bids_dir), filters, config.bids, unreadable)
    initialize_derivatives(output_dir, bids_dir, [spec.name for spec in config.features])
    stale = remove_stale_partials(output_dir)
    if stale:
        logger.info("removed %d temporary file(s) left in %s by killed runs", stale, output_dir)
    write_text(output_dir / "logs" / f"config-{config.digest()}.yaml", config.to_yaml())
    write_text(output_dir / "logs" / "CITATION.md", methods_text(config))
    outcomes = run_participants(recordings, config, options, unreadable)
    failed = [o for o in outcomes if o.exit_code != EXIT_SUCCESS]
    for outcome in failed:
        print(f"ssl-ieeg: sub-{outcome.subject} failed: {outcome.message}\n"
              f"  crash file: {outcome.crash_file}", file=sys.stderr)
    logger.info("%d of %d participant(s) succeeded", len(outcomes) - len(failed), len(outcomes))
    return failed[0].exit_code if failed else EXIT_SUCCESS


def build_filters(args: argparse.Namespace) -> Filters:
    """The recording filters of the command line, labels without their ``sub-``-style prefix."""
    from bids_app.bids.discovery import Filters, normalize_label

    return Filters(
        participant_labels=tuple(normalize_label(x, "sub") for x in args.participant_label),
        session_labels=tuple(normalize_label(x, "ses") for x in args.session_label),
        task_labels=tuple(normalize_label(x, "task") for x in args.task_label),
        run_labels=tuple(normalize_label(x, "run") for x in args.run_label),
        bids_filters=_read_filter_file(args.bids_filter_file))


def _read_filter_file(path: Path | None) -> dict:
    """The ``ieeg`` entry of a PyBIDS filter file (``{"ieeg": {"acquisition": "x"}}``)."""
    if path is None:
        return {}
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise UsageError(f"Cannot read --bids-filter-file {path}: {err}") from err
    if not isinstance(content, dict) or not isinstance(content.get("ieeg", {}), dict):
        raise UsageError(f"--bids-filter-file {path} must map 'ieeg' to a dict of entities")
    return content.get("ieeg", {})


def _prepare_output(output_dir: Path) -> None:
    """Create OUTPUT_DIR and its logs folder, or fail with exit 73."""
    try:
        (output_dir / "logs").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"Cannot create OUTPUT_DIR {output_dir}: {err}") from err
    if not writable_dir(output_dir, create=False):
        raise OutputError(f"OUTPUT_DIR {output_dir} is not writable.")


def _work_dir(requested: Path | None, output_dir: Path) -> tuple[Path, bool]:
    """The run's work directory and whether it is a per-run temporary one to remove at the end.

    ``-w`` wins (created later, exit 73 if it cannot be). Otherwise ``OUTPUT_DIR/../work``, or,
    where that cannot be created or written (a read-only container root, a shared derivatives
    parent), a new folder in this user's temporary directory, said in the log.
    """
    if requested is not None:
        return requested.resolve(), False
    default = (output_dir.parent / "work").resolve()
    if writable_dir(default):
        return default, False
    work_dir = Path(tempfile.mkdtemp(prefix="work-", dir=user_temp_dir()))
    logger.info("work directory %s cannot be used (not creatable or not writable); using %s "
                "for this run (set another with -w)", default, work_dir)
    return work_dir, True


@contextmanager
def _temporary_files_in(work_dir: Path, remove: bool = False) -> Iterator[None]:
    """Send the run's temporary files (``TMPDIR``) to ``work_dir``, then restore.

    With ``remove``, ``work_dir`` (a per-run temporary folder) is deleted at the end.
    """
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"Cannot create the work directory {work_dir}: {err}") from err
    saved = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = str(work_dir)
    os.environ["TMPDIR"] = str(work_dir)
    try:
        yield
    finally:
        if remove:
            shutil.rmtree(work_dir, ignore_errors=True)
        tempfile.tempdir = saved[0]
        if saved[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[1]


@contextmanager
def _logging_to_stderr(verbosity: int) -> Iterator[None]:
    """Send the app's log to stderr for the duration of a run, then restore the logger."""
    level = (logging.INFO, logging.DEBUG)[min(verbosity, 1)]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] %(message)s", "%H:%M:%S"))
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
