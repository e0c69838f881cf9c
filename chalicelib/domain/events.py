"""What a unit of work reports once it has committed. Side effects (cache refreshes, queue sends, the log line of
a placed trade) follow these events, never the code that made the change."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any


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


@dataclass(frozen=True)
class TradesSettled:
    users: dict[uuid.UUID, str]  # id -> username of every user whose balance or holdings may have changed
    tickers: frozenset[str]


@dataclass(frozen=True)
class KeyIssued:
    key_id: str
    record: dict[str, Any]  # what the authorizer reads: the secret's digest, scope, user; never the secret


@dataclass(frozen=True)
class KeyRevoked:
    key_id: str


Event = UserRegistered | StockIngested | TradePlaced | TradesSettled | KeyIssued | KeyRevoked
