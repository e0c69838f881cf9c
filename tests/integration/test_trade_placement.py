"""POST /transactions: validation, buying-power pre-checks, the pending trade with its outbox row, the SQS send
after commit, idempotency, and acceptance while SQS is unreachable."""
from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from chalicelib.adapters.aws_clients import aws_client
from chalicelib.adapters.database import get_engine
from chalicelib.adapters.trade_queue import get_trade_queue
from chalicelib.api import market
from chalicelib.config import get_settings
from tests.integration.helpers import assert_error, body, drain, error_fields, run_together, seed, shares, trade


def scalar(sql: str, **params: object) -> Any:
    with get_engine().connect() as conn:
        return conn.execute(text(sql), params).scalar()


def received_trade_ids(sqs, queue_url: str) -> list[str]:
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    return [json.loads(m["Body"])["trade_id"] for m in messages]


@pytest.mark.parametrize("path", ["/transactions", "/transactions/"])
def test_buy_is_accepted_as_pending_and_sent_to_the_queue(api, sqs, queues, path: str) -> None:
    ids = seed(api)
    response = api.post(path, trade(volume=10))
    assert response.status_code == 202
    accepted = body(response)
    assert accepted["message"] == "Transaction is in progress."
    assert accepted["status"] == "pending"
    assert accepted["user"] == "alice" and accepted["user_id"] == ids["alice"]
    assert accepted["ticker"] == "AAPL" and accepted["transaction_type"] == "buy"
    assert accepted["transaction_volume"] == 10
    assert accepted["transaction_price"] is None and accepted["total"] is None and accepted["reason"] is None
    assert accepted["timestamp"] and accepted["settled_at"] is None

    assert received_trade_ids(sqs, queues["queue"]) == [accepted["transaction_id"]]
    # Nothing is written back after the send (no second transaction per order): the row waits for settlement.
    assert scalar("SELECT sent_at IS NULL FROM outbox WHERE trade_id = :t", t=accepted["transaction_id"])

    user = body(api.get("/users/alice"))
    assert user["balance"] == "10000.00"
    assert user["available_balance"] == "9000.00"  # 10 x 100.00 set aside for the pending buy


@pytest.mark.parametrize("side", ["BUY", "Buy", "buy"])
def test_transaction_type_is_case_insensitive(api, side: str) -> None:
    seed(api)
    assert body(api.post("/transactions", trade(side=side)))["transaction_type"] == "buy"


def test_user_id_is_accepted_in_place_of_user(api) -> None:
    ids = seed(api)
    by_id = {k: v for k, v in trade().items() if k != "user"} | {"user_id": ids["alice"]}
    assert body(api.post("/transactions", by_id))["user"] == "alice"
    assert body(api.post("/transactions", trade(user=ids["alice"])))["user"] == "alice"


@pytest.mark.parametrize(
    "change, fields",
    [
        ({"user": None}, {"user"}),
        ({"transaction_type": "hold"}, {"transaction_type"}),
        ({"transaction_volume": 0}, {"transaction_volume"}),
        ({"transaction_volume": 10**9 + 1}, {"transaction_volume"}),
        ({"transaction_volume": 1.5}, {"transaction_volume"}),
        ({"transaction_volume": "many"}, {"transaction_volume"}),
        ({"ticker": "BAD$"}, {"ticker"}),
        ({"client_order_id": "x" * 49}, {"client_order_id"}),
        ({"transaction_type": None, "transaction_volume": -1}, {"transaction_type", "transaction_volume"}),
    ],
)
def test_invalid_trade_is_400_and_creates_nothing(api, sqs, queues, change, fields) -> None:
    seed(api)
    payload = {k: v for k, v in {**trade(), **change}.items() if v is not None}
    response = api.post("/transactions", payload, key=api.keys["alice"])
    assert_error(response, 400, "validation_error")
    assert error_fields(response) == fields
    assert scalar("SELECT count(*) FROM trades") == 0
    assert received_trade_ids(sqs, queues["queue"]) == []


def test_unknown_ticker_is_404(api) -> None:
    seed(api)
    assert_error(api.post("/transactions", trade(ticker="NOPE")), 404, "not_found")
    assert scalar("SELECT count(*) FROM trades") == 0


@pytest.mark.parametrize("user", ["nobody", str(uuid.uuid4())])
def test_a_trade_for_a_user_the_key_is_not_for_is_403_whether_or_not_the_user_exists(api, user: str) -> None:
    seed(api)
    assert_error(api.post("/transactions", trade(user=user), key=api.keys["alice"]), 403, "forbidden")
    assert scalar("SELECT count(*) FROM trades") == 0


