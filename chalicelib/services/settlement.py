"""Settling trades exactly once, a batch in one transaction: lock the batch's trades, skip those no longer pending
(this makes redelivery harmless), lock every user, holding and stock they touch, each kind sorted and always in
that order (user, holding, stock, as placement does), apply the rules to each trade in turn against the current
values, write the results in one statement per table and commit once; the cache is refreshed after the commit.

A batch costs six statements and one commit, where settling its trades one by one took ten statements each. If the batch transaction fails as a
whole, each trade is settled again in a transaction of its own, so one bad trade never fails its batch mates."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert

from chalicelib import settlement_rules as rules
from chalicelib.cache import Cache
from chalicelib.logs import get_logger
from chalicelib.models import Amount, Holding, Price, Stock, Trade, User
from chalicelib.outbox import Outbox
from chalicelib.unit_of_work import UnitOfWork


class UnknownTrade(Exception):
    """The message names a trade that does not exist: a poison message, bound for the dead-letter queue."""


@dataclass(frozen=True)
class Settled:
    trade_id: uuid.UUID
    status: str
    reason: str | None
    # False when an earlier delivery already finalised the trade and this one changed nothing.
    changed: bool
    placed_at: datetime | None = None


Outcome = Settled | Exception


def settle_batch(trade_ids: list[uuid.UUID], unit_of_work: Callable[[], UnitOfWork], cache: Cache,
                 outbox: Outbox) -> list[Outcome]:
    """The outcome of each id, in order: what settling it did, or why it could not be settled."""
    try:
        return _settle_together(trade_ids, unit_of_work(), cache, outbox)
    except Exception as error:  # noqa: BLE001 - the batch was rolled back whole; each trade gets its own chance
        if len(trade_ids) == 1:
            return [error]
        get_logger().warning("batch settlement failed; settling its trades one by one",
                             extra={"event": "settlement_batch_failed", "batch_size": len(trade_ids),
                                    "error": f"{type(error).__name__}: {error}"})
    outcomes: list[Outcome] = []
    for trade_id in trade_ids:
        try:
            outcomes += _settle_together([trade_id], unit_of_work(), cache, outbox)
        except Exception as error:  # noqa: BLE001 - reported for this trade alone
            outcomes.append(error)
    return outcomes


@dataclass
class _Rows:
    """The locked rows' current values, changed in memory as each trade of the batch is applied."""

    users: dict[uuid.UUID, Row[Any]]
    balances: dict[uuid.UUID, tuple[Decimal, Decimal]]  # user -> (balance, reserved_cash)
    holdings: dict[tuple[uuid.UUID, str], tuple[int, int]]  # (user, ticker) -> (quantity, reserved_quantity)
    stocks: dict[str, tuple[Decimal, int]]  # ticker -> (close_price, volume)


def _settle_together(trade_ids: list[uuid.UUID], uow: UnitOfWork, cache: Cache, outbox: Outbox) -> list[Outcome]:
    with uow:
        # Locks are taken in one global order, each kind sorted, so concurrent batches never wait on each other
        # in a cycle: trades, then users, then holdings, then stocks.
        found = {trade.id: trade for trade in uow.session.execute(
            select(Trade.id, Trade.user_id, Trade.ticker, Trade.side, Trade.volume, Trade.reserved_cash,
                   Trade.reserved_quantity, Trade.status, Trade.reason, Trade.created_at)
            .where(Trade.id.in_(set(trade_ids))).order_by(Trade.id).with_for_update()
        )}
        pending = [found[i] for i in dict.fromkeys(trade_ids) if i in found and found[i].status == "pending"]
        decided = _settle_pending(uow, pending, cache, outbox) if pending else {}

    outcomes: list[Outcome] = []
    reported: set[uuid.UUID] = set()
    for trade_id in trade_ids:
        if trade_id not in found:
            outcomes.append(UnknownTrade(f"no transaction {trade_id}"))
        elif trade_id in decided and trade_id not in reported:
            outcomes.append(decided[trade_id])
            reported.add(trade_id)
        elif trade_id in decided:  # named twice in one batch: the first message settled it
            outcomes.append(replace(decided[trade_id], changed=False, placed_at=None))
        else:  # an earlier delivery finalised it
            outcomes.append(Settled(trade_id, found[trade_id].status, found[trade_id].reason, changed=False))
    return outcomes


