"""The paths a calm day never takes: a batch that fails as a whole, the same trade twice in one batch, a step after
commit that fails, the dev/prod connection setting (no pool), and two outbox relays at once."""
from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from app import settle_trades
from chalicelib.adapters.aws_clients import aws_client
from chalicelib.adapters.database import get_database, get_engine
from chalicelib.adapters.trade_queue import get_trade_queue
from chalicelib.config import get_settings
from chalicelib.domain.messages import settlement_message
from devstack.lambda_context import LambdaContext
from tests.integration.helpers import body, drain, run_together, seed, trade
from tests.integration.test_settlement import sqs_event


def scalar(sql: str, **params: Any) -> Any:
    with get_engine().connect() as conn:
        return conn.execute(text(sql), params).scalar()


def message(trade_id: str) -> str:
    return json.dumps(settlement_message(uuid.UUID(trade_id)))


def test_a_batch_that_fails_whole_settles_its_trades_one_by_one(api, log_records) -> None:
    """A database trigger refuses to finalise one trade: the batch transaction fails as a whole, then every other
    trade settles in a transaction of its own and only the refused one is reported failed (and stays pending)."""
    seed(api)
    placed = [body(api.post("/transactions", trade(volume=1)))["transaction_id"] for _ in range(4)]
    refused = placed[2]
    with get_engine().begin() as conn:
        conn.execute(text(
            "CREATE FUNCTION refuse_one() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.id = '{refused}'::uuid AND NEW.status <> 'pending' THEN "
            "RAISE EXCEPTION 'refused by test trigger'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"))
        conn.execute(text("CREATE TRIGGER refuse_one BEFORE UPDATE ON trades FOR EACH ROW "
                          "EXECUTE FUNCTION refuse_one()"))
    try:
        event = sqs_event(*(message(trade_id) for trade_id in placed))
        response = settle_trades(event, LambdaContext("t"))
    finally:
        with get_engine().begin() as conn:
            conn.execute(text("DROP TRIGGER refuse_one ON trades"))
            conn.execute(text("DROP FUNCTION refuse_one()"))
    assert [item["itemIdentifier"] for item in response["batchItemFailures"]] == [event["Records"][2]["messageId"]]
    statuses = {trade_id: body(api.get(f"/transactions/alice/{trade_id}"))["status"] for trade_id in placed}
    assert statuses == {trade_id: "pending" if trade_id == refused else "settled" for trade_id in placed}
    assert body(api.get("/users/alice"))["balance"] == "9700.00"  # three shares at 100.00, once each
    assert any(getattr(r, "event", None) == "settlement_batch_failed" for r in log_records)


def test_the_same_trade_twice_in_one_batch_settles_once(api, log_records) -> None:
    seed(api)
    trade_id = body(api.post("/transactions", trade(volume=10)))["transaction_id"]
    other = body(api.post("/transactions", trade(volume=1)))["transaction_id"]
    event = sqs_event(message(trade_id), message(other), message(trade_id))
    assert settle_trades(event, LambdaContext("t")) == {"batchItemFailures": []}
    assert body(api.get("/users/alice"))["balance"] == "8900.00"
    assert body(api.get("/users/alice/holdings"))[0]["quantity"] == 11
    assert scalar("SELECT volume FROM stocks WHERE ticker = 'AAPL'") == 1000 - 11
    events = [getattr(r, "event", None) for r in log_records]
    assert events.count("trade_settled") == 2 and events.count("trade_redelivered") == 1


def test_a_failing_step_after_commit_never_undoes_the_commit(api, sqs, queues, monkeypatch, log_records) -> None:
    """The cache invalidation after a placement fails: the order is still accepted, recorded and sent, and
    settles."""
    from chalicelib.domain.events import TradePlaced
    from chalicelib.services import handlers

    seed(api)

    def broken(event: Any, deps: Any) -> None:
        raise RuntimeError("cache invalidation failed")

    monkeypatch.setitem(handlers.HANDLERS, TradePlaced, [handlers.send_settlement, broken])
    response = api.post("/transactions", trade(volume=2))
    assert response.status_code == 202
    trade_id = body(response)["transaction_id"]
    assert scalar("SELECT status FROM trades WHERE id = :t", t=trade_id) == "pending"
    assert any(getattr(r, "event", None) == "after_commit_failed" for r in log_records)
    monkeypatch.undo()
    assert drain(sqs, queues["queue"]) == 1  # the message went out before the failing step
    assert body(api.get(f"/transactions/alice/{trade_id}"))["status"] == "settled"


@pytest.fixture
def no_pool(monkeypatch: pytest.MonkeyPatch) -> Any:
    """DB_POOL=null, as the dev and prod stages set it: a connection per unit of work, closed after it."""
    monkeypatch.setenv("DB_POOL", "null")
    get_settings.cache_clear()
    get_database.cache_clear()
    yield
    get_database.cache_clear()


def test_without_a_pool_every_path_works_and_leaves_no_connection_open(api, sqs, queues, no_pool) -> None:
    assert isinstance(get_engine().pool, NullPool)
    application = f"tradeapi-{get_settings().stage}"

    def open_connections() -> int:
        with get_engine().connect() as conn:  # this one counts itself; it is closed with the block
            return int(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a"),
                                    {"a": application}).scalar_one()) - 1

    before = open_connections()
    seed(api)
    trade_id = body(api.post("/transactions", trade(volume=3)))["transaction_id"]
    assert drain(sqs, queues["queue"]) == 1
    assert body(api.get(f"/transactions/alice/{trade_id}"))["status"] == "settled"
    assert body(api.get("/users/alice"))["balance"] == "9700.00"
    assert open_connections() == before


def test_two_relays_at_once_send_each_unsent_message_once(api, sqs, queues, monkeypatch) -> None:
    from app import relay_outbox
    from devstack.schedule import scheduled_event

    seed(api)
    reachable = get_settings().aws_endpoint_url
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")  # the API's own sends fail: all wait in the outbox
    for cached in (get_settings, aws_client, get_trade_queue):
        cached.cache_clear()
    placed = {body(api.post("/transactions", trade(volume=1)))["transaction_id"] for _ in range(30)}
    monkeypatch.setenv("AWS_ENDPOINT_URL", reachable)
    for cached in (get_settings, aws_client, get_trade_queue):
        cached.cache_clear()

    sent: list[int] = []
    start = threading.Barrier(2, timeout=60)

    def relay() -> None:
        start.wait()
        sent.append(relay_outbox(scheduled_event(), None)["sent"])

    run_together(relay, 2, 120, lambda: sent)
    assert sum(sent) == len(placed)

    received: list[str] = []
    for _ in range(20):
        batch = sqs.receive_message(QueueUrl=queues["queue"], MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                    VisibilityTimeout=60).get("Messages", [])
        if not batch:
            break
        received += [json.loads(m["Body"])["trade_id"] for m in batch]
    assert sorted(received) == sorted(placed)  # every one, and none twice
