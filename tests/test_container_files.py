"""Lint of the container recipes: Singularity.def parsed with spython, the Dockerfile's contract,
and the image's pinned dependencies (docker/requirements.txt) against pyproject.toml."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from spython.main.parse.parsers import SingularityParser

from bids_app import __version__

ROOT = Path(__file__).resolve().parents[1]
VERSION_LABEL = "org.opencontainers.image.version"


def test_singularity_def_parses_and_has_help_labels_test():
    text = (ROOT / "Singularity.def").read_text()
    recipe = SingularityParser(str(ROOT / "Singularity.def")).recipe["spython-base"]
    assert re.search(r"^Bootstrap: docker-archive$", text, re.MULTILINE)  # no Docker daemon
    assert recipe.fromHeader == "ssl-ieeg.tar"
    assert re.search(r"^%help\n\s+\S", text, re.MULTILINE)
    assert f"{VERSION_LABEL} {__version__}" in recipe.labels
    assert recipe.cmd == 'exec ssl-ieeg "$@"'
    test_lines = [line.strip() for line in recipe.install if line.startswith("echo ")]
    assert any("ssl-ieeg --version" in line for line in test_lines)
    assert any("participant --participant-label" in line for line in test_lines)


def test_singularity_test_section_is_valid_shell():
    text = (ROOT / "Singularity.def").read_text()
    section = text.split("%test\n", 1)[1].split("\n%", 1)[0]
    result = subprocess.run(["bash", "-n"], input=section, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr


def test_dockerfile_contract():
    text = (ROOT / "Dockerfile").read_text()
    for arg in ("BASE", "TORCH_INDEX", "MODELS"):
        assert re.search(rf"^ARG {arg}\b", text, re.MULTILINE), arg
    assert f'{VERSION_LABEL}="{__version__}"' in text
    assert 'org.opencontainers.image.licenses="BSD-3-Clause"' in text
    assert 'ENTRYPOINT ["ssl-ieeg"]' in text
    user = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert user and not user[-1].startswith(("0", "root"))
    # No fixed, shared cache or home folder: ssl-ieeg resolves them per user at run time.
    for variable in ("HOME", "MPLCONFIGDIR", "NUMBA_CACHE_DIR", "HF_HOME", "TORCH_HOME"):
        assert not re.search(rf"\b{variable}=", text), variable


def test_pinned_image_dependencies_satisfy_pyproject():
    tomllib = pytest.importorskip("tomllib", reason="Python >= 3.11 reads pyproject.toml")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = {}
    for line in (ROOT / "docker" / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    for spec in project["build-system"]["requires"] + project["project"]["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not pinned in docker/requirements.txt"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {spec}"


def _fetch_models_module():
    spec = importlib.util.spec_from_file_location("fetch_models",
                                                  ROOT / "docker" / "fetch_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fetch_models_passes_revision_and_patterns_and_needs_safetensors(tmp_path, monkeypatch):
    fetch_models = _fetch_models_module()
    calls = []
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()

    def fake_download(model, revision, cache_dir, allow_patterns):
        calls.append((model, revision, cache_dir, allow_patterns))
        return str(snapshot)

    monkeypatch.setattr(fetch_models, "snapshot_download", fake_download)
    with pytest.raises(SystemExit, match=r"no \*\.safetensors"):
        fetch_models.main([str(tmp_path / "hub"), "gpt2@abc123"])
    assert calls[0][:2] == ("gpt2", "abc123") and "*.safetensors" in calls[0][3]
    assert not any(pattern.endswith((".bin", ".h5")) for pattern in calls[0][3])
    (snapshot / "model.safetensors").write_bytes(b"")
    assert fetch_models.main([str(tmp_path / "hub"), "gpt2"]) == 0
    assert calls[1][1] is None
    assert fetch_models.main([str(tmp_path / "hub")]) == 0  # MODELS= : nothing to fetch
