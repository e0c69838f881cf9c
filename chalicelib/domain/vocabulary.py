"""The trade vocabulary, said once: request shapes, CHECK constraints, SQL and answers all derive from these.
StrEnums, so a member is the string it names (in JSON, in SQL parameters, in comparisons)."""
from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class TradeStatus(StrEnum):
    """Where a trade is in its life, as stored. PENDING: open (accepted, resting or partly filled), what it still
    needs reserved; SETTLED: filled whole; the others are final and released what was left reserved."""

    PENDING = "pending"
    SETTLED = "settled"
    REJECTED = "rejected"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REPLACED = "replaced"


# The statuses an order ends in; PENDING is the only open one.
FINAL_STATUSES = frozenset(TradeStatus) - {TradeStatus.PENDING}


class OrderStatus(StrEnum):
    """The order engine's lifecycle, as a broker shows it: NEW -> PARTIALLY_FILLED -> FILLED, or one of the final
    statuses. Derived from the stored status and the quantity filled (`order_status`)."""

    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REPLACED = "replaced"
    REJECTED = "rejected"


def order_status(status: TradeStatus, filled_qty: int) -> OrderStatus:
    if status == TradeStatus.PENDING:
        return OrderStatus.PARTIALLY_FILLED if filled_qty > 0 else OrderStatus.NEW
    return OrderStatus.FILLED if status == TradeStatus.SETTLED else OrderStatus(status.value)


def classic_status(status: TradeStatus) -> TradeStatus:
    """What the classic routes call it: an expired or replaced order reads `canceled` there, as before orders
    could expire or be replaced (the engine's own status is beside it)."""
    return TradeStatus.CANCELED if status in (TradeStatus.EXPIRED, TradeStatus.REPLACED) else status


class OrderType(StrEnum):
    """MARKET fills at the close; LIMIT at the close when it is at or better than the limit; STOP becomes a market
    order once a close reaches the stop, STOP_LIMIT a limit order."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"

    @property
    def has_limit(self) -> bool:
        return self in (OrderType.LIMIT, OrderType.STOP_LIMIT)

    @property
    def has_stop(self) -> bool:
        return self in (OrderType.STOP, OrderType.STOP_LIMIT)


class Reason(StrEnum):
    """Why an order was refused at placement or rejected at settlement."""

    INSUFFICIENT_FUNDS = "insufficient_funds"
    INSUFFICIENT_SHARES = "insufficient_shares"
    INSUFFICIENT_VOLUME = "insufficient_volume"
    LIMIT_NOT_MET = "limit_not_met"
    TRADING_SUSPENDED = "trading_suspended"  # by the account's owner: no new orders (refused, never rejected)


class TimeInForce(StrEnum):
    """DAY rests until its session's close, then expires; GTC rests until filled or canceled; IOC fills what it
    can when first evaluated and cancels the rest; FOK fills whole when first evaluated or not at all.
    An order without one (the classic routes' default) fills whole when first evaluated or is rejected."""

    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"

    @property
    def rests(self) -> bool:
        return self in (TimeInForce.DAY, TimeInForce.GTC)


class CashKind(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


class ActivityKind(StrEnum):
    """An entry of a user's activity feed."""

    FILL = "fill"  # one fill of an order; an order filled in parts has one entry per part
    REJECTION = "rejection"
    CANCEL = "cancel"
    EXPIRY = "expiry"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


class Scope(StrEnum):
    """What a key may do: a user key acts for its user; an admin key ingests stocks and reads any user."""

    USER = "user"
    ADMIN = "admin"


def sql_in(column: str, vocabulary: type[StrEnum]) -> str:
    """A CHECK constraint's text: `column` holds one of the vocabulary's values."""
    return f"{column} IN ({', '.join(repr(str(member)) for member in vocabulary)})"
