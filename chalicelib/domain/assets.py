"""Each stock's asset id: a UUID of its own, the same wherever and whenever it is asked for (a UUIDv5 of the
ticker), so that Alpaca's clients, which parse every asset id as a UUID, can name a stock by it."""
from __future__ import annotations

import uuid

ASSET_NAMESPACE = uuid.UUID("5d1f0a3e-8c3b-4f7e-9a51-2b6c7d8e9f10")


def asset_id(ticker: str) -> uuid.UUID:
    return uuid.uuid5(ASSET_NAMESPACE, ticker.upper())
