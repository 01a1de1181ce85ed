"""The package's shape: imports point down a fixed order of layers, no cycles, thin command modules.

The layer table is the architecture (README, "Layout"): a module may import only modules of lower
layers, or of its own folder. Imports under ``if TYPE_CHECKING:`` are for annotations and do not count.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import ecm

SRC = Path(ecm.__file__).resolve().parent

# Top-level module or folder → layer; lower layers never import higher ones.
LAYERS: dict[str, int] = {
    "errors": 0,
    "structures": 0,
    "progress": 0,
    "markdown": 0,
    "ops": 0,
    "files": 1,
    "device": 1,
    "distributed": 1,
    "data": 2,
    "model": 2,
    "postprocess": 2,
    "evaluation": 3,
    "losses": 3,
    "student": 3,
    "config": 4,
    "inference": 5,
    "video": 5,
    "training": 6,
    "viz": 6,
    "studies": 7,
    "report": 7,
    "demo": 8,
    "cli": 9,
    "__main__": 10,
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(["ecm", *parts])] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The ecm modules ``path`` imports anywhere (functions too), except under ``if TYPE_CHECKING:``."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from ecm.x import y` names module ecm.x.y when there is one
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {name for name in found if name in modules}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) for name, path in modules.items()}


def _top(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def test_every_module_has_a_layer(graph: dict[str, set[str]]) -> None:
    assert {_top(m) for m in graph if m != "ecm"} <= set(LAYERS) | {"resources", "recipes"}


def test_imports_point_down(graph: dict[str, set[str]]) -> None:
    upward = [
        f"{a} → {b}"
        for a, targets in graph.items()
        for b in targets
        if a != "ecm" and b != "ecm" and _top(a) != _top(b) and LAYERS[_top(a)] <= LAYERS[_top(b)]
    ]
    assert not upward, upward


def test_no_import_cycle(graph: dict[str, set[str]]) -> None:
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target] if target in path else [node, target]
                pytest.fail("import cycle: " + " → ".join(cycle))
            if target not in state:
                walk(target, [*path, target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])


def test_no_command_module_imports_another(graph: dict[str, set[str]]) -> None:
    commands = {m for m in graph if m.startswith("ecm.cli.") and m != "ecm.cli.common"}
    crossing = [f"{a} → {b}" for a in commands for b in graph[a] if b in commands]
    assert not crossing, crossing


def test_no_internal_spec_citations_in_the_package() -> None:
    hits = [
        f"{path.relative_to(SRC)}:{number}"
        for path in SRC.rglob("*")
        if path.suffix in (".py", ".yaml", ".md")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "SPEC" in line
    ]
    assert not hits, hits


def test_every_package_says_what_lives_there() -> None:
    for init in SRC.rglob("__init__.py"):
        module = importlib.import_module(".".join(["ecm", *init.parent.relative_to(SRC).parts]))
        assert module.__doc__ and module.__doc__.strip(), init


def test_docstring_examples() -> None:
    """Run every ``>>>`` example in the package's docstrings."""
    ran = 0
    for info in pkgutil.walk_packages(ecm.__path__, "ecm."):
        if info.name == "ecm.__main__":
            continue
        module = importlib.import_module(info.name)
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, info.name
        ran += result.attempted
    assert ran >= 10


def test_commands_that_need_no_model_do_not_import_torch() -> None:
    """evaluate, diagnose, data check, synth, config and compare start without torch's seconds of import."""
    import subprocess
    import sys

    modules = (
        "ecm.cli",  # imports every command module, as `ecm --help` does
        "ecm.evaluation",
        "ecm.data.check",
        "ecm.data.synth_presets",
        "ecm.config.recipes",
        "ecm.config.diff",
        "ecm.studies.compare",
        "ecm.studies.tables",
        "ecm.studies.plot",
    )
    code = f"import sys; import {', '.join(modules)}; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
