"""`make demo-alpaca`: a small trading bot written with alpaca-py, unmodified, run against tradeapi (`make run`).

It signs up, buys at the market, places a resting limit buy below the price and a protective stop below that,
then plays the market feed (an admin key posts price bars): the first bar fills the limit, the second triggers
the stop. It then reads its positions, orders, activities and portfolio history, all through alpaca-py. Only
alpaca-py and the standard library: copy it as the start of a bot of your own.

    python examples/alpaca_bot.py [--api http://127.0.0.1:8000] [--admin-key KEY]

Without arguments it reads the running stack's address and admin key from .devstack/stack.json. Exits 1 at the
first answer that is not what the story expects.
"""
from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.models import Order
from alpaca.trading.requests import (
    GetOrdersRequest,
    GetPortfolioHistoryRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    StopOrderRequest,
)

STACK = Path(__file__).resolve().parent.parent / ".devstack" / "stack.json"


def post(api: str, path: str, body: dict[str, Any], key: str | None = None) -> Any:
    """tradeapi's own routes, for what Alpaca's API has no call for: signing up and feeding prices."""
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    request = urllib.request.Request(api + path, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def say(title: str, value: object = "") -> None:
    print(f"== {title}" + (f"\n   {value}" if value != "" else ""), flush=True)


def expect(ok: bool, what: str) -> None:
    if not ok:
        raise SystemExit(f"unexpected: {what}")


def until(read: Callable[[], Order], done: Callable[[Order], bool], what: str, timeout: float = 30) -> Order:
    """Orders settle asynchronously: poll until `done`, as a bot without the stream does."""
    deadline = time.monotonic() + timeout
    while True:
        order = read()
        if done(order):
            return order
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}: {order.status}")
        time.sleep(0.2)


def main() -> int:
    stack = json.loads(STACK.read_text()) if STACK.exists() else {}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", default=stack.get("api", "http://127.0.0.1:8000"))
    parser.add_argument("--admin-key", default=stack.get("admin_api_key"), help="to ingest a stock and post bars")
    args = parser.parse_args()
    if not args.admin_key:
        print("no admin API key: start the stack with `make run`, or pass --admin-key", file=sys.stderr)
        return 2
    api, admin, suffix = args.api.rstrip("/"), args.admin_key, secrets.token_hex(3)
    symbol = f"BOT{suffix.upper()}"[:8]

    def bar(close: str) -> None:
        post(api, f"/stocks/{symbol}/bars", {"timestamp": datetime.now(UTC).isoformat(), "open_price": close,
                                             "close_price": close, "high": close, "low": close, "volume": 1000},
             key=admin)
        say(f"the feed: a bar closes {symbol} at {close}")

    signed_up = post(api, "/users", {"username": f"bot_{suffix}", "balance": "10000.00"})
    _, key_id, secret = signed_up["api_key"].split(".", 2)  # an API key is Alpaca's key id and secret
    post(api, "/stocks", {"ticker": symbol, "open_price": 100, "close_price": 100, "high": 100, "low": 100,
                          "volume": 1000}, key=admin)
    client = TradingClient(key_id, secret, url_override=api)  # the base URL, without /v2
    account = client.get_account()
    say("signed up; the account as alpaca-py reads it", f"cash {account.cash}, buying power {account.buying_power}")

    bought = client.submit_order(MarketOrderRequest(symbol=symbol, qty=10, side=OrderSide.BUY,
                                                    time_in_force=TimeInForce.DAY))
    bought = until(lambda: client.get_order_by_id(bought.id), lambda o: o.status == OrderStatus.FILLED, "the buy")
    say("a market buy of 10 filled", f"at {bought.filled_avg_price}")
    limit = client.submit_order(LimitOrderRequest(symbol=symbol, qty=5, side=OrderSide.BUY, limit_price=95,
                                                  time_in_force=TimeInForce.GTC))
    stop = client.submit_order(StopOrderRequest(symbol=symbol, qty=10, side=OrderSide.SELL, stop_price=92,
                                                time_in_force=TimeInForce.GTC))
    say("a limit buy of 5 at 95 and a stop sell of 10 at 92 rest", [o.status.value for o in client.get_orders()])

    bar("94.00")
    limit = until(lambda: client.get_order_by_id(limit.id), lambda o: o.status == OrderStatus.FILLED, "the limit")
    expect(client.get_order_by_id(stop.id).status == OrderStatus.NEW, "the stop is still resting at 94")
    say("the limit buy filled; the stop waits", f"limit filled at {limit.filled_avg_price}")
    bar("91.00")
    stop = until(lambda: client.get_order_by_id(stop.id), lambda o: o.status == OrderStatus.FILLED, "the stop")
    say("the stop triggered and sold 10", f"at {stop.filled_avg_price}")

    [position] = client.get_all_positions()
    expect((position.symbol, position.qty) == (symbol, "5"), f"a position of 5, not {position.qty}")
    say("the position left", f"{position.qty} {position.symbol} at {position.avg_entry_price}, "
        f"market value {position.market_value}, unrealized P/L {position.unrealized_pl}")
    closed = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED))
    expect(len(closed) == 3, f"three filled orders, not {len(closed)}")
    say("its orders", [(o.side.value, o.type.value, o.qty, o.status.value) for o in closed])
    activities = client.get("/account/activities", {"activity_types": "FILL"})  # alpaca-py has no method for it
    say("its fills", [(a["side"], a["qty"], a["price"]) for a in activities])
    history = client.get_portfolio_history(GetPortfolioHistoryRequest(period="1D", timeframe="1Min"))
    say("its equity now", f"{history.equity[-1]:.2f} (P/L {history.profit_loss[-1]:+.2f})")
    account = client.get_account()
    expect(account.equity == f"{10000 - 1000 - 5 * 94 + 10 * 91 + 5 * 91:.2f}", f"equity {account.equity}")
    say("done", f"cash {account.cash}, equity {account.equity}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
