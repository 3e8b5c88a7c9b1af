"""Import cost: the configuration and the command lines load without the heavy libraries.

Each check runs in a fresh interpreter, since this one has imported everything already. Wall
times are not asserted (machines vary); the set of imported modules is the contract.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "nilearn")
PACKAGES = ("bids_app.analysis", "bids_app.bids", "bids_app.encoding", "bids_app.features",
            "bids_app.neural", "bids_app.stimuli")


def _imported_after(*modules: str) -> set[str]:
    """The top-level packages in ``sys.modules`` of a fresh interpreter importing ``modules``."""
    code = (f"import sys, json\nimport {', '.join(modules)}\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_config_and_command_lines_do_not_import_torch_transformers_nilearn():
    imported = _imported_after("bids_app.config", "bids_app.cli", "bids_app.demo")
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_config_loads_without_the_scientific_stack():
    imported = _imported_after("bids_app.config")
    heavy = set(HEAVY) | {"numpy", "pandas", "scipy", "mne", "matplotlib", "bids"}
    assert not imported & heavy, sorted(imported & heavy)


def test_workflow_imports_without_torch_or_transformers():
    # the --reports-only and group paths import the workflow but never run a model
    imported = _imported_after("bids_app.workflow", "bids_app.group")
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


@pytest.mark.parametrize("module", ["bids_app", "bids_app.demo"])
def test_help_exits_0(module):
    result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


@pytest.mark.parametrize("package", PACKAGES)
def test_every_lazy_export_resolves(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        assert getattr(value, "__name__", name) == name, (package, name)
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute"):
        module.not_a_name  # noqa: B018


def test_exported_function_wins_over_its_submodule_in_either_import_order():
    # bids_app.neural.preprocess is the function, as with eager imports, even when the
    # submodule of the same name is imported first
    code = ("import importlib, types\n"
            "module = importlib.import_module('bids_app.neural.preprocess')\n"
            "from bids_app.neural import preprocess\n"
            "print(preprocess is module.preprocess,\n"
            "      isinstance(preprocess, types.ModuleType))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]


def _module_imports() -> dict[str, set[str]]:
    """Each ``bids_app`` module's imports of other ``bids_app`` modules at module level,
    ``if TYPE_CHECKING:`` blocks included (a design dependency), imports inside functions
    (deliberately lazy) excluded; ``from package import submodule`` depends on the submodule."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    paths = {".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): p
             for p in (root / "bids_app").rglob("*.py")}

    def targets(node: ast.stmt) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            return [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in paths
                    else node.module for alias in node.names]
        return []

    graph = {}
    for name, path in paths.items():
        body, found = list(ast.parse(path.read_text()).body), set()
        while body:
            node = body.pop()
            if isinstance(node, ast.If | ast.Try):
                body += node.body + node.orelse
            found |= {t for t in targets(node) if t in paths and t != name}
        graph[name] = found
    return graph


def test_no_import_circles():
    """Every module can be read after the modules it imports: the import graph is acyclic."""
    from graphlib import CycleError, TopologicalSorter

    try:
        tuple(TopologicalSorter(_module_imports()).static_order())
    except CycleError as err:
        pytest.fail(f"import circle: {' -> '.join(err.args[1])}")
    assert "bids_app.analysis.inputs" in _module_imports()["bids_app.analysis.unions"]
