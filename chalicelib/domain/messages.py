"""The settlement message: what placement writes to the outbox and the consumer reads off the queue."""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

# Delivers settlement messages {trade id: message} from the outbox.
# Sends {trade id: message} for outbox rows that committed; answers the ids it sent.
SendMessages = Callable[[dict[uuid.UUID, dict[str, Any]]], set[uuid.UUID]]


class PoisonMessage(ValueError):
    """A message the consumer can never process (not JSON, no trade id)."""


def settlement_message(trade_id: uuid.UUID) -> dict[str, Any]:
    return {"type": "trade.placed", "version": 1, "trade_id": str(trade_id)}


def trade_id_of(body: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(json.loads(body)["trade_id"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise PoisonMessage(f"not a settlement message: {body[:200]!r}") from exc
