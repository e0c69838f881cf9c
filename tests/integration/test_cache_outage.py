"""Redis stopped in the middle of a test: reads fall back to the database, writes succeed, a warning is logged,
and the cache is used again once Redis is back."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis as redis_lib

from chalicelib.adapters.redis_client import get_redis
from chalicelib.config import get_settings
from devstack.services import RedisServer
from tests.integration.helpers import STOCK, answer_key, body, cached_answer


@pytest.fixture
def own_redis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    monkeypatch.setenv("REDIS_URL", server.url)
    get_settings.cache_clear()
    get_settings()
    get_redis.cache_clear()
    yield server
    server.stop()
    get_redis.cache_clear()


def cache_warnings(records) -> list[str]:
    return [r.getMessage() for r in records if r.levelname == "WARNING" and "cache unavailable" in r.getMessage()]


def test_reads_and_writes_survive_redis_going_down_and_recover(api, own_redis, log_records, cache_prefix) -> None:
    direct = redis_lib.Redis.from_url(own_redis.url, decode_responses=True)
    assert api.post("/users", {"username": "alice", "balance": "10"}).status_code == 201
    assert api.get("/users/alice").status_code == 200
    assert direct.exists(answer_key("get_user", username="alice"))
    direct.close()

    own_redis.stop()

    assert body(api.get("/users/alice"))["balance"] == "10.00"
    assert api.post("/users", {"username": "bob", "balance": "20"}).status_code == 201
    assert body(api.get("/users/bob"))["balance"] == "20.00"
    assert api.post("/stocks", STOCK).status_code == 201
    assert [s["ticker"] for s in body(api.get("/stocks"))] == ["AAPL"]
    assert body(api.get("/stocks/aapl"))["volume"] == 1000
    moved = {"timestamp": datetime.now(UTC).isoformat(), "open_price": "150", "close_price": "150", "high": "150",
             "low": "150", "volume": 10}
    assert api.post("/stocks/AAPL/bars", moved, key=api.admin_key).status_code == 201
    assert body(api.get("/stocks/AAPL/bars"))[0]["close_price"] == "150.00"
    assert body(api.post("/users/alice/deposits", {"amount": "5"}))["balance"] == "15.00"
    assert [a["type"] for a in body(api.get("/users/alice/activities"))] == ["deposit"]
    assert len(cache_warnings(log_records)) >= 5

    own_redis.start()

    assert body(api.get("/users/bob"))["balance"] == "20.00"
    direct = redis_lib.Redis.from_url(own_redis.url, decode_responses=True)
    assert cached_answer(direct, answer_key("get_user", username="bob"))["username"] == "bob"
    direct.close()


def test_unreachable_redis_from_the_start_is_not_an_error(api, monkeypatch, log_records) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    get_settings()
    get_redis.cache_clear()
    assert api.post("/users", {"username": "alice", "balance": "1"}).status_code == 201
    assert api.get("/users/alice").status_code == 200
    assert cache_warnings(log_records)
