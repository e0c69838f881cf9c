"""The settlement consumer: settles each message of an SQS batch on its own and reports the failed ones
(partial batch response), so one bad message never fails its batch mates."""
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

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    try:
        return process_partial_response(event=event, record_handler=settle_record, processor=processor,
                                        context=context)
    finally:
        # One Embedded Metric Format line per batch: CloudWatch turns it into metrics, no API call needed.
        get_metrics().flush_metrics()


def settle_record(record: Any) -> None:
    logger = get_logger()
    started = time.perf_counter()
    receives = int(record.attributes.approximate_receive_count or 1)
    trade_id: uuid.UUID | None = None
    try:
        trade_id = parse_message(record.body)
        result = settlement.settle(trade_id, UnitOfWork(), get_cache(), get_outbox())
    except Exception as exc:
        final = receives >= get_settings().trade_max_receive_count
        get_metrics().add_metric(name="TradesFailed", unit="Count", value=1)
        logger.error(
            "settlement failed; message goes to the dead-letter queue" if final else "settlement failed; will retry",
            extra={
                "event": "trade_settlement_failed",
                "outcome": "dead_lettered" if final else "retry",
                "transaction_id": str(trade_id) if trade_id else None,
                "message_id": record.message_id,
                "receive_count": receives,
                "error": f"{type(exc).__name__}: {exc}",
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        raise
    metrics = get_metrics()
    if result.changed:
        metrics.add_metric(name="TradesSettled" if result.status == "settled" else "TradesRejected",
                           unit="Count", value=1)
        if result.placed_at is not None:
            latency_ms = (datetime.now(UTC) - result.placed_at).total_seconds() * 1000
            metrics.add_metric(name="SettlementLatency", unit="Milliseconds", value=round(latency_ms, 2))
    else:
        metrics.add_metric(name="TradesRedelivered", unit="Count", value=1)
    logger.info(
        f"transaction {result.status}" if result.changed else "transaction already final; delivery ignored",
        extra={
            "event": "trade_settled" if result.changed else "trade_redelivered",
            "outcome": result.status,
            "reason": result.reason,
            "transaction_id": str(result.trade_id),
            "message_id": record.message_id,
            "receive_count": receives,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )


@lru_cache(maxsize=1)
def get_metrics() -> Any:
    """Settlement metrics in CloudWatch Embedded Metric Format (powertools Metrics), namespace `tradeapi`."""
    from aws_lambda_powertools.metrics import Metrics

    return Metrics(namespace="tradeapi", service="settlement")


def parse_message(body: str) -> uuid.UUID:
    try:
        return uuid.UUID(json.loads(body)["trade_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PoisonMessage(f"not a settlement message: {body[:200]!r}") from exc
