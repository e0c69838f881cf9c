"""Keyset pagination shared by every list: a page and its opaque cursor (the sort key of the last item shown).
Keyset, not offset, so inserts never shift or repeat items."""
from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.patterns import KEY_ID_PATTERN
from chalicelib.domain.patterns import TICKER as TICKER_PATTERN

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
Row = TypeVar("Row")
Item = TypeVar("Item")


class PageRequest(Protocol):
    """What a client asked for: how many items, after which cursor."""

    @property
    def limit(self) -> int: ...

    @property
    def cursor(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Page(Generic[Item]):
    items: list[Item]
    next_cursor: str | None

    def map(self, render: Callable[[Item], Row]) -> Page[Row]:
        return Page([render(item) for item in self.items], self.next_cursor)


def page_of(rows: Sequence[Row], page: PageRequest, record: Callable[[Row], Item],
            cursor_of: Callable[[Row], str]) -> Page[Item]:
    """Rows fetched with limit + 1: the page's items, and the cursor after the last one shown if more remain."""
    shown = rows[: page.limit]
    return Page([record(row) for row in shown], cursor_of(shown[-1]) if len(rows) > page.limit else None)


def ticker_cursor(ticker: str) -> str:
    return _encode(ticker)


def after_ticker(page: PageRequest) -> str | None:
    """The ticker a by-ticker page starts after, from its cursor."""
    if page.cursor is None:
        return None
    (ticker,) = _decode(page.cursor, 1)
    if not TICKER_PATTERN.compiled.fullmatch(ticker):
        raise _invalid_cursor()
    return ticker


def trade_cursor(created_at: datetime, trade_id: uuid.UUID) -> str:
    return _encode(created_at.isoformat(), str(trade_id))


def after_trade(page: PageRequest) -> tuple[datetime, uuid.UUID] | None:
    """The (timestamp, id) a newest-first page of trades starts after, from its cursor: a UTC timestamp and a
    UUID exactly as this API writes them, or a 400."""
    if page.cursor is None:
        return None
    created_at, trade_id = _decode(page.cursor, 2)
    try:
        moment, after_id = _utc(created_at), uuid.UUID(trade_id)
    except ValueError:
        raise _invalid_cursor() from None
    if trade_cursor(moment, after_id) != page.cursor:
        raise _invalid_cursor()
    return moment, after_id


def key_cursor(created_at: datetime, key_id: str) -> str:
    return _encode(created_at.isoformat(), key_id)


_KEY_ID = re.compile(KEY_ID_PATTERN)


def after_key(page: PageRequest) -> tuple[datetime, str] | None:
    """The (created, key id) an oldest-first page of keys starts after, from its cursor, or a 400."""
    if page.cursor is None:
        return None
    created_at, key_id = _decode(page.cursor, 2)
    try:
        moment = _utc(created_at)
    except ValueError:
        raise _invalid_cursor() from None
    if not _KEY_ID.fullmatch(key_id) or key_cursor(moment, key_id) != page.cursor:
        raise _invalid_cursor()
    return moment, key_id


def bucket_cursor(ticker: str, start: datetime) -> str:
    """After a ticker's bucket of aggregated bars."""
    return _encode(ticker, start.isoformat())


def after_bucket(page: PageRequest) -> tuple[str, datetime] | None:
    if page.cursor is None:
        return None
    ticker, start = _decode(page.cursor, 2)
    try:
        moment = _utc(start)
    except ValueError:
        raise _invalid_cursor() from None
    if not TICKER_PATTERN.compiled.fullmatch(ticker) or bucket_cursor(ticker, moment) != page.cursor:
        raise _invalid_cursor()
    return ticker, moment


def bar_cursor(timestamp: datetime) -> str:
    return _encode(timestamp.isoformat())


def after_bar(page: PageRequest) -> datetime | None:
    """The timestamp a newest-first page of one ticker's bars starts after, from its cursor, or a 400."""
    if page.cursor is None:
        return None
    (timestamp,) = _decode(page.cursor, 1)
    try:
        moment = _utc(timestamp)
    except ValueError:
        raise _invalid_cursor() from None
    if bar_cursor(moment) != page.cursor:
        raise _invalid_cursor()
    return moment


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.utcoffset() != timedelta(0):
        raise ValueError("not UTC")
    return moment


def _encode(*parts: str) -> str:
    raw = "|".join(parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, parts: int) -> list[str]:
    """The sort key a cursor holds, in the one spelling this API writes; anything else is a 400."""
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii").split("|")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        decoded = []
    if len(decoded) != parts or not all(decoded) or _encode(*decoded) != cursor:
        raise _invalid_cursor()
    return decoded


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed(
        "Invalid request: cursor",
        [{"field": "cursor", "message": "is not a cursor this API issued", "type": "cursor"}],
    )
