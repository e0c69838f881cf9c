"""The order engine over the classic routes, against real PostgreSQL, Redis and the emulator's SQS: resting limits,
stops and stop-limits, partial fills, replace, cancel-all, expiry, the market clock, and the book's fair order.
Each case family is generated (hypothesis) and checked against a model of the rules in docs/rules.md, and every
example ends with the invariant checker. Each example trades on a user and a stock of its own."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.clock import AlwaysOpen, Clock, Nyse
from chalicelib.services import settlement
from chalicelib.services.unit_of_work import UnitOfWork
from tests.integration.helpers import body, drain, seed, trade
from tests.integration.test_orders import bar, no_violations, scalar

EXAMPLES = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CENTS = st.integers(500, 1500)  # prices of 5.00 to 15.00, around the 10.00 each stock starts at


def money(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


class Market:
    """One example's user and stock, and the calls a trader makes."""

    def __init__(self, api: Any, sqs: Any, queue: str, *, volume: int = 10_000, cash: str = "1000000.00",
                 shares: int = 0) -> None:
        self.api, self.sqs, self.queue = api, sqs, queue
        self.user, self.ticker = f"u{uuid.uuid4().hex[:10]}", f"T{uuid.uuid4().hex[:6].upper()}"
        seed(api, {self.user: cash}, {self.ticker: ("10.00", volume)})
        self.balances, self.volumes = {self.user: cash}, {self.ticker: volume}
        if shares:
            self.settle(self.place(volume=shares))

    def place(self, **order: Any) -> str:
        answer = self.api.post("/transactions", trade(self.user, self.ticker, **order))
        assert answer.status_code == 202, answer.body
        return str(body(answer)["transaction_id"])

    def bar(self, cents: int, volume: int = 10_000) -> None:
        recorded = self.api.post(f"/stocks/{self.ticker}/bars", bar(money(cents), volume=volume),
                                 key=self.api.admin_key)
        assert recorded.status_code == 201, recorded.body
        self.drain()

    def drain(self) -> None:
        drain(self.sqs, self.queue)

    def settle(self, trade_id: str) -> dict[str, Any]:
        self.drain()
        return self.order(trade_id)

    def order(self, trade_id: str) -> dict[str, Any]:
        return dict(body(self.api.get(f"/transactions/{self.user}/{trade_id}")))

    def account(self) -> dict[str, Any]:
        return dict(body(self.api.get(f"/users/{self.user}")))

    def fills(self, trade_id: str) -> list[dict[str, Any]]:
        return list(body(self.api.get(f"/users/{self.user}/fills?transaction_id={trade_id}")))

    def holds_nothing(self) -> None:
        assert scalar("SELECT reserved_cash FROM users WHERE username = :u", u=self.user) == 0
        assert (scalar("SELECT COALESCE(SUM(reserved_quantity), 0) FROM holdings h JOIN users u ON u.id = h.user_id "
                       "WHERE u.username = :u", u=self.user)) == 0

    def invariants_hold(self) -> None:
        no_violations({}, {}, all_final=False)


def crosses(side: str, limit: int, close: int) -> bool:
    return close <= limit if side == "buy" else close >= limit


def stop_reached(side: str, stop: int, close: int) -> bool:
    return close >= stop if side == "buy" else close <= stop


# --- resting limits ------------------------------------------------------------------------------------------------

@given(side=st.sampled_from(["buy", "sell"]), limit=CENTS, closes=st.lists(CENTS, min_size=1, max_size=4),
       tif=st.sampled_from(["day", "gtc"]))
@EXAMPLES
def test_a_resting_limit_fills_at_the_first_close_that_reaches_it(api, sqs, queues, side: str, limit: int,
                                                                   closes: list[int], tif: str) -> None:
    market = Market(api, sqs, queues["queue"], shares=5 if side == "sell" else 0)
    order_id = market.place(side=side, volume=5, limit_price=money(limit), time_in_force=tif)
    market.drain()
    seen = [1000]
    for close in closes:
        if market.order(order_id)["order_status"] == "filled":
            break
        market.bar(close)
        seen.append(close)
    expected = next((close for close in seen if crosses(side, limit, close)), None)
    order = market.order(order_id)
    if expected is None:
        assert (order["status"], order["order_status"], order["filled_qty"]) == ("pending", "new", 0)
        assert market.fills(order_id) == []
    else:
        assert (order["status"], order["order_status"], order["filled_qty"]) == ("settled", "filled", 5)
        assert order["transaction_price"] == order["filled_avg_price"] == money(expected)
        assert order["total"] == f"{Decimal(expected) * 5 / 100:.2f}"
        assert [(f["quantity"], f["price"]) for f in market.fills(order_id)] == [(5, money(expected))]
    market.invariants_hold()


