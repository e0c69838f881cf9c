"""This surface's request shapes, as Alpaca's clients send them: quantities and prices as JSON numbers or numeric
strings (alpaca-py sends `"qty": 1.0`, lumibot strings), Alpaca's field names, and what tradeapi does not trade
(fractional shares, notional orders, extended hours, trailing stops, order classes but simple) refused by name."""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

from chalicelib.api.alpaca.activity_types import ACTIVITY_TYPES, TRADE_ACTIVITY_TYPES
from chalicelib.api.fields import (
    ClientOrderId,
    EndBound,
    Money,
    OrderClassIn,
    OrderTypeIn,
    RequestModel,
    SideIn,
    StartBound,
    Ticker,
    TimeInForceIn,
)
from chalicelib.domain import rules
from chalicelib.domain.timeframes import TimeFrame
from chalicelib.domain.vocabulary import OrderType, Side, TimeInForce


def _whole_shares(value: Any) -> Any:
    """A quantity as a JSON number or a numeric string: 1, 1.0 and "1" are one share; 0.5 is refused by name."""
    if isinstance(value, bool):
        raise ValueError("must be a number of shares")
    if isinstance(value, str):
        try:
            value = Decimal(value) if len(value) <= 24 else None
        except ArithmeticError:
            value = None
        if value is None:
            raise ValueError("must be a number of shares")
    if isinstance(value, Decimal):
        if not value.is_finite() or value.adjusted() > 12:
            raise ValueError("must be a number of shares")
        if value != value.to_integral_value():
            raise ValueError("fractional quantities are not supported: tradeapi trades whole shares")
        return int(value)
    return value


Quantity = Annotated[int, BeforeValidator(_whole_shares), Field(ge=1, le=10**9)]


class NewOrder(RequestModel):
    """`POST /v2/orders`. `qty` whole shares; `type` market, limit, stop or stop_limit; `time_in_force` day, gtc,
    ioc or fok."""

    symbol: Ticker
    qty: Quantity | None = None
    notional: Any = None
    side: SideIn
    type: OrderTypeIn
    time_in_force: TimeInForceIn
    limit_price: Money | None = None
    stop_price: Money | None = None
    client_order_id: ClientOrderId | None = None
    extended_hours: bool | None = None
    order_class: OrderClassIn | None = None
    trail_price: Any = None
    trail_percent: Any = None

    @classmethod
    def example(cls, unique: str, user: str) -> dict[str, Any]:
        # One that rests (a limit far below any price), so that asking for it leaves no position behind.
        return {"symbol": "AAPL", "qty": 1, "side": "buy", "type": "limit", "limit_price": "0.01",
                "time_in_force": "gtc"}

    def cross_field_errors(self) -> list[dict[str, Any]]:
        refused = [(name, message) for name, value, message in (
            ("notional", self.notional, "notional orders are not supported: give qty, in whole shares"),
            ("extended_hours", self.extended_hours or None, "extended-hours trading is not supported"),
            ("trail_price", self.trail_price, "trailing stops are not supported"),
            ("trail_percent", self.trail_percent, "trailing stops are not supported"),
        ) if value is not None]
        errors = [{"field": name, "message": message, "type": "unsupported"} for name, message in refused]
        if self.qty is None and self.notional is None:
            errors.append({"field": "qty", "message": "qty is required", "type": "missing"})
        return errors + rules.order_problems(self.type, self.limit_price, self.stop_price, self.time_in_force)

    def for_user(self, user_id: str) -> Placement:
        """The order for the key's own account. An order sent without a client order id is given one, as Alpaca
        gives one, so that every order can be found by it (`GET /v2/orders:by_client_order_id`)."""
        return Placement(user_id, self.symbol, self.side, self.qty or 0, self.limit_price, self.time_in_force,
                         self.client_order_id or str(uuid.uuid4()), self.type, self.stop_price)


