"""pg8000 rescans a statement's text on every execution to number its placeholders; chalicelib/adapters/database.py
replaces the scanner with one that remembers each statement's numbering. It offers no hook for this, so these
tests hold the patch to what it relies on: pg8000 (pinned in requirements.txt) still has the function, its
cursors still look it up by that name, the patch took effect, and it numbers exactly as pg8000 does."""
from __future__ import annotations

import inspect

import pg8000.dbapi
import pg8000.legacy
import pytest

from chalicelib.adapters import database

# pg8000's own, whether or not a test before this one built an engine (which patches it).
ORIGINAL = getattr(pg8000.dbapi.convert_paramstyle, "original", pg8000.dbapi.convert_paramstyle)


def test_pg8000_still_has_the_scanner_and_its_cursors_call_it_by_name() -> None:
    assert callable(ORIGINAL) and list(inspect.signature(ORIGINAL).parameters) == ["style", "query", "args"]
    for cursor in (pg8000.dbapi.Cursor, pg8000.legacy.Cursor):
        assert "convert_paramstyle(" in inspect.getsource(cursor.execute), cursor


def test_the_patch_takes_effect_once_for_both_cursor_kinds() -> None:
    database._number_placeholders_once()
    patched = pg8000.dbapi.convert_paramstyle
    assert getattr(patched, "numbers_once", False) and pg8000.legacy.convert_paramstyle is patched
    database._number_placeholders_once()
    assert pg8000.dbapi.convert_paramstyle is patched  # not wrapped twice


@pytest.mark.parametrize(("style", "query", "args"), [
    ("format", "SELECT %s, %s FROM t WHERE a = '%s' AND b = %s", (1, 2, 3)),
    ("qmark", "UPDATE t SET a = ? WHERE b = ? -- ?", ("x", "y")),
    ("numeric", "SELECT :1, :2, ':3'", (1, 2)),
    ("named", "SELECT :a, :b", {"a": 1, "b": 2}),
    ("pyformat", "SELECT %(a)s, %(b)s", {"a": 1, "b": 2}),
])
def test_the_patched_scanner_numbers_exactly_as_pg8000_does(style: str, query: str, args: object) -> None:
    database._number_placeholders_once()
    for _ in range(2):  # the second time from what it remembered
        assert pg8000.dbapi.convert_paramstyle(style, query, args) == ORIGINAL(style, query, args)
