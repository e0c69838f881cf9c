"""This surface's request shapes (pydantic): every validation rule of a request lives here or in the shared field
types (`chalicelib.api.fields`), and the OpenAPI document publishes them as they are."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema

from chalicelib.api.fields import (
    ClientOrderId,
    EndBound,
    Money,
    OrderClassIn,
    OrderTypeIn,
    RequestModel,
    SideIn,
    StartBound,
    StockVolume,
    Ticker,
    TimeInForceIn,
    TradeVolume,
    Username,
    UserRef,
    to_int,
)
from chalicelib.domain import moments, rules
from chalicelib.domain.paging import DEFAULT_LIMIT, MAX_LIMIT
from chalicelib.domain.vocabulary import OrderType, TradeStatus


class NewUser(RequestModel):
    """Each body shape has an `example`: a valid body for `user` (a username), distinct wherever the rules want
    it unique (`unique` is a few fresh letters and digits); the every-route tests ask with it."""

    username: Username
    balance: Money

    @classmethod
    def example(cls, unique: str, user: str) -> dict[str, Any]:
        return {"username": f"u_{unique}", "balance": "10.00"}


class PriceData(RequestModel):
    """Prices and volume as a stock and each of its bars carry them."""

    open_price: Money
    close_price: Money
    high: Money
    low: Money
    volume: StockVolume

    def cross_field_errors(self) -> list[dict[str, Any]]:
        errors = []
        if self.low > self.high:
            errors.append({"field": "low", "message": "must be <= high", "type": "price_range"})
        for name in ("open_price", "close_price"):
            if not self.low <= getattr(self, name) <= self.high:
                errors.append({"field": name, "message": "must be between low and high", "type": "price_range"})
        return errors


class NewStock(PriceData):
    ticker: Ticker

    @classmethod
    def example(cls, unique: str, user: str) -> dict[str, Any]:
        return {"ticker": f"T{unique.upper()}", "open_price": 1, "close_price": 1, "high": 1, "low": 1,
                "volume": 10}


# A bar may be stamped a little ahead of this server's clock (the feed's clock differs), never further: a bar
# from the far future would be the latest for good and no later bar would move the price.
MAX_BAR_CLOCK_SKEW = timedelta(minutes=5)


def _to_moment(value: Any) -> datetime:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise ValueError(f"must be {moments.DESCRIPTION}")
    try:
        moment = moments.parse(str(value) if not isinstance(value, str) else value)
    except (ValueError, OverflowError, InvalidOperation):
        raise ValueError(f"must be {moments.DESCRIPTION}") from None
    if moment > datetime.now(UTC) + MAX_BAR_CLOCK_SKEW:
        raise ValueError(f"must not be more than {int(MAX_BAR_CLOCK_SKEW.total_seconds() // 60)} minutes ahead "
                         "of the server's clock")
    return moment


BarTimestamp = Annotated[
    datetime,
    BeforeValidator(_to_moment),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": f"^{pattern.pattern}$"} for pattern in moments.PATTERNS]
                   + [{"type": "number"}], "examples": ["2026-11-26T14:30:00Z"],
                    "description": f"When the bar was taken: {moments.DESCRIPTION} (naive means UTC)"},
                   mode="validation"),
]


class NewBar(PriceData):
    """A price bar of a stock; the latest by timestamp sets the stock's prices and the volume on offer."""

    timestamp: BarTimestamp

    @classmethod
    def example(cls, unique: str, user: str) -> dict[str, Any]:
        # A moment of its own, a day or so back (an older bar than the latest is recorded all the same).
        at = datetime.now(UTC) - timedelta(days=1, microseconds=int(unique, 36) % 10**10)
        return {"timestamp": at.isoformat(), "open_price": 1, "close_price": 1, "high": 1, "low": 1, "volume": 10}


