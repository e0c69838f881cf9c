"""The queue's messages: the settlement message placement writes to the outbox (evaluate this order), and the
book message a new bar sends (evaluate the orders of this ticker it crossed); the consumer reads both."""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.domain import patterns

# Delivers settlement messages {trade id: message} from the outbox.
# Sends {trade id: message} for outbox rows that committed; answers the ids it sent.
SendMessages = Callable[[dict[uuid.UUID, dict[str, Any]]], set[uuid.UUID]]


class PoisonMessage(ValueError):
    """A message the consumer can never process (not JSON, no trade id)."""


def settlement_message(trade_id: uuid.UUID) -> dict[str, Any]:
    return {"type": "trade.placed", "version": 1, "trade_id": str(trade_id)}


@dataclass(frozen=True)
class BookMessage:
    ticker: str


def book_message(ticker: str) -> dict[str, Any]:
    return {"type": "book.crossed", "version": 1, "ticker": ticker}


def read(body: str) -> uuid.UUID | BookMessage:
    """The order a settlement message names, or the book a book message names."""
    try:
        message = json.loads(body)
        if message.get("type") == "book.crossed":
            ticker = str(message["ticker"])
            if not patterns.TICKER.compiled.fullmatch(ticker):
                raise ValueError(ticker)
            return BookMessage(ticker)
        return uuid.UUID(str(message["trade_id"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PoisonMessage(f"not a settlement or book message: {body[:200]!r}") from exc
