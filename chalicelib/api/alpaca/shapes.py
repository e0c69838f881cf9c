"""This surface's request shapes, as Alpaca's clients send them: quantities and prices as JSON numbers or numeric
strings (alpaca-py sends `"qty": 1.0`, lumibot strings), Alpaca's field names, and what tradeapi does not trade
(fractional shares, notional orders, extended hours, trailing stops, order classes but simple) refused by name."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

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
        import uuid

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


class ClientOrderQuery(RequestModel):
    client_order_id: ClientOrderId
