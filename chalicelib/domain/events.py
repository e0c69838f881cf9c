"""What a unit of work reports once it has committed: facts (ids, new values, the records written), never
rendered answers. What follows each (cache invalidation, the queue send, log lines) is in
chalicelib/services/handlers.py, never in the code that made the change."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.domain import records
    from chalicelib.domain.api_keys import KeyRecord
    from chalicelib.domain.trade_updates import TradeUpdate


@dataclass(frozen=True)
class UserRegistered:
    user_id: uuid.UUID
    username: str


@dataclass(frozen=True)
class StockIngested:
    ticker: str


@dataclass(frozen=True)
class PriceMoved:
    """A bar was recorded; if it is the latest, the stock's price moved, and with it the equity of `holders`."""

    recorded: records.BarRecorded
    holders: tuple[str, ...] = ()


@dataclass(frozen=True)
class TradePlaced:
    trade: records.Trade
    idempotency_key: str | None  # the key it is remembered by, if any


@dataclass(frozen=True)
class TradeCanceled:
    trade: records.Trade
    released_cash: Decimal
    released_shares: int


@dataclass(frozen=True)
class TradeReplaced:
    old: records.Trade  # now replaced
    new: records.Trade  # open, with the reservation moved to it


@dataclass(frozen=True)
class TradesSettled:
    users: dict[uuid.UUID, str]  # id -> username of every user whose balance or holdings may have changed
    tickers: frozenset[str]
    updates: tuple[TradeUpdate, ...] = ()  # what the orders' owners are told, in the order it happened


@dataclass(frozen=True)
class CashMoved:
    moved: records.CashMoved


@dataclass(frozen=True)
class AccountConfigured:
    """An owner changed the account's configuration (its trading suspension shows on the account)."""

    username: str


@dataclass(frozen=True)
class KeyIssued:
    record: KeyRecord  # what the authorizer reads: the secret's digest, scope, user; never the secret


@dataclass(frozen=True)
class KeyRevoked:
    key_id: str


Event = (UserRegistered | StockIngested | PriceMoved | TradePlaced | TradeCanceled | TradeReplaced | TradesSettled
         | CashMoved | AccountConfigured | KeyIssued | KeyRevoked)
