"""Money is Decimal with two places, end to end: never a float."""
from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext

CENT = Decimal("0.01")
MAX_MONEY = Decimal("9999999999.99")


def format_money(amount: Decimal) -> str:
    """As every answer writes it: a string with exactly two decimals ("1000.00"), rounded half-even."""
    if amount.adjusted() < 24:  # fits the default context's 28 digits with its cents: the common case, no copy
        return f"{amount.quantize(CENT, rounding=ROUND_HALF_EVEN):f}"
    with localcontext() as wide:  # an unrounded P/L of a huge position may hold more digits than that
        wide.prec = 60
        return f"{amount.quantize(CENT, rounding=ROUND_HALF_EVEN):f}"