@dataclass(frozen=True)
class Placement:
    """An order as placement reads it (chalicelib/services/trades.py NewTrade), for the key's own account."""

    user_ref: str
    ticker: str
    transaction_type: Side
    transaction_volume: int
    limit_price: Decimal | None
    time_in_force: TimeInForce | None
    client_order_id: str | None
    kind: OrderType
    stop_price: Decimal | None


class OrderChanges(RequestModel):
    """`PATCH /v2/orders/{order_id}`: what the replacing order changes."""

    qty: Quantity | None = None
    limit_price: Money | None = None
    stop_price: Money | None = None
    time_in_force: TimeInForceIn | None = None
    client_order_id: ClientOrderId | None = None
    trail: Any = None

    @property
    def quantity(self) -> int | None:
        return self.qty

    @classmethod
    def example(cls, unique: str, user: str) -> dict[str, Any]:
        return {"qty": 2}

    def cross_field_errors(self) -> list[dict[str, Any]]:
        if self.trail is not None:
            return [{"field": "trail", "message": "trailing stops are not supported", "type": "unsupported"}]
        return []


class OrdersQuery(RequestModel):
    """`GET /v2/orders`: open (the default), closed or all; newest first unless `direction=asc`."""

    status: Annotated[str, Field(pattern="^(open|closed|all)$")] = "open"
    limit: Annotated[int, Field(ge=1, le=500)] = 50
    direction: Annotated[str, Field(pattern="^(asc|desc)$")] = "desc"
    symbols: Annotated[str, Field(max_length=2000)] | None = None
    side: SideIn | None = None
    nested: bool | None = None
    after: StartBound | None = None
    until: EndBound | None = None

    @property
    def between(self) -> tuple[datetime, datetime] | None:
        """Orders placed from `after` to `until`, where either is given."""
        if self.after is None and self.until is None:
            return None
        return (self.after or datetime(1970, 1, 1, tzinfo=UTC),
                self.until or datetime(9999, 12, 31, tzinfo=UTC))


class CloseQuery(RequestModel):
    """`DELETE /v2/positions/{symbol}`: `qty` shares or `percentage` of those held; neither: all."""

    qty: Quantity | None = None
    percentage: Annotated[Decimal, Field(gt=0, le=100, max_digits=12, decimal_places=9)] | None = None

    @property
    def quantity(self) -> int | None:
        return self.qty


class CloseAllQuery(RequestModel):
    """`DELETE /v2/positions`: every position whole; `cancel_orders=true` cancels the open orders first (the
    shares they hold would otherwise stay unsold)."""

    cancel_orders: bool = False

    @property
    def quantity(self) -> int | None:
        return None

    @property
    def percentage(self) -> Decimal | None:
        return None


class CalendarQuery(RequestModel):
    start: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None
    end: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None


def _timeframe(value: Any) -> Any:
    return TimeFrame.parse(value) if isinstance(value, str) else value


_SYMBOL = r"[A-Za-z0-9.\-]{1,15}"
Symbols = Annotated[str, Field(min_length=1, max_length=2000, pattern=rf"^{_SYMBOL}(,{_SYMBOL})*$")]
TimeFrameIn = Annotated[TimeFrame, BeforeValidator(_timeframe), WithJsonSchema(
    {"type": "string", "examples": ["1Min", "15Min", "1Hour", "1Day", "1Week", "1Month"]}, mode="validation")]


class SymbolBarsQuery(RequestModel):
    """Market-data bars of one symbol. `feed`, `adjustment`, `asof` and `currency` are taken and have no effect:
    tradeapi has one feed of its own bars, unadjusted, in USD."""

    timeframe: TimeFrameIn
    start: StartBound | None = None
    end: EndBound | None = None
    limit: Annotated[int, Field(ge=1, le=10_000)] = 1000
    page_token: Annotated[str, Field(max_length=200)] | None = None
    sort: Annotated[str, Field(pattern="^(asc|desc)$")] = "asc"

    @property
    def cursor(self) -> str | None:
        return self.page_token

    @classmethod
    def query_example(cls) -> dict[str, str]:
        return {"timeframe": "1Day"}


