"""Taking pending trades to their final state exactly once: settling them (the consumer) or canceling one (its
owner). Settling is a batch in one transaction: lock the batch's trades, skip those no longer pending
(this makes redelivery harmless), lock every stock, user and holding they touch, each kind sorted and always in
that order (placement takes user, then holding, and never a stock), apply the rules to each trade in turn against
the current values, write the results in one round trip and commit once; the cache is refreshed after the
commit.

If the batch transaction fails as a whole, each trade is settled again in a transaction of its own, so one bad
trade never fails its batch mates.

A cancel locks its trade first too, refuses unless it is still pending, and releases what the order set aside
through the same `_finalize`, so a cancel and a batch take the same rows in the same order and never deadlock;
whichever locks the trade first decides its final state, and a delivery after a cancel changes nothing."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from chalicelib.adapters.logs import get_logger
from chalicelib.domain import records, rules
from chalicelib.domain.errors import Conflict, DatabaseUnavailable, NotFound
from chalicelib.domain.events import TradeCanceled, TradesSettled
from chalicelib.domain.vocabulary import TradeStatus
from chalicelib.services.unit_of_work import UnitOfWork


class UnknownTrade(Exception):
    """The message names a trade that does not exist: a poison message, bound for the dead-letter queue."""


@dataclass(frozen=True)
class Settlement:
    """What settling one trade did."""

    trade_id: uuid.UUID
    status: str
    reason: str | None
    # False when an earlier delivery already finalised the trade and this one changed nothing.
    changed: bool
    placed_at: datetime | None = None


SettlementResult = Settlement | Exception


def settle_batch(trade_ids: list[uuid.UUID], uow: UnitOfWork) -> list[SettlementResult]:
    """The result for each id, in order: what settling it did, or why it could not be settled."""
    try:
        return _settle_together(trade_ids, uow)
    except DatabaseUnavailable as away:
        return [away] * len(trade_ids)  # each trade alone would only wait for the same outage
    except Exception as error:  # noqa: BLE001 - the batch was rolled back whole; each trade gets its own chance
        if len(trade_ids) == 1:
            return [error]
        get_logger().warning("batch settlement failed; settling its trades one by one",
                             extra={"event": "settlement_batch_failed", "batch_size": len(trade_ids),
                                    "error": f"{type(error).__name__}: {error}"})
    results: list[SettlementResult] = []
    for trade_id in trade_ids:
        try:
            results += _settle_together([trade_id], uow)
        except Exception as error:  # noqa: BLE001 - reported for this trade alone
            results.append(error)
    return results


@dataclass
class _Accounts:
    """The locked rows' current values, changed in memory as each trade of the batch is applied."""

    usernames: dict[uuid.UUID, str]
    balances: dict[uuid.UUID, tuple[Decimal, Decimal]]  # user -> (balance, reserved_cash)
    # (user, ticker) -> (quantity, reserved_quantity, average_entry_price)
    holdings: dict[tuple[uuid.UUID, str], tuple[int, int, Decimal]]
    prices: dict[str, Decimal]  # ticker -> close price
    volumes: dict[str, int]  # ticker -> volume on offer


def _settle_together(trade_ids: list[uuid.UUID], uow: UnitOfWork) -> list[SettlementResult]:
    with uow:
        found = uow.trades.lock(trade_ids)
        pending = [found[i] for i in dict.fromkeys(trade_ids) if i in found and found[i].status == TradeStatus.PENDING]
        settled = _settle_pending(uow, pending) if pending else {}

    results: list[SettlementResult] = []
    reported: set[uuid.UUID] = set()
    for trade_id in trade_ids:
        if trade_id not in found:
            results.append(UnknownTrade(f"no transaction {trade_id}"))
        elif trade_id in settled and trade_id not in reported:
            results.append(settled[trade_id])
            reported.add(trade_id)
        elif trade_id in settled:  # named twice in one batch: the first message settled it
            results.append(replace(settled[trade_id], changed=False, placed_at=None))
        else:  # an earlier delivery finalised it
            results.append(Settlement(trade_id, found[trade_id].status, found[trade_id].reason, changed=False))
    return results


def _settle_pending(uow: UnitOfWork, pending: list[Any]) -> dict[uuid.UUID, Settlement]:
    """Decide and write each pending trade, and commit. Their messages have been processed: their outbox rows,
    which stand for messages in flight, go with the commit (whatever state the orders are left in)."""
    settled, usernames = _finalize(uow, pending, rules.settle)
    uow.outbox.remove([trade.id for trade in pending])
    uow.record(TradesSettled(usernames, frozenset(trade.ticker for trade in pending)))
    uow.commit()
    return settled


Decide = Callable[[rules.Order, rules.Account], rules.Decision]


