"""The consumer against real PostgreSQL, Redis and the emulator's SQS: rules, re-checks at settlement time,
redelivery, partial batch failure, the dead-letter queue and the cache refresh after commit."""
from __future__ import annotations

import json
import time
import uuid

from sqlalchemy import text

from app import settle_trades
from chalicelib.adapters.database import get_engine
from devstack.lambda_context import LambdaContext
from tests.integration.helpers import answer_key, body, drain, live, queue_depth, seed, shares, trade


def rows(sql: str, **params) -> list:
    with get_engine().connect() as conn:
        return list(conn.execute(text(sql), params))


def sqs_event(*bodies: str) -> dict:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "r",
                "body": raw,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q",
                "awsRegion": "us-east-1",
            }
            for raw in bodies
        ]
    }


def message(trade_id: str) -> str:
    return json.dumps({"type": "trade.placed", "version": 1, "trade_id": trade_id})


def test_buy_settles_at_close_price(api, sqs, queues) -> None:
    seed(api, stocks={"AAPL": ("123.45", 1000)})
    trade_id = body(api.post("/transactions", trade(volume=10)))["transaction_id"]
    assert drain(sqs, queues["queue"]) == 1

    settled = body(api.get(f"/transactions/alice/{trade_id}"))
    assert settled["status"] == "settled" and settled["reason"] is None
    assert settled["transaction_price"] == "123.45" and settled["total"] == "1234.50"
    assert settled["settled_at"] >= settled["timestamp"]
    user = body(api.get("/users/alice"))
    assert user["balance"] == user["available_balance"] == "8765.50"
    assert body(api.get("/stocks/AAPL"))["volume"] == 990
    assert shares(api) == [{"ticker": "AAPL", "quantity": 10, "available": 10}]


def test_sell_settles_and_returns_shares_to_the_market(api, sqs, queues) -> None:
    seed(api)
    api.post("/transactions", trade(volume=10))
    drain(sqs, queues["queue"])
    trade_id = body(api.post("/transactions", trade(side="sell", volume=4)))["transaction_id"]
    drain(sqs, queues["queue"])
    sold = body(api.get(f"/transactions/alice/{trade_id}"))
    assert (sold["status"], sold["total"]) == ("settled", "400.00")
    assert body(api.get("/users/alice"))["balance"] == "9400.00"
    assert body(api.get("/stocks/AAPL"))["volume"] == 994
    assert shares(api) == [{"ticker": "AAPL", "quantity": 6, "available": 6}]


def test_settlement_time_recheck_rejects_what_the_market_no_longer_offers(api, sqs, queues) -> None:
    seed(api, {"alice": "100000", "bob": "100000"})
    first = body(api.post("/transactions", trade(user="alice", volume=600)))["transaction_id"]
    second = body(api.post("/transactions", trade(user="bob", volume=600)))["transaction_id"]  # 1000 on offer: passes
    drain(sqs, queues["queue"])
    assert body(api.get(f"/transactions/alice/{first}"))["status"] == "settled"
    rejected = body(api.get(f"/transactions/bob/{second}"))
    assert (rejected["status"], rejected["reason"]) == ("rejected", "insufficient_volume")
    assert rejected["transaction_price"] is None and rejected["total"] is None
    bob = body(api.get("/users/bob"))
    assert bob["balance"] == bob["available_balance"] == "100000.00"  # nothing charged, reservation released
    assert body(api.get("/stocks/AAPL"))["volume"] == 400


def test_balance_spent_between_placement_and_settlement_is_rejected_not_overdrawn(api, sqs, queues) -> None:
    """A trade that was accepted without setting cash aside (as the older version did) while another spends
    the balance: the re-check at settlement rejects it."""
    ids = seed(api, {"alice": "1000"})
    unreserved = str(uuid.uuid4())
    with get_engine().begin() as conn:
        conn.execute(text("INSERT INTO trades (id, user_id, ticker, side, volume) VALUES (:t, :u, 'AAPL', 'buy', 8)"),
                     {"t": unreserved, "u": ids["alice"]})
    spender = body(api.post("/transactions", trade(volume=8)))["transaction_id"]  # 800 of 1000 available
    drain(sqs, queues["queue"])  # settles the spender: 200 left
    assert settle_trades(sqs_event(message(unreserved)), LambdaContext("t")) == {"batchItemFailures": []}

    assert body(api.get(f"/transactions/alice/{spender}"))["status"] == "settled"
    late = body(api.get(f"/transactions/alice/{unreserved}"))
    assert (late["status"], late["reason"]) == ("rejected", "insufficient_funds")
    assert body(api.get("/users/alice"))["balance"] == "200.00"


