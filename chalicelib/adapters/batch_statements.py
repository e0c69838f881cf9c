"""Statements that lock or write a whole settlement batch in one round trip. Rows travel as one array parameter
per column (unnest), so each statement reads the same for any batch and is compiled once per process."""
from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert

from chalicelib.adapters.tables import Amount, Exact, Fill, Holding, Price, Stock, Trade, User
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


_USERS, _HOLDINGS, _STOCKS, _TRADES, _FILLS = (cast(Table, model.__table__)
                                               for model in (User, Holding, Stock, Trade, Fill))

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
_MOMENT = _TRADES.c.settled_at.type
# Each written trade's columns, as the batch left them.
TRADE_COLUMNS = ("status", "reason", "total", "price", "filled_qty", "filled_avg_price", "reserved_cash",
                 "reserved_quantity", "settled_at", "canceled_at", "rejected_at", "expired_at", "replaced_at",
                 "replaced_by", "triggered_at", "realized_pl")
_NEW_TRADES = arrays("new_trades", id=_TRADES.c.id.type, status=_TRADES.c.status.type,
                     reason=_TRADES.c.reason.type, total=Amount, price=Price, filled_qty=_TRADES.c.filled_qty.type,
                     filled_avg_price=Exact, reserved_cash=Amount, reserved_quantity=_TRADES.c.filled_qty.type,
                     settled_at=_MOMENT, canceled_at=_MOMENT, rejected_at=_MOMENT, expired_at=_MOMENT,
                     replaced_at=_MOMENT, replaced_by=_TRADES.c.id.type, triggered_at=_MOMENT, realized_pl=Exact)
# The status guard: a trade another delivery already finalised is never written again.
_UPDATE_TRADES = (update(_TRADES).where(_TRADES.c.id == _NEW_TRADES.c.id, _TRADES.c.status == TradeStatus.PENDING)
                  .values(**{column: _NEW_TRADES.c[column] for column in TRADE_COLUMNS}))
FILL_COLUMNS = ("id", "trade_id", "user_id", "ticker", "side", "quantity", "price", "amount", "realized_pl",
                "created_at")
_NEW_FILLS = arrays("new_fills", **{column: (Price if column == "price" else Amount if column == "amount"
                                             else Exact if column == "realized_pl" else _FILLS.c[column].type)
                                    for column in FILL_COLUMNS})
_INSERT_FILLS = insert(_FILLS).from_select(list(FILL_COLUMNS), select(*(_NEW_FILLS.c[c] for c in FILL_COLUMNS)))

# Everything a batch changes, in one statement: each table's write is a data-modifying CTE of the trades' one.
WRITE_SETTLEMENTS = _UPDATE_TRADES.add_cte(_UPDATE_USERS.cte("users_written"),
                                           _UPDATE_HOLDINGS.cte("holdings_written"),
                                           _UPDATE_STOCKS.cte("stocks_written"),
                                           _INSERT_FILLS.cte("fills_written"))
