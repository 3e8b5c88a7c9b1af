"""The container image, built and run as users run it (docs/hpc.md): ``pytest -m container``.

Builds a Debian 12 base with debootstrap (the Docker Hub base is unreachable in CI; Debian 12's
python3.11 is the same minor version as ``python:3.11-slim``), then the app image from the
Dockerfile with ``MODELS=`` (the demo uses tiny local models) and torch from the local wheel
folder when pip is configured with one (``PIP_FIND_LINKS``). Then the demo dataset, participant
and group level, runs three times in the image: read-only with a private ``/tmp`` as UID 12345
(the Docker/Podman command of docs/hpc.md), and with one ``/tmp`` folder shared by UIDs 12345 and
23456 (the Apptainer situation: the host's /tmp is bound). Every scores table must be
byte-identical to the same demo run outside the container, and the containers may print nothing
that the run outside does not (no warning about HOME, caches or the work directory).

The test needs root, podman, runc and debootstrap; it skips without them, except in CI
(``CI=true``) where it fails. The base image stays in podman's store as the cache of later runs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.container, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
BASE_IMAGE = "localhost/ssl-ieeg-ci-base:bookworm"
IMAGE = "localhost/ssl-ieeg:ci"
TOOLS = ("podman", "runc", "debootstrap")
#: This machine's kernel refuses podman's default rlimits and crun: runc and lowered limits.
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
runtime = "runc"
"""
#: The Docker/Podman run flags of docs/hpc.md: read-only image, private /tmp, any UID.
READ_ONLY = ["--rm", "--read-only"]
_TIMESTAMP = re.compile(r"^\d\d:\d\d:\d\d ")
_PROGRESS_BAR = re.compile(r"\d+%\|")  # tqdm's, with timings that differ from run to run


@pytest.fixture(scope="module")
def podman_env(tmp_path_factory) -> dict[str, str]:
    """The environment for podman commands (CONTAINERS_CONF written here); fails in CI without
    the tools, skips elsewhere."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    problem = f"missing {', '.join(missing)}" if missing else (
        "needs root (debootstrap, podman import)" if os.geteuid() != 0 else "")
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"container test in CI: {problem}; .ci/run installs podman, runc and "
                        "debootstrap")
        pytest.skip(f"container test: {problem}")
    conf = tmp_path_factory.mktemp("containers") / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def _run(cmd: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd``; on failure, fail the test with its output."""
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode:
        pytest.fail(f"{shlex.join(cmd)} exited {result.returncode}:\n{result.stdout[-4000:]}\n"
                    f"{result.stderr[-4000:]}")
    return result


def build_base_image(env: dict[str, str]) -> None:
    """``BASE_IMAGE``: Debian 12 minbase with python3-venv, unless podman already has it."""
    if subprocess.run(["podman", "image", "exists", BASE_IMAGE], env=env).returncode == 0:
        return
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        _run(["debootstrap", "--variant=minbase", "--include=python3-venv,ca-certificates",
              "bookworm", str(rootfs), "http://deb.debian.org/debian"], env)
        _run(["sh", "-c", f"tar -C {shlex.quote(str(rootfs))} -c . | podman import - "
                          f"{BASE_IMAGE}"], env)


def build_app_image(env: dict[str, str]) -> None:
    """``IMAGE`` from the Dockerfile, without model weights, with pip's local wheels and CA."""
    cmd = ["podman", "build", "--build-arg", f"BASE={BASE_IMAGE}", "--build-arg", "MODELS=",
           "-t", IMAGE]
    wheels = os.environ.get("PIP_FIND_LINKS", "")
    if wheels and Path(wheels).is_dir():
        cmd += ["--volume", f"{wheels}:/tmp/wheels:ro", "--build-arg",
                "PIP_FIND_LINKS=/tmp/wheels",
                "--build-arg", "TORCH_INDEX=https://pypi.org/simple"]
    cert = os.environ.get("PIP_CERT", "")
    if cert and Path(cert).is_file():  # a TLS-intercepting proxy's CA bundle
        cmd += ["--volume", f"{cert}:/tmp/pip-ca.crt:ro", "--build-arg",
                "PIP_CERT=/tmp/pip-ca.crt"]
    _run([*cmd, str(ROOT)], env)