def test_redelivery_changes_nothing(api, sqs, queues, log_records) -> None:
    seed(api)
    trade_id = body(api.post("/transactions", trade(volume=10)))["transaction_id"]
    event = sqs_event(message(trade_id))
    for _ in range(3):
        assert settle_trades(event, LambdaContext("t")) == {"batchItemFailures": []}
    assert body(api.get("/users/alice"))["balance"] == "9000.00"
    assert body(api.get("/users/alice/holdings"))[0]["quantity"] == 10
    events = [getattr(r, "event", None) for r in log_records]
    assert events.count("trade_settled") == 1 and events.count("trade_redelivered") == 2


def test_one_bad_message_never_fails_its_batch_mates(api, log_records) -> None:
    seed(api)
    good = body(api.post("/transactions", trade(volume=1)))["transaction_id"]
    event = sqs_event("not json", message(good), message(str(uuid.uuid4())), json.dumps({"trade_id": 7}))
    response = settle_trades(event, LambdaContext("t"))
    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    assert failed == {event["Records"][i]["messageId"] for i in (0, 2, 3)}
    assert body(api.get(f"/transactions/alice/{good}"))["status"] == "settled"
    assert sum(getattr(r, "event", None) == "trade_settlement_failed" for r in log_records) == 3


def test_poison_message_ends_in_the_dead_letter_queue_while_its_batch_mates_settle(api, sqs, queues,
                                                                                   log_records) -> None:
    seed(api)
    sqs.send_message(QueueUrl=queues["queue"], MessageBody="poison")
    good = [body(api.post("/transactions", trade(volume=1)))["transaction_id"] for _ in range(3)]

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and queue_depth(sqs, queues["dlq"]) == 0:
        drain(sqs, queues["queue"], rounds=3)
        time.sleep(0.5)

    dead = sqs.receive_message(QueueUrl=queues["dlq"], MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in dead] == ["poison"]
    assert queue_depth(sqs, queues["queue"]) == 0
    assert all(body(api.get(f"/transactions/alice/{t}"))["status"] == "settled" for t in good)
    outcomes = [getattr(r, "outcome", None) for r in log_records
                if getattr(r, "event", None) == "trade_settlement_failed"]
    assert outcomes[-1] == "dead_lettered" and outcomes.count("retry") >= 1


def test_message_for_an_unknown_trade_is_a_failure_not_a_settlement(api) -> None:
    response = settle_trades(sqs_event(message(str(uuid.uuid4()))), LambdaContext("t"))
    assert len(response["batchItemFailures"]) == 1


def test_settlement_drops_every_cache_entry_it_changes(api, sqs, queues, redis_client, cache_prefix) -> None:
    ids = seed(api)
    trade_id = body(api.post("/transactions", trade(volume=10)))["transaction_id"]
    for path in ("/users/alice", "/stocks/AAPL", "/stocks", "/transactions/alice", f"/transactions/{ids['alice']}",
                 "/transactions/alice/2000-01-01/2100-01-01"):
        assert api.get(path).status_code == 200
    from chalicelib.api.parameters import PATH_PARAMETERS

    keys = [(answer_key("get_user", username="alice"), "user:alice"),
            (answer_key("get_stock", ticker="AAPL"), "stock:AAPL"),
            (answer_key("list_stocks"), "stocks"),
            (answer_key("list_trades", user_id="alice"), "transactions:alice"),
            (answer_key("list_trades", user_id=ids["alice"]), f"transactions:{ids['alice']}"),
            (answer_key("list_trades_in_range", user_id="alice", start=PATH_PARAMETERS["start"].parse("2000-01-01"),
                        end=PATH_PARAMETERS["end"].parse("2100-01-01")), "transactions:alice")]
    assert all(live(redis_client, cache_prefix, key, family) for key, family in keys)

    drain(sqs, queues["queue"])

    assert not any(live(redis_client, cache_prefix, key, family) for key, family in keys)
    assert body(api.get("/transactions/alice"))[0]["status"] == "settled"
    assert body(api.get("/transactions/alice/2000-01-01/2100-01-01"))[0]["transaction_id"] == trade_id
    assert body(api.get("/stocks"))[0]["volume"] == 990
