"""Security, tested like money: for every route in the route table, who may call it and what everyone else gets,
in-process (chalice.test) and over HTTP (the WSGI adapter `make run` serves); nothing is read or changed for a
refused caller; keys are never logged, cached or stored in a usable form; the rate limit is exact."""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import redis as redis_lib
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from werkzeug.test import Client as WsgiClient

from chalicelib.adapters.database import get_engine
from chalicelib.api.access import ADMIN, OWNER, OWNER_OR_ADMIN, PUBLIC, SELF
from devstack.wsgi import ChaliceWSGI
from tests.access_table import (
    CREDENTIALS,
    NAMED_RESTING_BUY,
    RESTING_BUY,
    World,
    expected,
    headers_for,
    refusal_code,
    refused_code,
    request_for,
    specs,
)
from tests.integration.conftest import JsonClient
from tests.integration.helpers import body, seed, trade
from tests.integration.test_orders import settle


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


Send = Callable[[str, str, dict[str, str], bytes], Answer]


@pytest.fixture(params=["in-process", "over HTTP"])
def send(request: pytest.FixtureRequest, client: Client) -> Send:
    """In-process, a request with no Authorization header gets Chalice's local gateway's own 401 body; over HTTP
    (and on AWS) API Gateway's gateway responses give every answer the error shape."""
    """A request through Chalice's local gateway in-process, or through the WSGI adapter `make run` serves."""
    if request.param == "in-process":
        def in_process(method: str, path: str, headers: dict[str, str], payload: bytes) -> Answer:
            answer = client.http.request(method, path, headers=headers, body=payload)
            return Answer(answer.status_code, {k.lower(): v for k, v in answer.headers.items()}, answer.body)
        return in_process
    served = WsgiClient(ChaliceWSGI())

    def over_http(method: str, path: str, headers: dict[str, str], payload: bytes) -> Answer:
        answer = served.open(path, method=method, headers=headers, data=payload)
        return Answer(answer.status_code, {k.lower(): v for k, v in answer.headers.items()}, answer.data)
    return over_http


