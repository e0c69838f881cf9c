"""Keys that stay revoked, and a cache that cannot mint identities (chalicelib/adapters/key_records.py): a revoke
answers 200 only once the cache holds the key's tombstone, a load or a write-through racing it cannot bring the
key back, and a record written into Redis by anyone but the app is not believed. On the session's Redis and the
embedded 6.2."""
from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
import uuid

import pytest
import redis as redis_lib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import services
from chalicelib.adapters import key_records
from chalicelib.adapters.key_records import KeyRecords, get_key_records
from chalicelib.services.unit_of_work import UnitOfWork
from tests.integration.conftest import JsonClient
from tests.integration.helpers import assert_error, body, seed


def two_keys(api: JsonClient) -> tuple[str, str]:
    seed(api)
    first = api.keys["alice"]
    second = body(api.post("/users/alice/keys", {}, key=first))["api_key"]
    assert api.get("/users/alice", key=second).status_code == 200  # its record is in the cache now
    return first, second


def key_id(token: str) -> str:
    return token.split(".")[1]


def test_a_revoke_answers_200_only_once_the_cache_holds_the_tombstone(any_redis: str, api: JsonClient) -> None:
    """Redis pausing writes (as ElastiCache does in a failover) while the key is revoked: the revoke cannot confirm
    its tombstone, so it answers 503, not 200; repeated once writes flow again, it answers 200, and from then on
    the key is refused though its active record was in the cache."""
    first, second = two_keys(api)
    pauser = redis_lib.Redis.from_url(any_redis)
    pauser.execute_command("CLIENT", "PAUSE", "1500", "WRITE")
    try:
        unfinished = api.delete(f"/users/alice/keys/{key_id(second)}", key=first)
    finally:
        time.sleep(1.6)
        pauser.close()
    assert_error(unfinished, 503, "service_unavailable")
    assert "revoke it again" in json.loads(unfinished.body)["error"]["message"]
    assert api.delete(f"/users/alice/keys/{key_id(second)}", key=first).status_code == 200
    for _ in range(3):
        assert api.get("/users/alice", key=second).status_code == 401
    assert api.get("/users/alice", key=first).status_code == 200