class BarsQuery(SymbolBarsQuery):
    """Market-data bars of several symbols (comma-separated), symbol by symbol."""

    symbols: Symbols

    @classmethod
    def query_example(cls) -> dict[str, str]:
        return {"timeframe": "1Day", "symbols": "AAPL"}

    @property
    def tickers(self) -> list[str]:
        return list(dict.fromkeys(symbol.upper() for symbol in self.symbols.split(",")))


class LatestBarsQuery(RequestModel):
    symbols: Symbols

    @classmethod
    def query_example(cls) -> dict[str, str]:
        return {"symbols": "AAPL"}

    @property
    def tickers(self) -> list[str]:
        return list(dict.fromkeys(symbol.upper() for symbol in self.symbols.split(",")))


MAX_SNAPSHOT_SYMBOLS = 100


class SnapshotsQuery(LatestBarsQuery):
    """At most 100 symbols. `feed` and `currency` are taken and change nothing."""

    def cross_field_errors(self) -> list[dict[str, Any]]:
        if len(self.tickers) > MAX_SNAPSHOT_SYMBOLS:
            return [{"field": "symbols", "message": f"at most {MAX_SNAPSHOT_SYMBOLS} symbols", "type": "too_long"}]
        return []


class ClientOrderQuery(RequestModel):
    client_order_id: ClientOrderId


