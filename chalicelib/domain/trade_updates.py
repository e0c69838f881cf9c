"""What happened to an order, as its owner's trade update stream tells it (Alpaca's `trade_updates`): the event,
the order as the change left it, and for a fill its price, quantity and the position after it. Made by the use
case that changed the order, published after its commit, rendered by the stream's notifier; plain data here, with
the JSON form it travels in through the queue."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from chalicelib.domain.records import Trade
from chalicelib.domain.vocabulary import TradeStatus

# Ids of updates that are not fills: the same change of the same order always has the same id, so a publish
# repeated (a redelivery, a retried send) is one update to the queue's deduplication and to a client.
_UPDATE_IDS = uuid.UUID("5c7bdf0e-3a52-4bd4-9c6b-7c0f3f0f6a51")


class UpdateEvent(StrEnum):
    """The events tradeapi makes, each one Alpaca's TradeEvent accepts."""

    NEW = "new"
    FILL = "fill"
    PARTIAL_FILL = "partial_fill"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REPLACED = "replaced"
    REJECTED = "rejected"


@dataclass(frozen=True)
class TradeUpdate:
    id: uuid.UUID  # a fill's own id (Alpaca's execution_id), else derived from the order and its change
    event: UpdateEvent
    order: Trade  # as the change left it
    at: datetime
    price: Decimal | None = None  # a fill's
    qty: int | None = None  # a fill's
    position_qty: int | None = None  # the position after a fill

    @property
    def user_id(self) -> uuid.UUID:
        return self.order.user_id


def placed(order: Trade) -> TradeUpdate:
    return TradeUpdate(_update_id(order, UpdateEvent.NEW), UpdateEvent.NEW, order, order.created_at)


def ended(order: Trade, at: datetime) -> TradeUpdate:
    """The update of an order that became final without a fill (canceled, expired, replaced, rejected)."""
    event = _FINAL_EVENTS[order.status]
    return TradeUpdate(_update_id(order, event), event, order, at)


def filled(order: Trade, fill_id: uuid.UUID, at: datetime, price: Decimal | None, qty: int,
           position_qty: int) -> TradeUpdate:
    event = UpdateEvent.FILL if order.status == TradeStatus.SETTLED else UpdateEvent.PARTIAL_FILL
    return TradeUpdate(fill_id, event, order, at, price, qty, position_qty)


def after_move(order: Trade, at: datetime,
               fill: tuple[uuid.UUID, Decimal | None, int, int] | None) -> list[TradeUpdate]:
    """The updates one engine move on an order makes: its fill (if any: id, price, quantity, position after),
    then its end, if it ended without filling whole (an ioc's remainder canceled, a rejection, an expiry)."""
    updates = []
    if fill is not None:
        updates.append(filled(order, fill[0], at, fill[1], fill[2], fill[3]))
    if order.status in _FINAL_EVENTS:
        updates.append(ended(order, at))
    return updates


_FINAL_EVENTS = {TradeStatus.CANCELED: UpdateEvent.CANCELED, TradeStatus.EXPIRED: UpdateEvent.EXPIRED,
                 TradeStatus.REPLACED: UpdateEvent.REPLACED, TradeStatus.REJECTED: UpdateEvent.REJECTED}


def _update_id(order: Trade, event: UpdateEvent) -> uuid.UUID:
    return uuid.uuid5(_UPDATE_IDS, f"{order.id}:{event}:{order.filled_qty}")


def encode(update: TradeUpdate) -> dict[str, Any]:
    """The update as JSON-ready values (ids, amounts and times as strings)."""
    return {"id": str(update.id), "event": update.event.value, "at": update.at.isoformat(),
            "price": None if update.price is None else str(update.price), "qty": update.qty,
            "position_qty": update.position_qty,
            "order": {field.name: _plain(getattr(update.order, field.name)) for field in fields(Trade)}}


def decode(message: dict[str, Any]) -> TradeUpdate:
    """The update `encode` made; a field the order's record no longer has is ignored, one it gained defaults."""
    known = {field.name: field for field in fields(Trade)}
    order = {name: _typed(known[name].type, value) for name, value in message["order"].items() if name in known}
    price = message.get("price")
    return TradeUpdate(uuid.UUID(message["id"]), UpdateEvent(message["event"]), Trade.of_mapping(order),
                       datetime.fromisoformat(message["at"]), None if price is None else Decimal(price),
                       message.get("qty"), message.get("position_qty"))


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _typed(annotation: Any, value: Any) -> Any:
    """A plain value read back as the record's field type says (annotations are strings here)."""
    if value is None:
        return None
    spelled = str(annotation)
    if "uuid.UUID" in spelled:
        return uuid.UUID(value)
    if "Decimal" in spelled:
        return Decimal(value)
    if "datetime" in spelled:
        return datetime.fromisoformat(value)
    return value
