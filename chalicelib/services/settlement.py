"""Settling trades exactly once, a batch in one transaction: lock the batch's trades, skip those no longer pending
(this makes redelivery harmless), lock every user, holding and stock they touch, each kind sorted and always in
that order (user, holding, stock, as placement does), apply the rules to each trade in turn against the current
values, write the results in one statement per table and commit once; the cache is refreshed after the commit.

A batch costs about a dozen database round trips instead of ten per trade. If the batch transaction fails as a
whole, each trade is settled again in a transaction of its own, so one bad trade never fails its batch mates."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, cast, column, select, update, values
from sqlalchemy.dialects.postgresql import insert

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
        session = uow.session
        # Locks are taken in one global order, each kind sorted, so concurrent batches never wait on each other
        # in a cycle: trades, then users, then holdings, then stocks.
        found = {trade.id: trade for trade in session.execute(
            select(Trade.__table__).where(Trade.id.in_(set(trade_ids))).order_by(Trade.id).with_for_update()
        )}
        pending = [found[i] for i in dict.fromkeys(trade_ids) if i in found and found[i].status == "pending"]
        rows = _lock_accounts(session, pending) if pending else None

        decided: dict[uuid.UUID, Settled] = {}
        writes: dict[uuid.UUID, dict[str, Any]] = {}
        now = datetime.now(UTC)
        for trade in pending:
            assert rows is not None
            decided[trade.id], writes[trade.id] = _apply(trade, rows, now)
        if pending:
            assert rows is not None
            _write(session, rows, writes)
            outbox.settled(uow, list(writes))
            users = [rows.users[trade.user_id] for trade in pending]
            tickers = {trade.ticker for trade in pending}

            def refresh_cache() -> None:
                cache.delete(*{cache.keys.user(user.username) for user in users},
                             *(cache.keys.stock(ticker) for ticker in tickers))
                cache.drop_listed(cache.keys.stock_lists(),
                                  *{cache.keys.transaction_keys(str(user.id)) for user in users})

            uow.after_commit(refresh_cache)
            uow.commit()

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


def _lock_accounts(session: Any, pending: list[Row[Any]]) -> _Rows:
    user_ids = sorted({trade.user_id for trade in pending})
    users = {user.id: user for user in session.execute(
        select(User.__table__).where(User.id.in_(user_ids)).order_by(User.id).with_for_update())}
    pairs = sorted({(trade.user_id, trade.ticker) for trade in pending})
    # An upsert whose no-op update locks an existing holding and creates a missing one, returning both.
    holdings = session.execute(
        insert(Holding).values([{"user_id": user, "ticker": ticker} for user, ticker in pairs])
        .on_conflict_do_update(index_elements=[Holding.user_id, Holding.ticker], set_={"quantity": Holding.quantity})
        .returning(Holding.user_id, Holding.ticker, Holding.quantity, Holding.reserved_quantity)
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


def _write(session: Any, rows: _Rows, writes: dict[uuid.UUID, dict[str, Any]]) -> None:
    """One UPDATE ... FROM (VALUES ...) per table: the batch's new values in four round trips."""
    users = values(column("id", User.id.type), column("balance", Amount), column("reserved_cash", Amount),
                   name="new_users").data([(uid, *values_) for uid, values_ in rows.balances.items()])
    session.execute(update(User).where(User.id == users.c.id)
                    .values(balance=users.c.balance, reserved_cash=users.c.reserved_cash))
    holdings = values(column("user_id", Holding.user_id.type), column("ticker", Holding.ticker.type),
                      column("quantity", Holding.quantity.type), column("reserved_quantity", Holding.quantity.type),
                      name="new_holdings").data([(*key, *values_) for key, values_ in rows.holdings.items()])
    session.execute(update(Holding)
                    .where(Holding.user_id == holdings.c.user_id, Holding.ticker == holdings.c.ticker)
                    .values(quantity=holdings.c.quantity, reserved_quantity=holdings.c.reserved_quantity))
    stocks = values(column("ticker", Stock.ticker.type), column("volume", Stock.volume.type),
                    name="new_stocks").data([(ticker, volume) for ticker, (_, volume) in rows.stocks.items()])
    session.execute(update(Stock).where(Stock.ticker == stocks.c.ticker).values(volume=stocks.c.volume))
    trades = values(column("id", Trade.id.type), column("status", Trade.status.type),
                    column("reason", Trade.reason.type), column("total", Amount), column("price", Price),
                    column("settled_at", Trade.settled_at.type), name="new_trades").data(
        [(trade_id, w["status"], w["reason"], w["total"], w["price"], w["settled_at"]) for trade_id, w in writes.items()])
    # A VALUES column holding only NULLs is typed text: the casts give it the column's type back.
    session.execute(update(Trade).where(Trade.id == trades.c.id, Trade.status == "pending")
                    .values(status=trades.c.status, reason=cast(trades.c.reason, Trade.reason.type),
                            total=cast(trades.c.total, Amount), price=cast(trades.c.price, Price),
                            settled_at=cast(trades.c.settled_at, Trade.settled_at.type)))
