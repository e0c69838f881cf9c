"""The settlement consumer (SQS edge): settles a batch of messages (in one transaction when it can, trade by trade
when it must) and reports each message on its own, failed ones in the partial batch response, so one bad message
never fails its batch mates. A failed message comes back after a short, growing delay (1, 2, 4, 8, then every
10 s), not after the queue's whole visibility timeout, so settlement resumes within seconds of the database
returning; one that keeps failing is left to the queue's redrive policy."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib import services
from chalicelib.adapters.logs import get_logger, get_metrics
from chalicelib.adapters.trade_queue import get_trade_queue
from chalicelib.api import market
from chalicelib.config import get_settings
from chalicelib.domain.messages import BookMessage, PoisonMessage, read
from chalicelib.domain.vocabulary import TradeStatus
from chalicelib.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from chalicelib.services.engine import Settlement
    from chalicelib.services.settlement import SettlementResult


def handle_batch(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda SQS handler body: returns {"batchItemFailures": [{"itemIdentifier": messageId}, ...]}."""
    # Only the consumer pays for the batch utilities, never an API function's cold start.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    started = time.perf_counter()
    parsed = {record["messageId"]: _parse(record["body"]) for record in event.get("Records") or []}
    results: dict[str, SettlementResult | BookResult] = {**_settle(parsed), **_evaluate_books(parsed, context)}
    batch_ms = round((time.perf_counter() - started) * 1000, 2)

    def report(record: Any) -> None:
        trade_id = parsed[record.message_id]
        result = results[record.message_id]
        if isinstance(result, BookResult):
            report_book(record, result)
            return
        report_result(record, trade_id if isinstance(trade_id, uuid.UUID) else None, result, batch_ms)

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    try:
        answer: dict[str, Any] = dict(process_partial_response(event=event, record_handler=report,
                                                               processor=processor, context=context))
        _retry_soon(event, {failure["itemIdentifier"] for failure in answer["batchItemFailures"]})
        return answer
    finally:
        # One Embedded Metric Format line per batch: CloudWatch turns it into metrics, no API call needed.
        get_metrics().flush_metrics()


# The longest a failed message waits before its next try. The queue's visibility timeout (180 s on AWS: six times
# the function's timeout, as AWS advises) is then only how long a crashed invocation's messages wait; and with the
# redrive policy's 20 receives, the database may be away for about 2.5 minutes before a message is dead-lettered
# (and the outbox relay sends it again).
RETRY_DELAY_CAP_S = 10


def retry_delay_s(receives: int) -> int:
    """How long a message that failed on its `receives`-th delivery waits for its next."""
    return int(min(2 ** max(0, receives - 1), RETRY_DELAY_CAP_S))


def _retry_soon(event: dict[str, Any], failed: set[str]) -> None:
    records = [record for record in event.get("Records") or [] if record["messageId"] in failed]
    if records:
        get_trade_queue().retry_after({
            record["receiptHandle"]: retry_delay_s(int(record.get("attributes", {}).get("ApproximateReceiveCount")
                                                       or 1))
            for record in records})


Parsed = uuid.UUID | BookMessage | PoisonMessage


def _parse(body: str) -> Parsed:
    try:
        return read(body)
    except PoisonMessage as poison:
        return poison


@dataclass(frozen=True)
class BookResult:
    """A book message's outcome: how many orders changed, or why it must be delivered again."""

    ticker: str
    changed: int | None  # None: the market is closed (the tick evaluates it at the open)
    failure: Exception | None = None


