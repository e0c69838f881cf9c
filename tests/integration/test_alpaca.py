"""The /v2 surface as alpaca-py 0.44.0 speaks it, unmodified: its TradingClient pointed at the API served over HTTP
as `make run` serves it (gunicorn), against real PostgreSQL, Redis and the emulator's SQS, each answer parsed by
alpaca-py's own models. One truth: an order placed on /v2 is a transaction on the classic routes."""
from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetCalendarRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopOrderRequest,
)

from chalicelib.domain.assets import asset_id
from devstack.paths import ROOT
from devstack.services import free_port, wait_for_port
from devstack.wsgi import gunicorn_command
from tests.integration.helpers import body, drain
from tests.integration.test_orders import bar


@pytest.fixture
def base_url() -> Iterator[str]:
    port = free_port()
    # The environment the integration fixtures set (this test's database, Redis prefix and queues) is inherited.
    process = subprocess.Popen(gunicorn_command(f"127.0.0.1:{port}", 2), cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_port("127.0.0.1", port, process, "gunicorn", timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)


def key_halves(token: str) -> tuple[str, str]:
    """An API key as Alpaca's clients take it: `tapi.<key id>.<secret>` is the key id and the secret."""
    _, key_id, secret = token.split(".", 2)
    return key_id, secret


class Account:
    def __init__(self, api: Any, base_url: str, sqs: Any, queue: str, cash: str = "100000.00") -> None:
        self.api, self.sqs, self.queue = api, sqs, queue
        self.name = f"alp{uuid.uuid4().hex[:8]}"
        self.user_id = body(api.post("/users", {"username": self.name, "balance": cash}))["user_id"]
        created = api.post("/stocks", {"ticker": "AAPL", "open_price": "10.00", "close_price": "10.00",
                                       "high": "10.00", "low": "10.00", "volume": 1000})
        assert created.status_code in (201, 409), created.body  # one stock for every account of a test
        self.client = TradingClient(*key_halves(api.keys[self.name]), url_override=base_url)

    def settle(self) -> None:
        drain(self.sqs, self.queue)

    def move(self, close: str) -> None:
        assert self.api.post("/stocks/AAPL/bars", bar(close), key=self.api.admin_key).status_code == 201
        self.settle()


@pytest.fixture
def account(api: Any, base_url: str, sqs: Any, queues: dict[str, str]) -> Account:
    return Account(api, base_url, sqs, queues["queue"])


def test_the_account_reads_as_alpaca_py_models_it(account: Account) -> None:
    got = account.client.get_account()
    assert str(got.id) == account.user_id and got.status == "ACTIVE" and got.currency == "USD"
    assert (got.cash, got.buying_power, got.equity) == ("100000.00", "100000.00", "100000.00")


def test_a_market_order_fills_and_is_one_truth_with_the_classic_routes(account: Account) -> None:
    placed = account.client.submit_order(MarketOrderRequest(symbol="aapl", qty=3, side=OrderSide.BUY,
                                                            time_in_force=TimeInForce.DAY))
    assert placed.status == OrderStatus.NEW and placed.symbol == "AAPL" and placed.qty == "3"
    assert placed.asset_id == asset_id("AAPL")
    account.settle()
    filled = account.client.get_order_by_id(placed.id)
    assert (filled.status, filled.filled_qty, filled.filled_avg_price) == (OrderStatus.FILLED, "3", "10.00")
    classic = body(account.api.get(f"/transactions/{account.name}/{placed.id}"))
    assert (classic["status"], classic["total"]) == ("settled", "30.00")
    [position] = account.client.get_all_positions()
    assert (position.symbol, position.qty, position.avg_entry_price, position.cost_basis) == (
        "AAPL", "3", "10.00", "30.00")
    assert account.client.get_open_position("AAPL").qty == "3"
    assert account.client.get_account().cash == "99970.00"


def test_a_resting_limit_is_listed_replaced_and_canceled(account: Account) -> None:
    client = account.client
    resting = client.submit_order(LimitOrderRequest(symbol="AAPL", qty=5, side=OrderSide.BUY, limit_price=9.5,
                                                    time_in_force=TimeInForce.GTC, client_order_id="mine-1"))
    account.settle()
    assert [o.id for o in client.get_orders()] == [resting.id]  # open, by default
    placed_at = resting.created_at
    assert [o.id for o in client.get_orders(GetOrdersRequest(after=placed_at - timedelta(seconds=1)))] == [resting.id]
    assert client.get_orders(GetOrdersRequest(until=placed_at - timedelta(seconds=1))) == []
    assert client.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED)) == []
    replacement = client.replace_order_by_id(resting.id, ReplaceOrderRequest(qty=4, limit_price=9.25))
    assert (replacement.replaces, replacement.qty, replacement.limit_price) == (resting.id, "4", "9.25")
    old = client.get_order_by_id(resting.id)
    assert (old.status, old.replaced_by) == (OrderStatus.REPLACED, replacement.id)
    assert client.cancel_order_by_id(replacement.id) is None
    assert client.get_order_by_id(replacement.id).status == OrderStatus.CANCELED
    with pytest.raises(APIError) as again:
        client.cancel_order_by_id(replacement.id)
    assert (again.value.status_code, again.value.code) == (422, 42200000)
    assert client.get_account().buying_power == "100000.00"


