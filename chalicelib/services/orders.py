"""What an owner does to their open orders: cancel one, cancel all, replace one. Each locks the orders first, as
settlement does, and makes the engine's move (chalicelib/services/engine.py), so an owner's change and a fill
take the same rows in the same order and never deadlock; whichever locks the order first decides, whole: a fill
that races a cancel or a replace wins or loses entirely, and a delivery after either changes nothing."""
from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from chalicelib.domain import records, rules
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import Conflict, NotFound, Refused, ValidationFailed
from chalicelib.domain.events import TradeCanceled, TradeReplaced
from chalicelib.domain.messages import settlement_message
from chalicelib.domain.vocabulary import OrderType, Side, TimeInForce, TradeStatus
from chalicelib.services import engine
from chalicelib.services.unit_of_work import UnitOfWork


def cancel(user_ref: str, trade_id: uuid.UUID, uow: UnitOfWork, now: datetime) -> records.Trade:
    """Cancel an open order of this user: 404 if it is not theirs, 409 naming its status if it is already
    final; canceling a canceled order answers as the first cancel did. Its fills stand."""
    with uow:
        user = uow.users.get(user_ref)
        locked = uow.trades.lock([trade_id]).get(trade_id)
        if locked is None or locked.user_id != user.id:
            raise NotFound(f"transaction {str(trade_id)!r} not found")
        if locked.status == TradeStatus.PENDING:
            _cancel(uow, [locked], now)
        elif locked.status != TradeStatus.CANCELED:
            raise Conflict(f"transaction is already {locked.status}; only an open order can be canceled",
                           [{"field": "status", "value": locked.status}])
        canceled = records.Trade.of(uow.trades.one(trade_id), username=user.username)
        if locked.status == TradeStatus.PENDING:
            uow.record(TradeCanceled(canceled, locked.reserved_cash, locked.reserved_quantity))
        uow.commit()
    return canceled


def cancel_all(user_ref: str, uow: UnitOfWork, now: datetime) -> list[records.Trade]:
    """Cancel every open order of this user; the orders it canceled (an order a fill finished first is not)."""
    with uow:
        user = uow.users.get(user_ref)
        locked = uow.trades.lock(uow.trades.open_ids(user.id))
        orders = [order for order in locked.values() if order.status == TradeStatus.PENDING]
        if orders:
            _cancel(uow, orders, now)
        canceled = [records.Trade.of(uow.trades.one(order.id), username=user.username) for order in orders]
        for order, record in zip(orders, canceled, strict=True):
            uow.record(TradeCanceled(record, order.reserved_cash, order.reserved_quantity))
        uow.commit()
    return canceled


def _cancel(uow: UnitOfWork, orders: list[Any], now: datetime) -> None:
    engine.write(uow, engine.decide(engine.lock(uow, orders, now), orders, rules.cancel))
    uow.outbox.remove([order.id for order in orders])  # a canceled order's message need not be sent again


class Changes(Protocol):
    """What a replace may change (validated at the edge); None keeps the order's own."""

    @property
    def quantity(self) -> int | None: ...

    @property
    def limit_price(self) -> Decimal | None: ...

    @property
    def stop_price(self) -> Decimal | None: ...

    @property
    def time_in_force(self) -> TimeInForce | None: ...

    @property
    def client_order_id(self) -> str | None: ...


def replace(user_ref: str, trade_id: uuid.UUID, changes: Changes, uow: UnitOfWork, clock: Clock) -> records.Trade:
    """Replace an open order: in one transaction the old one becomes `replaced` and a new one, linked to it both
    ways, takes its place with what the old one held moved to it (and topped up or given back to what the new
    one needs). The new order asks for `quantity` shares (by default what the old one left unfilled) and is
    evaluated like any new order. 404 if not theirs, 409 if already final, 400 if what it needs is not there."""
    with uow:
        user = uow.users.get(user_ref)
        rules.ensure_trading(user.trading_suspended)
        old = uow.trades.lock([trade_id]).get(trade_id)
        if old is None or old.user_id != user.id:
            raise NotFound(f"transaction {str(trade_id)!r} not found")
        if old.status != TradeStatus.PENDING:
            raise Conflict(f"transaction is already {old.status}; only an open order can be replaced",
                           [{"field": "status", "value": old.status}])
        move = engine.decide(engine.lock(uow, [old], clock.now), [old], rules.replaced)
        new = _successor(old, changes, move.prices[old.ticker], clock)
        _reserve(move, old, new)
        new_id = uuid.uuid4()
        cash, shares = rules.reservation(new)
        client_order_id = changes.client_order_id
        if client_order_id is not None and uow.trades.by_idempotency_key(user.id, f"order:{client_order_id}"):
            raise Conflict("client_order_id is already used by another order", [{"field": "client_order_id"}])
        uow.trades.add(
            id=new_id, user_id=old.user_id, ticker=old.ticker, side=old.side, volume=new.volume,
            reserved_cash=cash, reserved_quantity=shares, status=TradeStatus.PENDING, order_type=new.type,
            limit_price=new.limit_price, stop_price=new.stop_price, time_in_force=new.time_in_force,
            expires_at=new.expires_at, replaces=old.id, client_order_id=client_order_id,
            idempotency_key=None if client_order_id is None else f"order:{client_order_id}")
        uow.outbox.add(new_id, settlement_message(new_id))
        move.writes[old.id]["replaced_by"] = new_id
        engine.write(uow, move)
        replaced = records.Trade.of(uow.trades.one(old.id), username=user.username)
        successor = records.Trade.of(uow.trades.one(new_id), username=user.username)
        uow.record(TradeReplaced(replaced, successor))
        uow.commit()
    return successor


def _successor(old: Any, changes: Changes, price: Decimal, clock: Clock) -> rules.Order:
    order_type = OrderType(old.order_type)
    limit_price = changes.limit_price if changes.limit_price is not None else old.limit_price
    stop_price = changes.stop_price if changes.stop_price is not None else old.stop_price
    time_in_force = changes.time_in_force or (None if old.time_in_force is None else TimeInForce(old.time_in_force))
    problems = rules.order_problems(order_type, limit_price, stop_price, time_in_force)
    if problems:
        raise ValidationFailed.naming(problems)
    return rules.Order(
        side=Side(old.side), volume=changes.quantity or old.volume - old.filled_qty, price=price,
        limit_price=limit_price, order_type=order_type, stop_price=stop_price, time_in_force=time_in_force,
        expires_at=clock.day_order_expires_at if time_in_force == TimeInForce.DAY else None)


def _reserve(move: engine.Move, old: Any, new: rules.Order) -> None:
    """Set aside what `new` needs from what the release of `old` left available, or refuse the replace."""
    balance, reserved_cash = move.balances[old.user_id]
    quantity, reserved_quantity, average = move.holdings[(old.user_id, old.ticker)]
    account = rules.Account(balance, reserved_cash, quantity, reserved_quantity, move.volumes[old.ticker], average)
    reason = rules.pre_check(new, account)
    if reason is not None:
        raise Refused(reason, f"the replacement needs more than is available ({reason})")
    cash, shares = rules.reservation(new)
    move.balances[old.user_id] = (balance, reserved_cash + cash)
    move.holdings[(old.user_id, old.ticker)] = (quantity, reserved_quantity + shares, average)
