"""The use cases, one module each (users, account_configuration, keys, cash, stocks, prices, trades, history,
portfolio, portfolio_history, activities, settlement, orders, outbox, stream). Each speaks only to the unit of work's
repositories and to the domain; none imports SQLAlchemy, Redis or another use case. `unit_of_work` owns the
transaction; `handlers` is what follows each event it reports; `engine` is the move every change to an open order makes.

Each use case is imported when first used (`services.trades.place(...)` loads `trades`), so a function's cold
start pays only for the use case its request needs."""
from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.lazy import submodules_on_first_use

if TYPE_CHECKING:
    from chalicelib.services import (
        account_configuration,
        activities,
        cash,
        history,
        keys,
        orders,
        outbox,
        portfolio,
        portfolio_history,
        prices,
        settlement,
        stocks,
        stream,
        trades,
        users,
    )

__all__ = ["account_configuration", "activities", "cash", "history", "keys", "orders", "outbox", "portfolio",
           "portfolio_history", "prices", "settlement", "stocks", "stream", "trades", "users"]
__getattr__ = submodules_on_first_use(__name__, frozenset(__all__))