@pytest.fixture(scope="module")
def area():
    """A folder outside /tmp (which one run replaces by a shared bind), readable by any UID."""
    path = Path(tempfile.mkdtemp(prefix="ssl-ieeg-container-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def reference(area) -> tuple[Path, str]:
    """``ssl-ieeg-demo`` outside the container: the demo folder and everything it printed."""
    demo = area / "demo"
    result = subprocess.run([sys.executable, "-m", "bids_app.demo", str(demo)], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    return demo, result.stdout + result.stderr


def _output_dir(area: Path, name: str) -> Path:
    path = area / name
    path.mkdir()
    path.chmod(0o777)  # written by the container's UID
    return path


def run_demo_in_image(env: dict[str, str], demo: Path, out: Path, user: str, tmp: list[str],
                      levels: tuple[str, ...] = ("participant", "group"),
                      labels: tuple[str, ...] = ()) -> str:
    """The demo's participant and group levels in ``IMAGE``, as docs/hpc.md documents them.

    The demo folder is bound at its own path (its configuration names the tiny models by
    absolute path). Returns what the runs printed.
    """
    printed = ""
    for level in levels:
        selection = ["--participant-label", *labels] if labels and level == "participant" else []
        cmd = ["podman", "run", *READ_ONLY, *tmp, "-u", user, "-v", f"{demo}:{demo}:ro",
               "-v", f"{out}:/out", IMAGE, str(demo / "bids"), "/out", level, *selection,
               "--config", str(demo / "demo_config.yaml")]
        result = _run(cmd, env)
        printed += result.stdout + result.stderr
    return printed


def _unexpected_lines(printed: str, reference: str) -> list[str]:
    """Lines other than INFO log lines and progress bars that the run outside the container did
    not print."""
    expected = {_TIMESTAMP.sub("", line) for line in reference.splitlines()}
    return [line for line in printed.splitlines()
            if "[INFO]" not in line and not _PROGRESS_BAR.search(line)
            and _TIMESTAMP.sub("", line) not in expected]


def _scores(derivatives: Path) -> dict[str, bytes]:
    return {str(p.relative_to(derivatives)): p.read_bytes()
            for p in sorted(derivatives.rglob("*_scores.tsv"))}


def test_image_runs_the_demo_read_only_as_any_uid_like_outside(podman_env, area, reference):
    build_base_image(podman_env)
    build_app_image(podman_env)
    demo, printed_outside = reference
    expected = _scores(demo / "derivatives" / "ssl-ieeg")
    assert any(name.startswith("group/") for name in expected)

    # Docker/Podman as documented: read-only, private /tmp, a UID without a passwd entry.
    out = _output_dir(area, "out-private-tmp")
    printed = run_demo_in_image(podman_env, demo, out, "12345:12345", ["--tmpfs", "/tmp"])
    assert _unexpected_lines(printed, printed_outside) == []
    assert "using /tmp/ssl-ieeg-12345/work-" in printed  # the work-directory fallback, logged
    assert _scores(out) == expected
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["GeneratedBy"][0]["Container"] == {"Type": "podman"}

    # The Apptainer situation: one /tmp shared by two users, the first one's folders left there.
    shared = area / "shared-tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    bind = ["-v", f"{shared}:/tmp"]
    first = _output_dir(area, "out-shared-12345")
    printed = run_demo_in_image(podman_env, demo, first, "12345:12345", bind,
                                levels=("participant",), labels=("01",))
    assert _unexpected_lines(printed, printed_outside) == []
    assert _scores(first) == {k: v for k, v in expected.items() if k.startswith("sub-01/")}
    second = _output_dir(area, "out-shared-23456")
    printed = run_demo_in_image(podman_env, demo, second, "23456:23456", bind)
    assert _unexpected_lines(printed, printed_outside) == []
    assert _scores(second) == expected
    assert sorted(p.name for p in shared.iterdir()) == ["ssl-ieeg-12345", "ssl-ieeg-23456"]
    assert not list(shared.glob("*/work-*"))  # per-run work directories are removed