_ACTIVITY_ID = re.compile(r"([0-9]{20})::([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


def _activity_types(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    named = [part.strip().upper() for part in value.split(",") if part.strip()]
    unknown = [part for part in named if part not in ACTIVITY_TYPES]
    if unknown:
        raise ValueError(f"invalid activity type: {unknown[0][:20]}")
    return frozenset(named)


ActivityTypes = Annotated[frozenset[str], BeforeValidator(_activity_types), WithJsonSchema(
    {"type": "string", "maxLength": 500, "examples": ["FILL,CSD,CSW"],
     "description": "Comma-separated activity types; tradeapi makes FILL, CSD and CSW"}, mode="validation")]


class ActivitiesQuery(RequestModel):
    """`GET /v2/account/activities[/{activity_type}]`: newest first unless `direction=asc`, `page_size` at a time
    (at most 100), each page after the `page_token` (the last activity's id) of the one before."""

    activity_types: Annotated[str, Field(max_length=500)] | None = None
    category: Annotated[str, Field(pattern="^(trade_activity|non_trade_activity)$")] | None = None
    date: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None
    after: StartBound | None = None
    until: EndBound | None = None
    direction: Annotated[str, Field(pattern="^(asc|desc)$")] = "desc"
    page_size: Annotated[int, Field(ge=1, le=100)] = 100
    page_token: Annotated[str, Field(max_length=100)] | None = None

    def cross_field_errors(self) -> list[dict[str, Any]]:
        errors = []
        if self.activity_types is not None:
            try:
                _activity_types(self.activity_types)
            except ValueError as unknown:
                errors.append({"field": "activity_types", "message": str(unknown), "type": "value_error"})
        if self.page_token is not None and not _ACTIVITY_ID.fullmatch(self.page_token):
            errors.append({"field": "page_token", "message": "must be an activity id this API answered",
                           "type": "value_error"})
        if self.date is not None:
            try:
                datetime.strptime(self.date, "%Y-%m-%d")
            except ValueError:
                errors.append({"field": "date", "message": "must be a date", "type": "value_error"})
        return errors

    def types(self, path_type: str | None) -> frozenset[str]:
        """The activity types asked for: the path's, the list's and the category's, each narrowing the others."""
        wanted = ACTIVITY_TYPES if self.activity_types is None else _activity_types(self.activity_types)
        if path_type is not None:
            wanted = wanted & _activity_types(path_type)
        if self.category is not None:
            trade = self.category == "trade_activity"
            wanted = {kind for kind in wanted if (kind in TRADE_ACTIVITY_TYPES) == trade}
        return frozenset(wanted)

    @property
    def between(self) -> tuple[datetime | None, datetime | None]:
        start, end = self.after, self.until
        if self.date is not None:
            day = datetime.strptime(self.date, "%Y-%m-%d").replace(tzinfo=UTC)
            start = day if start is None else max(start, day)
            last = day + timedelta(days=1) - timedelta(microseconds=1)
            end = last if end is None else min(end, last)
        return start, end

    @property
    def after_activity(self) -> tuple[datetime, uuid.UUID] | None:
        """The (time, id) of the activity the page token names."""
        found = None if self.page_token is None else _ACTIVITY_ID.fullmatch(self.page_token)
        if found is None:
            return None
        return datetime.strptime(found[1], "%Y%m%d%H%M%S%f").replace(tzinfo=UTC), uuid.UUID(found[2])


class ConfigurationChanges(RequestModel):
    """`PATCH /v2/account/configurations`: what is absent or null is kept. A cash account without margin,
    shorting, fractional shares or options: asking for any of them is refused by name. `dtbp_check` and
    `pdt_check` are taken (Alpaca deprecated both) and change nothing: a cash account has no day-trade checks."""

    suspend_trade: bool | None = None
    trade_confirm_email: Annotated[str, Field(pattern="^(all|none)$")] | None = None
    ptp_no_exception_entry: bool | None = None
    fractional_trading: bool | None = None
    no_shorting: bool | None = None
    max_margin_multiplier: Annotated[str, Field(max_length=10)] | None = None
    max_options_trading_level: Annotated[int, Field(ge=0, le=3)] | None = None
    dtbp_check: Annotated[str, Field(pattern="^(both|entry|exit)$")] | None = None
    pdt_check: Annotated[str, Field(pattern="^(both|entry|exit)$")] | None = None

    @classmethod
    def example(cls, unique: str, user: str) -> dict[str, Any]:
        return {"trade_confirm_email": "none"}

    def cross_field_errors(self) -> list[dict[str, Any]]:
        refused = [(name, message) for name, asked, message in (
            ("fractional_trading", self.fractional_trading is True, "fractional trading is not supported"),
            ("no_shorting", self.no_shorting is False, "short selling is not supported: accounts are long only"),
            ("max_margin_multiplier", self.max_margin_multiplier not in (None, "1"),
             "margin is not supported: accounts are cash accounts (max_margin_multiplier 1)"),
            ("max_options_trading_level", bool(self.max_options_trading_level), "options are not supported"),
        ) if asked]
        return [{"field": name, "message": message, "type": "unsupported"} for name, message in refused]


class PortfolioHistoryQuery(RequestModel):
    """`GET /v2/account/portfolio/history`: equity at the end of each `timeframe` window over `period` (or from
    `start` to `end`), in UTC windows. `intraday_reporting`, `pnl_reset`, `extended_hours` and `cashflow_types`
    are taken and have no effect: the market clock's sessions are not cut out, and P/L is from the first window."""

    period: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,3}[DWMA]$")] | None = None
    timeframe: Annotated[str, Field(pattern=r"^(1Min|5Min|15Min|1H|1D)$")] | None = None
    start: StartBound | None = None
    end: EndBound | None = None
    date_end: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None
    intraday_reporting: Annotated[str, Field(max_length=40)] | None = None
    pnl_reset: Annotated[str, Field(max_length=40)] | None = None
    extended_hours: bool | None = None
    cashflow_types: Annotated[str, Field(max_length=500)] | None = None

    def cross_field_errors(self) -> list[dict[str, Any]]:
        if self.start is not None and self.end is not None and self.start > self.end:
            return [{"field": "start", "message": "must not be after end", "type": "range"}]
        return []