def test_a_load_that_lands_after_the_revoke_cannot_bring_the_key_back(
        any_redis: str, api: JsonClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request reads the key as active from the database, and its read-through write is held back until the
    revoke has answered (the ~1 ms window, widened): the late write never replaces the tombstone."""
    first, second = two_keys(api)
    redis_lib.Redis.from_url(any_redis).delete(get_key_records()._keys.api_key(key_id(second)))
    read_from_database, revoked = threading.Event(), threading.Event()
    write = KeyRecords._write

    def late_write(self: KeyRecords, record: object, refused: str) -> None:
        if threading.current_thread().name == "stale-load":
            read_from_database.set()
            assert revoked.wait(30)
        write(self, record, refused)  # type: ignore[arg-type]

    monkeypatch.setattr(KeyRecords, "_write", late_write)
    found: list[object] = []
    loader = threading.Thread(target=lambda: found.append(services.keys.verify(second, UnitOfWork(),
                                                                                get_key_records())),
                              name="stale-load")
    loader.start()
    assert read_from_database.wait(30)
    assert api.delete(f"/users/alice/keys/{key_id(second)}", key=first).status_code == 200
    revoked.set()
    loader.join(30)
    assert found and found[0] is not None  # it did see the key active, before the revoke
    assert services.keys.verify(second, UnitOfWork(), get_key_records()) is None
    assert api.get("/users/alice", key=second).status_code == 401


def test_a_delayed_write_through_of_a_new_key_cannot_undo_its_revoke(any_redis: str, api: JsonClient) -> None:
    first, second = two_keys(api)
    record = services.keys.lookup(key_id(second), UnitOfWork(), get_key_records())
    assert record is not None
    assert api.delete(f"/users/alice/keys/{key_id(second)}", key=first).status_code == 200
    get_key_records().offer(record)  # the write-through, arriving late
    assert api.get("/users/alice", key=second).status_code == 401


GENERATED = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))


@GENERATED
@given(scope=st.sampled_from(["admin", "user"]), state=st.sampled_from(["1", "2"]),
       mac=st.one_of(st.just(""), st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)),
       signed_with=st.binary(min_size=0, max_size=32), existing=st.booleans())
def test_a_record_written_into_redis_by_hand_is_never_believed(
        api: JsonClient, redis_client: redis_lib.Redis, cache_prefix: str, log_records: list[logging.LogRecord],
        scope: str, state: str, mac: str, signed_with: bytes, existing: bool) -> None:
    """Whoever can write to Redis writes the record of a key id (one nobody holds, or Alice's own) with a digest of
    their choosing, any scope, any user, and a MAC of their making: the key is judged by the database alone."""
    if "alice" not in api.keys:
        seed(api, {"alice": "100.00", "bob": "100.00"})
    secret = secrets.token_urlsafe(32)
    forged_id = key_id(api.keys["alice"]) if existing else secrets.token_hex(8)
    token = f"tapi.{forged_id}.{secret}"
    fields = {"digest": hashlib.sha256(secret.encode()).hexdigest(), "scope": scope,
              "user_id": None if scope == "admin" else str(uuid.uuid4()), "username": "bob", "revoked": False}
    if mac == "" and signed_with:  # a MAC made the app's way, with a key of the attacker's
        mac = KeyRecords(lambda: None, get_key_records()._keys, lambda: signed_with)._mac(  # type: ignore[arg-type]
            key_records.KeyRecord(forged_id, fields["digest"], scope, fields["user_id"], "bob", False))
    redis_client.set(f"{cache_prefix}:api_key:{forged_id}", f"{state}|{json.dumps({**fields, 'mac': mac})}")
    log_records.clear()
    stock = {"ticker": "FORGED", "open_price": 1, "close_price": 1, "high": 1, "low": 1, "volume": 1}
    assert api.post("/stocks", stock, key=token).status_code == 401  # not a key the database knows
    assert api.post("/users/bob/withdrawals", {"amount": "1.00"}, key=token).status_code == 401
    assert any(getattr(r, "event", None) == "key_record_forged" for r in log_records)
    if existing:  # Alice's real key still works, as the user it is, and the forgery was replaced
        assert api.post("/stocks", stock, key=api.keys["alice"]).status_code == 403
        held = redis_client.get(f"{cache_prefix}:api_key:{forged_id}")
        assert held is not None and get_key_records()._verified(forged_id, held) is not None


def test_unknown_keys_cost_each_source_a_bounded_number_of_lookups_and_leave_nothing_cached(
        any_redis: str, api: JsonClient, monkeypatch: pytest.MonkeyPatch, log_records: list[logging.LogRecord]
) -> None:
    """Random key ids are not cached (they would fill Redis), and each one the cache cannot answer costs a database
    read: past AUTH_LOOKUPS_PER_WINDOW a window, a source's unknown keys are refused without one. A key the
    cache holds is not counted."""
    from sqlalchemy import event

    from chalicelib.adapters.database import get_engine
    from chalicelib.config import get_settings

    seed(api)
    known = api.keys["alice"]
    assert api.get("/users/alice", key=known).status_code == 200  # cached now
    monkeypatch.setenv("AUTH_LOOKUPS_PER_WINDOW", "5")
    get_settings.cache_clear()
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(get_engine(), "before_cursor_execute", listener)
    try:
        looked_up = []
        for _ in range(12):
            before = len(statements)
            forged = f"tapi.{secrets.token_hex(8)}.{secrets.token_urlsafe(32)}"
            assert api.get("/users/alice", key=forged).status_code == 401
            looked_up.append(any("api_keys" in sql for sql in statements[before:]))
    finally:
        event.remove(get_engine(), "before_cursor_execute", listener)
    assert looked_up == [True] * 5 + [False] * 7
    assert any(getattr(r, "event", None) == "key_lookup_limited" for r in log_records)
    prefix = f"{get_settings().cache_prefix}:api_key:"
    held = {k.decode().removeprefix(prefix) for k in redis_lib.Redis.from_url(any_redis).scan_iter(match=prefix + "*")}
    assert held == {key_id(known), key_id(api.admin_key)}  # only the keys that exist
    assert api.get("/users/alice", key=known).status_code == 200  # a cached key is never refused for that
