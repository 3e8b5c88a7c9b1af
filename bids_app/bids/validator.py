"""The official BIDS validator (``bids-validator-deno``, a PyPI dependency that runs offline)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

logger = logging.getLogger("ssl_ieeg")

#: The validator's command (installed with the package).
VALIDATOR = "bids-validator-deno"
#: Longest validation (s) before the light check is used instead.
TIMEOUT = 600


def official_errors(root: Path, report: Path) -> list[dict] | None:
    """Run the official validator on ``root``; return its errors, or None if it cannot run.

    Parameters
    ----------
    root : Path
        The BIDS dataset.
    report : Path
        Where its JSON report is saved (e.g. ``OUTPUT_DIR/logs/bids-validator.json``).

    Returns
    -------
    errors : list of dict | None
        The issues of severity ``error`` (``code``, ``location``, ``issueMessage``...); None
        when the validator is not installed, fails to start, times out or prints no report.
    """
    from bids_app.outputs.atomic import write_text

    command = shutil.which(VALIDATOR)
    if command is None:
        logger.warning("%s is not installed; using the light BIDS check", VALIDATOR)
        return None
    try:
        done = subprocess.run([command, str(root), "--format", "json"], capture_output=True,
                              text=True, timeout=TIMEOUT, check=False)
        issues = json.loads(done.stdout)["issues"]["issues"]
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError, TypeError) as err:
        logger.warning("%s could not validate %s (%s); using the light BIDS check", VALIDATOR,
                       root, err)
        return None
    write_text(report, done.stdout)
    logger.info("%s: %d issue(s), report in %s", VALIDATOR, len(issues), report)
    return [issue for issue in issues if issue.get("severity") == "error"]


def describe(errors: list[dict], limit: int = 5) -> str:
    """The first ``limit`` errors, one line each: code, file, message."""
    lines = [f"  {e.get('code')}: {e.get('location', '')} {e.get('issueMessage') or ''}".rstrip()
             for e in errors[:limit]]
    if len(errors) > limit:
        lines.append(f"  ... and {len(errors) - limit} more")
    return "\n".join(lines)
