"""API keys as an account's owner and an operator need them: a cap on active keys, a paged list, no way to lock an
account out for good (a key cannot revoke itself when it is the last; an admin can revoke a leaked key and issue
the next), and revokes that can always be repeated."""
from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from chalicelib import services
from chalicelib.adapters.key_records import get_key_records
from chalicelib.config import get_settings
from chalicelib.domain import records
from chalicelib.domain.errors import Conflict
from chalicelib.services.unit_of_work import UnitOfWork
from tests.integration.conftest import JsonClient
from tests.integration.helpers import assert_error, body, seed


@pytest.fixture
def few_keys(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("MAX_KEYS_PER_USER", "4")
    get_settings.cache_clear()
    return 4


def new_key(api: JsonClient, key: str | None = None) -> dict:
    answer = api.post("/users/alice/keys", {}, key=key or api.keys["alice"])
    assert answer.status_code == 201, answer.body
    return body(answer)


def test_active_keys_are_capped_and_a_revoke_makes_room(api: JsonClient, few_keys: int) -> None:
    seed(api)
    extra = [new_key(api) for _ in range(few_keys - 1)]  # the sign-up key is the first
    refused = assert_error(api.post("/users/alice/keys", {}), 409, "conflict")
    assert refused["details"] == [{"field": "key_id", "reason": "too_many_keys"}]
    assert api.delete(f"/users/alice/keys/{extra[0]['key_id']}").status_code == 200
    new_key(api)
    assert_error(api.post("/users/alice/keys", {}), 409)


def together(*work: Callable[[], object]) -> list[object]:
    """Each callable in a thread of its own, all at once (the use case itself: the in-process HTTP client is not
    safe to call from threads); what each returned or raised."""
    outcomes: list[object] = []

    def run(job: Callable[[], object]) -> None:
        try:
            outcomes.append(job())
        except Exception as error:  # noqa: BLE001 - the outcome under test
            outcomes.append(error)

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def test_concurrent_issues_never_exceed_the_cap(api: JsonClient, few_keys: int) -> None:
    seed(api)
    outcomes = together(*[lambda: services.keys.issue("alice", UnitOfWork())] * 8)
    assert sum(isinstance(outcome, records.NewKey) for outcome in outcomes) == few_keys - 1
    assert all(isinstance(outcome, Conflict) for outcome in outcomes if not isinstance(outcome, records.NewKey))


def test_the_key_list_is_paged_oldest_first(api: JsonClient) -> None:
    seed(api)
    made = [api.keys["alice"].split(".")[1]] + [new_key(api)["key_id"] for _ in range(4)]
    seen, cursor = [], None
    while True:
        answer = api.get("/users/alice/keys?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert answer.status_code == 200
        seen += [key["key_id"] for key in body(answer)]
        cursor = answer.headers.get("X-Next-Cursor")
        if cursor is None:
            break
    assert seen == made
    assert_error(api.get("/users/alice/keys?cursor=bm90LWEtY3Vyc29y"), 400)


def test_a_key_cannot_revoke_itself_when_it_is_the_last_but_an_admin_can_and_issues_the_next(
        api: JsonClient, admin_key: str) -> None:
    seed(api)
    only = api.keys["alice"]
    only_id = only.split(".")[1]
    refused = assert_error(api.delete(f"/users/alice/keys/{only_id}", key=only), 409, "conflict")
    assert refused["details"] == [{"field": "key_id", "reason": "last_active_key"}]
    assert api.get("/users/alice", key=only).status_code == 200
    second = new_key(api)
    assert api.delete(f"/users/alice/keys/{only_id}", key=second["api_key"]).status_code == 200  # another key may
    assert_error(api.delete(f"/users/alice/keys/{second['key_id']}", key=second["api_key"]), 409)
    # An operator revokes a leaked last key and issues the next; the user is never locked out for good.
    assert api.delete(f"/users/alice/keys/{second['key_id']}", key=admin_key).status_code == 200
    assert api.get("/users/alice", key=second["api_key"]).status_code == 401
    issued = new_key(api, key=admin_key)
    assert api.get("/users/alice", key=issued["api_key"]).status_code == 200
    # An admin still never moves cash.
    assert api.post("/users/alice/deposits", {"amount": "1.00"}, key=admin_key).status_code == 403


def test_two_last_keys_revoking_each_other_at_once_leave_one(api: JsonClient) -> None:
    seed(api)
    first, second = (key.split(".")[1] for key in (api.keys["alice"], new_key(api)["api_key"]))
    # Each key revokes the other, at once: the first to lock the user wins, the second is then the last key.
    outcomes = together(lambda: services.keys.revoke("alice", second, first, UnitOfWork(), get_key_records()),
                        lambda: services.keys.revoke("alice", first, second, UnitOfWork(), get_key_records()))
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["Conflict", "str"]
    listed = body(api.get("/users/alice/keys", key=api.admin_key))
    assert len(listed) == 1
