"""`make package STAGE=prod` (chalice package with the merge template, the zip slimmed), run once for every
deploy test."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.package import build


@pytest.fixture(scope="session")
def package_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package")
    build("prod", out)
    return out


@pytest.fixture(scope="session")
def template(package_dir: Path) -> dict:
    return json.loads((package_dir / "sam.json").read_text())