def test_a_stop_protects_a_position_and_fills_when_a_bar_reaches_it(account: Account) -> None:
    client = account.client
    client.submit_order(MarketOrderRequest(symbol="AAPL", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    account.settle()
    stop = client.submit_order(StopOrderRequest(symbol="AAPL", qty=10, side=OrderSide.SELL, stop_price=9.0,
                                                time_in_force=TimeInForce.GTC))
    account.settle()
    assert client.get_order_by_id(stop.id).status == OrderStatus.NEW
    account.move("8.50")
    sold = client.get_order_by_id(stop.id)
    assert (sold.status, sold.filled_avg_price) == (OrderStatus.FILLED, "8.50")
    assert client.get_all_positions() == []


def test_cancel_all_and_close_a_position(account: Account) -> None:
    client = account.client
    client.submit_order(MarketOrderRequest(symbol="AAPL", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    account.settle()
    for _ in range(3):
        client.submit_order(LimitOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, limit_price=1,
                                              time_in_force=TimeInForce.GTC))
    canceled = client.cancel_orders()
    assert len(canceled) == 3 and {c.status for c in canceled} == {200}
    closing = client.close_position("AAPL", ClosePositionRequest(percentage="40"))
    assert (closing.side, closing.qty, closing.type) == (OrderSide.SELL, "4", "market")
    account.settle()
    assert client.get_open_position("AAPL").qty == "6"


def test_what_the_account_lacks_is_a_403_and_what_it_will_not_trade_a_422(account: Account) -> None:
    client = account.client
    with pytest.raises(APIError) as poor:
        client.submit_order(MarketOrderRequest(symbol="AAPL", qty=100_000, side=OrderSide.BUY,
                                               time_in_force=TimeInForce.DAY))
    assert (poor.value.status_code, poor.value.code) == (403, 40300000)
    for order in (MarketOrderRequest(symbol="AAPL", qty=0.5, side=OrderSide.BUY, time_in_force=TimeInForce.DAY),
                  MarketOrderRequest(symbol="AAPL", notional=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY),
                  MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.OPG)):
        with pytest.raises(APIError) as refused:
            client.submit_order(order)
        assert (refused.value.status_code, refused.value.code) == (422, 42200000), refused.value
        assert refused.value.message
    with pytest.raises(APIError) as unknown:
        client.get_order_by_id(uuid.uuid4())
    assert unknown.value.status_code == 404


def test_another_accounts_order_is_a_404_and_a_bad_key_a_401(api: Any, base_url: str, sqs: Any,
                                                            queues: dict[str, str]) -> None:
    alice, bob = (Account(api, base_url, sqs, queues["queue"]) for _ in range(2))
    mine = alice.client.submit_order(LimitOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, limit_price=1,
                                                       time_in_force=TimeInForce.GTC))
    with pytest.raises(APIError) as hidden:
        bob.client.get_order_by_id(mine.id)
    assert hidden.value.status_code == 404
    with pytest.raises(APIError) as refused:
        bob.client.cancel_order_by_id(mine.id)
    assert refused.value.status_code == 404
    assert bob.client.get_orders() == []
    key_id, _ = key_halves(api.keys[alice.name])
    stranger = TradingClient(key_id, "A" * 43, url_override=base_url)
    with pytest.raises(APIError) as unauthorized:
        stranger.get_account()
    # The gateway's own answers carry Alpaca's code and message beside the classic error object.
    assert (unauthorized.value.status_code, unauthorized.value.code) == (401, 40100000)
    assert unauthorized.value.message and "error" in unauthorized.value.response.json()
    with pytest.raises(APIError) as no_route:
        alice.client.get("/no/such/route")
    assert (no_route.value.status_code, no_route.value.code) == (404, 40400000)


def test_assets_the_clock_and_the_calendar(account: Account) -> None:
    client = account.client
    assets = client.get_all_assets()
    assert [(a.symbol, a.id, a.fractionable, a.tradable) for a in assets] == [("AAPL", asset_id("AAPL"), False, True)]
    assert client.get_asset("aapl").id == asset_id("AAPL")
    clock = client.get_clock()
    assert clock.is_open and clock.next_close > clock.timestamp
    days = client.get_calendar(GetCalendarRequest(start="2026-12-01", end="2026-12-03"))
    assert [str(d.date) for d in days] == ["2026-12-01", "2026-12-02", "2026-12-03"]
    assert Decimal(client.get_account().equity) == Decimal("100000.00")


def test_bars_are_aggregated_by_the_database_into_utc_buckets_and_paged_as_alpaca_py_reads_them(
        api: Any, base_url: str, account: Account) -> None:
    from datetime import UTC, datetime, timedelta

    from alpaca.data.historical import StockHistoricalDataClient
    from alpaca.data.requests import StockBarsRequest, StockLatestBarRequest
    from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

    day = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday; three hourly bars, then one the next day
    for hours, (o, c, volume) in zip((1, 1.5, 2, 25), ((10, 11, 100), (11, 12, 300), (12, 9, 100), (9, 9.5, 50)),
                                     strict=True):
        price = {"open_price": o, "close_price": c, "high": max(o, c) + 1, "low": min(o, c) - 1}
        recorded = api.post("/stocks/AAPL/bars", {"timestamp": (day + timedelta(hours=hours)).isoformat(),
                                                  "volume": volume, **price}, key=api.admin_key)
        assert recorded.status_code == 201, recorded.body
    data = StockHistoricalDataClient(*key_halves(api.keys[account.name]), url_override=base_url)
    daily = data.get_stock_bars(StockBarsRequest(symbol_or_symbols=["AAPL"], timeframe=TimeFrame.Day,
                                                 start=day, end=day + timedelta(days=3)))
    first, second = daily.data["AAPL"]
    assert (first.timestamp, first.open, first.high, first.low, first.close, first.volume, first.trade_count) == (
        day, 10, 13, 8, 9, 500, 3)
    assert first.vwap == round((11 * 100 + 12 * 300 + 9 * 100) / 500, 4)
    assert (second.timestamp, second.open, second.close) == (day + timedelta(days=1), 9, 9.5)
    hours = TimeFrame(2, TimeFrameUnit.Hour)
    two_hours = data.get_stock_bars(StockBarsRequest(symbol_or_symbols="AAPL", timeframe=hours,
                                                     start=day, end=day + timedelta(days=3), limit=2))
    assert [b.timestamp for b in two_hours.data["AAPL"]] == [day, day + timedelta(hours=2)]  # two pages of one
    latest = data.get_stock_latest_bar(StockLatestBarRequest(symbol_or_symbols=["AAPL"]))
    assert latest["AAPL"].close == 10  # the bar the stock was ingested with, today, is its latest
    weekly = account.client.get("/stocks/AAPL/bars", {"timeframe": "1Week", "start": "2026-11-01",
                                                      "end": "2026-11-08"})
    assert weekly["symbol"] == "AAPL" and [(b["t"], b["o"], b["c"], b["v"]) for b in weekly["bars"]] == [
        ("2026-11-02T00:00:00Z", 10, 9.5, 550)]  # Monday to Sunday, in UTC
    with pytest.raises(APIError) as bad:
        account.client.get("/stocks/bars", {"symbols": "AAPL", "timeframe": "7Day"})
    assert bad.value.status_code == 422
    from alpaca.data.requests import StockSnapshotRequest

    snapshot = data.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols=["AAPL", "NONE"]))
    assert list(snapshot) == ["AAPL"]  # a symbol without bars is left out
    assert (snapshot["AAPL"].daily_bar.close, snapshot["AAPL"].minute_bar.close) == (10, 10)  # today's ingest bar
    assert snapshot["AAPL"].previous_daily_bar.timestamp == day + timedelta(days=1)
    assert snapshot["AAPL"].latest_trade is None and snapshot["AAPL"].latest_quote is None


