"""A usable per-user environment for any UID: HOME and the libraries' cache folders.

Containers run as arbitrary UIDs (``docker run -u``, Apptainer), often without a passwd entry,
with a read-only root file system and a ``/tmp`` shared with other users. pybids calls
``Path.home()`` at import, and matplotlib, numba, torch and Hugging Face keep caches under
``HOME`` or a configured folder. :func:`prepare_environment` makes sure each of these is a folder
this user can write, falling back to a private per-user temporary folder, before any of those
libraries is imported.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

#: Cache and configuration folders that, when set but not writable, are moved to the per-user
#: temporary folder (unset ones default under HOME).
CACHE_VARIABLES = ("MPLCONFIGDIR", "NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME")


def user_temp_dir() -> Path:
    """A private (0700) folder of this user in the temporary directory, created if needed.

    ``TMPDIR/ssl-ieeg-<uid>``, shared by this user's runs; a fresh ``mkdtemp`` folder when that
    name exists but belongs to someone else or cannot be written.
    """
    uid = os.getuid()
    path = Path(tempfile.gettempdir()) / f"ssl-ieeg-{uid}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        if path.stat().st_uid == uid and writable_dir(path):
            return path
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix=f"ssl-ieeg-{uid}-"))


def writable_dir(path: Path, create: bool = True) -> bool:
    """True when ``path`` is a folder this user can write; with ``create``, made if missing.

    Tested by creating and removing a file, which also catches what permission bits do not
    show (read-only mounts, root-squashed network shares).
    """
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}-{time.time_ns()}"
        probe.touch()
        probe.unlink()
    except OSError:
        return False
    return True


def prepare_environment() -> list[str]:
    """Point HOME and unwritable cache variables at folders this user can write.

    HOME is replaced when it is unset, empty or not writable (no passwd entry, ``/`` on a
    read-only image); a cache variable of :data:`CACHE_VARIABLES` when it is set to a folder this
    user cannot write (e.g. a fixed ``/tmp/matplotlib`` made by another UID).

    Returns
    -------
    changes : list of str
        One message per variable changed, for the log.
    """
    changes = []
    home = os.environ.get("HOME", "")
    if not home or not writable_dir(Path(home), create=False):
        os.environ["HOME"] = str(user_temp_dir() / "home")
        Path(os.environ["HOME"]).mkdir(exist_ok=True)
        changes.append(f"HOME {home or '(unset)'} is not writable; using {os.environ['HOME']}")
    for name in CACHE_VARIABLES:
        value = os.environ.get(name)
        if value and not writable_dir(Path(value)):
            os.environ[name] = str(user_temp_dir() / name.lower())
            changes.append(f"{name} {value} is not writable; using {os.environ[name]}")
    return changes