def _settle_pending(uow: UnitOfWork, pending: list[Row[Any]], cache: Cache, outbox: Outbox) -> dict[uuid.UUID, Settled]:
    """Lock what the pending trades touch, decide each in turn, write it all, and commit."""
    rows = _lock_accounts(uow.session, pending)
    now = datetime.now(UTC)
    decided: dict[uuid.UUID, Settled] = {}
    writes: dict[uuid.UUID, dict[str, Any]] = {}
    for trade in pending:
        decided[trade.id], writes[trade.id] = _apply(trade, rows, now)
    _write(uow.session, rows, writes)
    outbox.settled(uow, list(writes))
    users = {trade.user_id: rows.users[trade.user_id] for trade in pending}.values()
    tickers = {trade.ticker for trade in pending}

    def refresh_cache() -> None:
        cache.delete(*(cache.keys.user(user.username) for user in users), *map(cache.keys.stock, tickers))
        cache.drop_listed(cache.keys.stock_lists(), *(cache.keys.transaction_keys(str(user.id)) for user in users))

    uow.after_commit(refresh_cache)
    uow.commit()
    return decided


def _lock_accounts(session: Any, pending: list[Row[Any]]) -> _Rows:
    user_ids = sorted({trade.user_id for trade in pending})
    users = {user.id: user for user in session.execute(
        select(User.id, User.username, User.balance, User.reserved_cash)
        .where(User.id.in_(user_ids)).order_by(User.id).with_for_update())}
    pairs = sorted({(trade.user_id, trade.ticker) for trade in pending})
    # An upsert whose no-op update locks an existing holding and creates a missing one, returning both; rows are
    # inserted, and so locked, in the sorted order of the arrays.
    new = _arrays("pairs", user_id=_HOLDINGS.c.user_id.type, ticker=_HOLDINGS.c.ticker.type)
    holdings = session.execute(
        insert(_HOLDINGS).from_select(["user_id", "ticker"], select(new.c.user_id, new.c.ticker))
        .on_conflict_do_update(index_elements=[_HOLDINGS.c.user_id, _HOLDINGS.c.ticker],
                               set_={"quantity": _HOLDINGS.c.quantity})
        .returning(_HOLDINGS.c.user_id, _HOLDINGS.c.ticker, _HOLDINGS.c.quantity, _HOLDINGS.c.reserved_quantity),
        _params("pairs", user_id=[user for user, _ in pairs], ticker=[ticker for _, ticker in pairs]),
    )
    tickers = sorted({trade.ticker for trade in pending})
    stocks = session.execute(select(Stock.ticker, Stock.close_price, Stock.volume)
                             .where(Stock.ticker.in_(tickers)).order_by(Stock.ticker).with_for_update())
    return _Rows(
        users=users,
        balances={user.id: (user.balance, user.reserved_cash) for user in users.values()},
        holdings={(h.user_id, h.ticker): (h.quantity, h.reserved_quantity) for h in holdings},
        stocks={s.ticker: (s.close_price, s.volume) for s in stocks},
    )


def _apply(trade: Row[Any], rows: _Rows, now: datetime) -> tuple[Settled, dict[str, Any]]:
    """Decide one trade against the rows as the batch's earlier trades left them, and update them in memory."""
    balance, reserved_cash = rows.balances[trade.user_id]
    quantity, reserved_quantity = rows.holdings[(trade.user_id, trade.ticker)]
    price, stock_volume = rows.stocks[trade.ticker]
    order = rules.Order(trade.side, trade.volume, price, trade.reserved_cash, trade.reserved_quantity)
    outcome = rules.settle(order, rules.Account(balance, reserved_cash, quantity, reserved_quantity, stock_volume))
    rows.balances[trade.user_id] = (balance + outcome.balance, reserved_cash + outcome.reserved_cash)
    rows.holdings[(trade.user_id, trade.ticker)] = (quantity + outcome.quantity,
                                                     reserved_quantity + outcome.reserved_quantity)
    rows.stocks[trade.ticker] = (price, stock_volume + outcome.stock_volume)
    settled = outcome.status == "settled"
    write = {"status": outcome.status, "reason": outcome.reason, "total": outcome.total,
             "price": price if settled else None, "settled_at": now if settled else None}
    return Settled(trade.id, outcome.status, outcome.reason, changed=True, placed_at=trade.created_at), write


