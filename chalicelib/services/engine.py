"""The order engine's one move, shared by every use case that changes an open order (settling, evaluating the
book, expiring, canceling, replacing): with the orders locked, lock what they touch, decide each in turn by a
rule of chalicelib/domain/rules.py against the rows as the earlier ones left them, and write it all in one
round trip: the orders, their fills, the balances, holdings and volumes on offer.

Locks are taken in one global order, each kind sorted, so concurrent moves never wait on each other in a cycle:
trades (the caller's `uow.trades.lock`), then stocks, then users, then holdings. Stocks come first because
batches queue on a busy ticker's row: waiting there, a batch holds no user's row, so placements (which lock
their user, never a stock) do not wait behind a batch that is itself waiting."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

from chalicelib.domain import records, rules, trade_updates
from chalicelib.domain.trade_updates import TradeUpdate
from chalicelib.domain.vocabulary import OrderType, Side, TimeInForce, TradeStatus
from chalicelib.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Settlement:
    """What one move did to one order."""

    trade_id: uuid.UUID
    status: str
    reason: str | None
    # False when the order was already final, or simply goes on resting as it was.
    changed: bool
    placed_at: datetime | None = None
    filled: int = 0


Decide = Callable[[rules.Order, rules.Account], rules.Decision]


@dataclass
class Move:
    """The locked rows' current values, changed in memory as each order is decided, and what to write."""

    usernames: dict[uuid.UUID, str]
    balances: dict[uuid.UUID, tuple[Decimal, Decimal]]  # user -> (balance, reserved_cash)
    # (user, ticker) -> (quantity, reserved_quantity, average_entry_price)
    holdings: dict[tuple[uuid.UUID, str], tuple[int, int, Decimal]]
    prices: dict[str, Decimal]  # ticker -> close price
    volumes: dict[str, int]  # ticker -> volume on offer
    now: datetime
    done: dict[uuid.UUID, Settlement] = field(default_factory=dict)
    writes: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    fills: list[dict[str, Any]] = field(default_factory=list)
    updates: list[TradeUpdate] = field(default_factory=list)  # what the move tells the orders' owners


def lock(uow: UnitOfWork, orders: list[Any], now: datetime) -> Move:
    """Lock what `orders` (locked already) touch, and read it."""
    stocks = uow.stocks.lock({order.ticker for order in orders})
    users = uow.users.lock({order.user_id for order in orders})
    holdings = uow.holdings.lock_or_create((order.user_id, order.ticker) for order in orders)
    return Move(
        usernames={user.id: user.username for user in users.values()},
        balances={user.id: (user.balance, user.reserved_cash) for user in users.values()},
        holdings={(h.user_id, h.ticker): (h.quantity, h.reserved_quantity, h.average_entry_price) for h in holdings},
        prices={s.ticker: s.close_price for s in stocks.values()},
        volumes={s.ticker: s.volume for s in stocks.values()},
        now=now,
    )


def decide(move: Move, orders: list[Any], rule: Decide) -> Move:
    """Decide each order in turn, in the order given, updating `move` in memory."""
    for order in orders:
        _apply(move, order, rule)
    return move


def write(uow: UnitOfWork, move: Move) -> None:
    uow.trades.record_settlements(move.writes, move.balances, move.holdings, move.volumes, move.fills)


def touched(move: Move, orders: list[Any]) -> dict[uuid.UUID, str]:
    """The name of each user whose account the orders touched."""
    return {order.user_id: move.usernames[order.user_id] for order in orders}


def order_of(row: Any, price: Decimal) -> rules.Order:
    """A locked trade row as the rules read it, at the stock's current close."""
    return rules.Order(
        side=Side(row.side), volume=row.volume, price=price, reserved_cash=row.reserved_cash,
        reserved_quantity=row.reserved_quantity, limit_price=row.limit_price, order_type=OrderType(row.order_type),
        stop_price=row.stop_price, time_in_force=None if row.time_in_force is None else TimeInForce(row.time_in_force),
        filled_qty=row.filled_qty, triggered=row.triggered_at is not None, expires_at=row.expires_at)


def _apply(move: Move, trade: Any, rule: Decide) -> None:
    """Decide one order against the rows as the move's earlier orders left them, and update them in memory."""
    balance, reserved_cash = move.balances[trade.user_id]
    quantity, reserved_quantity, average = move.holdings[(trade.user_id, trade.ticker)]
    price, stock_volume = move.prices[trade.ticker], move.volumes[trade.ticker]
    decision = rule(order_of(trade, price),
                    rules.Account(balance, reserved_cash, quantity, reserved_quantity, stock_volume, average))
    move.done[trade.id] = Settlement(trade.id, decision.status, decision.reason, changed=decision.changed,
                                     placed_at=trade.created_at if decision.changed else None,
                                     filled=decision.filled)
    if not decision.changed:
        return
    move.balances[trade.user_id] = (balance + decision.balance, reserved_cash + decision.reserved_cash)
    move.holdings[(trade.user_id, trade.ticker)] = (quantity + decision.quantity,
                                                     reserved_quantity + decision.reserved_quantity,
                                                     decision.average_entry_price)
    move.volumes[trade.ticker] = stock_volume + decision.stock_volume
    move.writes[trade.id] = _written(trade, decision, move.now)
    fill = None
    if decision.filled:
        fill_id = uuid.uuid4()
        move.fills.append({"id": fill_id, "trade_id": trade.id, "user_id": trade.user_id,
                           "ticker": trade.ticker, "side": trade.side, "quantity": decision.filled,
                           "price": decision.price, "amount": decision.total, "realized_pl": decision.realized_pl,
                           "created_at": move.now})
        fill = (fill_id, decision.price, decision.filled, move.holdings[(trade.user_id, trade.ticker)][0])
    left = records.Trade.of(trade, **move.writes[trade.id], username=move.usernames[trade.user_id])
    move.updates += trade_updates.after_move(left, move.now, fill)


def _written(trade: Any, decision: rules.Decision, now: datetime) -> dict[str, Any]:
    """The order's columns after `decision`: its fill added to what filled before, what it still holds, and the
    time of the status it reached."""
    filled = trade.filled_qty + decision.filled
    total = trade.total
    if decision.total is not None:
        total = (total or Decimal("0")) + decision.total
    realized = trade.realized_pl
    if decision.realized_pl is not None:
        realized = (realized or Decimal("0")) + decision.realized_pl
    with localcontext() as exact:
        exact.prec = 60
        average = None if not filled else (total / filled).quantize(rules.EXACT_PLACES)
    final = decision.status != TradeStatus.PENDING
    status = decision.status
    return {
        "status": status, "reason": decision.reason, "total": total,
        "price": decision.price if decision.filled else trade.price,
        "filled_qty": filled, "filled_avg_price": average,
        "reserved_cash": Decimal("0") if final else trade.reserved_cash + decision.reserved_cash,
        "reserved_quantity": 0 if final else trade.reserved_quantity + decision.reserved_quantity,
        "settled_at": now if status == TradeStatus.SETTLED else None,
        "canceled_at": now if status == TradeStatus.CANCELED else None,
        "rejected_at": now if status == TradeStatus.REJECTED else None,
        "expired_at": now if status == TradeStatus.EXPIRED else None,
        "replaced_at": now if status == TradeStatus.REPLACED else None,
        "replaced_by": None,
        "triggered_at": trade.triggered_at or (now if decision.triggered else None),
        "realized_pl": realized,
    }