class NewTrade(RequestModel):
    """A buy or sell order. `user` is a username or user id; `user_id` is accepted in its place. With
    `limit_price`, a buy fills only at or below it and a sell at or above; a limit buy sets aside limit x volume
    and pays the price it fills at. A stop order waits for a close at or beyond `stop_price`. With a
    `time_in_force` the order follows the engine's rules (docs/rules.md); without one it is the classic order:
    filled whole when it settles, or rejected (`limit_not_met`, `insufficient_volume`, ...)."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["user"]}, {"required": ["user_id"]}]})

    user: UserRef | None = None
    user_id: UserRef | None = None
    ticker: Ticker
    transaction_type: SideIn
    transaction_volume: TradeVolume
    limit_price: Money | None = None
    order_type: OrderTypeIn | None = None
    stop_price: Money | None = None
    time_in_force: TimeInForceIn | None = None
    order_class: OrderClassIn | None = None
    client_order_id: ClientOrderId | None = None

    @property
    def user_ref(self) -> str:
        return self.user or self.user_id or ""

    @property
    def kind(self) -> OrderType:
        if self.order_type is not None:
            return self.order_type
        return OrderType.LIMIT if self.limit_price is not None else OrderType.MARKET

    @classmethod
    def example(cls, unique: str, user: str) -> dict[str, Any]:
        return {"user": user, "ticker": "AAPL", "transaction_type": "buy", "transaction_volume": 1}

    def cross_field_errors(self) -> list[dict[str, Any]]:
        if self.user is None and self.user_id is None:
            return [{"field": "user", "message": "user or user_id is required", "type": "missing"}]
        return rules.order_problems(self.kind, self.limit_price, self.stop_price, self.time_in_force)


class ReplaceTrade(RequestModel):
    """What replacing an open order may change; what is absent is kept (the quantity: what the old order left
    unfilled). The order type and side stay."""

    transaction_volume: TradeVolume | None = None
    limit_price: Money | None = None
    stop_price: Money | None = None
    time_in_force: TimeInForceIn | None = None
    client_order_id: ClientOrderId | None = None

    @property
    def quantity(self) -> int | None:
        return self.transaction_volume

    @classmethod
    def example(cls, unique: str, user: str) -> dict[str, Any]:
        return {"transaction_volume": 2}

    def cross_field_errors(self) -> list[dict[str, Any]]:
        if self.stop_price is not None and self.stop_price <= 0:
            return [{"field": "stop_price", "message": "must be > 0", "type": "greater_than"}]
        return []


class CloseQuery(RequestModel):
    """How much of a position to close: `qty` shares or `percentage` (0-100] of those held; neither: all."""

    qty: Annotated[int, Field(ge=1, le=10**9), BeforeValidator(to_int)] | None = None
    percentage: Annotated[Decimal, Field(gt=0, le=100, max_digits=12, decimal_places=9)] | None = None

    @property
    def quantity(self) -> int | None:
        return self.qty

    def cross_field_errors(self) -> list[dict[str, Any]]:
        if self.qty is not None and self.percentage is not None:
            return [{"field": "percentage", "message": "give qty or percentage, not both", "type": "extra_forbidden"}]
        return []


class CalendarQuery(RequestModel):
    """Sessions from `start` to `end` (dates, both included): by default from today for a month; at most a year."""

    start: date | None = None
    end: date | None = None

    def cross_field_errors(self) -> list[dict[str, Any]]:
        if self.start is not None and self.end is not None and not 0 <= (self.end - self.start).days <= 366:
            return [{"field": "end", "message": "must be on or after start, at most 366 days after",
                     "type": "value_error"}]
        return []


class NewCashMovement(RequestModel):
    amount: Money

    def cross_field_errors(self) -> list[dict[str, Any]]:
        if self.amount <= 0:
            return [{"field": "amount", "message": "must be > 0", "type": "greater_than"}]
        return []

    @classmethod
    def example(cls, unique: str, user: str) -> dict[str, Any]:
        return {"amount": "1.00"}


class PageQuery(RequestModel):
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT), BeforeValidator(to_int)] = DEFAULT_LIMIT
    cursor: Annotated[str, Field(max_length=200)] | None = None


class FillPageQuery(PageQuery):
    transaction_id: uuid.UUID | None = Field(default=None, description="Only this transaction's fills")


class TradePageQuery(PageQuery):
    status: TradeStatus | None = Field(default=None, description="Only transactions in this status")


class RangeQuery(PageQuery):
    start: StartBound | None = Field(default=None, description=f"Only items at or after it: {moments.DESCRIPTION}")
    end: EndBound | None = Field(default=None, description=f"Only items at or before it: {moments.DESCRIPTION} "
                                                            "(a date means through its last microsecond)")

    def cross_field_errors(self) -> list[dict[str, Any]]:
        if self.start is not None and self.end is not None and self.start > self.end:
            return [{"field": "start", "message": "must not be after end", "type": "range"}]
        return []
