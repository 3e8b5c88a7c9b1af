"""The SLURM jobs of docs/hpc.md, run as written on a one-node cluster started for the test.

The cluster is Debian's slurm-wlm and munge, started and stopped by ``.ci/slurm`` (as root).
The job scripts are the fenced blocks of docs/hpc.md with ``ssl-ieeg`` (this checkout) in
place of the container call, the dataset path of the test, and resources that fit here. Where
SLURM is missing the test skips, except under CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers import app_command, write_small_config

pytestmark = [pytest.mark.slurm, pytest.mark.slow]  # a cluster and three participant runs

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "hpc.md"
#: Environment variable naming the cluster's folder (default: a new temporary folder).
DIR_VARIABLE = "SSL_IEEG_SLURM_DIR"
#: Job states after which a job no longer changes.
FINISHED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the SLURM test (.ci/run installs slurm-wlm, munge)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster():
    """The environment of a running one-node SLURM cluster (``SLURM_CONF``)."""
    missing = [tool for tool in ("munged", "slurmctld", "slurmd", "sbatch", "scontrol")
               if shutil.which(tool) is None]
    if missing:
        _unavailable(f"SLURM is not installed (missing {', '.join(missing)})")
    if os.geteuid() != 0:
        _unavailable("the test cluster's daemons need root")
    # .ci/run names the folder, so that its trap can stop the daemons; short for munge's socket
    directory = Path(os.environ.get(DIR_VARIABLE) or tempfile.mkdtemp(prefix="ssl-ieeg-slurm-"))
    script = str(ROOT / ".ci" / "slurm")
    started = subprocess.run([script, "up", directory], capture_output=True, text=True)
    try:
        if started.returncode:
            _unavailable(f"SLURM did not start:\n{started.stderr}")
        yield {**os.environ, "SLURM_CONF": str(directory / "slurm.conf")}
    finally:
        subprocess.run([script, "down", directory], check=True)
        shutil.rmtree(directory, ignore_errors=True)


def _docs_blocks() -> dict[str, str]:
    """The participant and group job scripts and the submission lines of docs/hpc.md."""
    blocks = re.findall(r"```bash\n(.*?)```", DOCS.read_text(), flags=re.S)
    found = {"participant": [b for b in blocks if "--job-name=ssl-ieeg\n" in b],
             "group": [b for b in blocks if "--job-name=ssl-ieeg-group\n" in b],
             "submit": [b for b in blocks if "sbatch --parsable" in b]}
    assert all(len(b) == 1 for b in found.values()), "docs/hpc.md: one block of each kind"
    return {name: b[0] for name, b in found.items()}


def _here(script: str, bids: Path) -> str:
    """A script of the docs made to run on this machine, this checkout and this dataset."""
    rules = [(r"^BIDS=.*$", f"BIDS={bids}")]
    if "#SBATCH" in script:  # a job script, not the submission lines
        rules += [(r"^SSL_IEEG=\(apptainer run .*ssl-ieeg\.sif\)$", "SSL_IEEG=(ssl-ieeg)"),
                  (r"^#SBATCH --cpus-per-task=\d+$", "#SBATCH --cpus-per-task=1"),
                  (r"^#SBATCH --mem=\w+$", "#SBATCH --mem=2G")]
    for pattern, replacement in rules:
        script, count = re.subn(pattern, replacement, script, flags=re.M)
        assert count == 1, f"docs/hpc.md changed: no line {pattern} in\n{script}"
    return script


def _add_broken_participant(bids: Path, source: str, label: str) -> None:
    """sub-<label>: a copy of sub-<source> whose recording is cut to its first kilobyte."""
    for path in (bids / f"sub-{source}" / "ieeg").iterdir():
        target = bids / f"sub-{label}" / "ieeg" / path.name.replace(f"sub-{source}",
                                                                       f"sub-{label}")
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".eeg":
            target.write_bytes(path.read_bytes()[:1024])
        else:
            target.write_text(path.read_text().replace(f"sub-{source}", f"sub-{label}"))
    with (bids / "participants.tsv").open("a") as fh:
        fh.write(f"sub-{label}\t30\tM\n")


def _jobs(job_id: str, env: dict[str, str]) -> list[dict[str, str]]:
    """``scontrol show job`` of a job (one record per array task) as dicts."""
    text = subprocess.run(["scontrol", "-o", "show", "job", job_id], env=env, check=True,
                          capture_output=True, text=True).stdout
    return [dict(field.split("=", 1) for field in line.split() if "=" in field)
            for line in text.splitlines()]


def test_docs_array_then_dependent_group_job(cluster, synthetic, demo_config, tmp_path):
    bids = Path(shutil.copytree(synthetic.root, tmp_path / "bids"))
    _add_broken_participant(bids, "02", "03")
    out = bids / "derivatives" / "ssl-ieeg"
    out.mkdir(parents=True)
    shutil.copy(write_small_config(demo_config, tmp_path), out / "config.yaml")
    blocks = _docs_blocks()
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    for name in ("participant", "group"):
        (jobs / f"{name}.sbatch").write_text(_here(blocks[name], bids))
    command, env = app_command()
    shim = tmp_path / "bin" / "ssl-ieeg"  # this checkout's ssl-ieeg, first on the PATH
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m bids_app "$@"\n')
    shim.chmod(0o755)
    env = {**cluster, "PYTHONPATH": env["PYTHONPATH"],
           "PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}"}

    submitted = subprocess.run(["bash", "-euo", "pipefail", "-c", _here(blocks["submit"], bids)],
                               cwd=jobs, env=env, capture_output=True, text=True)
    assert submitted.returncode == 0, submitted.stderr
    group_id = re.fullmatch(r"Submitted batch job (\d+)\n", submitted.stdout).group(1)
    array_id = _jobs(group_id, env)[0]["Dependency"].removeprefix("afterany:").split("_")[0]

    deadline = time.monotonic() + 600
    while _jobs(group_id, env)[0]["JobState"] not in FINISHED:
        assert time.monotonic() < deadline, "the jobs did not finish in 10 min"
        time.sleep(2)
    logs = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(jobs.glob("*.out")))
    tasks = {int(job["ArrayTaskId"]): (job["JobState"], job["ExitCode"])
             for job in _jobs(array_id, env)}
    assert tasks == {1: ("COMPLETED", "0:0"), 2: ("COMPLETED", "0:0"), 3: ("FAILED", "65:0")}, logs
    group = _jobs(group_id, env)[0]
    assert (group["JobState"], group["ExitCode"]) == ("COMPLETED", "0:0"), logs
    assert group["StartTime"] >= max(job["EndTime"] for job in _jobs(array_id, env))

    alone = tmp_path / "alone"
    command, local_env = app_command(bids, alone, "participant", "--participant-label", "01",
                                     "02", "--config", out / "config.yaml",
                                     "--skip-bids-validation", "-w", tmp_path / "work")
    subprocess.run(command, env=local_env, check=True, capture_output=True)
    tables = sorted(p.relative_to(alone) for p in alone.glob("sub-*/ieeg/*_scores.tsv"))
    assert len(tables) == 6
    for table in tables:
        assert (out / table).read_bytes() == (alone / table).read_bytes(), table
    report = (out / "group.html").read_text()
    assert "Included (2): 01, 02" in report
    assert re.search(r"<li>03: The \*_ieeg.json sidecar .* says RecordingDuration", report)
