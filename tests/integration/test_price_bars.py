"""Prices that move: bars recorded by an admin, the latest setting the stock's prices and the volume on offer, the
history paged by time, caches refreshed after commit, and settlement at the price current when it runs."""
from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.helpers import assert_error, body, drain, seed, trade
from tests.integration.test_orders import bar, no_violations, settle

T0 = datetime(2026, 11, 2, 14, 30, tzinfo=UTC)


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def post_bar(api, ticker: str, minutes: int, close: str, volume: int = 500, **extra: object):
    return api.post(f"/stocks/{ticker}/bars", {**bar(close, volume=volume), "timestamp": at(minutes), **extra},
                    key=api.admin_key)


def test_the_latest_bar_sets_the_price_and_the_volume_on_offer(api) -> None:
    seed(api, stocks={"AAPL": ("10.00", 1000)})
    # The stock's own data is its first bar, stamped when it was ingested (now): bars from before are history.
    assert body(api.get("/stocks/AAPL"))["close_price"] == "10.00"  # cached before the move
    answer = api.post("/stocks/aapl/bars", {**bar("12.50", volume=700), "high": "13", "low": "12"},
                      key=api.admin_key)
    assert answer.status_code == 201
    recorded = body(answer)
    assert recorded["latest"] is True and recorded["message"] == "bar recorded"
    assert recorded["bar"]["close_price"] == "12.50" and recorded["bar"]["ticker"] == "AAPL"
    stock = body(api.get("/stocks/AAPL"))
    assert stock == recorded["stock"]
    assert (stock["close_price"], stock["high"], stock["low"], stock["volume"]) == ("12.50", "13.00", "12.00", 700)
    assert stock["price_as_of"] == recorded["bar"]["timestamp"]
    assert body(api.get("/stocks"))[0]["close_price"] == "12.50"


def test_an_older_bar_joins_the_history_and_moves_nothing(api) -> None:
    seed(api, stocks={"AAPL": ("10.00", 1000)})
    before = body(api.get("/stocks/AAPL"))
    answer = post_bar(api, "AAPL", 0, "99.00")  # November 2: before the stock was ingested
    assert answer.status_code == 201
    assert body(answer)["latest"] is False and body(answer)["stock"] == before
    assert body(api.get("/stocks/AAPL")) == before
    assert [b["close_price"] for b in body(api.get("/stocks/AAPL/bars"))] == ["10.00", "99.00"]


def test_a_duplicate_timestamp_is_409_and_records_nothing(api) -> None:
    seed(api)
    assert post_bar(api, "AAPL", 1, "5.00").status_code == 201
    for same in (at(1), (T0 + timedelta(minutes=1)).astimezone().isoformat(), str(int((T0 + timedelta(minutes=1))
                                                                                    .timestamp()))):
        error = assert_error(api.post("/stocks/AAPL/bars", {**bar("6.00"), "timestamp": same}, key=api.admin_key),
                             409, "conflict")
        assert error["details"] == [{"field": "timestamp"}]
    assert len(body(api.get("/stocks/AAPL/bars"))) == 2


def test_a_bar_for_an_unknown_stock_is_404(api) -> None:
    seed(api)
    assert_error(post_bar(api, "NOPE", 1, "5.00"), 404, "not_found")
    assert_error(api.get("/stocks/NOPE/bars"), 404, "not_found")


@pytest.mark.parametrize("change", [
    {"low": "11", "high": "10"}, {"open_price": "20"}, {"close_price": "-1"}, {"volume": 2**31},
    {"volume": -1}, {"timestamp": "yesterday"}, {"timestamp": "2026-13-01T00:00:00"}, {"timestamp": None},
    {"timestamp": True}, {"timestamp": 10**13}, {"timestamp": "1e3"}, {"close_price": "1.001"},
])
def test_a_bad_bar_is_a_400_naming_the_field(api, change: dict) -> None:
    seed(api)
    payload = {**bar("10.00"), "high": "12", "low": "9", **change}
    error = assert_error(api.post("/stocks/AAPL/bars", payload, key=api.admin_key), 400)
    assert set(change) & {d["field"] for d in error["details"]} or "low" in change
    assert len(body(api.get("/stocks/AAPL/bars"))) == 1


def test_a_bar_from_the_future_is_refused_beyond_a_little_clock_skew(api) -> None:
    seed(api)
    soon = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
    later = (datetime.now(UTC) + timedelta(minutes=6)).isoformat()
    assert api.post("/stocks/AAPL/bars", {**bar("1"), "timestamp": soon}, key=api.admin_key).status_code == 201
    error = assert_error(api.post("/stocks/AAPL/bars", {**bar("1"), "timestamp": later}, key=api.admin_key), 400)
    assert error["details"][0]["field"] == "timestamp"


