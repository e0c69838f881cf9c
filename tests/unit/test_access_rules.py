"""Each access rule against each kind of principal, as the router applies it before a view runs (every route is
also asked by every kind of caller over HTTP: tests/integration/test_access.py)."""
from __future__ import annotations

import pytest

from chalicelib.api import access
from chalicelib.api.errors import Forbidden

ALICE = access.Principal("k1", "user", "6f1c2a5e-0000-4000-8000-000000000001", "alice")
BOB = access.Principal("k2", "user", "6f1c2a5e-0000-4000-8000-000000000002", "bob")
ADMIN = access.Principal("k3", "admin", None, None)


@pytest.mark.parametrize(("rule", "principal", "method", "allowed"), [
    (access.SELF, ALICE, "GET", True), (access.SELF, ALICE, "POST", True),
    (access.SELF, ADMIN, "GET", False), (access.SELF, ADMIN, "DELETE", False),
    (access.ADMIN, ADMIN, "POST", True), (access.ADMIN, ALICE, "POST", False),
    (access.OWNER, ALICE, "POST", True), (access.OWNER, BOB, "GET", False),
    (access.OWNER, ADMIN, "GET", True), (access.OWNER, ADMIN, "POST", False),
    (access.OWNER_OR_ADMIN, ADMIN, "DELETE", True), (access.OWNER_OR_ADMIN, BOB, "DELETE", False),
])
def test_each_rule_admits_exactly_whom_it_says(rule: str, principal: access.Principal, method: str,
                                               allowed: bool) -> None:
    params = {} if rule == access.SELF else {"username": "alice"}
    if allowed:
        access.check(rule, principal, method, params, None)
    else:
        with pytest.raises(Forbidden):
            access.check(rule, principal, method, params, None)


@pytest.mark.parametrize("spelling", ["6f1c2a5e-0000-4000-8000-000000000001", "6F1C2A5E000040008000000000000001",
                                      "6f1c2a5e00004000-8000-000000000001"])
def test_a_user_named_by_id_in_any_spelling_is_that_user_and_nobody_else(spelling: str) -> None:
    assert ALICE.is_user(spelling) and not BOB.is_user(spelling) and not ADMIN.is_user(spelling)
    assert ALICE.is_user("alice") and not ALICE.is_user("ALICE") and not ALICE.is_user("")
