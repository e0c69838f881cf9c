"""`chalice package --stage prod` with the merge template, run once for every deploy test."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.paths import ROOT


@pytest.fixture(scope="session")
def package_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package")
    chalice = Path(sys.executable).with_name("chalice")
    subprocess.run(
        [str(chalice), "package", "--stage", "prod", "--merge-template", ".chalice/merge-template.json", str(out)],
        # As `make package STAGE=prod` runs it: the app names its queue after the stage it is imported for.
        cwd=ROOT, check=True, capture_output=True,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("TRADE_")}, "AWS_DEFAULT_REGION": "us-east-1",
             "STAGE": "prod"},
        timeout=600,
    )
    return out


@pytest.fixture(scope="session")
def template(package_dir: Path) -> dict:
    return json.loads((package_dir / "sam.json").read_text())
