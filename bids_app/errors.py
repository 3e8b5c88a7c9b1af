"""Errors that map to the documented BIDS-Apps exit codes (README.md, "Exit codes").

Every stage raises one of these for bad input; the CLI turns them into the exit code and prints
the message, which names the offending file and says what to fix.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

EXIT_SUCCESS = 0
EXIT_FAILURE = 1
EXIT_VALIDATION = 16
EXIT_UNKNOWN_LEVEL = 17
EXIT_NOTHING_SELECTED = 18
EXIT_USAGE = 64
EXIT_BAD_DATA = 65
EXIT_MISSING_INPUT = 66
EXIT_CANNOT_CREATE_OUTPUT = 73


class SslIeegError(Exception):
    """Base class of the app's expected errors; ``exit_code`` is what the CLI returns."""

    exit_code = EXIT_FAILURE


class BidsValidationError(SslIeegError):
    """The input is not a valid BIDS dataset."""

    exit_code = EXIT_VALIDATION


class NothingSelectedError(SslIeegError):
    """The filters (labels, sessions, tasks) matched no recording."""

    exit_code = EXIT_NOTHING_SELECTED


class UsageError(SslIeegError, ValueError):
    """Bad command line, configuration or argument value (also a ``ValueError``)."""

    exit_code = EXIT_USAGE


class BadDataError(SslIeegError, ValueError):
    """An input exists but cannot be used (unreadable, placeholder, inconsistent; also a
    ``ValueError``)."""

    exit_code = EXIT_BAD_DATA


class MissingInputError(SslIeegError):
    """A required input (stimulus, transcript, model) is missing."""

    exit_code = EXIT_MISSING_INPUT


class OutputError(SslIeegError):
    """The output directory or a file in it cannot be created."""

    exit_code = EXIT_CANNOT_CREATE_OUTPUT


def require_readable(path: str | Path) -> None:
    """Refuse, before any work, an input file this user cannot read (exit 65).

    Raises
    ------
    BadDataError
        When ``path`` exists but is not readable by this process's user; the message names
        the file and the fix.
    """
    path = Path(path)
    if path.exists() and not os.access(path, os.R_OK):
        raise BadDataError(
            f"Cannot read {path}: permission denied for this user (uid {os.getuid()}). Make "
            f"it readable (e.g. chmod a+r '{path}') or run as a user who can read it; in a "
            "container, check the user it runs as and how the folder is mounted.")


def read_json_object(path: str | Path) -> dict:
    """A JSON sidecar that must hold an object (key: value pairs).

    Raises
    ------
    BadDataError
        When ``path`` is unreadable by this user (:func:`require_readable`), not valid JSON,
        or not an object; the message names the file.
    """
    require_readable(path)
    try:
        content = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except ValueError as err:
        raise BadDataError(f"{path} is not valid JSON ({err}); fix or remove it.") from err
    if not isinstance(content, dict):
        raise BadDataError(f"{path} must hold a JSON object (key: value pairs)")
    return content

