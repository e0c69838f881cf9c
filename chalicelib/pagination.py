"""Keyset pagination shared by every list: a page, its opaque cursor (the sort key of the last item shown),
and the cache-key suffix that tells pages apart. Keyset, not offset, so inserts never shift or repeat items."""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.errors import ValidationFailed

if TYPE_CHECKING:
    from chalicelib.schemas import PageQuery


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(*parts: str) -> str:
    raw = "|".join(parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, parts: int) -> list[str]:
    """The sort key a cursor holds; a cursor this API did not issue is a 400."""
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        decoded = []
    if len(decoded) != parts or not all(decoded):
        raise invalid_cursor()
    return decoded


def invalid_cursor() -> ValidationFailed:
    return ValidationFailed(
        "Invalid request: cursor",
        [{"field": "cursor", "message": "is not a cursor this API issued", "type": "cursor"}],
    )


def page_key(page: PageQuery) -> str:
    """'' for the default first page, so it keeps the older version's cache key."""
    default = type(page).model_fields["limit"].default
    return "" if page.cursor is None and page.limit == default else f"{page.limit}:{page.cursor or ''}"


def split(rows: list[Any], page: PageQuery) -> tuple[list[Any], Any | None]:
    """Rows fetched with limit + 1: the page's rows, and the last one shown if more remain."""
    shown = rows[: page.limit]
    return shown, (shown[-1] if len(rows) > page.limit else None)
