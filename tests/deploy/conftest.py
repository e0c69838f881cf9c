"""`make package STAGE=prod` (chalice package with the merge template, the zip slimmed), run once for every
deploy test."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.package import build

_built: list[Path] = []


@pytest.fixture(scope="session")
def package_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package")
    _built.append(build("prod", out))
    return out


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Every run that packaged says how big the Lambda zip is."""
    for archive in _built:
        size_mb = archive.stat().st_size / 2**20
        terminalreporter.write_line(f"Lambda package (make package STAGE=prod): {size_mb:.1f} MiB")


@pytest.fixture(scope="session")
def template(package_dir: Path) -> dict:
    return json.loads((package_dir / "sam.json").read_text())
