"""Integration fixtures: the app pointed at this session's database and a per-test Redis key prefix."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_lib
from chalice.test import Client
from sqlalchemy import text

from chalicelib import cache as cache_module
from chalicelib.config import get_settings
from chalicelib.db import dispose_engine, get_engine
from chalicelib.models import Base


@pytest.fixture(scope="session", autouse=True)
def _app_database(database_url: str, redis_url: str) -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    mp.setenv("DATABASE_URL", database_url)
    mp.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    dispose_engine()
    yield
    dispose_engine()
    mp.undo()
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def cache_prefix(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> Iterator[str]:
    """Empty tables and a fresh Redis key prefix for every test; the test's keys are removed after it."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("CACHE_PREFIX", prefix)
    get_settings.cache_clear()
    assert get_settings().cache_prefix == prefix  # read now, before a request patches the stage's variables in
    cache_module.reset_cache()
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with get_engine().begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield prefix
    cache_module.reset_cache()
    raw = redis_lib.Redis.from_url(redis_url)
    keys = list(raw.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        raw.delete(*keys)
    raw.close()
    get_settings.cache_clear()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def client() -> Iterator[Client]:
    from app import app

    with Client(app, stage_name="local") as test_client:
        yield test_client


class JsonClient:
    """chalice.test.Client with JSON in and out."""

    def __init__(self, client: Client) -> None:
        self.raw = client.http

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        import json

        return self.raw.post(
            path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
        )

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.raw.get(path, headers=headers or {})


@pytest.fixture
def api(client: Client) -> JsonClient:
    return JsonClient(client)


@pytest.fixture
def log_records() -> Iterator[list[logging.LogRecord]]:
    """Records logged by the app's logger during the test."""
    from chalicelib.logs import get_logger

    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(level=logging.DEBUG)
    logger = logging.getLogger(get_logger().name)
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)