# --- stops and stop-limits -----------------------------------------------------------------------------------------

@given(side=st.sampled_from(["buy", "sell"]), stop=CENTS, limit=st.one_of(st.none(), CENTS),
       closes=st.lists(CENTS, min_size=1, max_size=4), tif=st.sampled_from(["day", "gtc"]))
@EXAMPLES
def test_a_stop_triggers_at_the_first_close_beyond_it_then_fills_as_market_or_limit(
        api, sqs, queues, side: str, stop: int, limit: int | None, closes: list[int], tif: str) -> None:
    market = Market(api, sqs, queues["queue"], shares=5 if side == "sell" else 0)
    order_type = "stop" if limit is None else "stop_limit"
    extra = {} if limit is None else {"limit_price": money(limit)}
    order_id = market.place(side=side, volume=5, order_type=order_type, stop_price=money(stop), time_in_force=tif,
                            **extra)
    market.drain()
    seen = [1000]
    for close in closes:
        if market.order(order_id)["order_status"] == "filled":
            break
        market.bar(close)
        seen.append(close)
    trigger = next((i for i, close in enumerate(seen) if stop_reached(side, stop, close)), None)
    fill = None if trigger is None else next(
        (close for close in seen[trigger:] if limit is None or crosses(side, limit, close)), None)
    order = market.order(order_id)
    assert order["order_type"] == order_type
    assert (order["triggered_at"] is not None) == (trigger is not None)
    if fill is None:
        assert (order["status"], order["filled_qty"]) == ("pending", 0)
    else:
        assert (order["status"], order["transaction_price"], order["filled_qty"]) == ("settled", money(fill), 5)
    market.invariants_hold()


def test_a_stop_order_needs_its_stop_and_rests_so_it_takes_day_or_gtc(api, sqs, queues) -> None:
    market = Market(api, sqs, queues["queue"])
    for order, field in (({"order_type": "stop", "time_in_force": "gtc"}, "stop_price"),
                         ({"order_type": "stop", "stop_price": "9.00", "time_in_force": "ioc"}, "time_in_force"),
                         ({"order_type": "stop_limit", "stop_price": "9.00", "time_in_force": "day"}, "limit_price"),
                         ({"order_type": "market", "limit_price": "9.00"}, "limit_price"),
                         ({"order_type": "trailing_stop", "time_in_force": "gtc"}, "order_type"),
                         ({"time_in_force": "opg"}, "time_in_force"), ({"time_in_force": "cls"}, "time_in_force"),
                         ({"order_class": "bracket"}, "order_class"), ({"order_class": "oco"}, "order_class")):
        answer = api.post("/transactions", trade(market.user, market.ticker, volume=1, **order))
        assert answer.status_code == 400, (order, answer.body)
        details = body(answer)["error"]["details"]
        assert field in {d["field"] for d in details}, (order, details)
        if order.get("time_in_force") in ("opg", "cls") or order.get("order_class"):
            assert "supported" in details[0]["message"]  # names what is
    assert scalar("SELECT count(*) FROM trades t JOIN users u ON u.id = t.user_id WHERE u.username = :u",
                  u=market.user) == 0


# --- partial fills -------------------------------------------------------------------------------------------------

@given(quantity=st.integers(1, 60), offered=st.integers(0, 60), later=st.integers(0, 60), next_close=CENTS,
       tif=st.sampled_from(["day", "gtc", "ioc", "fok"]))
@EXAMPLES
def test_an_order_larger_than_the_volume_on_offer_fills_in_parts_as_its_time_in_force_says(
        api, sqs, queues, quantity: int, offered: int, later: int, next_close: int, tif: str) -> None:
    market = Market(api, sqs, queues["queue"], volume=offered)
    order_id = market.place(volume=quantity, time_in_force=tif)
    market.drain()
    first = 0 if tif == "fok" and offered < quantity else min(quantity, offered)
    rests = tif in ("day", "gtc") and first < quantity
    market.bar(next_close, volume=later)
    second = min(quantity - first, later) if rests else 0
    filled = first + second
    order = market.order(order_id)
    assert order["filled_qty"] == filled
    if filled == quantity:
        assert order["order_status"] == "filled"
    elif rests:
        assert order["order_status"] == ("partially_filled" if filled else "new")
    else:
        assert (order["order_status"], order["reason"]) == ("canceled", "insufficient_volume")
    if filled:
        cost = Decimal(1000 * first + next_close * second) / 100
        assert order["total"] == f"{cost:.2f}"
        assert order["filled_avg_price"] == f"{(cost / filled).quantize(Decimal('0.01')):.2f}"
    fills = market.fills(order_id)
    assert [f["quantity"] for f in reversed(fills)] == [q for q in (first, second) if q]
    if not rests or filled == quantity:
        market.holds_nothing()
    market.invariants_hold()


