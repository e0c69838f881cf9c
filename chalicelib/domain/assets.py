"""Each stock's asset id: a UUID of its own, the same wherever and whenever it is asked for, so that Alpaca's
clients, which parse every asset id as a UUID, can name a stock by it.

It is a UUIDv8 (RFC 9562's custom version) of the MD5 of `tradeapi asset <TICKER>`, because PostgreSQL computes
MD5 in an immutable expression: the stocks table stores the same id as a generated column (`ASSET_ID_SQL`), which
every writer of stocks gets without knowing of it, and which an index finds a stock by."""
from __future__ import annotations

import hashlib
import uuid

_PREFIX = "tradeapi asset "
_VARIANT = str.maketrans("0123456789abcdef", "89ab89ab89ab89ab")  # the RFC variant: the digit's top bits are 10

ASSET_ID_SQL = ("CAST(overlay(overlay(md5('tradeapi asset ' || ticker) PLACING '8' FROM 13 FOR 1) "
                "PLACING translate(substr(md5('tradeapi asset ' || ticker), 17, 1), '0123456789abcdef', "
                "'89ab89ab89ab89ab') FROM 17 FOR 1) AS uuid)")


def asset_id(ticker: str) -> uuid.UUID:
    digest = hashlib.md5((_PREFIX + ticker.upper()).encode(), usedforsecurity=False).hexdigest()
    return uuid.UUID(digest[:12] + "8" + digest[13:16] + digest[16].translate(_VARIANT) + digest[17:])
