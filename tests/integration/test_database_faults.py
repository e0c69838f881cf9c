"""The database failing under the API, through a TCP proxy in front of the real server: unreachable (503 in the
error shape, nothing half-written, recovery with no restart), a connection lost just before COMMIT, a stalled
network and a query stuck behind a lock (cut by the configured timeouts, never hanging)."""
from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from chalicelib.adapters.database import get_database
from chalicelib.config import get_settings
from tests.integration.helpers import assert_error, body, queue_depth, seed, trade
from tests.integration.tcp_proxy import TcpProxy

CONNECT_TIMEOUT_S, STATEMENT_TIMEOUT_MS = 1.0, 3000
# The most one request may wait on a dead database: a pooled connection's ping and a fresh connection can each
# run into the socket timeout (connect + statement timeouts) before the request gives up.
SOCKET_TIMEOUT_S = CONNECT_TIMEOUT_S + STATEMENT_TIMEOUT_MS / 1000
REQUEST_LIMIT_S = 2 * SOCKET_TIMEOUT_S + 1


@pytest.fixture
def db_proxy(database_url: str) -> Iterator[TcpProxy]:
    """The app talks to the database through a proxy this test controls, with short timeouts."""
    url = make_url(database_url)
    unix_socket = url.query.get("unix_sock")
    proxy = TcpProxy(str(unix_socket) if unix_socket else (url.host or "127.0.0.1", url.port or 5432))
    proxied = url.set(host="127.0.0.1", port=proxy.port, query={}).render_as_string(hide_password=False)
    patch = pytest.MonkeyPatch()
    patch.setenv("DATABASE_URL", proxied)
    patch.setenv("DB_CONNECT_TIMEOUT_S", str(CONNECT_TIMEOUT_S))
    patch.setenv("DB_STATEMENT_TIMEOUT_MS", str(STATEMENT_TIMEOUT_MS))
    get_settings.cache_clear()
    get_database.cache_clear()
    yield proxy
    proxy.close()
    patch.undo()
    get_settings.cache_clear()
    get_database.cache_clear()


@pytest.fixture
def direct(database_url: str) -> Iterator[object]:
    """A connection around the proxy, to see what the database really holds."""
    engine = create_engine(database_url, poolclass=NullPool)
    yield engine
    engine.dispose()


def counts(engine: Engine) -> dict[str, object]:
    with engine.connect() as conn:
        return {
            "trades": conn.execute(text("SELECT count(*) FROM trades")).scalar(),
            "outbox": conn.execute(text("SELECT count(*) FROM outbox")).scalar(),
            "reserved_cash": conn.execute(text("SELECT sum(reserved_cash) FROM users")).scalar(),
            "users": conn.execute(text("SELECT count(*) FROM users")).scalar(),
        }


def test_database_down_is_503_with_nothing_written_and_recovers_by_itself(api, db_proxy, direct, log_records):
    seed(api)
    before = counts(direct)
    db_proxy.down()

    error = assert_error(api.post("/users", {"username": "bob", "balance": "10"}), 503, "service_unavailable")
    assert "database" in error["message"]
    assert_error(api.post("/transactions", trade()), 503, "service_unavailable")
    assert_error(api.get("/users/carol"), 503, "service_unavailable")
    assert body(api.get("/users/alice"))["balance"] == "10000.00"  # still served from the cache
    health = api.get("/health")
    assert health.status_code == 503
    checks = body(health)["checks"]
    assert checks["database"]["status"] == "down" and checks["cache"]["status"] == checks["queue"]["status"] == "ok"
    assert any(r.getMessage() == "database unavailable" for r in log_records)
    assert counts(direct) == before

    db_proxy.up()  # no restart, no reconfiguration: the pool throws away dead connections by itself
    assert_error(api.get("/users/bob"), 404)
    assert api.post("/users", {"username": "bob", "balance": "10"}).status_code == 201
    assert api.post("/transactions", trade()).status_code == 202
    assert api.get("/health").status_code == 200


def test_connection_lost_just_before_commit_leaves_nothing_half_written(api, db_proxy, direct, sqs, queues):
    seed(api)
    before = counts(direct)
    db_proxy.cut_when_client_sends(b"commit")

    assert_error(api.post("/transactions", trade()), 503, "service_unavailable")

    # Locks, reservation, trade and outbox row were one transaction: the server rolled all of it back, and the
    # queue message (sent only after a commit) never went out.
    assert counts(direct) == before
    assert queue_depth(sqs, queues["queue"]) == 0
    accepted = api.post("/transactions", trade())
    assert accepted.status_code == 202
    assert counts(direct)["trades"] == 1 and queue_depth(sqs, queues["queue"]) == 1


def test_stalled_database_answers_503_within_the_configured_limit(api, db_proxy):
    seed(api)
    db_proxy.stall()

    started = time.monotonic()
    assert_error(api.get("/users/carol"), 503, "service_unavailable")
    assert time.monotonic() - started < REQUEST_LIMIT_S

    db_proxy.up()
    assert body(api.get("/stocks/AAPL"))["ticker"] == "AAPL"


def test_query_stuck_behind_a_lock_is_cut_by_the_lock_timeout(api, db_proxy, direct):
    seed(api)
    with direct.connect() as holder:  # another session holds alice's row, as a long settlement would
        holder.execute(text("SELECT id FROM users WHERE username = 'alice' FOR UPDATE"))
        started = time.monotonic()
        error = assert_error(api.post("/transactions", trade()), 503, "service_unavailable")
        assert time.monotonic() - started < REQUEST_LIMIT_S
        assert "try again" in error["message"]
        holder.rollback()
    assert api.post("/transactions", trade()).status_code == 202


def test_health_does_not_wait_for_a_hung_database(api, db_proxy, monkeypatch):
    monkeypatch.setenv("HEALTH_TIMEOUT_S", "1.5")
    get_settings.cache_clear()
    assert api.get("/health").status_code == 200
    db_proxy.stall()

    started = time.monotonic()
    response = api.get("/health")
    assert time.monotonic() - started < SOCKET_TIMEOUT_S  # answered at the deadline, not when the socket gave up
    assert response.status_code == 503
    checks = body(response)["checks"]
    assert checks["database"] == {"status": "down", "latency_ms": checks["database"]["latency_ms"],
                                  "error": "no answer within 1.5 s"}
    assert checks["cache"]["status"] == checks["queue"]["status"] == "ok"