@pytest.mark.parametrize(
    "first, second, reason",
    [
        (None, trade(volume=101), "insufficient_funds"),  # 101 x 100.00 > 10000.00
        (trade(volume=60), trade(volume=41), "insufficient_funds"),  # the pending buy's cash is set aside
        (None, trade(volume=1001), "insufficient_volume"),  # affordable with more cash, but only 1000 on offer
        (None, trade(side="sell", volume=1), "insufficient_shares"),
    ],
)
def test_failed_pre_check_is_400_with_the_reason_and_creates_nothing(api, sqs, queues, first, second, reason):
    seed(api, {"alice": "10000.00" if reason != "insufficient_volume" else "999999.00"})
    if first is not None:
        assert api.post("/transactions", first).status_code == 202
    before = scalar("SELECT count(*) FROM trades")
    response = api.post("/transactions", second)
    error = assert_error(response, 400, reason)
    assert error["details"][0]["reason"] == reason
    assert scalar("SELECT count(*) FROM trades") == before
    assert scalar("SELECT count(*) FROM outbox") == before


def test_sell_sets_aside_shares_so_they_cannot_be_sold_twice(api, sqs, queues) -> None:
    seed(api)
    api.post("/transactions", trade(volume=10))
    drain(sqs, queues["queue"])
    assert api.post("/transactions", trade(side="sell", volume=6)).status_code == 202
    assert shares(api) == [{"ticker": "AAPL", "quantity": 10, "available": 4}]
    assert_error(api.post("/transactions", trade(side="sell", volume=5)), 400, "insufficient_shares")