@pytest.fixture
def world(api: JsonClient, admin_key: str, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("SIGNUP_LIMIT_PER_WINDOW", "1000")
    seed(api, {"alice": "10000.00", "bob": "10000.00"})
    settle(body(api.post("/transactions", trade(volume=10)))["transaction_id"])  # a position to close
    placed = body(api.post("/transactions", trade(volume=1)))
    extra = body(api.post("/users/alice/keys", {}))
    assert api.delete(f"/users/alice/keys/{extra['key_id']}").status_code == 200
    return World(api.keys["alice"], api.keys["bob"], admin_key, extra["api_key"], placed["transaction_id"],
                 lambda: str(body(api.post("/users/alice/keys", {}))["key_id"]),
                 lambda: str(body(api.post("/transactions", RESTING_BUY))["transaction_id"]),
                 str(body(api.post("/transactions", NAMED_RESTING_BUY))["client_order_id"]))


def snapshot() -> dict[str, Any]:
    """Everything a refused write must leave as it was."""
    with get_engine().connect() as conn:
        return {query: conn.execute(text(query)).all() for query in (
            "SELECT username, balance, reserved_cash FROM users ORDER BY username",
            "SELECT id, status FROM trades ORDER BY id",
            "SELECT user_id, ticker, quantity, reserved_quantity FROM holdings ORDER BY user_id, ticker",
            "SELECT ticker, volume, close_price, price_as_of FROM stocks ORDER BY ticker",
            "SELECT ticker, timestamp FROM price_bars ORDER BY ticker, timestamp",
            "SELECT trade_id FROM outbox ORDER BY trade_id",
            "SELECT id, revoked_at FROM api_keys ORDER BY id",
            "SELECT id FROM cash_movements ORDER BY id")}


@pytest.mark.parametrize("credential", CREDENTIALS)
def test_every_route_answers_each_caller_as_its_rule_says(send: Send, world: World, credential: str) -> None:
    for spec in specs():
        path, payload = request_for(spec, world)
        headers = headers_for(world, credential)
        refused = expected(spec, credential) in (401, 403)
        before = snapshot() if refused else None
        answer = send(spec.method, path, headers, payload)
        assert answer.status == expected(spec, credential), (spec.method, spec.path, credential, answer.body)
        if refused:
            assert snapshot() == before, f"{spec.method} {spec.path} changed something for a refused caller"
        chalice_own_401 = credential == "none" and send.__name__ == "in_process"
        if refused and not chalice_own_401:
            assert refusal_code(spec, answer.body, answer.status) == refused_code(spec, answer.status), (
                spec.method, spec.path, credential, answer.body)
            assert b"alice" not in answer.body and b"bob" not in answer.body
            if answer.status == 401:
                assert answer.headers["www-authenticate"] == "Bearer"
        if spec.access != PUBLIC and answer.status != 401:  # every authenticated answer carries the budget
            assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(answer.headers)


def test_a_route_cannot_be_added_without_a_rule() -> None:

    from app import app
    from chalicelib.api.router import Router

    declared = {(spec.path, spec.method) for spec in specs()}
    registered = {(path, method) for path, methods in app.routes.items() for method in methods}
    assert registered == declared  # every route of the app went through a router, which demands a rule
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            rule = next(spec.access for spec in specs() if (spec.path, spec.method) == (path, method))
            assert rule in (PUBLIC, OWNER, OWNER_OR_ADMIN, ADMIN, SELF)
            assert (entry.authorizer is not None) == (rule != PUBLIC), f"{method} {path}"
    from chalicelib.api.classic import errors
    from chalicelib.api.classic.routes import CLASSIC

    router = Router(CLASSIC, errors.render)
    with pytest.raises(TypeError):
        router.route("/x", summary="no rule")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="access"):
        router.route("/x", access="everyone", summary="an unknown rule")


def test_another_users_transaction_is_404_even_for_a_valid_key(api: JsonClient, world: World) -> None:
    path = f"/transactions/bob/{world.alice_trade}"
    answer = api.get(path, key=world.bob_key)
    assert answer.status_code == 404
    assert api.get(f"/transactions/alice/{world.alice_trade}", key=world.alice_key).status_code == 200


def test_a_key_is_shown_once_stored_only_as_a_digest_and_never_logged_or_cached(
        api: JsonClient, world: World, redis_client: redis_lib.Redis, cache_prefix: str,
        log_records: list[logging.LogRecord], caplog: pytest.LogCaptureFixture) -> None:
    for path in ("/users/alice", "/users/alice/keys", "/transactions/alice", "/users/bob"):
        api.get(path, key=world.alice_key)
        api.get(path, key=world.revoked_key)
    listed = api.get("/users/alice/keys", key=world.alice_key)
    secrets = [token.rsplit(".", 1)[1] for token in world.tokens]
    assert not any(secret in listed.body.decode() for secret in secrets)

    with get_engine().connect() as conn:
        digests = set(conn.execute(text("SELECT secret_digest FROM api_keys")).scalars())
        stored = json.dumps([list(map(str, row)) for table in ("api_keys", "users", "trades", "outbox")
                             for row in conn.execute(text(f"SELECT * FROM {table}")).all()])
    assert digests == {hashlib.sha256(secret.encode()).hexdigest() for secret in secrets}
    assert not digests & {*world.tokens, *secrets}
    assert not any(secret in stored for secret in secrets)

    readers = {"string": redis_client.get, "hash": redis_client.hgetall, "set": redis_client.smembers,
               "zset": lambda key: redis_client.zrange(key, 0, -1)}
    cached = " ".join(str(readers[redis_client.type(key)](key))
                      for key in redis_client.scan_iter(match=f"{cache_prefix}:*", count=1000))
    logged = " ".join(record.getMessage() + json.dumps(record.__dict__, default=str) for record in log_records)
    logged += caplog.text
    for secret in secrets:
        assert secret not in cached and secret not in logged
    assert "Bearer" not in logged and "authorization" not in logged.lower().replace("authorizer", "")


