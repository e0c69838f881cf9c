"""The trade update stream's notifier (SQS edge): takes a batch of published updates off the FIFO queue (each
account's in the order they were published), renders each once as Alpaca's `trade_updates` message, and posts
them to every listening connection of its account, each connection's in order, the connections side by side.
A connection found gone is forgotten; one that fails otherwise misses that update (logged). The notifier only
reads: whatever happens to it, no order changes. If it cannot read the registry the batch is retried."""
from __future__ import annotations

import json
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib import services
from chalicelib.adapters.logs import get_logger
from chalicelib.adapters.stream_gateway import connections_api
from chalicelib.api.alpaca import presenters
from chalicelib.domain import trade_updates
from chalicelib.domain.moments import iso as moment
from chalicelib.domain.money import format_money
from chalicelib.domain.trade_updates import TradeUpdate
from chalicelib.lazy import lazy
from chalicelib.services.unit_of_work import UnitOfWork

# Connections posted to at once: a post is one HTTPS round trip, so a hundred listeners take a few of them.
POSTERS = 16


def handle_batch(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    started = time.perf_counter()
    updates = [update for record in event.get("Records") or [] if (update := _read(record["body"])) is not None]
    frames: dict[Any, list[bytes]] = defaultdict(list)
    for update in updates:
        frames[update.user_id].append(render(update))
    listeners = services.stream.listeners(set(frames), UnitOfWork())
    outcomes = list(_posters().map(lambda listener: _post_all(listener, frames[listener.user_id]), listeners))
    gone = [listener.id for listener, outcome in zip(listeners, outcomes, strict=True) if outcome == "gone"]
    services.stream.forget(gone, UnitOfWork())
    get_logger().info("trade updates sent", extra={
        "event": "trade_updates_sent", "updates": len(updates), "listeners": len(listeners), "gone": len(gone),
        "failed": sum(outcome == "failed" for outcome in outcomes),
        "batch_ms": round((time.perf_counter() - started) * 1000, 2)})
    return {"batchItemFailures": []}


def render(update: TradeUpdate) -> bytes:
    """Alpaca's `trade_updates` message: the event, the order as it left it, and a fill's price and quantities."""
    data: dict[str, Any] = {"event": update.event.value, "execution_id": str(update.id),
                            "order": presenters.order(update.order), "timestamp": moment(update.at)}
    if update.price is not None:
        data["price"] = format_money(update.price)
    if update.qty is not None:
        data["qty"] = str(update.qty)
    if update.position_qty is not None:
        data["position_qty"] = str(update.position_qty)
    return json.dumps({"stream": "trade_updates", "data": data}, separators=(",", ":")).encode()


def _read(body: str) -> TradeUpdate | None:
    try:
        return trade_updates.decode(json.loads(body))
    except Exception as exc:  # noqa: BLE001 - a message nobody can read is dropped, not retried forever
        get_logger().error("unreadable trade update dropped", extra={
            "event": "trade_update_unreadable", "error": f"{type(exc).__name__}: {exc}"})
        return None


def _post_all(listener: Any, frames: list[bytes]) -> str:
    api = connections_api(listener.endpoint)
    for frame in frames:
        try:
            if not api.post(listener.id, frame):
                return "gone"
        except Exception as exc:  # noqa: BLE001 - one listener's failure is never another's
            get_logger().warning("a trade update could not be posted to a listener", extra={
                "event": "trade_update_post_failed", "user_id": str(listener.user_id),
                "error": f"{type(exc).__name__}: {exc}"})
            return "failed"
    return "sent"


@lazy
def _posters() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(POSTERS, thread_name_prefix="stream-post")
