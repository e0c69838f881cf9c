"""`make demo`: drive the running stack (`make run`) through the whole story and print each step.

Registers a user, ingests two stocks, buys, sells, has one order refused at placement and one rejected at
settlement, moves a price with a new bar, places limit orders on either side of it, cancels a pending order,
deposits and withdraws cash, then reads back positions with P/L, equity, bars, history and the activity feed.
Names get a random suffix, so it can run again. Each step says the status it expects; the demo exits 1 at the
first answer that differs.

    python -m devstack.demo [--api http://127.0.0.1:8000] [--admin-key KEY]
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from devstack.paths import running_stack


class Api:
    """A small JSON client for the running API (also used by the end-to-end tests)."""

    def __init__(self, base: str, key: str | None = None) -> None:
        self.base = base.rstrip("/")
        self.key = key  # sent as `Authorization: Bearer <key>` unless a call names another

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, key: str | None = None,
             ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if key or self.key:
            headers["Authorization"] = f"Bearer {key or self.key}"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def step(self, title: str, method: str, path: str, body: dict[str, Any] | None = None,
             key: str | None = None, expect: int | tuple[int, ...] = (200, 201, 202)) -> Any:
        status, answer = self.call(method, path, body, key)
        print(f"\n== {title}\n   {method} {path}" + (f" {json.dumps(body)}" if body else ""))
        print(f"   -> {status} {json.dumps(answer)}")
        if status not in (expect if isinstance(expect, tuple) else (expect,)):
            raise SystemExit(f"expected {expect}, got {status}")
        return answer

    def wait_final(self, user: str, trade_id: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, trade = self.call("GET", f"/transactions/{user}/{trade_id}")
            if trade.get("status") != "pending":
                print(f"   .. settled asynchronously: status={trade['status']} reason={trade['reason']} "
                      f"price={trade['transaction_price']} total={trade['total']}")
                return trade
            time.sleep(0.3)
        raise SystemExit(f"transaction {trade_id} still pending after {timeout:.0f} s: are the pollers running?")

    def expect_final(self, user: str, trade_id: str, status: str, reason: str | None = None) -> Any:
        trade = self.wait_final(user, trade_id)
        if (trade["status"], trade["reason"]) != (status, reason):
            raise SystemExit(f"expected {status} ({reason}), got {trade['status']} ({trade['reason']})")
        return trade


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    stack = running_stack() or {}
    parser.add_argument("--api", default=stack.get("api", "http://127.0.0.1:8000"))
    parser.add_argument("--admin-key", default=os.environ.get("TRADEAPI_ADMIN_KEY") or stack.get("admin_api_key"),
                        help="an admin API key, to ingest stocks (default: the running stack's)")
    args = parser.parse_args()
    if not args.admin_key:
        print("no admin API key: start the stack with `make run`, or pass --admin-key (make admin-key makes one)",
              file=sys.stderr)
        return 2
    api = Api(args.api)
    tag = secrets.token_hex(2).upper()
    user, big, small = f"demo_{tag.lower()}", f"BIG{tag}", f"TINY{tag}"

    try:
        api.call("GET", "/stocks")
    except OSError:
        print(f"no API at {api.base}: start the stack with `make run` first", file=sys.stderr)
        return 2

    signed_up = api.step("register a user with $10,000.00; the answer holds their API key, shown once", "POST",
                         "/users", {"username": user, "balance": "10000.00"})
    api.key = signed_up["api_key"]  # from here on the user's own key, as their client would send it
    api.step("ingest a stock (an admin key)", "POST", "/stocks", {
        "ticker": big.lower(), "open_price": "99.50", "close_price": "100.25", "high": "101.00", "low": "98.75",
        "volume": 1000}, key=args.admin_key)
    api.step("ingest a thinly traded stock", "POST", "/stocks", {"ticker": small, "open_price": 2, "close_price": 2,
                                                                  "high": 2, "low": 2, "volume": 5}, key=args.admin_key)
    api.step("the user's key may not act for anyone else: 403", "GET", "/users/someone_else", expect=403)
    buy = api.step("buy 40 shares (202: accepted, settled asynchronously)", "POST", "/transactions",
                   {"user": user, "ticker": big, "transaction_type": "BUY", "transaction_volume": 40})
    api.expect_final(user, buy["transaction_id"], "settled")
    sell = api.step("sell 15 of them", "POST", "/transactions",
                    {"user": user, "ticker": big, "transaction_type": "sell", "transaction_volume": 15})
    api.expect_final(user, sell["transaction_id"], "settled")
    api.step("try to buy more than the balance allows (refused at placement: nothing is created)", "POST",
             "/transactions", {"user": user, "ticker": big, "transaction_type": "buy", "transaction_volume": 500},
             expect=400)
    first = api.step("buy 4 of the 5 shares on offer", "POST", "/transactions",
                     {"user": user, "ticker": small, "transaction_type": "buy", "transaction_volume": 4})
    second = api.step("buy 3 more right away: only 1 will be left", "POST", "/transactions",
                      {"user": user, "ticker": small, "transaction_type": "buy", "transaction_volume": 3})
    if "transaction_id" in second:
        # Two pollers take the two up at once, so either may settle first; settlement re-checks the volume on
        # offer, and the other is rejected with no money moved.
        print("   .. placed before the first settled, so the pre-check saw 5 on offer; settlement re-checks:")
        outcomes = {api.wait_final(user, order["transaction_id"])["status"] for order in (first, second)}
        if outcomes != {"settled", "rejected"}:
            raise SystemExit(f"expected one settled and one rejected, got {sorted(outcomes)}")
    else:
        api.expect_final(user, first["transaction_id"], "settled")
        print("   .. the first had already settled, so the pre-check refused it (had it been placed earlier,"
              " settlement would have rejected it with the same reason)")
    api.step("balance: 10000.00 - 4010.00 + 1503.75 - 8.00", "GET", f"/users/{user}")
    api.step("holdings", "GET", f"/users/{user}/holdings")

    # Prices that move, and orders as traders place them.
    api.step(f"a new price bar for {big} (an admin key): it is the latest, so {big} now trades at 110.00 with "
             "800 shares on offer", "POST", f"/stocks/{big}/bars", {
                 "timestamp": datetime.now(UTC).isoformat(), "open_price": "100.25", "close_price": "110.00",
                 "high": "111.00", "low": "100.00", "volume": 800}, key=args.admin_key)
    api.step("the stock reads the bar's prices", "GET", f"/stocks/{big}")
    low = api.step("a limit buy at 105.00: 5 x 105.00 is set aside, and it fills only at or below 105", "POST",
                   "/transactions", {"user": user, "ticker": big, "transaction_type": "buy",
                                     "transaction_volume": 5, "limit_price": "105.00"})
    api.expect_final(user, low["transaction_id"], "rejected", "limit_not_met")  # 110 > 105: the cash comes back
    high = api.step("a limit buy at 115.00: it fills at the price, 110.00, and the other 25.00 comes back", "POST",
                    "/transactions", {"user": user, "ticker": big, "transaction_type": "buy",
                                      "transaction_volume": 5, "limit_price": "115.00"})
    api.expect_final(user, high["transaction_id"], "settled")
    _cancel_one(api, user, big)
    api.step(f"{big}'s price history, newest first", "GET", f"/stocks/{big}/bars")
    api.step("balance: 7485.75 - 550.00 for the limit buy (an order that settled before its cancel was sold back "
             "at the same price)", "GET", f"/users/{user}")
    api.step("deposit 1,000.00 (an Idempotency-Key makes a retry safe)", "POST", f"/users/{user}/deposits",
             {"amount": "1000.00"})
    api.step("withdraw more than is available: refused, nothing written", "POST", f"/users/{user}/withdrawals",
             {"amount": "1000000.00"}, expect=400)
    api.step("withdraw 435.75", "POST", f"/users/{user}/withdrawals", {"amount": "435.75"})
    api.step("positions: 25 held at 100.25 and 5 at 110.00 average 101.875; at 110.00 each is worth 3,300.00",
             "GET", f"/users/{user}/holdings")
    api.step("equity: 7,500.00 cash + 3,300.00 + 4 tiny shares at 2.00", "GET", f"/users/{user}")

    # Orders that rest until the market reaches them.
    resting = api.step("a limit buy at 108.00, good till canceled: at 110.00 it rests (order_status new)", "POST",
                       "/transactions", {"user": user, "ticker": big, "transaction_type": "buy",
                                         "transaction_volume": 2, "limit_price": "108.00", "time_in_force": "gtc"})
    stop = api.step("a stop sell of 10 at 105.00, good till canceled: it protects the position", "POST",
                    "/transactions", {"user": user, "ticker": big, "transaction_type": "sell", "transaction_volume": 10,
                                      "order_type": "stop", "stop_price": "105.00", "time_in_force": "gtc"})
    api.step("the limit buy, open: pending on these routes, `new` to the engine", "GET",
             f"/transactions/{user}/{resting['transaction_id']}")
    api.step("a bar at 107.00: it crosses the limit, and the book fills it behind the queue", "POST",
             f"/stocks/{big}/bars", {"timestamp": datetime.now(UTC).isoformat(), "open_price": "110.00",
                                     "close_price": "107.00", "high": "110.00", "low": "107.00", "volume": 800},
             key=args.admin_key)
    api.expect_final(user, resting["transaction_id"], "settled")
    api.step("a bar at 104.00: it reaches the stop, which sells 10 at 104.00", "POST", f"/stocks/{big}/bars", {
        "timestamp": datetime.now(UTC).isoformat(), "open_price": "107.00", "close_price": "104.00",
        "high": "107.00", "low": "104.00", "volume": 800}, key=args.admin_key)
    api.expect_final(user, stop["transaction_id"], "settled")
    api.step("the market clock", "GET", "/clock")
    api.step("every fill, rejection, cancel, deposit and withdrawal, newest first", "GET",
             f"/users/{user}/activities")
    history = api.step("history, newest first", "GET", f"/transactions/{user}")
    print(f"\nDone: {len(history)} transactions for {user}. See them in the logs: make logs ARGS='--filter {user}'"
          if isinstance(history, list) else "")
    return 0


def _cancel_one(api: Api, user: str, ticker: str) -> None:
    """Place an order and cancel it at once. The pollers take an order up within a fraction of a second, so the
    cancel may come second: then it is refused 409 naming the order's final state, and the demo tries again."""
    for _ in range(5):
        order = api.step("place a buy of 1 and cancel it at once", "POST", "/transactions",
                         {"user": user, "ticker": ticker, "transaction_type": "buy", "transaction_volume": 1})
        status, answer = api.call("DELETE", f"/transactions/{user}/{order['transaction_id']}")
        print(f"   DELETE /transactions/{user}/{order['transaction_id']}\n   -> {status} {json.dumps(answer)}")
        if status == 200:
            api.step("cancel it again: the same answer", "DELETE", f"/transactions/{user}/{order['transaction_id']}")
            api.step("the canceled orders", "GET", f"/transactions/{user}?status=canceled")
            return
        if status != 409:
            raise SystemExit(f"expected 200 or 409, got {status}")
        print("   .. it settled first (409 names its state); selling that share back and trying again")
        sold = api.step("sell it back", "POST", "/transactions",
                        {"user": user, "ticker": ticker, "transaction_type": "sell", "transaction_volume": 1})
        api.expect_final(user, sold["transaction_id"], "settled")
    raise SystemExit("five orders in a row settled before the cancel reached them")


if __name__ == "__main__":
    sys.exit(main())
