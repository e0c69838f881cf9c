"""How the domain's records read in JSON answers (and in the cache, which holds answers): money as strings with
two decimals, times in ISO 8601 with "Z" for UTC, ids as strings. Plain functions, so a read the cache answers
never loads pydantic; tests hold each view to the response shape the OpenAPI document declares for it."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.domain.money import format_money

if TYPE_CHECKING:
    import uuid

    from chalicelib.domain.api_keys import IssuedKey
    from chalicelib.domain.models import ApiKey, Holding, PriceBar, Stock, User


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
    def client_order_id(self) -> str | None: ...


def user(record: User) -> dict[str, Any]:
    return {"user_id": str(record.id), "username": record.username, "balance": format_money(record.balance),
            "available_balance": format_money(record.available_balance), "created_at": moment(record.created_at)}


def user_created(record: User, key: ApiKey, issued: IssuedKey) -> dict[str, Any]:
    """The only answer that shows the user's first key; it is never shown again."""
    return {"message": "User created", "user_id": str(record.id), "username": record.username,
            "balance": format_money(record.balance), "key_id": key.id, "api_key": issued.token}


def key_created(key: ApiKey, issued: IssuedKey) -> dict[str, Any]:
    """The only answer that shows the key's secret."""
    return {"message": "key created", "key_id": key.id, "api_key": issued.token, "created_at": moment(key.created_at)}


def key_record(record: ApiKey, username: str | None) -> dict[str, Any]:
    """What the authorizer needs of a key, as the cache holds it: the secret's digest, never the secret."""
    return {"found": True, "digest": record.secret_digest, "scope": record.scope,
            "revoked": record.revoked_at is not None,
            "user_id": None if record.user_id is None else str(record.user_id), "username": username}


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


def holding(record: Holding) -> dict[str, Any]:
    return {"ticker": record.ticker, "quantity": record.quantity,
            "available": record.quantity - record.reserved_quantity}


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
