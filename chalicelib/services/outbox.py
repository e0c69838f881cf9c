"""The transactional outbox: a trade's settlement message is written in the trade's own transaction, sent after
commit, and re-sent by the relay if that send did not happen or the message was lost. Settlement removes the row,
so the outbox holds only pending trades. An accepted trade is never lost."""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.logs import get_logger
from chalicelib.adapters.trade_queue import TradeQueue

if TYPE_CHECKING:
    from chalicelib.services.unit_of_work import UnitOfWork


def deliver(uow: UnitOfWork, queue: TradeQueue, messages: dict[uuid.UUID, dict[str, Any]]) -> int:
    """Send messages and record in `uow` which went out; a failed send stays for the relay. Returns how many
    were sent."""
    result = queue.send({str(trade_id): body for trade_id, body in messages.items()})
    for trade_id in result.sent:
        get_logger().info("settlement message sent", extra={"event": "trade_queued", "transaction_id": trade_id})
    if result.sent:
        uow.outbox.mark_sent([uuid.UUID(trade_id) for trade_id in result.sent])
    for trade_id, error in result.failed.items():
        get_logger().warning("queue send failed; the outbox relay will retry",
                             extra={"event": "queue_send_failed", "transaction_id": trade_id, "error": error})
        uow.outbox.mark_failed(uuid.UUID(trade_id), error)
    return len(result.sent)


def relay(uow: UnitOfWork, queue: TradeQueue, min_age_s: float, resend_after_s: float, max_attempts: int,
          limit: int = 100) -> int:
    """Send what the API did not and re-send what was lost; concurrent relays skip each other's rows, which stay
    locked while they are sent. Returns how many were sent."""
    with uow:
        due = uow.outbox.due(min_age_s, resend_after_s, max_attempts, limit)
        if not due:
            return 0
        sent = deliver(uow, queue, due)
        uow.commit()
    get_logger().info("outbox relayed", extra={"event": "outbox_relayed", "sent": sent, "found": len(due)})
    return sent
