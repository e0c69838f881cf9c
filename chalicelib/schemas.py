"""Request and response shapes (pydantic). Validation rules of the spec live here and only here."""
from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
)

from chalicelib.errors import ValidationFailed

MAX_MONEY = Decimal("9999999999.99")
CENT = Decimal("0.01")
USERNAME_RE = re.compile(r"[A-Za-z0-9_.@+\-]{3,50}")
TICKER_RE = re.compile(r"[A-Z0-9.\-]{1,15}")
# Surrounding spaces and trailing zeros are tolerated, as the older version did; nothing is ever rounded.
MONEY_STRING_RE = re.compile(r"\s*\d{1,10}(\.\d{1,2}0*)?\s*")
_MONEY_PATTERN = f"^{MONEY_STRING_RE.pattern}$"


def _to_money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError("must be a decimal number or a string holding one")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise ValueError("must be a decimal number or a string holding one") from None
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    if amount < 0:
        raise ValueError("must be >= 0")
    if amount > MAX_MONEY:
        raise ValueError(f"must be <= {MAX_MONEY}")
    if amount != amount.quantize(CENT):  # 10.001 is refused, never rounded; 10.000 is 10.00
        raise ValueError("must have at most 2 decimal places")
    if isinstance(value, str) and not MONEY_STRING_RE.fullmatch(value):
        raise ValueError('must be written as digits with at most 2 decimals, such as "1000.00"')
    return amount.quantize(CENT)


def format_money(amount: Decimal) -> str:
    return f"{amount.quantize(CENT):f}"



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
MoneyOut = Annotated[
    Decimal,
    PlainSerializer(format_money, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["1000.00"]}, mode="serialization"),
]


# What uuid.UUID reads as a UUID among username characters: 32 hex digits, hyphens anywhere.
UUID_PATTERN = r"^-*([0-9a-fA-F]-*){32}$"


def _check_username(value: str) -> str:
    if not USERNAME_RE.fullmatch(value):
        raise ValueError("must be 3-50 characters of letters, digits and _.@+-")
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
    return value.strip().upper() if isinstance(value, str) else value


def _check_ticker(value: str) -> str:
    if not TICKER_RE.fullmatch(value):
        raise ValueError("must be 1-15 characters of A-Z, 0-9, '.' and '-'")
    return value


def _to_int(value: Any) -> Any:
    # JSON numbers arrive as Decimal (no float rounding); 10.0 is an integer, 10.5 and true are not.
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise ValueError("must be an integer")
        return int(value)
    return value


Username = Annotated[
    str,
    Field(strict=True, json_schema_extra={
        "pattern": r"^[A-Za-z0-9_.@+\-]{3,50}$",
        "not": {"anyOf": [{"pattern": r"^[0-9]+$"}, {"pattern": UUID_PATTERN}]},
    }),
    AfterValidator(_check_username),
]
Ticker = Annotated[
    str,
    BeforeValidator(_to_ticker),
    Field(strict=True, json_schema_extra={"pattern": r"^\s*[A-Za-z0-9.\-]{1,15}\s*$"}),
    AfterValidator(_check_ticker),
]
StockVolume = Annotated[int, Field(ge=0, le=2**31 - 1), BeforeValidator(_to_int)]


class Request(BaseModel):
    """Base of request bodies: unknown fields are ignored so older clients keep working."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    @classmethod
    def parse(cls, data: Any) -> Self:
        try:
            parsed = cls.model_validate(data)
        except ValidationError as exc:
            raise ValidationFailed(*_describe(_pydantic_details(exc))) from None
        details = parsed.cross_field_errors()
        if details:
            raise ValidationFailed(*_describe(details))
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


def _describe(details: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    fields = ", ".join(dict.fromkeys(d["field"] for d in details))
    return f"Invalid request: {fields}", details


class NewUser(Request):
    username: Username
    balance: Money


class NewStock(Request):
    ticker: Ticker
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


class Response(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class UserOut(Response):
    user_id: uuid.UUID
    username: str
    balance: MoneyOut
    available_balance: MoneyOut
    created_at: datetime


class UserCreated(Response):
    message: str = "User created"
    user_id: uuid.UUID
    username: str
    balance: MoneyOut


class StockOut(Response):
    ticker: str
    open_price: MoneyOut
    close_price: MoneyOut
    high: MoneyOut
    low: MoneyOut
    volume: int
    created_at: datetime


class StockCreated(Response):
    message: str = "stock created"
    stock: StockOut


def _to_side(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


# Any case is accepted, as the older version did; the document says so with a pattern rather than an enum.
Side = Annotated[
    Literal["buy", "sell"],
    BeforeValidator(_to_side),
    WithJsonSchema({"type": "string", "pattern": r"^\s*([Bb][Uu][Yy]|[Ss][Ee][Ll][Ll])\s*$",
                    "examples": ["buy", "sell"]}, mode="validation"),
]
TradeVolume = Annotated[int, Field(ge=1, le=10**9), BeforeValidator(_to_int)]
UserRef = Annotated[str, Field(strict=True, min_length=1, max_length=50)]
ClientOrderId = Annotated[str, Field(strict=True, min_length=1, max_length=48, pattern=r"^[\x21-\x7e]+$")]


class NewTrade(Request):
    """A buy or sell order. `user` is a username or user id; `user_id` is accepted in its place."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["user"]}, {"required": ["user_id"]}]})

    user: UserRef | None = None
    user_id: UserRef | None = None
    ticker: Ticker
    transaction_type: Side
    transaction_volume: TradeVolume
    client_order_id: ClientOrderId | None = None

    @property
    def user_ref(self) -> str:
        return self.user or self.user_id or ""

    def cross_field_errors(self) -> list[dict[str, Any]]:
        if self.user is None and self.user_id is None:
            return [{"field": "user", "message": "user or user_id is required", "type": "missing"}]
        return []