def test_a_partly_filled_order_canceled_keeps_its_fills_and_releases_the_rest(api, sqs, queues) -> None:
    market = Market(api, sqs, queues["queue"], volume=4)
    order_id = market.place(volume=10, limit_price="10.00", time_in_force="gtc")
    market.drain()
    assert market.account()["available_balance"] == f"{1000000 - 40 - 60:.2f}"  # 4 bought, 6 x 10.00 held
    canceled = body(api.delete(f"/transactions/{market.user}/{order_id}"))
    assert (canceled["status"], canceled["order_status"], canceled["filled_qty"]) == ("canceled", "canceled", 4)
    assert market.account()["available_balance"] == market.account()["balance"] == f"{1000000 - 40:.2f}"
    feed = body(api.get(f"/users/{market.user}/activities"))
    assert [(a["type"], a["volume"], a["transaction_id"]) for a in feed] == [("cancel", 6, order_id),
                                                                             ("fill", 4, order_id)]
    market.invariants_hold()


# --- replace -------------------------------------------------------------------------------------------------------

@given(side=st.sampled_from(["buy", "sell"]), quantity=st.integers(1, 20), new_quantity=st.one_of(st.none(),
       st.integers(1, 20)), new_limit=st.one_of(st.none(), CENTS), tif=st.sampled_from([None, "day", "gtc"]))
@EXAMPLES
def test_replacing_an_open_order_moves_its_reservation_to_the_order_that_takes_its_place(
        api, sqs, queues, side: str, quantity: int, new_quantity: int | None, new_limit: int | None,
        tif: str | None) -> None:
    market = Market(api, sqs, queues["queue"], shares=20 if side == "sell" else 0)
    far = 100 if side == "buy" else 5000  # 1.00 or 50.00: never reached by the price of 10.00
    old_id = market.place(side=side, volume=quantity, limit_price=money(far), time_in_force="gtc")
    market.drain()
    changes = {k: v for k, v in (("transaction_volume", new_quantity),
                                 ("limit_price", None if new_limit is None else money(new_limit)),
                                 ("time_in_force", tif)) if v is not None}
    answer = api.patch(f"/transactions/{market.user}/{old_id}", changes)
    assert answer.status_code == 200, answer.body
    new = body(answer)
    old = market.order(old_id)
    assert (old["status"], old["order_status"], old["replaced_by"]) == ("canceled", "replaced", new["transaction_id"])
    assert (new["replaces"], new["order_status"], new["transaction_volume"]) == (old_id, "new",
                                                                                  new_quantity or quantity)
    limit = new_limit or far
    shares = new["transaction_volume"]
    held = scalar("SELECT reserved_cash FROM users WHERE username = :u", u=market.user)
    held_shares = scalar("SELECT reserved_quantity FROM holdings h JOIN users u ON u.id = h.user_id "
                         "WHERE u.username = :u", u=market.user)
    assert (held, held_shares) == ((Decimal(limit) * shares / 100, 0) if side == "buy" else (0, shares))
    market.drain()  # the new order is evaluated as a placed one is
    settled = market.order(new["transaction_id"])
    assert (settled["order_status"] == "filled") == crosses(side, limit, 1000)
    again = api.patch(f"/transactions/{market.user}/{old_id}", {"transaction_volume": 1})
    assert again.status_code == 409
    assert market.fills(old_id) == []
    market.invariants_hold()


def test_a_replace_that_needs_more_than_is_available_changes_nothing(api, sqs, queues) -> None:
    market = Market(api, sqs, queues["queue"], cash="100.00")
    old_id = market.place(volume=10, limit_price="5.00", time_in_force="gtc")
    refused = api.patch(f"/transactions/{market.user}/{old_id}", {"limit_price": "10.01"})
    assert refused.status_code == 400 and body(refused)["error"]["code"] == "insufficient_funds"
    assert market.order(old_id)["order_status"] == "new"
    assert scalar("SELECT reserved_cash FROM users WHERE username = :u", u=market.user) == 50
    assert api.patch(f"/transactions/{market.user}/{old_id}", {"stop_price": "9.00"}).status_code == 400
    market.invariants_hold()


# --- cancel all ----------------------------------------------------------------------------------------------------