def test_an_order_is_found_by_its_client_order_id_given_or_generated(account: Account) -> None:
    client = account.client
    mine = client.submit_order(LimitOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, limit_price=1,
                                                 time_in_force=TimeInForce.GTC, client_order_id="bot-42"))
    given = client.get_order_by_client_id("bot-42")
    assert (given.id, given.client_order_id) == (mine.id, "bot-42")
    unnamed = client.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY,
                                                     time_in_force=TimeInForce.DAY))
    assert uuid.UUID(unnamed.client_order_id)  # generated, as Alpaca generates one
    assert client.get_order_by_client_id(unnamed.client_order_id).id == unnamed.id
    with pytest.raises(APIError) as missing:
        client.get_order_by_client_id("nobody")
    assert missing.value.status_code == 404


def test_closing_every_position_answers_one_entry_per_position(api: Any, account: Account) -> None:
    client = account.client
    assert api.post("/stocks", {"ticker": "MSFT", "open_price": 5, "close_price": 5, "high": 5, "low": 5,
                                "volume": 100}).status_code == 201
    for symbol in ("AAPL", "MSFT"):
        client.submit_order(MarketOrderRequest(symbol=symbol, qty=4, side=OrderSide.BUY,
                                               time_in_force=TimeInForce.DAY))
    account.settle()
    protective = client.submit_order(LimitOrderRequest(symbol="MSFT", qty=4, side=OrderSide.SELL, limit_price=50,
                                                       time_in_force=TimeInForce.GTC))
    closed = client.close_all_positions(cancel_orders=True)
    assert sorted((c.symbol, c.status, c.body.qty) for c in closed) == [("AAPL", 200, "4"), ("MSFT", 200, "4")]
    assert client.get_order_by_id(protective.id).status == OrderStatus.CANCELED
    account.settle()
    assert client.get_all_positions() == []


