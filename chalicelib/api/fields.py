"""Request field types every surface shares: money, tickers, usernames, the order vocabulary's words, time bounds,
and the base of every request model. Each rule of a field is here once, and every surface's OpenAPI document
publishes it as it is."""
from __future__ import annotations

import functools
import re
import uuid
from datetime import datetime
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

from chalicelib.domain import moments, patterns
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.money import CENT, MAX_MONEY
from chalicelib.domain.vocabulary import OrderType, Side, TimeInForce

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
        # ASCII first: a case-blind match takes the Kelvin sign for a K.
        if not value.isascii() or not TICKER_ANY_CASE_RE.fullmatch(value):
            raise ValueError(f"must be {patterns.TICKER.description}")
        return value.strip(" ").upper()
    return value


def _check_ticker(value: str) -> str:
    if not TICKER_RE.fullmatch(value):
        raise ValueError(f"must be {patterns.TICKER.description}")
    return value


def to_int(value: Any) -> Any:
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
StockVolume = Annotated[int, Field(ge=0, le=2**31 - 1), BeforeValidator(to_int)]


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
TradeVolume = Annotated[int, Field(ge=1, le=10**9), BeforeValidator(to_int)]
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