class TradeOut(Response):
    transaction_id: uuid.UUID
    user: str
    user_id: uuid.UUID
    ticker: str
    transaction_type: str
    transaction_volume: int
    transaction_price: MoneyOut | None
    total: MoneyOut | None
    status: Literal["pending", "settled", "rejected"]
    reason: str | None
    timestamp: datetime
    settled_at: datetime | None
    client_order_id: str | None


class TradeAccepted(TradeOut):
    message: str = "Transaction is in progress."


class HoldingOut(Response):
    ticker: str
    quantity: int
    available: int


class ErrorDetail(BaseModel):
    """What is wrong with one part of the request; `field` names it where there is one."""

    model_config = ConfigDict(extra="allow")

    field: str | None = None
    message: str | None = None
    type: str | None = None


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail]


class ErrorOut(BaseModel):
    """The one error shape of every failed answer."""

    error: ErrorInfo


class CheckOut(BaseModel):
    status: Literal["ok", "down"]
    latency_ms: float
    error: str | None = None


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[Literal["database", "cache", "queue"], CheckOut]


class PageQuery(Request):
    limit: Annotated[int, Field(ge=1, le=1000), BeforeValidator(_to_int)] = 100
    cursor: Annotated[str, Field(max_length=200)] | None = None


UNIX_SECONDS_RE = re.compile(r"-?\d{1,12}(\.\d{1,6})?")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
DATE_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?")
_BOUND_SCHEMA = {"anyOf": [{"type": "string", "pattern": f"^{pattern.pattern}$"}
                           for pattern in (UNIX_SECONDS_RE, DATE_RE, DATE_TIME_RE)]}
_BOUND_DESCRIPTION = ("ISO 8601 date (the whole day counts), ISO 8601 date-time (naive means UTC), or Unix seconds; "
                      "start <= timestamp <= end")

# Path parameters as the routes accept them, for the OpenAPI document; the rules are the ones enforced above.
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "username": {"type": "string", "pattern": r"^[A-Za-z0-9_.@+\-]{3,50}$"},
    "ticker": {"type": "string", "pattern": r"^[A-Za-z0-9.\-]{1,15}$", "description": "matched in any case"},
    "user_id": {"type": "string", "minLength": 1, "maxLength": 50, "description": "a user id (UUID) or username"},
    "transaction_id": {"type": "string", "format": "uuid"},
    "start": {**_BOUND_SCHEMA, "description": _BOUND_DESCRIPTION, "examples": ["2026-01-01"]},
    "end": {**_BOUND_SCHEMA, "description": _BOUND_DESCRIPTION, "examples": ["2026-12-31"]},
    "asset": {"type": "string", "minLength": 1},
}


def parse_transaction_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ValidationFailed(*_describe([{"field": "transaction_id", "message": "must be a UUID",
                                            "type": "uuid_parsing"}])) from None


def parse_bound(raw: str, *, end: bool) -> datetime:
    """A range bound: Unix seconds, an ISO 8601 date (the whole day counts) or date-time (naive means UTC)."""
    if UNIX_SECONDS_RE.fullmatch(raw):
        seconds = Decimal(raw)
        return datetime.fromtimestamp(0, UTC) + timedelta(microseconds=int(seconds * 1_000_000))
    if DATE_RE.fullmatch(raw):
        day = datetime.combine(date.fromisoformat(raw), time(0), UTC)
        return day + timedelta(days=1, microseconds=-1) if end else day
    if not DATE_TIME_RE.fullmatch(raw):
        raise ValueError("not a bound")
    moment = datetime.fromisoformat(raw)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_range(start: str, end: str) -> tuple[datetime, datetime]:
    details = []
    bounds: dict[str, datetime] = {}
    for name, raw in (("start", start), ("end", end)):
        try:
            bounds[name] = parse_bound(raw, end=name == "end")
        except (ValueError, OverflowError, InvalidOperation):
            details.append({"field": name, "message": "must be an ISO 8601 date or date-time, or Unix seconds",
                            "type": "datetime_parsing"})
    if not details and bounds["start"] > bounds["end"]:
        details.append({"field": "start", "message": "must not be after end", "type": "range"})
    if details:
        raise ValidationFailed(*_describe(details))
    return bounds["start"], bounds["end"]