def test_a_retried_order_answers_the_first_and_a_reused_client_order_id_is_refused(account: Account) -> None:
    client = account.client
    order = LimitOrderRequest(symbol="AAPL", qty=2, side=OrderSide.BUY, limit_price=5,
                              time_in_force=TimeInForce.GTC, client_order_id="retry-1")
    first, again = client.submit_order(order), client.submit_order(order)
    assert again.id == first.id  # alpaca-py retries a POST on 429 and 504: a retry places nothing more
    with pytest.raises(APIError) as reused:
        client.submit_order(LimitOrderRequest(symbol="AAPL", qty=3, side=OrderSide.BUY, limit_price=5,
                                              time_in_force=TimeInForce.GTC, client_order_id="retry-1"))
    assert reused.value.status_code == 422
    assert len(client.get_orders()) == 1


def test_activities_are_fills_deposits_and_withdrawals_paged_by_the_last_id(account: Account) -> None:
    from alpaca.trading.models import NonTradeActivity, TradeActivity

    client, name = account.client, account.name
    assert account.api.post(f"/users/{name}/deposits", {"amount": "50.00"}).status_code == 201
    assert account.api.post(f"/users/{name}/withdrawals", {"amount": "20.00"}).status_code == 201
    # 900 shares on offer after this buy of 100: the next bar offers only 30, so a gtc buy of 40 fills in parts.
    client.submit_order(MarketOrderRequest(symbol="AAPL", qty=100, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    account.settle()
    parted = client.submit_order(LimitOrderRequest(symbol="AAPL", qty=40, side=OrderSide.BUY, limit_price=10,
                                                   time_in_force=TimeInForce.GTC))
    assert account.api.post("/stocks/AAPL/bars", {**bar("10.00"), "volume": 30},
                            key=account.api.admin_key).status_code == 201
    account.settle()
    account.move("10.00")
    raw = client.get("/account/activities", {"activity_types": "FILL,CSD,CSW"})
    kinds = [entry["activity_type"] for entry in raw]
    assert kinds == ["FILL", "FILL", "FILL", "CSW", "CSD"], raw  # newest first
    fills = [TradeActivity(**entry) for entry in raw[:3]]
    assert [(f.type, f.qty, f.cum_qty, f.leaves_qty, f.order_status) for f in fills[:2]] == [
        ("fill", 10, 40, 0, OrderStatus.FILLED), ("partial_fill", 30, 30, 10, OrderStatus.PARTIALLY_FILLED)]
    assert {f.order_id for f in fills[:2]} == {parted.id} and str(fills[0].account_id) == account.user_id
    cash = [NonTradeActivity(**entry) for entry in raw[3:]]
    assert [(c.activity_type, c.net_amount) for c in cash] == [("CSW", -20.0), ("CSD", 50.0)]
    pages, token = [], None
    while True:
        page = client.get("/account/activities", {"page_size": 2, "direction": "asc",
                                                  **({"page_token": token} if token else {})})
        if not page:
            break
        pages.append([entry["id"] for entry in page])
        token = page[-1]["id"]
    assert [len(p) for p in pages] == [2, 2, 1] and [i for p in pages for i in p] == [e["id"] for e in reversed(raw)]
    assert [e["activity_type"] for e in client.get("/account/activities/CSD")] == ["CSD"]
    assert client.get("/account/activities", {"category": "trade_activity"}) == raw[:3]
    assert client.get("/account/activities/DIV") == []  # a type Alpaca names and tradeapi never makes
    for bad in ({"activity_types": "FFFFF"}, {"page_token": "not-an-id"}, {"page_size": 101}):
        with pytest.raises(APIError) as refused:
            client.get("/account/activities", bad)
        assert refused.value.status_code == 422 and refused.value.code == 42200000


def test_a_suspended_account_places_nothing_until_its_owner_lifts_it(account: Account) -> None:
    client = account.client
    configured = client.get_account_configurations()
    assert (configured.suspend_trade, configured.no_shorting, configured.fractional_trading) == (False, True, False)
    resting = client.submit_order(LimitOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, limit_price=1,
                                                    time_in_force=TimeInForce.GTC))
    configured.suspend_trade, configured.trade_confirm_email = True, "none"
    assert client.set_account_configurations(configured).suspend_trade is True
    assert client.get_account().trade_suspended_by_user is True
    with pytest.raises(APIError) as suspended:
        client.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY,
                                               time_in_force=TimeInForce.DAY))
    assert suspended.value.status_code == 403 and "suspended" in suspended.value.message
    classic = account.api.post("/transactions", {"user": account.name, "ticker": "AAPL", "transaction_type": "buy",
                                                 "transaction_volume": 1})
    assert classic.status_code == 400 and body(classic)["error"]["code"] == "trading_suspended"
    with pytest.raises(APIError) as no_replace:
        client.replace_order_by_id(resting.id, ReplaceOrderRequest(qty=2))
    assert no_replace.value.status_code == 403
    client.cancel_order_by_id(resting.id)  # a cancel still works
    configured.suspend_trade = False
    lifted = client.set_account_configurations(configured)
    assert (lifted.suspend_trade, lifted.trade_confirm_email) == (False, "none")
    assert client.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY,
                                                  time_in_force=TimeInForce.DAY)).status == OrderStatus.NEW
    for refused_change in ({"fractional_trading": True}, {"no_shorting": False}, {"max_margin_multiplier": "2"}):
        with pytest.raises(APIError) as refused:
            client.patch("/account/configurations", refused_change)
        assert refused.value.status_code == 422