def test_same_idempotency_key_and_body_replays_the_first_answer(api) -> None:
    seed(api)
    headers = {"Idempotency-Key": "order-1"}
    first = api.post("/transactions", trade(), headers)
    again = api.post("/transactions", trade(), headers)
    assert again.status_code == 202
    assert body(again)["transaction_id"] == body(first)["transaction_id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert scalar("SELECT count(*) FROM trades") == 1
    assert body(api.get("/users/alice"))["available_balance"] == "9000.00"


def test_same_idempotency_key_with_another_body_is_409(api) -> None:
    seed(api)
    api.post("/transactions", trade(volume=10), {"Idempotency-Key": "order-1"})
    assert_error(api.post("/transactions", trade(volume=11), {"Idempotency-Key": "order-1"}), 409, "conflict")
    assert scalar("SELECT count(*) FROM trades") == 1


def test_client_order_id_works_as_the_idempotency_key(api) -> None:
    seed(api)
    first = body(api.post("/transactions", trade(client_order_id="abc-1")))
    assert first["client_order_id"] == "abc-1"
    assert body(api.post("/transactions", trade(client_order_id="abc-1")))["transaction_id"] == first["transaction_id"]
    assert_error(api.post("/transactions", trade(volume=3, client_order_id="abc-1")), 409)
    assert scalar("SELECT count(*) FROM trades") == 1


def test_without_a_key_every_post_is_a_new_trade(api) -> None:
    seed(api)
    api.post("/transactions", trade())
    api.post("/transactions", trade())
    assert scalar("SELECT count(*) FROM trades") == 2


def test_concurrent_duplicates_under_one_key_create_one_trade() -> None:
    """Eight requests with one key at once: one trade, eight answers naming it."""
    from chalicelib.adapters.placement import get_order_desk
    from chalicelib.api.classic.shapes import NewTrade, NewUser
    from chalicelib.services import trades, users
    from chalicelib.services.unit_of_work import UnitOfWork

    users.register(NewUser.parse({"username": "alice", "balance": "10000"}), UnitOfWork())
    with get_engine().begin() as conn:
        conn.execute(text("INSERT INTO stocks (ticker, open_price, close_price, high, low, volume, total_shares) "
                          "VALUES ('AAPL', 100, 100, 100, 100, 1000, 1000)"))
    order = NewTrade.parse(trade(volume=10))
    answers: list[str] = []
    barrier = threading.Barrier(8, timeout=60)

    def place() -> None:
        barrier.wait()
        answers.append(str(trades.place(order, "same-key", UnitOfWork(), get_order_desk(), market.clock()).value.id))

    run_together(place, 8, 60, lambda: answers)
    assert len(answers) == 8 and len(set(answers)) == 1
    assert scalar("SELECT count(*) FROM trades") == 1
    assert scalar("SELECT reserved_cash FROM users") == 1000


def test_sqs_unreachable_at_placement_still_202_and_the_relay_gets_it_settled(api, sqs, queues, monkeypatch,
                                                                              log_records) -> None:
    seed(api)
    reachable = get_settings().aws_endpoint_url
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    get_settings.cache_clear()
    aws_client.cache_clear()
    get_trade_queue.cache_clear()

    response = api.post("/transactions", trade(volume=10))
    assert response.status_code == 202
    trade_id = body(response)["transaction_id"]
    assert scalar("SELECT sent_at FROM outbox WHERE trade_id = :t", t=trade_id) is None
    assert any("queue send failed" in r.getMessage() for r in log_records)
    placed = [r for r in log_records if getattr(r, "event", None) == "trade_placed"]
    assert [r.queued for r in placed] == [False]

    monkeypatch.setenv("AWS_ENDPOINT_URL", reachable)
    get_settings.cache_clear()
    aws_client.cache_clear()
    get_trade_queue.cache_clear()
    from app import relay_outbox
    from devstack.schedule import scheduled_event

    assert relay_outbox(scheduled_event(), None) == {"sent": 1}
    assert relay_outbox(scheduled_event(), None) == {"sent": 0}  # sent rows are not sent again
    drain(sqs, queues["queue"])
    assert body(api.get(f"/transactions/alice/{trade_id}"))["status"] == "settled"


def test_a_lost_message_is_sent_again_and_the_outbox_empties_on_settlement(api, sqs, queues, monkeypatch) -> None:
    from app import relay_outbox
    from devstack.schedule import scheduled_event

    seed(api)
    monkeypatch.setenv("OUTBOX_RELAY_MIN_AGE_S", "60")
    get_settings.cache_clear()
    trade_id = body(api.post("/transactions", trade(volume=1)))["transaction_id"]
    sqs.purge_queue(QueueUrl=queues["queue"])  # the message is lost after it was sent
    assert relay_outbox(scheduled_event(), None) == {"sent": 0}  # not yet: its message may still be on its way

    monkeypatch.setenv("OUTBOX_RELAY_MIN_AGE_S", "0")  # as if a minute had passed with the trade still pending
    get_settings.cache_clear()
    assert relay_outbox(scheduled_event(), None) == {"sent": 1}
    assert relay_outbox(scheduled_event(), None) == {"sent": 0}  # the relay's own send is not repeated at once
    drain(sqs, queues["queue"])
    assert body(api.get(f"/transactions/alice/{trade_id}"))["status"] == "settled"
    assert scalar("SELECT count(*) FROM outbox") == 0
    assert relay_outbox(scheduled_event(), None) == {"sent": 0}


def test_resending_stops_after_the_attempt_limit(api, sqs, queues, monkeypatch) -> None:
    from app import relay_outbox
    from devstack.schedule import scheduled_event

    seed(api)
    api.post("/transactions", trade(volume=1))
    monkeypatch.setenv("OUTBOX_RESEND_AFTER_S", "0")
    monkeypatch.setenv("OUTBOX_MAX_ATTEMPTS", "3")
    get_settings.cache_clear()
    sent = [relay_outbox(scheduled_event(), None)["sent"] for _ in range(4)]
    assert sent == [1, 1, 1, 0]  # the relay's attempts are counted (the API's own send writes nothing back)
    assert scalar("SELECT attempts FROM outbox") == 3
def test_duplicates_queued_behind_the_users_lock_all_replay_the_first(api) -> None:
    """Orders with one idempotency key that wait together on the user's row: one is placed, the others replay it
    (whichever way each finds out: the statement's guard, or the unique index refusing it)."""
    seed(api)
    answers: list[str] = []
    with get_engine().connect() as holder:
        holder.execute(text("SELECT id FROM users WHERE username = 'alice' FOR UPDATE"))

        def place() -> None:
            response = api.post("/transactions", trade(volume=2), headers={"Idempotency-Key": "queued"})
            answers.append(f"{response.status_code} {body(response).get('transaction_id')}")

        threads = [threading.Thread(target=place) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)  # let them queue on the lock (if one is late, it simply replays)
        holder.rollback()
        for thread in threads:
            thread.join(timeout=60)
    assert len(answers) == 4 and len(set(answers)) == 1 and answers[0].startswith("202"), answers
    assert scalar("SELECT count(*) FROM trades") == 1
    assert scalar("SELECT reserved_cash FROM users WHERE username = 'alice'") == 200
