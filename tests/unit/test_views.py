"""The domain's JSON views are plain functions (a cached read never loads pydantic); each must answer exactly what
the response shape the OpenAPI document declares makes of the same record."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from chalicelib.api.shapes import (
    BarOut,
    BarRecorded,
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
from chalicelib.domain.models import ApiKey, Holding, PriceBar, Stock, Trade, User

money = st.decimals(min_value=0, max_value=Decimal("9999999999.99"), places=2)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                       timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9))]))
shares = st.integers(min_value=0, max_value=10**12)
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
                 client_order_id=draw(st.none() | st.from_regex(r"[!-~]{1,48}", fullmatch=True)))


def dumped(shape: type[BaseModel], **fields: Any) -> dict[str, Any]:
    return shape(**fields).model_dump(mode="json")


@given(users(), moments)
def test_user_views_answer_their_shapes(user: User, created: datetime) -> None:
    issued = api_keys.issue()
    key = ApiKey(id=issued.key_id, user_id=user.id, scope="user", secret_digest=issued.secret_digest,
                 created_at=created)
    assert views.user(user) == dumped(UserOut, user_id=user.id, username=user.username, balance=user.balance,
                                      available_balance=user.available_balance, created_at=user.created_at)
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
              "time_in_force": trade.time_in_force, "client_order_id": trade.client_order_id}
    assert views.trade(trade, username) == dumped(TradeOut, **fields)
    assert views.trade_accepted(trade, username) == dumped(TradeAccepted, **fields)
    assert views.trade_canceled(trade, username) == dumped(TradeCanceled, **fields)


@given(tickers, shares, shares)
def test_holding_view_answers_its_shape(ticker: str, quantity: int, reserved: int) -> None:
    holding = Holding(ticker=ticker, quantity=max(quantity, reserved), reserved_quantity=min(quantity, reserved))
    assert views.holding(holding) == dumped(HoldingOut, ticker=holding.ticker, quantity=holding.quantity,
                                            available=holding.quantity - holding.reserved_quantity)