@pytest.fixture
def tight_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    from chalicelib.config import get_settings

    monkeypatch.setenv("RATE_LIMIT_PER_WINDOW", "5")
    monkeypatch.setenv("RATE_LIMIT_WINDOW_S", "2")
    get_settings.cache_clear()
    yield 5
    get_settings.cache_clear()


def test_the_rate_limit_answers_429_exactly_past_the_limit_and_resets(any_redis: str, api: JsonClient,
                                                                     world: World, tight_limit: int) -> None:
    time.sleep(2.05)  # the world's setup made requests with Alice's key: let them leave the window
    answers = [api.get("/users/alice", key=world.alice_key) for _ in range(tight_limit + 1)]
    assert [a.status_code for a in answers] == [200] * tight_limit + [429]
    remaining = [a.headers["X-RateLimit-Remaining"] for a in answers]
    assert remaining == [str(n) for n in range(tight_limit - 1, -1, -1)] + ["0"]
    refused = answers[-1]
    assert json.loads(refused.body)["error"]["code"] == "too_many_requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    # The limit is the principal's, not one route's; another user has a budget of their own.
    assert api.get("/users/alice/holdings", key=world.alice_key).status_code == 429
    assert api.get("/users/bob", key=world.bob_key).status_code == 200
    time.sleep(int(refused.headers["Retry-After"]) + 0.1)
    assert api.get("/users/alice", key=world.alice_key).status_code == 200


