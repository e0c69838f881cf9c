"""The domain's JSON views are plain functions (a cached read never loads pydantic); each must answer exactly what
the response shape the OpenAPI document declares makes of the same record."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from chalicelib.adapters.tables import ApiKey, CashMovement, PriceBar, Stock, Trade, User
from chalicelib.api.shapes import (
    ActivityOut,
    BarOut,
    BarRecorded,
    CashMoved,
    CashMovementOut,
    HoldingOut,
    KeyCreated,
    KeyOut,
    StockCreated,
    StockOut,
    TradeAccepted,
    TradeCanceled,
    TradeOut,
    UserCreated,
    UserOut,
)
from chalicelib.domain import api_keys, views
from chalicelib.domain.money import format_money

money = st.decimals(min_value=0, max_value=Decimal("9999999999.99"), places=2)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                       timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9))]))
shares = st.integers(min_value=0, max_value=10**12)
exact = st.decimals(min_value=-10**19, max_value=10**19, places=20)
tickers = st.from_regex(r"[A-Z0-9.\-]{1,15}", fullmatch=True)


@st.composite
def users(draw: st.DrawFn) -> User:
    balance = draw(money)
    return User(id=draw(st.uuids()), username=draw(st.from_regex(r"[a-z_]{3,50}", fullmatch=True)),
                balance=balance, reserved_cash=draw(st.decimals(min_value=0, max_value=balance, places=2)),
                created_at=draw(moments))


@st.composite
def stocks(draw: st.DrawFn) -> Stock:
    low, high = sorted((draw(money), draw(money)))
    within = st.decimals(min_value=low, max_value=high, places=2)
    return Stock(ticker=draw(tickers), open_price=draw(within), close_price=draw(within), high=high, low=low,
                 volume=draw(shares), created_at=draw(moments), price_as_of=draw(moments))


@st.composite
def bars(draw: st.DrawFn) -> PriceBar:
    low, high = sorted((draw(money), draw(money)))
    within = st.decimals(min_value=low, max_value=high, places=2)
    return PriceBar(ticker=draw(tickers), timestamp=draw(moments), open_price=draw(within),
                    close_price=draw(within), high=high, low=low, volume=draw(shares))


@st.composite
def trades(draw: st.DrawFn) -> Trade:
    status = draw(st.sampled_from(["pending", "settled", "rejected", "canceled"]))
    settled = status == "settled"
    reasons = st.sampled_from(["insufficient_funds", "insufficient_shares", "insufficient_volume", "limit_not_met"])
    return Trade(id=draw(st.uuids()), user_id=draw(st.uuids()), ticker=draw(tickers),
                 side=draw(st.sampled_from(["buy", "sell"])), volume=draw(st.integers(1, 10**9)), status=status,
                 reason=draw(reasons) if status == "rejected" else None,
                 price=draw(money) if settled else None, total=draw(money) if settled else None,
                 created_at=draw(moments), settled_at=draw(moments) if settled else None,
                 canceled_at=draw(moments) if status == "canceled" else None,
                 limit_price=draw(st.none() | money), time_in_force="ioc",
                 realized_pl=draw(exact) if settled else None,
                 client_order_id=draw(st.none() | st.from_regex(r"[!-~]{1,48}", fullmatch=True)))


def dumped(shape: type[BaseModel], **fields: Any) -> dict[str, Any]:
    return shape(**fields).model_dump(mode="json")


@given(users(), moments, money)
def test_user_views_answer_their_shapes(user: User, created: datetime, market_value: Decimal) -> None:
    issued = api_keys.issue()
    key = ApiKey(id=issued.key_id, user_id=user.id, scope="user", secret_digest=issued.secret_digest,
                 created_at=created)
    assert views.user(user, market_value) == dumped(
        UserOut, user_id=user.id, username=user.username, balance=user.balance,
        available_balance=user.available_balance, buying_power=user.available_balance,
        equity=user.balance + market_value, created_at=user.created_at)
    assert views.user_created(user, key, issued) == dumped(UserCreated, user_id=user.id, username=user.username,
                                                           balance=user.balance, key_id=key.id,
                                                           api_key=issued.token)


@given(moments, st.none() | moments)
def test_key_views_answer_their_shapes_and_show_the_secret_only_when_created(created: datetime,
                                                                            used: datetime | None) -> None:
    issued = api_keys.issue()
    key = ApiKey(id=issued.key_id, user_id=None, scope="admin", secret_digest=issued.secret_digest,
                 created_at=created)
    assert views.key_created(key, issued) == dumped(KeyCreated, key_id=key.id, api_key=issued.token,
                                                    created_at=created)
    listed = views.key(key, used)
    assert listed == dumped(KeyOut, key_id=key.id, created_at=created, last_used_at=used)
    assert issued.token not in str(listed) and issued.secret_digest not in str(listed)


@given(stocks())
def test_stock_views_answer_their_shapes(stock: Stock) -> None:
    assert views.stock(stock) == StockOut.model_validate(stock).model_dump(mode="json")
    assert views.stock_created(stock) == dumped(StockCreated, stock=StockOut.model_validate(stock))


@given(bars(), stocks(), st.booleans())
def test_bar_views_answer_their_shapes(bar: PriceBar, stock: Stock, latest: bool) -> None:
    assert views.bar(bar) == BarOut.model_validate(bar).model_dump(mode="json")
    recorded = views.bar_recorded(bar, stock, latest=latest)
    assert recorded == dumped(BarRecorded, message=recorded["message"], latest=latest,
                              bar=BarOut.model_validate(bar), stock=StockOut.model_validate(stock))


@given(trades(), st.from_regex(r"[a-z_]{3,50}", fullmatch=True))
def test_trade_views_answer_their_shapes(trade: Trade, username: str) -> None:
    fields = {"transaction_id": trade.id, "user": username, "user_id": trade.user_id, "ticker": trade.ticker,
              "transaction_type": trade.side, "transaction_volume": trade.volume,
              "transaction_price": trade.price, "total": trade.total, "status": trade.status,
              "reason": trade.reason, "timestamp": trade.created_at, "settled_at": trade.settled_at,
              "canceled_at": trade.canceled_at, "limit_price": trade.limit_price,
              "time_in_force": trade.time_in_force, "realized_pl": trade.realized_pl,
              "client_order_id": trade.client_order_id}
    assert views.trade(trade, username) == dumped(TradeOut, **fields)
    assert views.trade_accepted(trade, username) == dumped(TradeAccepted, **fields)
    assert views.trade_canceled(trade, username) == dumped(TradeCanceled, **fields)


@dataclass
class Position:
    ticker: str
    quantity: int
    reserved_quantity: int
    average_entry_price: Decimal
    close_price: Decimal


@given(tickers, shares, shares, st.decimals(min_value=0, max_value=Decimal("9999999999.99"), places=20), money)
def test_holding_view_answers_its_shape_rounding_once(ticker: str, quantity: int, reserved: int, average: Decimal,
                                                      close: Decimal) -> None:
    position = Position(ticker, max(quantity, reserved), min(quantity, reserved), average, close)
    shown = views.holding(position)
    with localcontext() as exact:
        exact.prec = 60
        cost_basis, market_value = average * position.quantity, close * position.quantity
        unrealized = market_value - cost_basis
        plpc = None if not cost_basis else f"{(unrealized / cost_basis).quantize(Decimal('0.000001')):f}"
    assert shown == dumped(HoldingOut, ticker=ticker, quantity=position.quantity,
                           available=position.quantity - position.reserved_quantity, average_entry_price=average,
                           current_price=close, cost_basis=cost_basis, market_value=market_value,
                           unrealized_pl=unrealized, unrealized_plpc=plpc)
    # Rounded once, from the unrounded figures: not the difference of two rounded ones.
    assert shown["unrealized_pl"] == format_money(unrealized)
    with localcontext() as exact:
        exact.prec = 60
        assert format_money(unrealized) == f"{unrealized.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):f}"


@given(st.uuids(), st.sampled_from(["deposit", "withdrawal"]), money.filter(bool), moments, users())
def test_cash_views_answer_their_shapes(movement_id, kind: str, amount: Decimal, at: datetime, owner: User) -> None:
    movement = CashMovement(id=movement_id, kind=kind, amount=amount, created_at=at)
    listed = dumped(CashMovementOut, id=movement_id, type=kind, amount=amount, timestamp=at)
    assert views.cash_movement(movement) == listed
    assert views.cash_moved(movement, owner) == dumped(CashMoved, message=f"{kind} recorded", movement=listed,
                                                       balance=owner.balance,
                                                       available_balance=owner.available_balance)


@given(st.sampled_from(["fill", "rejection", "cancel", "deposit", "withdrawal"]), st.uuids(), moments,
       st.none() | money, st.none() | tickers, st.none() | st.sampled_from(["buy", "sell"]),
       st.none() | st.integers(1, 10**9), st.none() | money, st.none() | st.sampled_from(["limit_not_met"]))
def test_activity_view_answers_its_shape(kind, activity_id, at, amount, ticker, side, volume, price, reason) -> None:
    row = SimpleNamespace(kind=kind, id=activity_id, at=at, amount=amount, ticker=ticker, side=side, volume=volume,
                          price=price, reason=reason)
    assert views.activity(row) == dumped(ActivityOut, type=kind, id=activity_id, timestamp=at, amount=amount,
                                         ticker=ticker, side=side, volume=volume, price=price, reason=reason)