ORDERS = st.lists(st.tuples(st.sampled_from(["buy", "sell"]), st.sampled_from(["limit", "stop", "stop_limit"]),
                            st.sampled_from(["day", "gtc"]), st.integers(1, 5)), min_size=0, max_size=6)


def resting(side: str, order_type: str, tif: str, quantity: int) -> dict[str, Any]:
    """An order the price of 10.00 does not reach."""
    far_limit, far_stop = ("1.00", "50.00") if side == "buy" else ("50.00", "1.00")
    order = {"side": side, "volume": quantity, "order_type": order_type, "time_in_force": tif}
    if order_type != "stop":
        order["limit_price"] = far_limit
    if order_type != "limit":
        order["stop_price"] = far_stop
    return order


@given(orders=ORDERS)
@EXAMPLES
def test_cancel_all_cancels_every_open_order_and_releases_everything(api, sqs, queues,
                                                                     orders: list[tuple[str, str, str, int]]) -> None:
    market = Market(api, sqs, queues["queue"], shares=30)
    ids = {market.place(**resting(*order)) for order in orders}
    market.drain()
    answer = api.delete(f"/transactions/{market.user}")
    assert answer.status_code == 200
    canceled = body(answer)["canceled"]
    assert {order["transaction_id"] for order in canceled} == ids
    assert all(order["status"] == "canceled" for order in canceled)
    market.holds_nothing()
    assert body(api.delete(f"/transactions/{market.user}"))["canceled"] == []
    market.invariants_hold()


# --- close a position ----------------------------------------------------------------------------------------------

@given(held=st.integers(1, 50), how=st.one_of(st.none(), st.integers(1, 60).map(lambda q: f"qty={q}"),
                                              st.integers(1, 100).map(lambda p: f"percentage={p}")))
@EXAMPLES
def test_closing_a_position_sells_what_was_asked_at_market(api, sqs, queues, held: int, how: str | None) -> None:
    market = Market(api, sqs, queues["queue"], shares=held)
    wanted = held if how is None else int(how[4:]) if how.startswith("qty") else held * int(how[11:]) // 100
    answer = api.delete(f"/users/{market.user}/holdings/{market.ticker}" + ("" if how is None else f"?{how}"))
    if wanted < 1 or wanted > held:
        assert answer.status_code == 400
        return
    assert answer.status_code == 202, answer.body
    order = body(answer)
    assert (order["transaction_type"], order["order_type"], order["time_in_force"], order["transaction_volume"]) == (
        "sell", "market", "day", wanted)
    assert market.settle(order["transaction_id"])["status"] == "settled"
    assert scalar("SELECT quantity FROM holdings h JOIN users u ON u.id = h.user_id WHERE u.username = :u",
                  u=market.user) == held - wanted
    market.invariants_hold()


def test_closing_a_position_one_does_not_hold_is_a_404(api, sqs, queues) -> None:
    market = Market(api, sqs, queues["queue"])
    assert api.delete(f"/users/{market.user}/holdings/{market.ticker}").status_code == 404


# --- expiry and the clock ------------------------------------------------------------------------------------------

@given(orders=ORDERS)
@EXAMPLES
def test_day_orders_expire_at_their_sessions_close_and_gtc_ones_rest_on(api, sqs, queues,
                                                                       orders: list[tuple[str, str, str, int]]) -> None:
    market = Market(api, sqs, queues["queue"], shares=30)
    ids = {market.place(**resting(*order)): order[2] for order in orders}
    market.drain()
    tomorrow = Clock(AlwaysOpen(), datetime.now(UTC) + timedelta(days=1))
    expires = {market.order(i)["expires_at"] for i, tif in ids.items() if tif == "day"}
    assert all(at.endswith("T00:00:00Z") for at in expires)  # the UTC day's close
    while settlement.expire_due(UnitOfWork(), tomorrow):
        pass
    for trade_id, tif in ids.items():
        order = market.order(trade_id)
        assert order["order_status"] == ("expired" if tif == "day" else "new")
        assert order["status"] == ("canceled" if tif == "day" else "pending")
    if all(tif == "day" for tif in ids.values()):
        market.holds_nothing()
    feed = body(api.get(f"/users/{market.user}/activities"))
    assert sum(a["type"] == "expiry" for a in feed) == sum(tif == "day" for tif in ids.values())
    market.invariants_hold()


