"""The trade update queue (SQS FIFO): what changed orders tell their owners' stream listeners, grouped by account,
so the notifier receives each account's updates in the order they were published, and deduplicated by the
update's id. Published right after the commit that made them; best effort: a send that fails is logged, and the
orders it speaks of are unharmed (a bot reconciles with `GET /v2/orders`)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.aws_clients import aws_client
from chalicelib.adapters.logs import get_logger
from chalicelib.config import get_settings
from chalicelib.domain import trade_updates
from chalicelib.lazy import lazy

if TYPE_CHECKING:
    from collections.abc import Sequence

    from chalicelib.domain.trade_updates import TradeUpdate

SQS_BATCH = 10


class UpdateQueue:
    def __init__(self, sqs: Any, queue_name: str) -> None:
        self._sqs = sqs
        self._queue_name = queue_name
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = self._sqs.get_queue_url(QueueName=self._queue_name)["QueueUrl"]
        return self._url

    def publish(self, updates: Sequence[TradeUpdate]) -> int:
        """Send the updates in order; how many the queue took. Never raises."""
        taken = 0
        for start in range(0, len(updates), SQS_BATCH):
            chunk = updates[start:start + SQS_BATCH]
            entries = [{"Id": str(i), "MessageGroupId": str(update.user_id),
                        "MessageDeduplicationId": str(update.id),
                        "MessageBody": json.dumps(trade_updates.encode(update), separators=(",", ":"))}
                       for i, update in enumerate(chunk)]
            try:
                answer = self._sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
            except Exception as exc:  # noqa: BLE001 - the stream is best effort; the orders are committed
                failed = [f"{type(exc).__name__}: {exc}"] * len(chunk)
            else:
                taken += len(answer.get("Successful", []))
                failed = [entry.get("Message", entry["Code"]) for entry in answer.get("Failed", [])]
            if failed:
                get_logger().warning("trade updates not published; their listeners miss them", extra={
                    "event": "trade_updates_unpublished", "count": len(failed), "error": failed[0]})
        return taken


@lazy
def get_update_queue() -> UpdateQueue:
    return UpdateQueue(aws_client("sqs"), get_settings().trade_updates_queue_name)
