"""The transactional outbox: a trade's queue message is written in the trade's own database transaction, sent
after commit, and re-sent by the relay if that send did not happen or the message was lost. Settlement deletes
the row, so the outbox holds only pending trades. An accepted trade is never lost."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from chalicelib.logs import get_logger
from chalicelib.models import OutboxMessage
from chalicelib.queue import TradeQueue
from chalicelib.unit_of_work import UnitOfWork


class Outbox:
    def __init__(self, queue: Callable[[], TradeQueue], unit_of_work: Callable[[], UnitOfWork] = UnitOfWork) -> None:
        self._queue = queue
        self._unit_of_work = unit_of_work

    def add(self, uow: UnitOfWork, trade_id: uuid.UUID) -> None:
        """Record the message in `uow`'s transaction and send it once that transaction commits."""
        uow.session.add(OutboxMessage(trade_id=trade_id, payload=settlement_message(trade_id)))
        uow.after_commit(lambda: self.publish({trade_id: settlement_message(trade_id)}))

    def publish(self, messages: dict[uuid.UUID, dict[str, Any]]) -> int:
        """Send messages and record which went out; a failed send stays for the relay. Returns how many were sent."""
        with self._unit_of_work() as uow:
            sent = self._send_and_record(uow, messages)
            uow.commit()
        return sent

    def relay(self, min_age_s: float, resend_after_s: float, max_attempts: int, limit: int = 100) -> int:
        """Send what the API did not (unsent rows older than `min_age_s`) and re-send what was lost (trades still
        pending `resend_after_s` after their last send). Concurrent relays skip each other's rows."""
        now = datetime.now(UTC)
        with self._unit_of_work() as uow:
            rows = uow.session.execute(
                select(OutboxMessage.trade_id, OutboxMessage.payload)
                .where(
                    OutboxMessage.attempts < max_attempts,
                    or_(
                        and_(OutboxMessage.sent_at.is_(None),
                             OutboxMessage.created_at <= now - timedelta(seconds=min_age_s)),
                        OutboxMessage.sent_at <= now - timedelta(seconds=resend_after_s),
                    ),
                )
                .order_by(OutboxMessage.created_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return 0
            # The rows stay locked while they are sent, so two relays never send the same row at once.
            sent = self._send_and_record(uow, {row.trade_id: row.payload for row in rows})
            uow.commit()
        get_logger().info("outbox relayed", extra={"event": "outbox_relayed", "sent": sent, "found": len(rows)})
        return sent

    def settled(self, uow: UnitOfWork, trade_ids: list[uuid.UUID]) -> None:
        """The trades are final: their messages are no longer needed (called in the settling transaction)."""
        uow.session.execute(delete(OutboxMessage).where(OutboxMessage.trade_id.in_(trade_ids)))

    def _send_and_record(self, uow: UnitOfWork, messages: dict[uuid.UUID, dict[str, Any]]) -> int:
        result = self._queue().send({str(trade_id): body for trade_id, body in messages.items()})
        for trade_id in result.sent:
            get_logger().info("settlement message sent", extra={"event": "trade_queued", "transaction_id": trade_id})
        if result.sent:
            uow.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.trade_id.in_([uuid.UUID(i) for i in result.sent]))
                .values(sent_at=datetime.now(UTC), attempts=OutboxMessage.attempts + 1, last_error=None)
            )
        for trade_id, error in result.failed.items():
            get_logger().warning(
                "queue send failed; the outbox relay will retry",
                extra={"event": "queue_send_failed", "transaction_id": trade_id, "error": error},
            )
            uow.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.trade_id == uuid.UUID(trade_id))
                .values(attempts=OutboxMessage.attempts + 1, last_error=error[:1000])
            )
        return len(result.sent)


def settlement_message(trade_id: uuid.UUID) -> dict[str, Any]:
    return {"type": "trade.placed", "version": 1, "trade_id": str(trade_id)}


_outbox: Outbox | None = None


def get_outbox() -> Outbox:
    global _outbox
    if _outbox is None:
        from chalicelib.queue import get_trade_queue

        _outbox = Outbox(get_trade_queue)
    return _outbox
