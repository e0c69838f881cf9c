"""Statements that lock or write a whole settlement batch in one round trip. Rows travel as one array parameter
per column (unnest), so each statement reads the same for any batch and is compiled once per process."""
from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert

from chalicelib.adapters.tables import Amount, Exact, Holding, Price, Stock, Trade, User
from chalicelib.domain.vocabulary import TradeStatus


def arrays(name: str, **columns: Any) -> Any:
    """unnest(:<name>_a, :<name>_b, ...) AS name(a, b, ...)."""
    # Parameters are named <name>_<column>: unique in a statement, and a bare column name is reserved in an
    # UPDATE's SET clause.
    parameters = [bindparam(f"{name}_{column}", type_=ARRAY(column_type)) for column, column_type in columns.items()]
    return func.unnest(*parameters).table_valued(*columns).render_derived(name=name)


def params(name: str, **values: list[Any]) -> dict[str, list[Any]]:
    """The parameters of `arrays(name, ...)`, one list per column."""
    return {f"{name}_{column}": column_values for column, column_values in values.items()}


_USERS, _HOLDINGS, _STOCKS, _TRADES = (cast(Table, model.__table__) for model in (User, Holding, Stock, Trade))

# An upsert whose no-op update locks an existing holding and creates a missing one, returning both; rows are
# inserted, and so locked, in the order of the arrays.
_PAIRS = arrays("pairs", user_id=_HOLDINGS.c.user_id.type, ticker=_HOLDINGS.c.ticker.type)
LOCK_OR_CREATE_HOLDINGS = (
    insert(_HOLDINGS).from_select(["user_id", "ticker"], select(_PAIRS.c.user_id, _PAIRS.c.ticker))
    .on_conflict_do_update(index_elements=[_HOLDINGS.c.user_id, _HOLDINGS.c.ticker],
                           set_={"quantity": _HOLDINGS.c.quantity})
    .returning(_HOLDINGS.c.user_id, _HOLDINGS.c.ticker, _HOLDINGS.c.quantity, _HOLDINGS.c.reserved_quantity,
               _HOLDINGS.c.average_entry_price)
)

_NEW_USERS = arrays("new_users", id=_USERS.c.id.type, balance=Amount, reserved_cash=Amount)
_UPDATE_USERS = (update(_USERS).where(_USERS.c.id == _NEW_USERS.c.id)
                 .values(balance=_NEW_USERS.c.balance, reserved_cash=_NEW_USERS.c.reserved_cash))
_NEW_HOLDINGS = arrays("new_holdings", user_id=_HOLDINGS.c.user_id.type, ticker=_HOLDINGS.c.ticker.type,
                       quantity=_HOLDINGS.c.quantity.type, reserved_quantity=_HOLDINGS.c.quantity.type,
                       average_entry_price=Exact)
_UPDATE_HOLDINGS = (update(_HOLDINGS)
                    .where(_HOLDINGS.c.user_id == _NEW_HOLDINGS.c.user_id,
                           _HOLDINGS.c.ticker == _NEW_HOLDINGS.c.ticker)
                    .values(quantity=_NEW_HOLDINGS.c.quantity, reserved_quantity=_NEW_HOLDINGS.c.reserved_quantity,
                            average_entry_price=_NEW_HOLDINGS.c.average_entry_price))
_NEW_STOCKS = arrays("new_stocks", ticker=_STOCKS.c.ticker.type, volume=_STOCKS.c.volume.type)
_UPDATE_STOCKS = update(_STOCKS).where(_STOCKS.c.ticker == _NEW_STOCKS.c.ticker).values(volume=_NEW_STOCKS.c.volume)
_NEW_TRADES = arrays("new_trades", id=_TRADES.c.id.type, status=_TRADES.c.status.type,
                     reason=_TRADES.c.reason.type, total=Amount, price=Price, settled_at=_TRADES.c.settled_at.type,
                     canceled_at=_TRADES.c.canceled_at.type, rejected_at=_TRADES.c.rejected_at.type,
                     realized_pl=Exact)
# The status guard: a trade another delivery already finalised is never written again.
_UPDATE_TRADES = (update(_TRADES).where(_TRADES.c.id == _NEW_TRADES.c.id, _TRADES.c.status == TradeStatus.PENDING)
                  .values(status=_NEW_TRADES.c.status, reason=_NEW_TRADES.c.reason, total=_NEW_TRADES.c.total,
                          price=_NEW_TRADES.c.price, settled_at=_NEW_TRADES.c.settled_at,
                          canceled_at=_NEW_TRADES.c.canceled_at, rejected_at=_NEW_TRADES.c.rejected_at,
                          realized_pl=_NEW_TRADES.c.realized_pl))

# Everything a batch changes, in one statement: each table's UPDATE is a data-modifying CTE of the trades' one.
WRITE_SETTLEMENTS = _UPDATE_TRADES.add_cte(_UPDATE_USERS.cte("users_written"),
                                           _UPDATE_HOLDINGS.cte("holdings_written"),
                                           _UPDATE_STOCKS.cte("stocks_written"))
