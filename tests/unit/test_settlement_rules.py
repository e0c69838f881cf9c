"""Settlement rules as plain functions: no database."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import rules

D = Decimal


def account(balance="1000", reserved="0", quantity=0, reserved_quantity=0, stock_volume=100) -> rules.Account:
    return rules.Account(D(balance), D(reserved), quantity, reserved_quantity, stock_volume)


def test_buy_moves_cash_to_shares_and_takes_volume() -> None:
    outcome = rules.evaluate(rules.Order("buy", 3, D("10.50"), reserved_cash=D("31.50")), account(reserved="31.50"))
    assert (outcome.status, outcome.reason, outcome.total) == ("settled", None, D("31.50"))
    assert (outcome.balance, outcome.reserved_cash) == (D("-31.50"), D("-31.50"))
    assert (outcome.quantity, outcome.reserved_quantity, outcome.stock_volume) == (3, 0, -3)


def test_sell_moves_shares_to_cash_and_returns_volume() -> None:
    order = rules.Order("sell", 4, D("2.25"), reserved_quantity=4)
    outcome = rules.evaluate(order, account(quantity=10, reserved_quantity=4))
    assert (outcome.status, outcome.total, outcome.balance) == ("settled", D("9.00"), D("9.00"))
    assert (outcome.quantity, outcome.reserved_quantity, outcome.stock_volume) == (-4, -4, 4)


@pytest.mark.parametrize(
    "order, acct, reason",
    [
        (rules.Order("buy", 11, D("100")), account(), "insufficient_funds"),
        (rules.Order("buy", 101, D("1")), account(balance="1000"), "insufficient_volume"),
        (rules.Order("sell", 5, D("1")), account(quantity=4), "insufficient_shares"),
        # Stored without a reservation while another pending sell holds 3 of the 5 shares.
        (rules.Order("sell", 3, D("1")), account(quantity=5, reserved_quantity=3), "insufficient_shares"),
    ],
)
def test_rejection_changes_no_money_and_releases_the_reservation(order, acct, reason) -> None:
    outcome = rules.evaluate(order, acct)
    assert (outcome.status, outcome.reason, outcome.total) == ("rejected", reason, None)
    assert outcome.balance == 0 and outcome.quantity == 0 and outcome.stock_volume == 0
    assert outcome.reserved_cash == -order.reserved_cash
    assert outcome.reserved_quantity == -order.reserved_quantity


def test_pre_check_counts_what_pending_orders_set_aside() -> None:
    assert rules.pre_check(rules.Order("buy", 5, D("100")), account(reserved="600")) == "insufficient_funds"
    assert rules.pre_check(rules.Order("buy", 4, D("100")), account(reserved="600")) is None
    held = account(quantity=5, reserved_quantity=4)
    assert rules.pre_check(rules.Order("sell", 2, D("1")), held) == "insufficient_shares"


@given(
    side=st.sampled_from(["buy", "sell"]),
    volume=st.integers(1, 10**9),
    cents=st.integers(0, 999_999_999_999),
    balance_cents=st.integers(0, 10**15),
    quantity=st.integers(0, 10**9),
    stock_volume=st.integers(0, 2**31),
)
def test_settlement_never_drives_anything_negative_and_conserves_money_and_shares(
    side, volume, cents, balance_cents, quantity, stock_volume
) -> None:
    price, balance = D(cents) / 100, D(balance_cents) / 100
    reserved_cash, reserved_shares = rules.reservation(rules.Order(side, volume, price))
    # Whatever was set aside at placement, the rows can only hold what their constraints allow.
    order = rules.Order(side, volume, price, reserved_cash if reserved_cash <= balance else D(0),
                        reserved_shares if reserved_shares <= quantity else 0)
    acct = rules.Account(balance, order.reserved_cash, quantity, order.reserved_quantity, stock_volume)
    outcome = rules.evaluate(order, acct)
    assert balance + outcome.balance >= 0
    assert order.reserved_cash + outcome.reserved_cash == 0
    assert order.reserved_quantity + outcome.reserved_quantity == 0
    assert quantity + outcome.quantity >= 0 and stock_volume + outcome.stock_volume >= 0
    assert outcome.quantity + outcome.stock_volume == 0  # shares only move between holder and market
    if outcome.status == "settled":
        sign = -1 if side == "buy" else 1
        assert outcome.balance == sign * price * volume == sign * outcome.total


@given(data=st.data(), cash_cents=st.integers(0, 10**9), float_shares=st.integers(0, 500))
def test_any_interleaving_of_placements_and_settlements_keeps_every_invariant(data, cash_cents, float_shares) -> None:
    """One user and one stock: orders are placed (pre-check, reservation) and settled in any order; money and
    shares are conserved exactly, nothing goes negative and nothing reserved outlives its order."""
    balance = initial_cash = D(cash_cents) / 100
    reserved_cash, quantity, reserved_shares, stock_volume = D(0), 0, 0, float_shares
    settled_flows, pending = D(0), []
    price = D(data.draw(st.integers(1, 10**7), label="price cents")) / 100  # stock data never changes
    for _ in range(data.draw(st.integers(1, 30), label="steps")):
        if pending and data.draw(st.booleans(), label="settle one"):
            order = pending.pop(data.draw(st.integers(0, len(pending) - 1), label="which"))
            outcome = rules.evaluate(order, rules.Account(balance, reserved_cash, quantity, reserved_shares,
                                                         stock_volume))
            balance += outcome.balance
            reserved_cash += outcome.reserved_cash
            quantity += outcome.quantity
            reserved_shares += outcome.reserved_quantity
            stock_volume += outcome.stock_volume
            settled_flows += outcome.balance
        else:
            order = rules.Order(data.draw(st.sampled_from(["buy", "sell"])), data.draw(st.integers(1, 60)), price)
            if rules.pre_check(order, rules.Account(balance, reserved_cash, quantity, reserved_shares,
                                                    stock_volume)) is None:
                cash, shares = rules.reservation(order)
                reserved_cash += cash
                reserved_shares += shares
                pending.append(rules.Order(order.side, order.volume, price, cash, shares))
        assert 0 <= reserved_cash <= balance and 0 <= reserved_shares <= quantity and stock_volume >= 0
        assert quantity + stock_volume == float_shares
        assert balance == initial_cash + settled_flows
        assert reserved_cash == sum(o.reserved_cash for o in pending)
        assert reserved_shares == sum(o.reserved_quantity for o in pending)


@given(limit=st.decimals(min_value=0, max_value=1000, places=2), price=st.decimals(min_value=0, max_value=1000,
                                                                                     places=2),
       volume=st.integers(1, 1000))
def test_a_limit_buy_fills_at_or_below_its_limit_at_the_price_and_releases_the_rest(limit, price, volume) -> None:
    reserved, _ = rules.reservation(rules.Order("buy", volume, D("1.00"), limit_price=limit))
    assert reserved == limit * volume  # set aside at the limit, whatever the price at placement
    order = rules.Order("buy", volume, price, reserved_cash=reserved, limit_price=limit)
    outcome = rules.evaluate(order, account(balance=str(reserved), reserved=str(reserved), stock_volume=volume))
    if price > limit:
        assert (outcome.status, outcome.reason, outcome.balance) == ("rejected", "limit_not_met", 0)
    else:
        assert (outcome.status, outcome.total, outcome.balance) == ("settled", price * volume, -price * volume)
    assert outcome.reserved_cash == -reserved  # the whole reservation is released either way


@given(limit=st.decimals(min_value=0, max_value=1000, places=2), price=st.decimals(min_value=0, max_value=1000,
                                                                                     places=2))
def test_a_limit_sell_fills_at_or_above_its_limit(limit, price) -> None:
    order = rules.Order("sell", 2, price, reserved_quantity=2, limit_price=limit)
    outcome = rules.evaluate(order, account(quantity=2, reserved_quantity=2))
    assert outcome.status == ("settled" if price >= limit else "rejected")
    assert outcome.reason == (None if price >= limit else "limit_not_met")


def test_the_limit_is_checked_before_what_is_available() -> None:
    outcome = rules.evaluate(rules.Order("buy", 5, D("12"), limit_price=D("11")), account(balance="0"))
    assert outcome.reason == "limit_not_met"


def test_a_limit_buy_needs_its_limit_times_volume_available_at_placement() -> None:
    assert rules.pre_check(rules.Order("buy", 10, D("1"), limit_price=D("101")), account()) == "insufficient_funds"
    assert rules.pre_check(rules.Order("buy", 10, D("500"), limit_price=D("100")), account()) is None


@given(side=st.sampled_from(["buy", "sell"]), cash=st.decimals(min_value=0, max_value=1000, places=2),
       shares=st.integers(0, 1000))
def test_a_cancel_only_releases_what_the_order_set_aside(side, cash, shares) -> None:
    order = rules.Order(side, 3, D("7"), reserved_cash=cash, reserved_quantity=shares)
    outcome = rules.cancel(order, account(reserved=str(cash), quantity=shares, reserved_quantity=shares))
    assert (outcome.status, outcome.reason, outcome.total) == ("canceled", None, None)
    assert (outcome.balance, outcome.quantity, outcome.stock_volume) == (0, 0, 0)
    assert (outcome.reserved_cash, outcome.reserved_quantity) == (-cash, -shares)


# --- the order engine's rule, over every order type and time in force ------------------------------------------

PRICES = st.integers(1, 5000).map(lambda cents: D(cents) / 100)


@st.composite
def open_orders(draw: st.DrawFn) -> tuple[rules.Order, rules.Account]:
    """An open order that holds what placement set aside, on an account that holds it too."""
    from chalicelib.domain.vocabulary import OrderType, Side, TimeInForce

    side = draw(st.sampled_from(list(Side)))
    kind = draw(st.sampled_from(list(OrderType)))
    tif = draw(st.sampled_from([TimeInForce.DAY, TimeInForce.GTC]) if kind.has_stop else
               st.sampled_from([None, *TimeInForce]))
    volume = draw(st.integers(1, 500))
    filled = draw(st.integers(0, volume - 1)) if tif in (TimeInForce.DAY, TimeInForce.GTC) else 0
    placed_at = draw(PRICES)
    order = rules.Order(side, volume, placed_at, limit_price=draw(PRICES) if kind.has_limit else None,
                        order_type=kind, stop_price=draw(PRICES) if kind.has_stop else None, time_in_force=tif,
                        filled_qty=filled, triggered=kind.has_stop and draw(st.booleans()))
    cash, shares = rules.reservation(rules.Order(side, volume - filled, placed_at, limit_price=order.limit_price,
                                                 order_type=kind, stop_price=order.stop_price))
    order = rules.Order(side, volume, draw(PRICES), cash, shares, order.limit_price, kind, order.stop_price, tif,
                        filled, order.triggered)
    held = shares + draw(st.integers(0, 100))
    balance = cash + draw(PRICES) * draw(st.integers(0, 600))
    return order, rules.Account(balance, cash, held, shares, draw(st.integers(0, 1000)))


@given(open_orders())
def test_an_evaluation_never_overdraws_oversells_or_breaks_a_limit(case: tuple[rules.Order, rules.Account]) -> None:
    from chalicelib.domain.vocabulary import TimeInForce, TradeStatus

    order, account = case
    decision = rules.evaluate(order, account)
    assert 0 <= decision.filled <= order.remaining
    assert account.balance + decision.balance >= 0
    assert 0 <= account.reserved_cash + decision.reserved_cash <= account.balance + decision.balance
    assert 0 <= account.reserved_quantity + decision.reserved_quantity <= account.quantity + decision.quantity
    assert account.stock_volume + decision.stock_volume >= 0
    if decision.filled:
        assert decision.price == order.price and decision.total == order.price * decision.filled
        assert order.limit_met and order.stop_reached
    if decision.status != TradeStatus.PENDING:  # a final order releases all it held
        assert (decision.reserved_cash, decision.reserved_quantity) == (-order.reserved_cash, -order.reserved_quantity)
    if order.time_in_force in (None, TimeInForce.FOK):
        assert decision.filled in (0, order.remaining)  # whole or nothing
    if order.time_in_force in (None, TimeInForce.IOC, TimeInForce.FOK):
        assert decision.status != TradeStatus.PENDING  # never rests
    if order.time_in_force is None and not decision.filled:
        assert decision.status == TradeStatus.REJECTED and decision.reason is not None
