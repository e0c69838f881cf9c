"""The use cases, one module each (users, keys, cash, stocks, prices, trades, history, portfolio, activities,
settlement, orders, outbox). Each speaks only to the unit of work's repositories and to the domain; none imports
SQLAlchemy, Redis or another use case. `unit_of_work` owns the transaction; `handlers` is what follows each
event it reports; `engine` is the move every change to an open order makes.

Each use case is imported when first used (`services.trades.place(...)` loads `trades`), so a function's cold
start pays only for the use case its request needs."""
from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.lazy import submodules_on_first_use

if TYPE_CHECKING:
    from chalicelib.services import (
        activities,
        cash,
        history,
        keys,
        orders,
        outbox,
        portfolio,
        prices,
        settlement,
        stocks,
        trades,
        users,
    )

__all__ = ["activities", "cash", "history", "keys", "orders", "outbox", "portfolio", "prices", "settlement",
           "stocks", "trades", "users"]
__getattr__ = submodules_on_first_use(__name__, frozenset(__all__))
