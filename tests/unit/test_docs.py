"""The docs' tables that the code says (routes, settings) are generated from it (`make docs`) and must be
current; the README stays short, names the two set-up commands, and every file it links exists."""
from __future__ import annotations

import re

import pytest

from devstack import docs
from devstack.paths import ROOT


@pytest.mark.parametrize("name", sorted(docs.TABLES))
def test_each_generated_table_is_current(name: str) -> None:
    text = docs.FILES[name].read_text()
    assert docs.rendered(text, name) == text, f"run `make docs`: the {name} table in {docs.FILES[name]} is stale"


def test_every_route_and_every_setting_is_in_its_table() -> None:
    from chalicelib.api.classic.routes import routes
    from chalicelib.config import VARIABLES

    api, configuration = (docs.FILES[name].read_text() for name in ("routes", "settings"))
    assert all(f"`{spec.method} {spec.path}`" in api for spec in routes.specs)
    assert all(f"`{variable.name}`" in configuration for variable in VARIABLES)


def test_the_readme_is_short_and_its_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 160
    assert "make run" in readme and "make test" in readme
    for target in re.findall(r"\]\(((?!https?:)[^)#]+)", readme):
        assert (ROOT / target).exists(), target
    for page in (ROOT / "docs").glob("*.md"):
        for target in re.findall(r"\]\(((?!https?:)[^)#]+)", page.read_text()):
            assert (page.parent / target).exists() or (ROOT / target).exists(), (page.name, target)
