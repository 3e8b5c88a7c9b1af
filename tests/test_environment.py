"""Running as any user: HOME and caches per user, the work-directory fallback, container type."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import pytest

from bids_app.cli import _temporary_files_in, _work_dir
from bids_app.environment import prepare_environment, user_temp_dir
from bids_app.outputs.derivatives import container_type


@pytest.fixture
def temp_root(tmp_path, monkeypatch) -> Path:
    """A private temporary directory standing in for /tmp."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def test_user_temp_dir_is_private_and_per_uid(temp_root):
    path = user_temp_dir()
    assert path == temp_root / f"ssl-ieeg-{os.getuid()}"
    assert path.stat().st_mode & 0o777 == 0o700
    assert user_temp_dir() == path


def test_user_temp_dir_that_is_not_a_folder_gives_a_fresh_one(temp_root):
    (temp_root / f"ssl-ieeg-{os.getuid()}").write_text("someone else's")
    path = user_temp_dir()
    assert path.is_dir() and path.parent == temp_root
    assert path.name.startswith(f"ssl-ieeg-{os.getuid()}-")


@pytest.mark.parametrize("home", [None, "", "a-file"])
def test_missing_or_unusable_home_is_replaced_and_path_home_works(home, temp_root, tmp_path,
                                                                   monkeypatch):
    if home is None:
        monkeypatch.delenv("HOME", raising=False)
    else:
        (tmp_path / "a-file").write_text("")
        monkeypatch.setenv("HOME", str(tmp_path / home) if home else "")
    changes = prepare_environment()
    assert len(changes) == 1 and changes[0].startswith("HOME")
    assert Path.home() == user_temp_dir() / "home"
    assert Path.home().is_dir()


def test_writable_home_and_caches_are_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    assert prepare_environment() == []
    assert os.environ["HOME"] == str(tmp_path)
    assert (tmp_path / "mpl").is_dir()


def test_unwritable_cache_folder_moves_to_the_user_temp_dir(temp_root, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "shared").write_text("not a folder")  # e.g. /tmp/matplotlib of another UID
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "shared"))
    changes = prepare_environment()
    assert [c.split()[0] for c in changes] == ["MPLCONFIGDIR"]
    assert os.environ["MPLCONFIGDIR"] == str(user_temp_dir() / "mplconfigdir")


def test_work_dir_option_wins(tmp_path):
    assert _work_dir(tmp_path / "w", tmp_path / "out") == ((tmp_path / "w").resolve(), False)


def test_default_work_dir_is_beside_output_dir(tmp_path):
    work_dir, per_run = _work_dir(None, tmp_path / "out")
    assert (work_dir, per_run) == ((tmp_path / "work").resolve(), False)
    assert work_dir.is_dir()


def test_default_work_dir_falls_back_to_a_per_run_temp_dir_removed_at_the_end(
        temp_root, tmp_path, caplog):
    (tmp_path / "work").write_text("a file where the work directory would go")
    with caplog.at_level(logging.INFO, logger="ssl_ieeg"):
        work_dir, per_run = _work_dir(None, tmp_path / "out")
    assert per_run and work_dir.parent == user_temp_dir()
    assert str(work_dir) in caplog.text and "cannot be used" in caplog.text
    with _temporary_files_in(work_dir, remove=per_run):
        assert tempfile.gettempdir() == str(work_dir)
    assert not work_dir.exists()


@pytest.mark.parametrize(("files", "environ", "expected"), [
    ((), {}, "none"),
    ((".dockerenv",), {}, "docker"),
    (("run/.containerenv",), {}, "podman"),
    ((), {"container": "podman"}, "podman"),
    ((".dockerenv",), {"APPTAINER_CONTAINER": "/x.sif"}, "apptainer"),
    ((), {"SINGULARITY_NAME": "x.sif"}, "singularity"),
])
def test_container_type(files, environ, expected, tmp_path):
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    assert container_type(tmp_path, environ) == expected
