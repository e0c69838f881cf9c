"""What a unit of work reports once it has committed. Side effects (cache refreshes, queue sends, the log line of
a placed trade) follow these events, never the code that made the change."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.domain.api_keys import KeyRecord
    from chalicelib.domain.views import TradeRecord


@dataclass(frozen=True)
class UserRegistered:
    username: str
    view: dict[str, Any]


@dataclass(frozen=True)
class StockIngested:
    ticker: str
    view: dict[str, Any]


@dataclass(frozen=True)
class TradePlaced:
    trade_id: uuid.UUID
    user_id: uuid.UUID
    username: str
    # What the placement log line reports: ticker, side, volume, reserved cash, idempotency key.
    details: dict[str, Any]

    @classmethod
    def of(cls, trade: TradeRecord, username: str, idempotency_key: str | None) -> TradePlaced:
        return cls(trade.id, trade.user_id, username, {
            "ticker": trade.ticker, "side": trade.side, "volume": trade.volume,
            "reserved_cash": str(trade.reserved_cash), "idempotency_key": idempotency_key})


@dataclass(frozen=True)
class TradeCanceled:
    trade_id: uuid.UUID
    user_id: uuid.UUID
    username: str
    # What the cancel log line reports: ticker, side, volume, the cash and shares released.
    details: dict[str, Any]


@dataclass(frozen=True)
class PriceMoved:
    """A bar was recorded for a stock; `view` is the stock as it now reads (its price moves if the bar is the
    latest, and with it the equity of each of `holders`)."""

    ticker: str
    view: dict[str, Any]
    holders: tuple[str, ...] = ()


@dataclass(frozen=True)
class CashMoved:
    movement_id: uuid.UUID
    user_id: uuid.UUID
    username: str
    kind: str  # deposit or withdrawal
    amount: str


@dataclass(frozen=True)
class TradesSettled:
    users: dict[uuid.UUID, str]  # id -> username of every user whose balance or holdings may have changed
    tickers: frozenset[str]


@dataclass(frozen=True)
class KeyIssued:
    record: KeyRecord  # what the authorizer reads: the secret's digest, scope, user; never the secret


@dataclass(frozen=True)
class KeyRevoked:
    key_id: str


Event = (UserRegistered | StockIngested | PriceMoved | TradePlaced | TradeCanceled | TradesSettled | CashMoved
         | KeyIssued | KeyRevoked)
