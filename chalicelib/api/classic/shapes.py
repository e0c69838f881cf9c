"""This surface's request shapes (pydantic): every validation rule of a request lives here, and the OpenAPI
document publishes them as they are."""
from __future__ import annotations

import functools
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)

from chalicelib.domain import moments, patterns, rules
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.money import CENT, MAX_MONEY
from chalicelib.domain.paging import DEFAULT_LIMIT, MAX_LIMIT
from chalicelib.domain.vocabulary import OrderType, Side, TimeInForce, TradeStatus

USERNAME_RE = patterns.USERNAME.compiled
TICKER_RE = patterns.TICKER.compiled
TICKER_ANY_CASE_RE = re.compile(f" *{patterns.TICKER.any_case().regex} *")
MAX_INT_DIGITS = 18
# ASCII digits only, nothing around them: Decimal() would read spaces, exponents, Arabic-Indic digits and
# non-breaking spaces, and the document promises digits. Trailing zeros are tolerated; nothing is ever rounded.
MONEY_STRING_RE = re.compile(r"[0-9]{1,10}(\.[0-9]{1,2}0{0,8})?")
_MONEY_PATTERN = f"^{MONEY_STRING_RE.pattern}$"


def _to_money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise ValueError("must be a decimal number or a string holding one")
    if isinstance(value, str) and not MONEY_STRING_RE.fullmatch(value):
        raise ValueError('must be written as digits with at most 2 decimals, such as "1000.00"')
    amount = value if isinstance(value, Decimal) else Decimal(value)
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    if amount < 0:
        raise ValueError("must be >= 0")
    if amount > MAX_MONEY:
        raise ValueError(f"must be <= {MAX_MONEY}")
    if amount != amount.quantize(CENT):  # 10.001 is refused, never rounded; 10.000 is 10.00
        raise ValueError("must have at most 2 decimal places")
    return amount.quantize(CENT)


# Accepted as a JSON number or string, always answered as a string with two decimals; never a float.
Money = Annotated[
    Decimal,
    BeforeValidator(_to_money),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _MONEY_PATTERN},
                {"type": "number", "minimum": 0, "maximum": float(MAX_MONEY), "multipleOf": 0.01},
            ],
            "examples": ["1000.00"],
        },
        mode="validation",
    ),
]


def _check_username(value: str) -> str:
    if not USERNAME_RE.fullmatch(value):
        raise ValueError(f"must be {patterns.USERNAME.description}")
    if value.isdigit():
        raise ValueError("must not be all digits")
    if _is_uuid(value):
        raise ValueError("must not be a UUID (user ids are UUIDs, and a user may be named by either)")
    return value


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _to_ticker(value: Any) -> Any:
    # The raw input meets the documented ASCII pattern before any case mapping: "ﬁx".upper() is "FIX".
    if isinstance(value, str):
        if not TICKER_ANY_CASE_RE.fullmatch(value):
            raise ValueError(f"must be {patterns.TICKER.description}")
        return value.strip(" ").upper()
    return value


def _check_ticker(value: str) -> str:
    if not TICKER_RE.fullmatch(value):
        raise ValueError(f"must be {patterns.TICKER.description}")
    return value


def _to_int(value: Any) -> Any:
    # JSON numbers arrive as Decimal (no float rounding); 10.0 is an integer, 10.5 and true are not. The bound
    # comes before int(), which is quadratic in the exponent.
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise ValueError("must be an integer")
        if value.adjusted() > MAX_INT_DIGITS:
            raise ValueError(f"must have at most {MAX_INT_DIGITS} digits")
        return int(value)
    return value


Username = Annotated[
    str,
    Field(strict=True, json_schema_extra={
        "pattern": patterns.USERNAME.anchored,
        "not": {"anyOf": [{"pattern": r"^[0-9]+$"}, {"pattern": patterns.UUID_LIKE}]},
    }),
    AfterValidator(_check_username),
]
Ticker = Annotated[
    str,
    BeforeValidator(_to_ticker),
    Field(strict=True, json_schema_extra={"pattern": f"^{TICKER_ANY_CASE_RE.pattern}$"}),
    AfterValidator(_check_ticker),
]
StockVolume = Annotated[int, Field(ge=0, le=2**31 - 1), BeforeValidator(_to_int)]


class RequestModel(BaseModel):
    """Base of request bodies and queries: unknown fields are ignored so older clients keep working."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    @classmethod
    def parse(cls, data: Any) -> Self:
        try:
            parsed = cls.model_validate(data)
        except ValidationError as exc:
            raise ValidationFailed.naming(_pydantic_details(exc)) from None
        details = parsed.cross_field_errors()
        if details:
            raise ValidationFailed.naming(details)
        return parsed

    def cross_field_errors(self) -> list[dict[str, Any]]:
        """Rules that span fields, each reported against the field it names."""
        return []


def _pydantic_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(part) for part in err["loc"]) or "body",
            "message": err["msg"].removeprefix("Value error, "),
            "type": err["type"],
        }
        for err in exc.errors(include_url=False)
    ]


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


def _to_lower(value: Any) -> Any:
    # Spaces only: a control character or a Unicode space around a word is hostile, not padding.
    return value.strip(" ").lower() if isinstance(value, str) else value


def _any_case(vocabulary: type[StrEnum]) -> str:
    """A pattern matching any of the vocabulary's words in any case, with spaces around."""
    words = "|".join("".join(f"[{c.upper()}{c}]" if c.isalpha() else re.escape(c) for c in str(member))
                     for member in vocabulary)
    return rf"^ *({words}) *$"