def test_assets_and_positions_are_found_by_their_asset_id(account: Account) -> None:
    client = account.client
    aapl = asset_id("AAPL")
    assert client.get_asset(aapl).symbol == "AAPL"
    client.submit_order(MarketOrderRequest(symbol="AAPL", qty=6, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    account.settle()
    assert client.get_open_position(aapl).qty == "6"
    assert client.close_position(aapl, ClosePositionRequest(qty="2")).qty == "2"
    for missing in (uuid.uuid4(), "ZZZZ"):
        with pytest.raises(APIError) as absent:
            client.get_open_position(missing)
        assert absent.value.status_code == 404
    with pytest.raises(APIError) as unknown:
        client.get_asset(uuid.uuid4())
    assert unknown.value.status_code == 404


def test_the_portfolio_history_is_equity_and_pl_window_by_window(account: Account) -> None:
    from datetime import datetime

    from alpaca.trading.requests import GetPortfolioHistoryRequest

    client = account.client
    client.submit_order(MarketOrderRequest(symbol="AAPL", qty=100, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    account.settle()
    deposit = account.api.post(f"/users/{account.name}/deposits", {"amount": "500.00"})
    account.move("12.00")
    history = client.get_portfolio_history(GetPortfolioHistoryRequest(period="1D", timeframe="1Min"))
    assert history.timeframe == "1Min" and history.timestamp == sorted(history.timestamp)
    assert len(history.timestamp) == len(history.equity) == len(history.profit_loss) >= 1
    # Now: 100 shares at 12.00 and 99,000 + 500 cash.
    assert history.equity[-1] == 100_000 + 500 + 200
    assert (history.base_value, history.profit_loss[0]) == (history.equity[0], 0)
    # P/L leaves the deposit out, once it came after the first window the P/L is counted from.
    deposited = datetime.fromisoformat(body(deposit)["movement"]["timestamp"]).timestamp()
    after_first = 500 if deposited >= history.timestamp[0] + 60 else 0
    assert history.profit_loss[-1] == pytest.approx(history.equity[-1] - history.base_value - after_first)
    daily = client.get_portfolio_history(GetPortfolioHistoryRequest(period="1M"))
    assert daily.timeframe == "1D" and daily.equity[-1] == history.equity[-1]
    # A year of minutes reaches no further back than the account's opening.
    assert len(client.get_portfolio_history(GetPortfolioHistoryRequest(period="1A", timeframe="1Min")).equity) <= 5
    with pytest.raises(APIError) as unknown:
        client.get("/account/portfolio/history", {"timeframe": "2H"})
    assert unknown.value.status_code == 422


def test_cached_v2_reads_are_made_stale_by_the_same_events_as_the_classic_ones(account: Account) -> None:
    client = account.client
    assert client.get_account().cash == "100000.00" and client.get_orders() == []  # both now cached
    assert account.api.post(f"/users/{account.name}/deposits", {"amount": "5.00"}).status_code == 201
    assert client.get_account().cash == "100005.00"
    placed = body(account.api.post("/transactions", {"user": account.name, "ticker": "AAPL",
                                                     "transaction_type": "buy", "transaction_volume": 2,
                                                     "limit_price": "1.00", "time_in_force": "gtc"}))
    assert [str(o.id) for o in client.get_orders()] == [placed["transaction_id"]]
    assert client.get_account().buying_power == "100003.00"
    account.move("12.00")
    client.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    account.settle()
    assert client.get_account().equity == "100005.00"  # 12.00 paid, 12.00 held
    account.move("20.00")
    assert client.get_account().equity == "100013.00"  # the holder's equity moved with the price
