"""How the domain's records read in this surface's JSON (and in the cache, which holds rendered answers): money
as strings with two decimals, times in ISO 8601 with "Z" for UTC, ids as strings. Plain functions, so a read the
cache answers never loads pydantic; tests hold each to the response shape the OpenAPI document declares."""
from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from chalicelib.domain.moments import iso as moment
from chalicelib.domain.money import format_money
from chalicelib.domain.vocabulary import classic_status

if TYPE_CHECKING:
    from datetime import datetime

    from chalicelib.api.classic import answers
    from chalicelib.domain import records
    from chalicelib.domain.clock import Clock, Session


def account(record: records.Account) -> answers.UserOut:
    """Equity is cash plus what the shares are worth; buying power is the cash not set aside for pending buys."""
    user = record.user
    return {"user_id": str(user.id), "username": user.username, "balance": format_money(user.balance),
            "available_balance": format_money(user.available_balance),
            "buying_power": format_money(user.available_balance),
            "equity": format_money(user.balance + record.market_value), "created_at": moment(user.created_at)}


def user_created(record: records.NewUser) -> answers.UserCreated:
    """The only answer that shows the user's first key; it is never shown again."""
    return {"message": "User created", "user_id": str(record.user.id), "username": record.user.username,
            "balance": format_money(record.user.balance), "key_id": record.key.key_id, "api_key": record.key.token}


def key_created(key: records.NewKey) -> answers.KeyCreated:
    """The only answer that shows the key's secret."""
    return {"message": "key created", "key_id": key.key_id, "api_key": key.token,
            "created_at": moment(key.created_at)}


def key(record: records.Key) -> answers.KeyOut:
    return {"key_id": record.key_id, "created_at": moment(record.created_at),
            "last_used_at": None if record.last_used_at is None else moment(record.last_used_at)}


def key_revoked(key_id: str) -> answers.KeyRevoked:
    return {"message": "key revoked", "key_id": key_id}


def stock(record: records.Stock) -> answers.StockOut:
    return {"ticker": record.ticker, "open_price": format_money(record.open_price),
            "close_price": format_money(record.close_price), "high": format_money(record.high),
            "low": format_money(record.low), "volume": record.volume, "created_at": moment(record.created_at),
            "price_as_of": moment(record.price_as_of)}


def stock_created(record: records.Stock) -> answers.StockCreated:
    return {"message": "stock created", "stock": stock(record)}


def bar(record: records.Bar) -> answers.BarOut:
    return {"ticker": record.ticker, "timestamp": moment(record.timestamp),
            "open_price": format_money(record.open_price), "close_price": format_money(record.close_price),
            "high": format_money(record.high), "low": format_money(record.low), "volume": record.volume}


def bar_recorded(record: records.BarRecorded) -> answers.BarRecorded:
    return {"message": "bar recorded" if record.latest else "bar recorded in the history; a later bar sets the price",
            "latest": record.latest, "bar": bar(record.bar), "stock": stock(record.stock)}


# unrealized_plpc is a fraction (0.0525 is 5.25 %), rounded half-even to this many places.
PLPC_PLACES = Decimal("0.000001")


def holding(record: records.Position) -> answers.HoldingOut:
    """Every figure is computed from unrounded values and rounded half-even once, here: cost basis is average
    entry price x quantity, market value close price x quantity, unrealized P/L their difference."""
    plpc = record.unrealized_plpc
    return {"ticker": record.ticker, "quantity": record.quantity, "available": record.available,
            "average_entry_price": format_money(record.average_entry_price),
            "current_price": format_money(record.close_price),
            "cost_basis": format_money(record.cost_basis), "market_value": format_money(record.market_value),
            "unrealized_pl": format_money(record.unrealized_pl),
            "unrealized_plpc": None if plpc is None else f"{plpc.quantize(PLPC_PLACES):f}"}


def cash_moved(record: records.CashMoved) -> answers.CashMoved:
    return {"message": f"{record.movement.kind} recorded", "movement": cash_movement(record.movement),
            "balance": format_money(record.user.balance),
            "available_balance": format_money(record.user.available_balance)}


def cash_movement(record: records.CashMovement) -> answers.CashMovementOut:
    return {"id": str(record.id), "type": record.kind, "amount": format_money(record.amount),
            "timestamp": moment(record.created_at)}


def activity(record: records.Activity) -> answers.ActivityOut:
    """`amount` is always positive (`side` and `type` say which way)."""
    return {"type": record.kind, "id": str(record.id),
            "transaction_id": None if record.trade_id is None else str(record.trade_id), "timestamp": moment(record.at),
            "amount": _money(record.amount), "ticker": record.ticker, "side": record.side, "volume": record.volume,
            "price": _money(record.price), "reason": record.reason}


def trade(record: records.Trade) -> answers.TradeOut:
    return {
        "transaction_id": str(record.id),
        "user": record.username,
        "user_id": str(record.user_id),
        "ticker": record.ticker,
        "transaction_type": record.side,
        "transaction_volume": record.volume,
        "transaction_price": _money(record.price),
        "total": _money(record.total),
        "status": classic_status(record.status),
        "order_status": record.order_status,
        "reason": record.reason,
        "timestamp": moment(record.created_at),
        "settled_at": _moment(record.settled_at),
        "canceled_at": _moment(record.canceled_at or record.expired_at or record.replaced_at),
        "order_type": record.order_type,
        "limit_price": _money(record.limit_price),
        "stop_price": _money(record.stop_price),
        "triggered_at": _moment(record.triggered_at),
        "filled_qty": record.filled_qty,
        "filled_avg_price": _money(record.filled_avg_price),
        "realized_pl": _money(record.realized_pl),
        "time_in_force": record.time_in_force,
        "expires_at": _moment(record.expires_at),
        "ended_at": _moment(record.ended_at),
        "replaces": None if record.replaces is None else str(record.replaces),
        "replaced_by": None if record.replaced_by is None else str(record.replaced_by),
        "client_order_id": record.client_order_id,
    }


def fill(record: records.Fill) -> answers.FillOut:
    return {"fill_id": str(record.id), "transaction_id": str(record.trade_id), "ticker": record.ticker,
            "side": record.side, "quantity": record.quantity, "price": format_money(record.price),
            "amount": format_money(record.amount), "timestamp": moment(record.created_at)}


def clock(now: Clock) -> answers.ClockOut:
    return {"timestamp": moment(now.now), "is_open": now.is_open, "next_open": moment(now.next_open),
            "next_close": moment(now.next_close), "calendar": now.calendar.name}


def session(day: Session) -> answers.SessionOut:
    return {"date": day.date.isoformat(), "open": moment(day.open), "close": moment(day.close)}


def _moment(at: datetime | None) -> str | None:
    return None if at is None else moment(at)


def trade_accepted(record: records.Trade) -> answers.TradeAccepted:
    return {**trade(record), "message": "Transaction is in progress."}


def trade_canceled(record: records.Trade) -> answers.TradeCanceled:
    return {**trade(record), "message": "Transaction canceled."}


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else format_money(amount)
