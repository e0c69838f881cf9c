"""What follows each event once its unit of work has committed, and only then: the cache entries it made stale
are refreshed or dropped (every invalidation rule of the API is in `refresh_cache`), and a placed trade is
logged and its settlement message sent. A failed step is logged and never undoes the commit; the outbox relay
re-sends a message whose send failed, and cache entries expire by their TTL."""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

from chalicelib.adapters.cache import (
    Cache,
    activity_lists,
    bar_lists,
    get_cache,
    stock_lists,
    transaction_lists,
)
from chalicelib.adapters.logs import get_logger
from chalicelib.config import get_settings
from chalicelib.domain.events import (
    CashMoved,
    Event,
    KeyIssued,
    PriceMoved,
    StockIngested,
    TradeCanceled,
    TradePlaced,
    TradesSettled,
    UserRegistered,
)
from chalicelib.domain.messages import SendMessages, settlement_message


def handle(events: list[Event], send: SendMessages) -> None:
    """`send` sends settlement messages whose outbox rows committed."""
    for event in events:
        steps: list[Callable[[], object]] = []
        if isinstance(event, TradePlaced):
            steps.append(partial(_send_and_log_placed, event, send))
        elif isinstance(event, TradeCanceled):
            steps.append(partial(_log_canceled, event))
        elif isinstance(event, CashMoved):
            steps.append(partial(_log_cash_moved, event))
        steps.append(partial(_refresh, event))
        for step in steps:
            try:
                step()
            except Exception:  # noqa: BLE001 - the commit is durable; a failed follow-up is logged, not raised
                get_logger().exception("after-commit step failed", extra={"event": "after_commit_failed"})


def refresh_cache(event: Event, cache: Cache) -> None:
    """Each key an event made stale, refreshed when the event carries the new value, dropped otherwise; each family
    of list pages it made stale given a new token (its pages are then never served again)."""
    keys, settings = cache.keys, get_settings()
    if isinstance(event, UserRegistered):
        cache.set(keys.user(event.username), event.view, settings.cache_ttl_user_s)
    elif isinstance(event, StockIngested):
        cache.set(keys.stock(event.ticker), event.view, settings.cache_ttl_stock_s)
        cache.invalidate(families=(stock_lists(),))
    elif isinstance(event, PriceMoved):
        # The holders' equity moved with the price.
        cache.set(keys.stock(event.ticker), event.view, settings.cache_ttl_stock_s)
        cache.invalidate(*map(keys.user, event.holders), families=(stock_lists(), bar_lists(event.ticker)))
    elif isinstance(event, TradePlaced):
        # The reservation changed the available balance; the new trade heads every list of the user's trades.
        cache.invalidate(keys.user(event.username),
                         families=transaction_lists(event.username, str(event.user_id)))
    elif isinstance(event, TradeCanceled):
        # The release changed the available balance (or shares); the trade reads canceled in every list.
        refs = (event.username, str(event.user_id))
        cache.invalidate(keys.user(event.username), families=[*transaction_lists(*refs), *activity_lists(*refs)])
    elif isinstance(event, TradesSettled):
        every = [ref for user_id, username in event.users.items() for ref in (username, str(user_id))]
        cache.invalidate(*map(keys.user, event.users.values()), *map(keys.stock, event.tickers),
                         families=[stock_lists(), *transaction_lists(*every), *activity_lists(*every)])
    elif isinstance(event, CashMoved):
        cache.invalidate(keys.user(event.username), families=activity_lists(event.username, str(event.user_id)))
    elif isinstance(event, KeyIssued):
        # Written through, so a new key is checked without the database (and works while it is down); never over
        # a later state of the key (chalicelib/adapters/key_records.py).
        from chalicelib.adapters.key_records import get_key_records

        get_key_records().offer(event.record)
    # KeyRevoked: the revoke itself writes the tombstone and answers only once it is written (services/keys.py).


def _refresh(event: Event) -> None:
    refresh_cache(event, get_cache())


def _send_and_log_placed(event: TradePlaced, send: SendMessages) -> None:
    """One line per placement, after its message was handed to the queue (`queued` false: the relay sends it)."""
    queued = event.trade_id in send({event.trade_id: settlement_message(event.trade_id)})
    get_logger().info("transaction placed", extra={
        "event": "trade_placed", "outcome": "pending", "transaction_id": str(event.trade_id),
        "user_id": str(event.user_id), "queued": queued, **event.details})


def _log_canceled(event: TradeCanceled) -> None:
    get_logger().info("transaction canceled", extra={
        "event": "trade_canceled", "outcome": "canceled", "transaction_id": str(event.trade_id),
        "user_id": str(event.user_id), **event.details})


def _log_cash_moved(event: CashMoved) -> None:
    get_logger().info(f"cash {event.kind}", extra={
        "event": "cash_moved", "outcome": event.kind, "movement_id": str(event.movement_id),
        "user_id": str(event.user_id), "amount": event.amount})
