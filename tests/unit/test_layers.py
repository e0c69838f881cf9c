"""The import graph of chalicelib/ says the architecture. The layer rules are import-linter contracts in
pyproject.toml (`make lint`); these tests keep what import-linter does not say: nothing imports in a circle, and
a use case imports nothing on the quiet, inside a function."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.paths import ROOT

PACKAGE = ROOT / "chalicelib"
# The service layer's plumbing; every other module of services/ is a use case.
PLUMBING = {"chalicelib.services.unit_of_work", "chalicelib.services.handlers", "chalicelib.services.idempotency",
            "chalicelib.services"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, bool]]:
    """(module imported, whether the import runs deferred inside a function) for every import in the file,
    those under TYPE_CHECKING included."""
    found = []
    tree = ast.parse(path.read_text())
    functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    deferred = {id(inner) for function in functions for inner in ast.walk(function)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in deferred) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [(f"{node.module}.{alias.name}", id(node) in deferred) for alias in node.names]
    return found


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def internal(imported: str) -> str | None:
    """The chalicelib module an import names (`from chalicelib.domain import views` names the views module)."""
    while imported and imported not in MODULES:
        imported = imported.rpartition(".")[0]
    return imported or None


GRAPH = {module: {target for name, _ in imports(path) if (target := internal(name)) and target != module}
         for module, path in MODULES.items() if module != "chalicelib"}


def test_no_module_imports_in_a_circle() -> None:
    def reaches(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(GRAPH.get(start, ()))
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo += GRAPH.get(current, ())
        return seen

    assert sorted(module for module in GRAPH if module in reaches(module)) == []


USE_CASES = sorted(module for module in GRAPH if module.startswith("chalicelib.services.") and module not in PLUMBING)


@pytest.mark.parametrize("module", USE_CASES)
def test_a_use_case_imports_nothing_inside_a_function(module: str) -> None:
    """A deferred import would hide a dependency from the contracts' reading of the module."""
    assert sorted(name for name, is_deferred in imports(MODULES[module]) if is_deferred) == []


def test_use_cases_are_found() -> None:
    assert {"chalicelib.services.trades", "chalicelib.services.settlement", "chalicelib.services.users"} <= set(
        USE_CASES)


def test_importing_app_loads_nothing_heavy() -> None:
    # A cold start pays for what app.py imports; the bench measures it, this says at once which import broke it.
    heavy = ("sqlalchemy", "pg8000", "pydantic", "redis", "boto3")
    probe = f"import sys, app; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == ""
