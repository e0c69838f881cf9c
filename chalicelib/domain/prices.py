"""Prices and volume as a stock's data and each of its bars carry them (validated at the edge: 0 <= low <= open,
close <= high; volume 0..2^31-1)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

FIELDS = ("open_price", "close_price", "high", "low", "volume")


class PriceData(Protocol):
    @property
    def open_price(self) -> Decimal: ...

    @property
    def close_price(self) -> Decimal: ...

    @property
    def high(self) -> Decimal: ...

    @property
    def low(self) -> Decimal: ...

    @property
    def volume(self) -> int: ...


def values(data: PriceData) -> dict[str, Any]:
    """The fields as column values."""
    return {name: getattr(data, name) for name in FIELDS}
