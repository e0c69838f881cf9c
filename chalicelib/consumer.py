"""The settlement consumer: settles an SQS batch (in one transaction when it can, trade by trade when it must)
and reports each message on its own, failed ones in the partial batch response, so one bad message never fails
its batch mates."""
from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from chalicelib.cache import get_cache
from chalicelib.config import get_settings
from chalicelib.logs import get_logger
from chalicelib.outbox import get_outbox
from chalicelib.services import settlement
from chalicelib.unit_of_work import UnitOfWork


class PoisonMessage(ValueError):
    """A message this consumer can never process (not JSON, no trade id)."""


def handle_batch(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda SQS handler body: returns {"batchItemFailures": [{"itemIdentifier": messageId}, ...]}."""
    # Imported here: only the consumer function pays for the batch utilities, never the API's cold start.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    started = time.perf_counter()
    records = event.get("Records") or []
    trade_ids: dict[str, uuid.UUID | PoisonMessage] = {}
    for record in records:
        try:
            trade_ids[record["messageId"]] = parse_message(record["body"])
        except PoisonMessage as poison:
            trade_ids[record["messageId"]] = poison
    valid = [(message_id, t) for message_id, t in trade_ids.items() if isinstance(t, uuid.UUID)]
    outcomes = settlement.settle_batch([t for _, t in valid], UnitOfWork, get_cache(), get_outbox()) if valid else []
    outcome_of: dict[str, settlement.Outcome] = {message_id: o for (message_id, _), o in zip(valid, outcomes)}
    batch_ms = round((time.perf_counter() - started) * 1000, 2)

    def report(record: Any) -> None:
        parsed = trade_ids[record.message_id]
        outcome = parsed if isinstance(parsed, PoisonMessage) else outcome_of[record.message_id]
        report_outcome(record, None if isinstance(parsed, PoisonMessage) else parsed, outcome, batch_ms)

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    try:
        return process_partial_response(event=event, record_handler=report, processor=processor, context=context)
    finally:
        # One Embedded Metric Format line per batch: CloudWatch turns it into metrics, no API call needed.
        get_metrics().flush_metrics()


def report_outcome(record: Any, trade_id: uuid.UUID | None, outcome: settlement.Outcome, batch_ms: float) -> None:
    """One log line and the metrics for one message; raising marks the message failed for the partial response."""
    logger, metrics = get_logger(), get_metrics()
    receives = int(record.attributes.approximate_receive_count or 1)
    if isinstance(outcome, Exception):
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
                "error": f"{type(outcome).__name__}: {outcome}",
                "duration_ms": batch_ms,
            },
        )
        raise outcome
    if outcome.changed:
        metrics.add_metric(name="TradesSettled" if outcome.status == "settled" else "TradesRejected",
                           unit="Count", value=1)
        if outcome.placed_at is not None:
            latency_ms = (datetime.now(UTC) - outcome.placed_at).total_seconds() * 1000
            metrics.add_metric(name="SettlementLatency", unit="Milliseconds", value=round(latency_ms, 2))
    else:
        metrics.add_metric(name="TradesRedelivered", unit="Count", value=1)
    logger.info(
        f"transaction {outcome.status}" if outcome.changed else "transaction already final; delivery ignored",
        extra={
            "event": "trade_settled" if outcome.changed else "trade_redelivered",
            "outcome": outcome.status,
            "reason": outcome.reason,
            "transaction_id": str(outcome.trade_id),
            "message_id": record.message_id,
            "receive_count": receives,
            # The batch settled in one transaction: this is how long the batch took.
            "duration_ms": batch_ms,
        },
    )


@lru_cache(maxsize=1)
def get_metrics() -> Any:
    """Settlement metrics in CloudWatch Embedded Metric Format (powertools Metrics), namespace `tradeapi`."""
    from aws_lambda_powertools.metrics import Metrics

    return Metrics(namespace="tradeapi", service="settlement")


def parse_message(body: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(json.loads(body)["trade_id"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise PoisonMessage(f"not a settlement message: {body[:200]!r}") from exc