def _evaluate_books(parsed: dict[str, Parsed], context: Any) -> dict[str, BookResult]:
    """Each book message's book evaluated, while the invocation has time: one it runs out of time on is
    failed, so that its redelivery carries on where this one stopped."""
    settings = get_settings()
    deadline = time.monotonic() + settings.book_budget_s
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        deadline = min(deadline, time.monotonic() + context.get_remaining_time_in_millis() / 1000 / 2)
    results: dict[str, BookResult] = {}
    for message_id, message in parsed.items():
        if not isinstance(message, BookMessage):
            continue
        try:
            changed = services.settlement.evaluate_book(message.ticker, UnitOfWork(), market.clock(),
                                                        batch=settings.book_batch,
                                                        keep_going=lambda: time.monotonic() < deadline)
        except Exception as error:  # noqa: BLE001 - reported, and the message retried, for this book alone
            results[message_id] = BookResult(message.ticker, None, error)
            continue
        timed_out = changed is None and market.clock().is_open
        results[message_id] = BookResult(message.ticker, changed,
                                         TimeoutError("the book was not finished in time") if timed_out else None)
    return results


def report_book(record: Any, result: BookResult) -> None:
    if result.failure is not None:
        get_logger().warning("book evaluation not finished; its message will be delivered again",
                             extra={"event": "book_evaluation_failed", "ticker": result.ticker,
                                    "error": f"{type(result.failure).__name__}: {result.failure}"})
        raise result.failure
    get_metrics().add_metric(name="BookOrdersChanged", unit="Count", value=result.changed or 0)


def _settle(parsed: dict[str, Parsed]) -> dict[str, SettlementResult]:
    """The result for each settlement message; a poison message is its own result."""
    valid = {message_id: trade_id for message_id, trade_id in parsed.items() if isinstance(trade_id, uuid.UUID)}
    settled = services.settlement.settle_batch(list(valid.values()), UnitOfWork(), market.clock()) if valid else []
    results: dict[str, SettlementResult] = dict(zip(valid, settled, strict=True))
    results.update({message_id: poison for message_id, poison in parsed.items()
                    if isinstance(poison, PoisonMessage)})
    return results


def report_result(record: Any, trade_id: uuid.UUID | None, result: SettlementResult,
                  batch_ms: float) -> None:
    """One log line and the metrics for one message; raising marks the message failed for the partial response."""
    logger, metrics = get_logger(), get_metrics()
    receives = int(record.attributes.approximate_receive_count or 1)
    if isinstance(result, Exception):
        final = receives >= get_settings().trade_max_receive_count
        metrics.add_metric(name="TradesFailed", unit="Count", value=1)
        logger.error(
            "settlement failed; message goes to the dead-letter queue" if final else "settlement failed; will retry",
            extra={
                "event": "trade_settlement_failed",
                "outcome": "dead_lettered" if final else "retry",
                "transaction_id": str(trade_id) if trade_id else None,
                "message_id": record.message_id,
                "receive_count": receives,
                "error": f"{type(result).__name__}: {result}",
                "duration_ms": batch_ms,
            },
        )
        raise result
    _count(metrics, result)
    resting = not result.changed and result.status == TradeStatus.PENDING
    logger.info(
        f"transaction {result.status}" if result.changed else
        "transaction rests until the market reaches it" if resting else "transaction already final; delivery ignored",
        extra={
            "event": "trade_settled" if result.changed else "trade_resting" if resting else "trade_redelivered",
            "filled": result.filled,
            "outcome": result.status,
            "reason": result.reason,
            "transaction_id": str(result.trade_id),
            "message_id": record.message_id,
            "receive_count": receives,
            # The batch settled in one transaction: this is how long the batch took.
            "duration_ms": batch_ms,
        },
    )


def _count(metrics: Any, result: Settlement) -> None:
    if not result.changed:
        metrics.add_metric(name="TradesResting" if result.status == TradeStatus.PENDING else "TradesRedelivered",
                           unit="Count", value=1)
        return
    if result.status == TradeStatus.PENDING:
        metrics.add_metric(name="TradesPartlyFilled" if result.filled else "TradesTriggered", unit="Count", value=1)
        return
    metrics.add_metric(name="TradesSettled" if result.status == TradeStatus.SETTLED else "TradesRejected", unit="Count",
                       value=1)
    if result.placed_at is not None:
        latency_ms = (datetime.now(UTC) - result.placed_at).total_seconds() * 1000
        metrics.add_metric(name="SettlementLatency", unit="Milliseconds", value=round(latency_ms, 2))
