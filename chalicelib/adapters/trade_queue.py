"""The trade queue (SQS): sends settlement messages in batches of at most ten. Right after a placement commits its
message is sent and nothing is written back (no second transaction per order); the outbox relay sends what that
missed, and records on the outbox what it sent."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.aws_clients import aws_client
from chalicelib.adapters.logs import get_logger
from chalicelib.config import get_settings
from chalicelib.lazy import lazy

if TYPE_CHECKING:
    from chalicelib.adapters.repositories import Outbox

SQS_BATCH = 10


@dataclass(frozen=True)
class SendResult:
    sent: list[str]
    failed: dict[str, str]  # message id -> error


class TradeQueue:
    def __init__(self, sqs: Any, queue_name: str) -> None:
        self._sqs = sqs
        self._queue_name = queue_name
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = self._sqs.get_queue_url(QueueName=self._queue_name)["QueueUrl"]
        return self._url

    def send(self, messages: dict[str, dict[str, Any]]) -> SendResult:
        """Send {id: body} messages; never raises for delivery problems, it reports them per message."""
        sent: list[str] = []
        failed: dict[str, str] = {}
        ids = list(messages)
        for start in range(0, len(ids), SQS_BATCH):
            chunk = ids[start:start + SQS_BATCH]
            try:
                answer = self._sqs.send_message_batch(
                    QueueUrl=self.url,
                    Entries=[
                        {"Id": str(i), "MessageBody": json.dumps(messages[message_id], separators=(",", ":"))}
                        for i, message_id in enumerate(chunk)
                    ],
                )
            except Exception as exc:  # noqa: BLE001 - any transport or service error leaves the chunk unsent
                failed.update({message_id: f"{type(exc).__name__}: {exc}" for message_id in chunk})
                continue
            sent.extend(chunk[int(entry["Id"])] for entry in answer.get("Successful", []))
            failed.update({chunk[int(e["Id"])]: e.get("Message", e["Code"]) for e in answer.get("Failed", [])})
        return SendResult(sent, failed)

    def send_committed(self, messages: dict[uuid.UUID, dict[str, Any]]) -> set[uuid.UUID]:
        """Send messages whose outbox rows just committed; returns those sent. One that fails stays in the outbox,
        and the relay sends it once it is older than OUTBOX_RELAY_MIN_AGE_S."""
        result = self.send({str(trade_id): body for trade_id, body in messages.items()})
        for trade_id, error in result.failed.items():
            get_logger().warning("queue send failed; the outbox relay will send it",
                                 extra={"event": "queue_send_failed", "transaction_id": trade_id, "error": error})
        return {uuid.UUID(trade_id) for trade_id in result.sent}

    def deliver(self, outbox: Outbox, messages: dict[uuid.UUID, dict[str, Any]]) -> int:
        """Send outbox messages (the relay's) and record on `outbox` which went out and which failed.
        Returns how many were sent."""
        result = self.send({str(trade_id): body for trade_id, body in messages.items()})
        if result.sent:
            outbox.mark_sent([uuid.UUID(trade_id) for trade_id in result.sent])
        for trade_id, error in result.failed.items():
            get_logger().warning("queue send failed; the outbox relay will retry",
                                 extra={"event": "queue_send_failed", "transaction_id": trade_id, "error": error})
            outbox.mark_failed(uuid.UUID(trade_id), error)
        return len(result.sent)

    def retry_after(self, delays: dict[str, int]) -> None:
        """Make received messages visible again after {receipt handle: seconds}, rather than after the queue's whole
        visibility timeout. Best effort: a message this misses comes back when its visibility timeout ends."""
        entries = [{"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": delay}
                   for i, (handle, delay) in enumerate(delays.items())]
        for start in range(0, len(entries), SQS_BATCH):
            try:
                answer = self._sqs.change_message_visibility_batch(QueueUrl=self.url,
                                                                   Entries=entries[start:start + SQS_BATCH])
            except Exception as exc:  # noqa: BLE001 - the queue's own timeout brings the messages back anyway
                failed = [f"{type(exc).__name__}: {exc}"]
            else:
                failed = [entry.get("Message", entry["Code"]) for entry in answer.get("Failed", [])]
            if failed:
                get_logger().warning("could not shorten the wait of failed messages; they return after the "
                                     "visibility timeout", extra={"event": "retry_delay_failed", "error": failed[0]})

    def ping(self) -> None:
        self._sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])


@lazy
def get_trade_queue() -> TradeQueue:
    return TradeQueue(aws_client("sqs"), get_settings().trade_queue_name)