def test_bar_history_pages_newest_first_within_bounds_and_is_refreshed_by_a_new_bar(api) -> None:
    seed(api)
    for minute in range(7):
        assert post_bar(api, "AAPL", minute, f"{10 + minute}.00").status_code == 201
    first = api.get("/stocks/AAPL/bars?limit=3")
    assert [b["timestamp"] for b in body(first)][1:] == [at(6), at(5)]  # after the ingest bar (now)
    second = body(api.get(f"/stocks/AAPL/bars?limit=3&cursor={first.headers['X-Next-Cursor']}"))
    assert [b["timestamp"] for b in second] == [at(4), at(3), at(2)]
    in_range = body(api.get(f"/stocks/AAPL/bars?start={at(2)}&end={at(4)}"))
    assert [b["close_price"] for b in in_range] == ["14.00", "13.00", "12.00"]
    whole_day = body(api.get("/stocks/AAPL/bars?start=2026-11-02&end=2026-11-02"))
    assert len(whole_day) == 7
    unix = body(api.get(f"/stocks/AAPL/bars?start={int((T0 + timedelta(minutes=5)).timestamp())}"))
    assert len(unix) == 3  # minutes 5 and 6, and the ingest bar

    assert post_bar(api, "AAPL", 3, "1.00").status_code == 409
    assert post_bar(api, "AAPL", 30, "1.00").status_code == 201  # joins every cached page's range
    assert len(body(api.get("/stocks/AAPL/bars?start=2026-11-02&end=2026-11-02"))) == 8


@pytest.mark.parametrize("query", ["start=2026-11-03&end=2026-11-02", "start=soon", "end=1e9", "limit=0",
                                   "cursor=QUFQTA", "cursor=MjAyNi0xMS0wMlQxNDozMDowMCswMTowMA"])
def test_bad_bar_queries_are_400(api, query: str) -> None:
    seed(api)
    assert_error(api.get(f"/stocks/AAPL/bars?{query}"), 400)


def test_settlement_uses_the_price_current_when_it_runs(api) -> None:
    seed(api, stocks={"AAPL": ("10.00", 1000)})
    placed = body(api.post("/transactions", trade(volume=10)))
    assert body(api.get("/users/alice"))["available_balance"] == "9900.00"
    api.post("/stocks/AAPL/bars", bar("11.00"), key=api.admin_key)
    settle(placed["transaction_id"])
    settled = body(api.get(f"/transactions/alice/{placed['transaction_id']}"))
    assert (settled["transaction_price"], settled["total"]) == ("11.00", "110.00")
    assert body(api.get("/users/alice"))["balance"] == "9890.00"


def test_a_market_buy_whose_price_rose_past_the_cash_is_rejected(api) -> None:
    seed(api, users={"alice": "100.00"}, stocks={"AAPL": ("10.00", 1000)})
    placed = body(api.post("/transactions", trade(volume=10)))
    api.post("/stocks/AAPL/bars", bar("10.01"), key=api.admin_key)
    settle(placed["transaction_id"])
    rejected = body(api.get(f"/transactions/alice/{placed['transaction_id']}"))
    assert (rejected["status"], rejected["reason"]) == ("rejected", "insufficient_funds")
    assert body(api.get("/users/alice"))["available_balance"] == "100.00"


def test_a_new_bar_resets_what_is_on_offer_and_what_settlement_conserves(api, sqs, queues) -> None:
    seed(api, stocks={"AAPL": ("1.00", 100)})
    body(api.post("/transactions", trade(volume=60)))
    drain(sqs, queues["queue"])
    assert body(api.get("/stocks/AAPL"))["volume"] == 40
    api.post("/stocks/AAPL/bars", bar("1.00", volume=10), key=api.admin_key)
    assert body(api.get("/stocks/AAPL"))["volume"] == 10
    refused = assert_error(api.post("/transactions", trade(volume=11)), 400, "insufficient_volume")
    assert "10" in refused["message"]
    body(api.post("/transactions", trade(side="sell", volume=60)))
    drain(sqs, queues["queue"])
    assert body(api.get("/stocks/AAPL"))["volume"] == 70
    no_violations({"alice": "10000.00"}, {})


@pytest.mark.parametrize("seed_value", range(5))
def test_bars_racing_settlement_keep_every_invariant(api, seed_value: int) -> None:
    """Bars move the price and the volume on offer while settlement takes buys and sells of the same ticker: each
    bar waits for the stock's row as settlement does, so on offer plus held always equals what the latest bar
    fixed, and no balance, holding or volume goes negative."""
    rng = random.Random(seed_value)
    balances = {"alice": "100000.00", "bob": "100000.00"}
    seed(api, users=balances, stocks={"AAPL": ("10.00", 1000)})
    placed = [body(api.post("/transactions", trade(user=user, volume=rng.randint(1, 50), **limit)))["transaction_id"]
              for user in balances for limit in ({}, {"limit_price": "500"}, {"limit_price": "3"})]
    start = datetime.now(UTC) + timedelta(seconds=1)
    bars = [{**bar(f"{rng.randint(0, 100_000) / 100:.2f}", volume=rng.randint(0, 100)),
             "timestamp": (start + timedelta(milliseconds=i)).isoformat()} for i in range(6)]
    answers: list[int] = []

    def move() -> None:
        for new in bars:
            answers.append(api.post("/stocks/AAPL/bars", new, key=api.admin_key).status_code)

    mover = threading.Thread(target=move)
    mover.start()
    for trade_id in placed:
        settle(trade_id)
    mover.join(60)
    assert not mover.is_alive() and answers == [201] * len(bars)
    assert body(api.get("/stocks/AAPL"))["close_price"] == bars[-1]["close_price"]
    statuses = {body(api.get(f"/transactions/{user}?limit=10"))[0]["status"] for user in balances}
    assert statuses <= {"settled", "rejected"}
    no_violations(balances, {})
