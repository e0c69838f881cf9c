"""The trade vocabulary, said once: request shapes, CHECK constraints, SQL and answers all derive from these.
StrEnums, so a member is the string it names (in JSON, in SQL parameters, in comparisons)."""
from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class TradeStatus(StrEnum):
    """Where a trade is in its life. PENDING: accepted, its reservation held, not yet final."""

    PENDING = "pending"
    SETTLED = "settled"
    REJECTED = "rejected"
    CANCELED = "canceled"


class Reason(StrEnum):
    """Why an order was refused at placement or rejected at settlement."""

    INSUFFICIENT_FUNDS = "insufficient_funds"
    INSUFFICIENT_SHARES = "insufficient_shares"
    INSUFFICIENT_VOLUME = "insufficient_volume"
    LIMIT_NOT_MET = "limit_not_met"


class TimeInForce(StrEnum):
    """IOC: filled at the price current when it settles, or rejected; nothing rests."""

    IOC = "ioc"


class CashKind(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


class ActivityKind(StrEnum):
    """An entry of a user's activity feed."""

    FILL = "fill"
    REJECTION = "rejection"
    CANCEL = "cancel"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


class Scope(StrEnum):
    """What a key may do: a user key acts for its user; an admin key ingests stocks and reads any user."""

    USER = "user"
    ADMIN = "admin"


def sql_in(column: str, vocabulary: type[StrEnum]) -> str:
    """A CHECK constraint's text: `column` holds one of the vocabulary's values."""
    return f"{column} IN ({', '.join(repr(str(member)) for member in vocabulary)})"
