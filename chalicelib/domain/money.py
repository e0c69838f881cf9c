"""Money is Decimal with two places, end to end: never a float."""
from __future__ import annotations

from decimal import Decimal

CENT = Decimal("0.01")
MAX_MONEY = Decimal("9999999999.99")


def format_money(amount: Decimal) -> str:
    """As every answer writes it: a string with exactly two decimals ("1000.00")."""
    return f"{amount.quantize(CENT):f}"
