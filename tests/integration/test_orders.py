"""Orders as traders expect them, over the API against real PostgreSQL, Redis and the emulator's SQS: canceling a
pending order, limit prices (ioc), and filtering lists by status."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from app import settle_trades
from chalicelib.adapters.database import get_engine
from chalicelib.domain.vocabulary import TimeInForce
from devstack.invariants import violations
from devstack.lambda_context import LambdaContext
from tests.integration.helpers import assert_error, body, drain, seed, shares, trade
from tests.integration.test_settlement import message, sqs_event


def scalar(sql: str, **params: object) -> object:
    with get_engine().connect() as conn:
        return conn.execute(text(sql), params).scalar()


def settle(*trade_ids: str) -> None:
    assert settle_trades(sqs_event(*map(message, trade_ids)), LambdaContext("t")) == {"batchItemFailures": []}


def bar(close: str, *, ago_s: float = 0, volume: int = 1000, **extra: object) -> dict:
    at = datetime.now(UTC) - timedelta(seconds=ago_s)
    return {"timestamp": at.isoformat(), "open_price": close, "close_price": close, "high": close, "low": close,
            "volume": volume, **extra}


def no_violations(balances: dict[str, str], volumes: dict[str, int], *, all_final: bool = True) -> None:
    from decimal import Decimal

    with get_engine().connect() as conn:
        assert violations(conn, {u: Decimal(b) for u, b in balances.items()}, volumes, all_final=all_final) == []


# --- cancel -------------------------------------------------------------------------------------------------------

def test_canceling_a_pending_buy_releases_its_cash_and_drops_its_message(api, redis_client, cache_prefix) -> None:
    seed(api)
    placed = body(api.post("/transactions", trade(volume=10)))
    assert body(api.get("/users/alice"))["available_balance"] == "9000.00"  # cached with the reservation
    assert body(api.get("/transactions/alice"))[0]["status"] == "pending"  # the list is cached too

    answer = api.delete(f"/transactions/alice/{placed['transaction_id']}")
    assert answer.status_code == 200
    canceled = body(answer)
    assert canceled["message"] == "Transaction canceled."
    assert (canceled["status"], canceled["reason"], canceled["total"]) == ("canceled", None, None)
    assert canceled["canceled_at"] >= canceled["timestamp"] and canceled["settled_at"] is None
    assert body(api.get("/users/alice"))["available_balance"] == "10000.00"
    assert body(api.get("/transactions/alice"))[0]["status"] == "canceled"
    assert scalar("SELECT count(*) FROM outbox") == 0
    no_violations({"alice": "10000.00"}, {"AAPL": 1000})


def test_canceling_a_pending_sell_releases_its_shares(api, sqs, queues) -> None:
    seed(api)
    body(api.post("/transactions", trade(volume=10)))
    drain(sqs, queues["queue"])
    sell = body(api.post("/transactions", trade(side="sell", volume=4)))
    assert shares(api) == [{"ticker": "AAPL", "quantity": 10, "available": 6}]
    assert api.delete(f"/transactions/alice/{sell['transaction_id']}").status_code == 200
    assert shares(api) == [{"ticker": "AAPL", "quantity": 10, "available": 10}]
    no_violations({"alice": "10000.00"}, {"AAPL": 1000})


def test_canceling_twice_answers_the_same(api) -> None:
    seed(api)
    trade_id = body(api.post("/transactions", trade(volume=1)))["transaction_id"]
    first = api.delete(f"/transactions/alice/{trade_id}")
    again = api.delete(f"/transactions/alice/{trade_id}/")
    by_id = api.delete(f"/transactions/{body(api.get('/users/alice'))['user_id']}/{trade_id}")
    assert first.status_code == again.status_code == by_id.status_code == 200
    assert body(first) == body(again) == body(by_id)
    assert body(api.get("/users/alice"))["available_balance"] == "10000.00"  # released once


@pytest.mark.parametrize(("volume", "final"), [(10, "settled"), (1000, "rejected")])
def test_canceling_a_final_order_is_409_naming_its_status(api, volume: int, final: str) -> None:
    seed(api, users={"alice": "100000.00"}, stocks={"AAPL": ("100.00", 500)})
    trade_id = body(api.post("/transactions", trade(volume=min(volume, 500))))["transaction_id"]
    if final == "rejected":  # the market no longer offers what it bought by the time it settles
        with get_engine().begin() as conn:
            conn.execute(text("UPDATE stocks SET volume = 0, total_shares = 0"))
    settle(trade_id)
    error = assert_error(api.delete(f"/transactions/alice/{trade_id}"), 409, "conflict")
    assert final in error["message"]
    assert error["details"] == [{"field": "status", "value": final}]
    assert body(api.get(f"/transactions/alice/{trade_id}"))["status"] == final


def test_cancel_of_a_trade_that_is_not_theirs_is_404_and_changes_nothing(api) -> None:
    seed(api, users={"alice": "1000.00", "bob": "1000.00"})
    bobs = body(api.post("/transactions", trade(user="bob", volume=1)))["transaction_id"]
    assert_error(api.delete(f"/transactions/alice/{bobs}"), 404, "not_found")
    assert_error(api.delete(f"/transactions/alice/{uuid.uuid4()}"), 404, "not_found")
    assert_error(api.delete("/transactions/alice/not-a-uuid"), 400)
    assert body(api.get(f"/transactions/bob/{bobs}"))["status"] == "pending"


def test_an_admin_may_cancel_a_users_order(api, admin_key: str) -> None:
    seed(api)
    trade_id = body(api.post("/transactions", trade(volume=1)))["transaction_id"]
    answer = api.delete(f"/transactions/alice/{trade_id}", key=admin_key)
    assert answer.status_code == 200 and body(answer)["status"] == "canceled"


def test_a_delivery_after_a_cancel_changes_nothing_and_is_logged_as_a_redelivery(api, log_records) -> None:
    seed(api)
    trade_id = body(api.post("/transactions", trade(volume=10)))["transaction_id"]
    api.delete(f"/transactions/alice/{trade_id}")
    settle(trade_id)
    assert body(api.get(f"/transactions/alice/{trade_id}"))["status"] == "canceled"
    assert body(api.get("/users/alice"))["balance"] == "10000.00"
    assert body(api.get("/stocks/AAPL"))["volume"] == 1000
    lines = [r for r in log_records if getattr(r, "event", None) in ("trade_canceled", "trade_redelivered")]
    assert [(r.event, getattr(r, "outcome", None)) for r in lines] == [("trade_canceled", "canceled"),
                                                                       ("trade_redelivered", "canceled")]


# --- limit price ----------------------------------------------------------------------------------------------------

def test_limit_buy_placed_at_10_price_moves_to_12_limit_11_is_rejected_and_its_reservation_comes_back(api) -> None:
    seed(api, stocks={"AAPL": ("10.00", 1000)})
    placed = body(api.post("/transactions", trade(volume=10, limit_price="11.00")))
    assert (placed["limit_price"], placed["time_in_force"], placed["order_type"]) == ("11.00", None, "limit")
    assert body(api.get("/users/alice"))["available_balance"] == "9890.00"  # 11 x 10 set aside
    assert api.post("/stocks/AAPL/bars", bar("12.00"), key=api.admin_key).status_code == 201

    settle(placed["transaction_id"])
    rejected = body(api.get(f"/transactions/alice/{placed['transaction_id']}"))
    assert (rejected["status"], rejected["reason"], rejected["total"]) == ("rejected", "limit_not_met", None)
    user = body(api.get("/users/alice"))
    assert user["balance"] == user["available_balance"] == "10000.00"
    assert shares(api) == []


def test_limit_buy_fills_at_the_price_at_settlement_and_releases_the_difference(api) -> None:
    seed(api, stocks={"AAPL": ("10.00", 1000)})
    placed = body(api.post("/transactions", trade(volume=10, limit_price="11")))
    api.post("/stocks/AAPL/bars", bar("9.50"), key=api.admin_key)
    settle(placed["transaction_id"])
    settled = body(api.get(f"/transactions/alice/{placed['transaction_id']}"))
    assert (settled["status"], settled["transaction_price"], settled["total"]) == ("settled", "9.50", "95.00")
    user = body(api.get("/users/alice"))
    assert user["balance"] == user["available_balance"] == "9905.00"
    no_violations({"alice": "10000.00"}, {})


@pytest.mark.parametrize(("limit", "final"), [("9.99", "settled"), ("10.00", "rejected"), ("8", "settled")])
def test_limit_sell_fills_only_at_or_above_its_limit(api, sqs, queues, limit: str, final: str) -> None:
    seed(api, stocks={"AAPL": ("10.00", 1000)})
    body(api.post("/transactions", trade(volume=5)))
    drain(sqs, queues["queue"])
    sell = body(api.post("/transactions", trade(side="sell", volume=5, limit_price=limit)))
    assert body(api.get("/users/alice"))["available_balance"] == "9950.00"  # a sell sets aside shares, not cash
    api.post("/stocks/AAPL/bars", bar("9.99"), key=api.admin_key)
    settle(sell["transaction_id"])
    after = body(api.get(f"/transactions/alice/{sell['transaction_id']}"))
    assert after["status"] == final  # the price at settlement is 9.99
    if after["status"] == "rejected":
        assert after["reason"] == "limit_not_met"
        assert shares(api) == [{"ticker": "AAPL", "quantity": 5, "available": 5}]
    else:
        assert after["transaction_price"] == "9.99"


def test_limit_buy_needs_its_limit_times_volume_available(api) -> None:
    seed(api, users={"alice": "100.00"}, stocks={"AAPL": ("1.00", 1000)})
    refused = assert_error(api.post("/transactions", trade(volume=10, limit_price="10.01")), 400,
                           "insufficient_funds")
    assert "limit" in refused["message"]
    assert api.post("/transactions", trade(volume=10, limit_price="10.00")).status_code == 202
    assert scalar("SELECT reserved_cash FROM users") == 100


@given(limit=st.one_of(st.decimals(allow_nan=True, allow_infinity=True).map(str), st.integers(-10**30, -1),
                       st.text(max_size=20), st.booleans(), st.just("10.001"), st.just("1e3")),
       tif=st.one_of(st.none(), st.text(max_size=8).filter(lambda v: v.strip().lower() not in set(TimeInForce))))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_bad_limit_price_or_time_in_force_is_a_400_that_places_nothing(api, limit: object, tif: object) -> None:
    if scalar("SELECT count(*) FROM users") == 0:
        seed(api)
    order = trade(volume=1, limit_price=limit, **({} if tif is None else {"time_in_force": tif}))
    answer = api.post("/transactions", order)
    if answer.status_code == 202:  # a limit the money rules accept, and no time in force
        assert tif is None
        api.delete(f"/transactions/alice/{body(answer)['transaction_id']}")
        return
    error = assert_error(answer, 400)
    if error["code"] == "insufficient_funds":  # a limit the money rules accept, too high for the balance
        assert tif is None
    else:
        assert {detail.get("field") for detail in error["details"]} & {"limit_price", "time_in_force"}
    assert scalar("SELECT count(*) FROM trades WHERE status = 'pending'") == 0


def test_a_limit_is_part_of_what_an_idempotency_key_remembers(api) -> None:
    seed(api)
    first = api.post("/transactions", trade(volume=1, limit_price="101"), {"Idempotency-Key": "k-1"})
    replay = api.post("/transactions", trade(volume=1, limit_price="101.00"), {"Idempotency-Key": "k-1"})
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert body(replay)["transaction_id"] == body(first)["transaction_id"]
    assert_error(api.post("/transactions", trade(volume=1, limit_price="102"), {"Idempotency-Key": "k-1"}), 409)
    assert_error(api.post("/transactions", trade(volume=1), {"Idempotency-Key": "k-1"}), 409)


# --- lists by status ------------------------------------------------------------------------------------------------

def test_lists_filter_by_status_each_cached_apart(api) -> None:
    seed(api, stocks={"AAPL": ("10.00", 1000)})
    ids = [body(api.post("/transactions", trade(volume=1)))["transaction_id"] for _ in range(4)]
    settle(ids[0])
    api.delete(f"/transactions/alice/{ids[1]}")
    assert len(body(api.get("/transactions/alice"))) == 4  # the unfiltered list is cached first
    by_status = {status: [t["transaction_id"] for t in body(api.get(f"/transactions/alice?status={status}"))]
                 for status in ("pending", "settled", "rejected", "canceled")}
    assert by_status == {"pending": [ids[3], ids[2]], "settled": [ids[0]], "rejected": [], "canceled": [ids[1]]}
    assert [t["transaction_id"] for t in body(api.get("/transactions/alice?status=pending&limit=1"))] == [ids[3]]
    in_range = body(api.get("/transactions/alice/2000-01-01/2100-01-01?status=canceled"))
    assert [t["transaction_id"] for t in in_range] == [ids[1]]

    api.delete(f"/transactions/alice/{ids[2]}")  # drops every cached list, filtered ones included
    assert [t["transaction_id"] for t in body(api.get("/transactions/alice?status=pending"))] == [ids[3]]
    assert len(body(api.get("/transactions/alice?status=canceled"))) == 2


def test_paging_a_filtered_list_follows_its_cursor(api) -> None:
    seed(api, stocks={"AAPL": ("10.00", 1000)})
    ids = [body(api.post("/transactions", trade(volume=1)))["transaction_id"] for _ in range(5)]
    for trade_id in ids[::2]:
        api.delete(f"/transactions/alice/{trade_id}")
    first = api.get("/transactions/alice?status=canceled&limit=2")
    cursor = first.headers["X-Next-Cursor"]
    second = body(api.get(f"/transactions/alice?status=canceled&limit=2&cursor={cursor}"))
    assert [t["transaction_id"] for t in body(first) + second] == [ids[4], ids[2], ids[0]]


@pytest.mark.parametrize("status", ["open", "", "pending;", "settled,rejected", "PENDING", " pending"])
def test_an_unknown_status_is_a_400(api, status: str) -> None:
    seed(api)
    assert "status" in {d["field"] for d in assert_error(api.get(f"/transactions/alice?status={status}"),
                                                         400)["details"]}