def _finalize(uow: UnitOfWork, pending: list[Any], decide: Decide) -> tuple[dict[uuid.UUID, Settlement],
                                                                            dict[uuid.UUID, str]]:
    """Take pending trades, locked by `uow.trades.lock`, to the final state `decide` gives each (settling, or a
    cancel): lock what they touch, decide each in turn, write it all, uncommitted.
    Returns what was done to each trade, and the name of each user whose account it touched."""
    accounts = _lock_accounts(uow, pending)
    now = datetime.now(UTC)
    done: dict[uuid.UUID, Settlement] = {}
    decisions: dict[uuid.UUID, dict[str, Any]] = {}
    for trade in pending:
        done[trade.id], decisions[trade.id] = _apply(trade, accounts, now, decide)
    uow.trades.record_settlements(decisions, accounts.balances, accounts.holdings, accounts.volumes)
    return done, {trade.user_id: accounts.usernames[trade.user_id] for trade in pending}


def cancel(user_ref: str, trade_id: uuid.UUID, uow: UnitOfWork) -> records.Trade:
    """Cancel a pending order of this user: 404 if it is not theirs, 409 naming its status if it is already
    settled or rejected; canceling a canceled order answers as the first cancel did."""
    with uow:
        user = uow.users.get(user_ref)
        locked = uow.trades.lock([trade_id]).get(trade_id)
        if locked is None or locked.user_id != user.id:
            raise NotFound(f"transaction {str(trade_id)!r} not found")
        if locked.status == TradeStatus.PENDING:
            _finalize(uow, [locked], rules.cancel)
            uow.outbox.remove([trade_id])  # a canceled order's message need not be sent again
            canceled = records.Trade.of(uow.trades.one(trade_id), username=user.username)
            uow.record(TradeCanceled(canceled, locked.reserved_cash, locked.reserved_quantity))
        elif locked.status != TradeStatus.CANCELED:
            raise Conflict(f"transaction is already {locked.status}; only a pending order can be canceled",
                           [{"field": "status", "value": locked.status}])
        else:
            canceled = records.Trade.of(uow.trades.one(trade_id), username=user.username)
        uow.commit()
    return canceled


def _lock_accounts(uow: UnitOfWork, pending: list[Any]) -> _Accounts:
    # Locks are taken in one global order, each kind sorted, so concurrent batches never wait on each other in a
    # cycle: trades (already held), then stocks, then users, then holdings. Stocks come first because batches
    # queue on a busy ticker's row: waiting there, a batch holds no user's row, so placements (which lock their
    # user, never a stock) do not wait behind a batch that is itself waiting.
    stocks = uow.stocks.lock({trade.ticker for trade in pending})
    users = uow.users.lock({trade.user_id for trade in pending})
    holdings = uow.holdings.lock_or_create((trade.user_id, trade.ticker) for trade in pending)
    return _Accounts(
        usernames={user.id: user.username for user in users.values()},
        balances={user.id: (user.balance, user.reserved_cash) for user in users.values()},
        holdings={(h.user_id, h.ticker): (h.quantity, h.reserved_quantity, h.average_entry_price) for h in holdings},
        prices={s.ticker: s.close_price for s in stocks.values()},
        volumes={s.ticker: s.volume for s in stocks.values()},
    )


def _apply(trade: Any, accounts: _Accounts, now: datetime, decide: Decide) -> tuple[Settlement, dict[str, Any]]:
    """Decide one trade against the rows as the batch's earlier trades left them, and update them in memory."""
    balance, reserved_cash = accounts.balances[trade.user_id]
    quantity, reserved_quantity, average = accounts.holdings[(trade.user_id, trade.ticker)]
    price, stock_volume = accounts.prices[trade.ticker], accounts.volumes[trade.ticker]
    order = rules.Order(trade.side, trade.volume, price, trade.reserved_cash, trade.reserved_quantity,
                        trade.limit_price)
    decision = decide(order, rules.Account(balance, reserved_cash, quantity, reserved_quantity, stock_volume,
                                           average))
    accounts.balances[trade.user_id] = (balance + decision.balance, reserved_cash + decision.reserved_cash)
    accounts.holdings[(trade.user_id, trade.ticker)] = (quantity + decision.quantity,
                                                         reserved_quantity + decision.reserved_quantity,
                                                         decision.average_entry_price)
    accounts.volumes[trade.ticker] = stock_volume + decision.stock_volume
    settled = decision.status == TradeStatus.SETTLED
    write = {"status": decision.status, "reason": decision.reason, "total": decision.total,
             "price": price if settled else None, "settled_at": now if settled else None,
             "canceled_at": now if decision.status == TradeStatus.CANCELED else None,
             "rejected_at": now if decision.status == TradeStatus.REJECTED else None,
             "realized_pl": decision.realized_pl}
    return Settlement(trade.id, decision.status, decision.reason, changed=True, placed_at=trade.created_at), write