def _arrays(name: str, **columns: Any) -> Any:
    """unnest(:a, :b, ...) AS name(a, b, ...): rows passed as one array parameter per column, so a statement
    reads the same for any batch and is compiled once per process."""
    # Parameters are named <name>_<column>: unique in a statement, and a bare column name is reserved in an
    # UPDATE's SET clause.
    arrays = [bindparam(f"{name}_{column_name}", type_=ARRAY(column_type)) for column_name, column_type in columns.items()]
    return func.unnest(*arrays).table_valued(*columns).render_derived(name=name)


_USERS, _HOLDINGS, _STOCKS, _TRADES = (model.__table__ for model in (User, Holding, Stock, Trade))

_NEW_USERS = _arrays("new_users", id=_USERS.c.id.type, balance=Amount, reserved_cash=Amount)
_UPDATE_USERS = (update(_USERS).where(_USERS.c.id == _NEW_USERS.c.id)
                 .values(balance=_NEW_USERS.c.balance, reserved_cash=_NEW_USERS.c.reserved_cash))
_NEW_HOLDINGS = _arrays("new_holdings", user_id=_HOLDINGS.c.user_id.type, ticker=_HOLDINGS.c.ticker.type,
                        quantity=_HOLDINGS.c.quantity.type, reserved_quantity=_HOLDINGS.c.quantity.type)
_UPDATE_HOLDINGS = (update(_HOLDINGS)
                    .where(_HOLDINGS.c.user_id == _NEW_HOLDINGS.c.user_id,
                           _HOLDINGS.c.ticker == _NEW_HOLDINGS.c.ticker)
                    .values(quantity=_NEW_HOLDINGS.c.quantity, reserved_quantity=_NEW_HOLDINGS.c.reserved_quantity))
_NEW_STOCKS = _arrays("new_stocks", ticker=_STOCKS.c.ticker.type, volume=_STOCKS.c.volume.type)
_UPDATE_STOCKS = update(_STOCKS).where(_STOCKS.c.ticker == _NEW_STOCKS.c.ticker).values(volume=_NEW_STOCKS.c.volume)
_NEW_TRADES = _arrays("new_trades", id=_TRADES.c.id.type, status=_TRADES.c.status.type,
                      reason=_TRADES.c.reason.type, total=Amount, price=Price,
                      settled_at=_TRADES.c.settled_at.type)
_UPDATE_TRADES = (update(_TRADES).where(_TRADES.c.id == _NEW_TRADES.c.id, _TRADES.c.status == "pending")
                  .values(status=_NEW_TRADES.c.status, reason=_NEW_TRADES.c.reason, total=_NEW_TRADES.c.total,
                          price=_NEW_TRADES.c.price, settled_at=_NEW_TRADES.c.settled_at))


# Everything the batch changes, in one statement: each table's UPDATE is a data-modifying CTE of the trades' one.
_WRITE_BATCH = _UPDATE_TRADES.add_cte(_UPDATE_USERS.cte("users_written"),
                                      _UPDATE_HOLDINGS.cte("holdings_written"),
                                      _UPDATE_STOCKS.cte("stocks_written"))


def _write(session: Any, rows: _Rows, writes: dict[uuid.UUID, dict[str, Any]]) -> None:
    """The batch's new values in one round trip, whatever the batch size."""
    session.execute(_WRITE_BATCH, {
        **_params("new_users", id=list(rows.balances),
                  balance=[balance for balance, _ in rows.balances.values()],
                  reserved_cash=[reserved for _, reserved in rows.balances.values()]),
        **_params("new_holdings", user_id=[user for user, _ in rows.holdings],
                  ticker=[ticker for _, ticker in rows.holdings],
                  quantity=[quantity for quantity, _ in rows.holdings.values()],
                  reserved_quantity=[reserved for _, reserved in rows.holdings.values()]),
        **_params("new_stocks", ticker=list(rows.stocks), volume=[volume for _, volume in rows.stocks.values()]),
        **_params("new_trades", id=list(writes), **{
            column_name: [w[column_name] for w in writes.values()]
            for column_name in ("status", "reason", "total", "price", "settled_at")}),
    })


def _params(name: str, **arrays: list[Any]) -> dict[str, list[Any]]:
    return {f"{name}_{column_name}": values for column_name, values in arrays.items()}