# Any case is accepted (existing clients send "BUY"); the document says so with a pattern rather than an enum.
SideIn = Annotated[
    Side,
    BeforeValidator(_to_lower),
    WithJsonSchema({"type": "string", "pattern": _any_case(Side), "examples": [str(side) for side in Side]},
                   mode="validation"),
]
TradeVolume = Annotated[int, Field(ge=1, le=10**9), BeforeValidator(_to_int)]
UserRef = Annotated[str, Field(strict=True, pattern=patterns.USERNAME.anchored)]
ClientOrderId = Annotated[str, Field(strict=True, min_length=1, max_length=48, pattern=r"^[\x21-\x7e]+$")]


def _one_of(vocabulary: type[StrEnum], refused: dict[str, str]) -> Any:
    """A vocabulary word in any case; a known word it does not support is refused naming what it does."""
    supported = ", ".join(str(member) for member in vocabulary)

    def read(value: Any) -> Any:
        value = _to_lower(value)
        if isinstance(value, str) and value in refused:
            raise ValueError(f"{refused[value]} is not supported; supported: {supported}")
        if isinstance(value, str) and value not in {str(member) for member in vocabulary}:
            raise ValueError(f"must be one of: {supported}")
        return value

    return BeforeValidator(read)


TimeInForceIn = Annotated[
    TimeInForce,
    _one_of(TimeInForce, {"opg": "opg (at the open)", "cls": "cls (at the close)"}),
    WithJsonSchema({"type": "string", "pattern": _any_case(TimeInForce),
                    "description": "day: rests until its session's close, then expires; gtc: rests until filled or "
                                   "canceled; ioc: fills what it can at once, the rest is canceled; fok: fills whole "
                                   "at once or is canceled. Absent: the classic order, filled whole when it settles "
                                   "or rejected (market and limit orders only)"}, mode="validation"),
]
OrderTypeIn = Annotated[
    OrderType,
    _one_of(OrderType, {"trailing_stop": "trailing_stop"}),
    WithJsonSchema({"type": "string", "pattern": _any_case(OrderType),
                    "description": "market, limit (needs limit_price), stop (needs stop_price) or stop_limit (needs "
                                   "both); default: limit with a limit_price, else market"}, mode="validation"),
]
class OrderClass(StrEnum):
    """Only plain orders: bracket, oco, oto and multi-leg orders are refused by name."""

    SIMPLE = "simple"


OrderClassIn = Annotated[
    OrderClass,
    _one_of(OrderClass, {"bracket": "bracket", "oco": "oco", "oto": "oto", "mleg": "mleg"}),
    WithJsonSchema({"type": "string", "enum": ["simple"]}, mode="validation"),
]


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

    qty: Annotated[int, Field(ge=1, le=10**9), BeforeValidator(_to_int)] | None = None
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
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT), BeforeValidator(_to_int)] = DEFAULT_LIMIT
    cursor: Annotated[str, Field(max_length=200)] | None = None


class FillPageQuery(PageQuery):
    transaction_id: uuid.UUID | None = Field(default=None, description="Only this transaction's fills")


class TradePageQuery(PageQuery):
    status: TradeStatus | None = Field(default=None, description="Only transactions in this status")


def _to_bound(value: Any, *, end_of_day: bool = False) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return moments.parse(value, end_of_day=end_of_day)
    except (ValueError, OverflowError, InvalidOperation):
        raise ValueError(f"must be {moments.DESCRIPTION}") from None


_BOUND_SCHEMA = {"anyOf": [{"type": "string", "pattern": f"^{pattern.pattern}$"} for pattern in moments.PATTERNS]}
# A date as the end bound means the whole day, as in transaction ranges.
StartBound = Annotated[datetime, BeforeValidator(_to_bound), WithJsonSchema(_BOUND_SCHEMA)]
EndBound = Annotated[datetime, BeforeValidator(functools.partial(_to_bound, end_of_day=True)),
                     WithJsonSchema(_BOUND_SCHEMA)]


class RangeQuery(PageQuery):
    start: StartBound | None = Field(default=None, description=f"Only items at or after it: {moments.DESCRIPTION}")
    end: EndBound | None = Field(default=None, description=f"Only items at or before it: {moments.DESCRIPTION} "
                                                            "(a date means through its last microsecond)")

    def cross_field_errors(self) -> list[dict[str, Any]]:
        if self.start is not None and self.end is not None and self.start > self.end:
            return [{"field": "start", "message": "must not be after end", "type": "range"}]
        return []
