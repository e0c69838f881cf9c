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
    assert api.get("/users/alice").status_code == 200  # a read, as any client makes, fills the cache
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
    """Registration writes the user and its key in one transaction; cut just before its COMMIT, nothing is kept."""
    seed(api)
    before = counts(direct)
    db_proxy.cut_when_client_sends(b"commit")

    assert_error(api.post("/users", {"username": "bob", "balance": "10"}), 503, "service_unavailable")

    assert counts(direct) == before
    assert api.post("/users", {"username": "bob", "balance": "10"}).status_code == 201
    assert counts(direct)["users"] == before["users"] + 1


def test_a_placement_cut_on_its_way_is_placed_once_on_a_fresh_connection(api, db_proxy, direct, sqs, queues):
    """The one-statement placement commits by itself; a connection cut before the server got it is discarded
    and the statement runs once more on a fresh one. It cannot place twice: the trade's id is written once."""
    seed(api)
    before = counts(direct)
    db_proxy.cut_when_client_sends(b"INSERT INTO trades")

    accepted = api.post("/transactions", trade(volume=3))
    assert accepted.status_code == 202, accepted.body
    after = counts(direct)
    assert (after["trades"], after["outbox"]) == (before["trades"] + 1, before["outbox"] + 1)
    assert queue_depth(sqs, queues["queue"]) == 1
    with direct.connect() as conn:
        assert conn.execute(text("SELECT reserved_cash FROM users WHERE username = 'alice'")).scalar() == 300


def test_connections_cut_while_pooled_cost_no_failed_request(api, db_proxy, monkeypatch):
    """No ping on every checkout: a pooled connection is pinged only after it sat idle, and a placement that
    meets a dead one runs again on a fresh one; the pool drops every connection older than the failure."""
    seed(api)
    for path in ("/users/alice", "/stocks/AAPL"):
        assert api.get(path).status_code == 200
    monkeypatch.setenv("DB_PING_AFTER_IDLE_S", "3600")  # the pooled connections will not be pinged
    get_settings.cache_clear()
    get_database.cache_clear()
    assert api.post("/transactions", trade(volume=1)).status_code == 202  # the pools hold live connections now
    assert_error(api.get("/transactions/alice/00000000-0000-0000-0000-000000000000"), 404)

    db_proxy.down()  # a restart: every pooled connection is cut
    db_proxy.up()
    assert api.post("/transactions", trade(volume=1)).status_code == 202  # retried on a fresh connection
    # The session pool's dead connection fails one read (a read is not run twice); the pool then drops all it held.
    assert_error(api.get("/transactions/alice/00000000-0000-0000-0000-000000000000"), 503)
    assert_error(api.get("/transactions/alice/00000000-0000-0000-0000-000000000000"), 404)

    monkeypatch.setenv("DB_PING_AFTER_IDLE_S", "0")  # now every checkout after any idle time pings
    get_settings.cache_clear()
    get_database.cache_clear()
    assert_error(api.get("/transactions/alice/00000000-0000-0000-0000-000000000000"), 404)
    db_proxy.down()
    db_proxy.up()
    assert_error(api.get("/transactions/alice/00000000-0000-0000-0000-000000000000"), 404)  # pinged, replaced
    assert api.post("/transactions", trade(volume=1)).status_code == 202


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


def test_a_batch_the_database_could_not_serve_fails_whole_and_comes_back_in_seconds(api, db_proxy, sqs, queues,
                                                                                     log_records):
    """With the database away a batch fails at once, whole (retrying its trades one by one would only meet the same
    outage), and its messages come back after a short delay rather than the queue's visibility timeout: once the
    database returns they settle within seconds."""
    from app import settle_trades
    from devstack.poller import SqsPoller

    seed(api)
    placed = [body(api.post("/transactions", trade(volume=1)))["transaction_id"] for _ in range(3)]
    sqs.set_queue_attributes(QueueUrl=queues["queue"], Attributes={"VisibilityTimeout": "60"})
    poller = SqsPoller(sqs, queues["queue"], settle_trades, wait_time_s=1, batch_window_s=0.5)
    db_proxy.down()
    first = poller.poll_once()
    assert first.received == first.failed > 0
    assert not [r for r in log_records if getattr(r, "event", None) == "settlement_batch_failed"]
    db_proxy.up()
    deadline = time.monotonic() + 15  # well inside the 60 s visibility timeout
    while any(body(api.get(f"/transactions/alice/{t}"))["status"] == "pending" for t in placed):
        assert time.monotonic() < deadline, "the failed messages did not come back before the visibility timeout"
        poller.poll_once()
    assert {body(api.get(f"/transactions/alice/{t}"))["status"] for t in placed} == {"settled"}