def test_a_day_order_evaluated_after_its_close_expires_rather_than_fills(api, sqs, queues) -> None:
    market = Market(api, sqs, queues["queue"])
    order_id = market.place(volume=1, limit_price="5.00", time_in_force="day")
    market.drain()
    with UnitOfWork() as uow:
        uow.session.execute(__import__("sqlalchemy").text("UPDATE stocks SET close_price = 4, low = 4 "
                                                          "WHERE ticker = :t"), {"t": market.ticker})
        uow.commit()
    late = Clock(AlwaysOpen(), datetime.now(UTC) + timedelta(days=1))
    [result] = settlement.settle_batch([uuid.UUID(order_id)], UnitOfWork(), late)
    assert not isinstance(result, Exception) and result.status == "expired"
    assert market.order(order_id)["filled_qty"] == 0


def test_while_the_market_is_closed_orders_rest_and_the_open_has_their_books_evaluated(api, sqs, queues) -> None:
    market = Market(api, sqs, queues["queue"])
    order_id = market.place(volume=3, time_in_force="gtc")
    saturday = Clock(Nyse(), datetime(2026, 12, 5, 15, tzinfo=UTC))
    monday = Clock(Nyse(), datetime(2026, 12, 7, 15, tzinfo=UTC))  # 10:00 in New York
    assert not saturday.is_open and monday.is_open
    [rested] = settlement.settle_batch([uuid.UUID(order_id)], UnitOfWork(), saturday)
    assert not isinstance(rested, Exception) and (rested.status, rested.changed) == ("pending", False)
    assert settlement.books_to_evaluate(UnitOfWork(), saturday) == []
    assert market.ticker in settlement.books_to_evaluate(UnitOfWork(), monday)
    assert settlement.evaluate_book(market.ticker, UnitOfWork(), monday) == 1
    assert market.order(order_id)["status"] == "settled"
    assert market.ticker not in settlement.books_to_evaluate(UnitOfWork(), monday)


def test_the_clock_and_calendar_answer_from_the_configured_calendar(api) -> None:
    clock = body(api.get("/clock"))
    assert clock["calendar"] == "always_open" and clock["is_open"] is True
    assert clock["next_close"].endswith("T00:00:00Z") and clock["next_open"] == clock["next_close"]
    days = body(api.get("/calendar?start=2026-12-01&end=2026-12-07"))["sessions"]
    assert [d["date"] for d in days] == [f"2026-12-0{n}" for n in range(1, 8)]
    assert api.get("/calendar?start=2026-12-07&end=2026-12-01").status_code == 400
    assert api.get("/calendar?start=2026-01-01&end=2027-06-01").status_code == 400


# --- the book: a bar crossing many resting orders ------------------------------------------------------------------

@given(limits=st.lists(st.integers(1000, 1100), min_size=1, max_size=12), quantity=st.integers(1, 10),
       offered=st.integers(0, 60))
@EXAMPLES
def test_a_bar_fills_the_orders_it_crossed_best_limit_first_then_oldest_first(
        api, sqs, queues, limits: list[int], quantity: int, offered: int) -> None:
    market = Market(api, sqs, queues["queue"], volume=0)  # nothing on offer: every buy rests
    ids = [market.place(volume=quantity, limit_price=money(limit), time_in_force="gtc") for limit in limits]
    market.drain()
    market.bar(1000, volume=offered)
    left, expected = offered, {}
    for index in sorted(range(len(limits)), key=lambda i: (-limits[i], i)):
        expected[ids[index]] = min(quantity, left)
        left -= expected[ids[index]]
    assert {i: market.order(i)["filled_qty"] for i in ids} == expected
    market.invariants_hold()


def test_a_bar_crossing_no_order_leaves_the_book_as_it_was(api, sqs, queues) -> None:
    market = Market(api, sqs, queues["queue"])
    order_id = market.place(volume=1, limit_price="9.00", time_in_force="gtc")
    market.drain()
    market.bar(950)
    assert market.order(order_id)["order_status"] == "new"
    assert scalar("SELECT orders_evaluated_as_of = price_as_of FROM stocks WHERE ticker = :t", t=market.ticker)


@pytest.mark.parametrize("tif", ["day", "gtc"])
def test_an_order_that_cannot_fill_for_want_of_cash_rests_rather_than_overdrawing(api, sqs, queues, tif: str) -> None:
    # A market buy reserves at the price it was placed at; the price then doubles.
    market = Market(api, sqs, queues["queue"], cash="100.00", volume=0)
    order_id = market.place(volume=10, time_in_force=tif)
    market.bar(2000, volume=100)
    order = market.order(order_id)
    assert order["filled_qty"] == 5 and order["order_status"] == "partially_filled"  # 100.00 buys 5 at 20.00
    assert market.account()["balance"] == "0.00"
    market.invariants_hold()
