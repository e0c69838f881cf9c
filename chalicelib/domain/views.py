"""How the domain's records read in JSON answers (and in the cache, which holds answers): money as strings with
two decimals, times in ISO 8601 with "Z" for UTC, ids as strings. Plain functions, so a read the cache answers
never loads pydantic; tests hold each view to the response shape the OpenAPI document declares for it."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.domain.money import format_money

if TYPE_CHECKING:
    import uuid

    from chalicelib.adapters.tables import ApiKey, CashMovement, PriceBar, Stock, User
    from chalicelib.domain.api_keys import IssuedKey


class TradeRecord(Protocol):
    """A trade as stored: the model, or the row the one-statement placement returns."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def user_id(self) -> uuid.UUID: ...
    @property
    def ticker(self) -> str: ...
    @property
    def side(self) -> str: ...
    @property
    def volume(self) -> int: ...
    @property
    def reserved_cash(self) -> Decimal: ...
    @property
    def price(self) -> Decimal | None: ...
    @property
    def total(self) -> Decimal | None: ...
    @property
    def status(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def settled_at(self) -> datetime | None: ...
    @property
    def canceled_at(self) -> datetime | None: ...
    @property
    def limit_price(self) -> Decimal | None: ...
    @property
    def time_in_force(self) -> str: ...
    @property
    def realized_pl(self) -> Decimal | None: ...
    @property
    def client_order_id(self) -> str | None: ...


def user(record: User, market_value: Decimal = Decimal("0")) -> dict[str, Any]:
    """`market_value`: what the user's shares are worth at current prices; equity is cash plus that, and buying
    power is the cash not set aside for pending buys."""
    return {"user_id": str(record.id), "username": record.username, "balance": format_money(record.balance),
            "available_balance": format_money(record.available_balance),
            "buying_power": format_money(record.available_balance),
            "equity": format_money(record.balance + market_value), "created_at": moment(record.created_at)}


def user_created(record: User, key: ApiKey, issued: IssuedKey) -> dict[str, Any]:
    """The only answer that shows the user's first key; it is never shown again."""
    return {"message": "User created", "user_id": str(record.id), "username": record.username,
            "balance": format_money(record.balance), "key_id": key.id, "api_key": issued.token}


def key_created(key: ApiKey, issued: IssuedKey) -> dict[str, Any]:
    """The only answer that shows the key's secret."""
    return {"message": "key created", "key_id": key.id, "api_key": issued.token, "created_at": moment(key.created_at)}


def key(record: ApiKey, last_used_at: datetime | None) -> dict[str, Any]:
    """A key as its owner lists it: never its secret, nor its digest."""
    return {"key_id": record.id, "created_at": moment(record.created_at),
            "last_used_at": None if last_used_at is None else moment(last_used_at)}


def stock(record: Stock) -> dict[str, Any]:
    """The stock's current prices (its latest bar's) and the volume on offer."""
    return {"ticker": record.ticker, "open_price": format_money(record.open_price),
            "close_price": format_money(record.close_price), "high": format_money(record.high),
            "low": format_money(record.low), "volume": record.volume, "created_at": moment(record.created_at),
            "price_as_of": moment(record.price_as_of)}


def bar(record: PriceBar) -> dict[str, Any]:
    return {"ticker": record.ticker, "timestamp": moment(record.timestamp),
            "open_price": format_money(record.open_price), "close_price": format_money(record.close_price),
            "high": format_money(record.high), "low": format_money(record.low), "volume": record.volume}


def bar_recorded(record: PriceBar, stock_now: Stock, *, latest: bool) -> dict[str, Any]:
    """`latest`: the bar moved the stock's price; an older bar only joined the history."""
    return {"message": "bar recorded" if latest else "bar recorded in the history; a later bar sets the price",
            "latest": latest, "bar": bar(record), "stock": stock(stock_now)}


def stock_created(record: Stock) -> dict[str, Any]:
    return {"message": "stock created", "stock": stock(record)}


class Position(Protocol):
    """A holding with its stock's current close price."""

    @property
    def ticker(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def reserved_quantity(self) -> int: ...
    @property
    def average_entry_price(self) -> Decimal: ...
    @property
    def close_price(self) -> Decimal: ...


# unrealized_plpc is a fraction (0.0525 is 5.25 %), rounded half-even to this many places.
PLPC_PLACES = Decimal("0.000001")


def holding(record: Position) -> dict[str, Any]:
    """A position. Every figure is computed from unrounded values and rounded half-even once, here: cost basis is
    average entry price x quantity, market value close price x quantity, unrealized P/L their difference."""
    with localcontext() as exact:  # wide enough that nothing is rounded before the one rounding below
        exact.prec = 60
        cost_basis = record.average_entry_price * record.quantity
        market_value = record.close_price * record.quantity
        unrealized = market_value - cost_basis
        plpc = None if not cost_basis else f"{(unrealized / cost_basis).quantize(PLPC_PLACES):f}"
    return {"ticker": record.ticker, "quantity": record.quantity,
            "available": record.quantity - record.reserved_quantity,
            "average_entry_price": format_money(record.average_entry_price),
            "current_price": format_money(record.close_price),
            "cost_basis": format_money(cost_basis), "market_value": format_money(market_value),
            "unrealized_pl": format_money(unrealized),
            "unrealized_plpc": plpc}


def cash_moved(record: CashMovement, owner: User) -> dict[str, Any]:
    return {"message": f"{record.kind} recorded", "movement": cash_movement(record),
            "balance": format_money(owner.balance), "available_balance": format_money(owner.available_balance)}


def cash_movement(record: CashMovement) -> dict[str, Any]:
    return {"id": str(record.id), "type": record.kind, "amount": format_money(record.amount),
            "timestamp": moment(record.created_at)}


class ActivityRow(Protocol):
    """One entry of the activity feed, as the repository reads it."""

    @property
    def kind(self) -> str: ...
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def at(self) -> datetime: ...
    @property
    def amount(self) -> Decimal | None: ...
    @property
    def ticker(self) -> str | None: ...
    @property
    def side(self) -> str | None: ...
    @property
    def volume(self) -> int | None: ...
    @property
    def price(self) -> Decimal | None: ...
    @property
    def reason(self) -> str | None: ...


def activity(record: ActivityRow) -> dict[str, Any]:
    """`amount` is the cash a fill, deposit or withdrawal moved (always positive; `side` and `type` say which
    way); null for a rejection or a cancel, which moved none."""
    return {"type": record.kind, "id": str(record.id), "timestamp": moment(record.at),
            "amount": _money(record.amount), "ticker": record.ticker, "side": record.side, "volume": record.volume,
            "price": _money(record.price), "reason": record.reason}


def trade(record: TradeRecord, username: str) -> dict[str, Any]:
    return {
        "transaction_id": str(record.id),
        "user": username,
        "user_id": str(record.user_id),
        "ticker": record.ticker,
        "transaction_type": record.side,
        "transaction_volume": record.volume,
        "transaction_price": _money(record.price),
        "total": _money(record.total),
        "status": record.status,
        "reason": record.reason,
        "timestamp": moment(record.created_at),
        "settled_at": None if record.settled_at is None else moment(record.settled_at),
        "canceled_at": None if record.canceled_at is None else moment(record.canceled_at),
        "limit_price": _money(record.limit_price),
        "realized_pl": _money(record.realized_pl),
        "time_in_force": record.time_in_force,
        "client_order_id": record.client_order_id,
    }


def trade_accepted(record: TradeRecord, username: str) -> dict[str, Any]:
    return {**trade(record, username), "message": "Transaction is in progress."}


def trade_canceled(record: TradeRecord, username: str) -> dict[str, Any]:
    return {**trade(record, username), "message": "Transaction canceled."}


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else format_money(amount)


def moment(at: datetime) -> str:
    """A time as every answer writes it: ISO 8601, "Z" for UTC."""
    text = at.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