def test_sign_up_is_limited_per_source_address(any_redis: str, api: JsonClient,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNUP_LIMIT_PER_WINDOW", "2")
    from chalicelib.config import get_settings

    get_settings.cache_clear()
    statuses = [api.post("/users", {"username": f"user_{n}", "balance": "1"}).status_code for n in range(3)]
    assert statuses == [201, 201, 429]


def test_the_rate_limit_fails_open_when_redis_is_down(api: JsonClient, world: World, monkeypatch: pytest.MonkeyPatch,
                                                      log_records: list[logging.LogRecord]) -> None:
    from chalicelib.adapters.redis_client import get_redis
    from chalicelib.config import get_settings

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    get_redis.cache_clear()
    answer = api.get("/users/alice", key=world.alice_key)
    assert answer.status_code == 200
    assert any(getattr(r, "event", None) == "rate_limit_skipped" for r in log_records)
    assert not [r for r in log_records if r.levelno >= logging.ERROR]
    get_redis.cache_clear()


def test_an_error_redis_answered_refuses_the_request_and_is_an_alarm(
        any_redis: str, api: JsonClient, world: World, cache_prefix: str, log_records: list[logging.LogRecord],
        capsys: pytest.CaptureFixture[str]) -> None:
    """Redis reachable but refusing the limiter's commands (here: its window key holds a value of another type) is a
    bug, not an outage: the request is refused with 503 rather than let through unlimited, an ERROR is logged and
    an EMF metric counts it."""
    alice = world.key("own")
    user_id = body(api.get("/users/alice", key=alice))["user_id"]
    raw = redis_lib.Redis.from_url(any_redis)
    raw.set(f"{cache_prefix}:rate:{user_id}", "not a window")
    capsys.readouterr()
    answer = api.get("/users/alice", key=alice)
    assert answer.status_code == 503, answer.body
    assert json.loads(answer.body)["error"]["code"] == "service_unavailable"
    assert [r.event for r in log_records if r.levelno == logging.ERROR] == ["rate_limit_failed"]  # type: ignore[attr-defined]
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [m["RateLimitErrors"] for m in emitted] == [[1.0]]
    assert emitted[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "tradeapi"
    raw.delete(f"{cache_prefix}:rate:{user_id}")
    raw.close()
    assert api.get("/users/alice", key=alice).status_code == 200
    assert api.get("/users/bob", key=world.bob_key).status_code == 200  # only the broken window was refused


def test_no_span_of_the_window_admits_more_than_the_limit(any_redis: str, api: JsonClient, world: World,
                                                        tight_limit: int, redis_client: redis_lib.Redis,
                                                        cache_prefix: str) -> None:
    """A fixed window lets twice the limit through across its edge; a sliding one never does. Requests go at a
    steady 25 a second for 5 s (2.5 windows): every span of one window holds at most the limit of them."""
    time.sleep(2.05)
    admitted: list[float] = []
    started = time.monotonic()
    while time.monotonic() - started < 5:
        sent = time.monotonic()
        if api.get("/users/alice", key=world.alice_key).status_code == 200:
            admitted.append(sent)
        time.sleep(max(0.0, sent + 0.04 - time.monotonic()))
    window = 2.0
    # Times are this process's, the window Redis's: a span a little shorter than the window absorbs the skew.
    busiest = max(sum(1 for t in admitted if start <= t < start + window - 0.05) for start in admitted)
    assert busiest <= tight_limit, admitted
    assert len(admitted) >= 2 * tight_limit  # it keeps admitting as old requests leave the window
    user_id = body(api.get("/users/alice", key=world.admin_key))["user_id"]
    ttl_ms = redis.Redis.from_url(any_redis).pttl(f"{cache_prefix}:rate:{user_id}")
    assert 0 < ttl_ms <= window * 1000  # the window's key expires with it


def test_a_revoked_key_is_refused_at_once_and_the_others_keep_working(api: JsonClient, world: World) -> None:
    second = body(api.post("/users/alice/keys", {}, key=world.alice_key))
    assert api.get("/users/alice", key=second["api_key"]).status_code == 200
    listed = body(api.get("/users/alice/keys", key=world.alice_key))
    assert {key["key_id"] for key in listed} >= {second["key_id"]}
    assert all(set(key) == {"key_id", "created_at", "last_used_at"} for key in listed)
    assert api.delete(f"/users/alice/keys/{second['key_id']}", key=world.alice_key).status_code == 200
    assert api.get("/users/alice", key=second["api_key"]).status_code == 401
    assert api.get("/users/alice", key=world.alice_key).status_code == 200
    # A repeat revoke answers the same (and tells the cache again), rather than 404 leaving the owner unable to.
    assert body(api.delete(f"/users/alice/keys/{second['key_id']}", key=world.alice_key)) == {
        "message": "key revoked", "key_id": second["key_id"]}
    assert api.delete("/users/alice/keys/0123456789abcdef", key=world.alice_key).status_code == 404
    # Bob cannot revoke Alice's key, even knowing its id.
    assert api.delete(f"/users/alice/keys/{world.alice_key.split('.')[1]}",
                            key=world.bob_key).status_code == 403


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.lists(st.from_regex(r"[a-z0-9_-]{1,12}", fullmatch=True), min_size=1, max_size=4))
def test_a_keyed_request_to_an_unknown_route_is_404_and_never_echoes_the_key(world: World, path: list[str]) -> None:
    """API Gateway answers an unknown route before any authorizer runs: not found, whoever asks. The local gateway's
    own answer (403, the Authorization header echoed) is never what a client gets under `make run`."""
    served = WsgiClient(ChaliceWSGI())
    unknown = "/nowhere/" + "/".join(path)
    for method in ("GET", "POST", "DELETE"):
        answer = served.open(unknown, method=method, headers=headers_for(world, "own"), data=b"{}")
        assert answer.status_code == 404, (method, unknown, answer.data)
        assert json.loads(answer.data)["error"]["code"] == "not_found"
        assert world.alice_key.rsplit(".", 1)[1].encode() not in answer.data
    # A route that exists is still a 403 for a key that may not call it.
    assert served.open("/stocks", method="POST", headers=headers_for(world, "own"), data=b"{}").status_code == 403
