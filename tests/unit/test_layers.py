"""The import graph of chalicelib/ says the architecture, and these tests keep it saying it: layers import only
downwards, nothing imports in a circle, and a use case speaks only to the unit of work and the domain."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from devstack.paths import ROOT

PACKAGE = ROOT / "chalicelib"
# Each layer may import the ones after it, never those before.
LAYERS = ("api", "services", "adapters", "config", "lazy", "domain")
# The service layer's plumbing; every other module of services/ is a use case.
PLUMBING = {"chalicelib.services.unit_of_work", "chalicelib.services.handlers", "chalicelib.services.idempotency",
            "chalicelib.services"}
OUTSIDE_SYSTEMS = ("sqlalchemy", "pg8000", "redis", "boto3", "botocore", "pydantic", "localstack_client")


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


def layer(module: str) -> int:
    return LAYERS.index(module.split(".")[1])


GRAPH = {module: {target for name, _ in imports(path) if (target := internal(name)) and target != module}
         for module, path in MODULES.items() if module != "chalicelib"}


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_layers_import_only_downwards(module: str) -> None:
    upwards = sorted(target for target in GRAPH[module] if target != "chalicelib" and layer(target) < layer(module))
    assert upwards == []


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
def test_a_use_case_speaks_to_the_unit_of_work_and_the_domain_only(module: str) -> None:
    names = imports(MODULES[module])
    outside = sorted(name for name, _ in names if name.split(".")[0] in OUTSIDE_SYSTEMS)
    other_services = sorted(target for target in GRAPH[module]
                            if target.startswith("chalicelib.services.") and target not in PLUMBING)
    deferred = sorted(name for name, is_deferred in names if is_deferred)
    assert (outside, other_services, deferred) == ([], [], [])


def test_use_cases_are_found() -> None:
    assert {"chalicelib.services.trades", "chalicelib.services.settlement", "chalicelib.services.users"} <= set(
        USE_CASES)
