"""What follows each event once its unit of work has committed, and only then: one registry, event type to
handlers (as cosmicpython's EVENT_HANDLERS). The cache handler names the families of cached answers an event made
stale (every invalidation rule of the API is in `stale_families`); the queue handler sends a placed trade's
settlement message; the others log. A failed handler is logged and never undoes the commit: the outbox relay
re-sends a message whose send failed, and cached answers expire by their TTL.

Handlers take their dependencies (the cache, the queue) from `Dependencies`, built on first use, so a test hands
in its own."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.logs import get_logger
from chalicelib.domain import trade_updates
from chalicelib.domain.events import (
    AccountConfigured,
    CashMoved,
    Event,
    KeyIssued,
    KeyRevoked,
    PriceMoved,
    StockIngested,
    TradeCanceled,
    TradePlaced,
    TradeReplaced,
    TradesSettled,
    UserRegistered,
)
from chalicelib.domain.messages import book_message, settlement_message

if TYPE_CHECKING:
    from chalicelib.adapters.cache import Cache
    from chalicelib.adapters.key_records import KeyRecords
    from chalicelib.adapters.trade_queue import TradeQueue
    from chalicelib.adapters.update_queue import UpdateQueue


@dataclass(frozen=True)
class Dependencies:
    cache: Callable[[], Cache]
    queue: Callable[[], TradeQueue]
    key_records: Callable[[], KeyRecords]
    updates: Callable[[], UpdateQueue]


def default_dependencies() -> Dependencies:
    from chalicelib.adapters.cache import get_cache
    from chalicelib.adapters.key_records import get_key_records
    from chalicelib.adapters.trade_queue import get_trade_queue
    from chalicelib.adapters.update_queue import get_update_queue

    return Dependencies(get_cache, get_trade_queue, get_key_records, get_update_queue)


Handler = Callable[[Any, Dependencies], None]


def stale_families(event: Event) -> list[str]:
    """The families of cached answers `event` made stale (chalicelib/adapters/cache.py names them): each is
    given a new token, and none of its answers is served again, in any surface."""
    from chalicelib.adapters import cache

    if isinstance(event, StockIngested):
        return [cache.stock_family(event.ticker), cache.stock_lists()]
    if isinstance(event, PriceMoved):
        # The holders' equity moved with the price.
        ticker = event.recorded.stock.ticker
        return [cache.stock_family(ticker), cache.stock_lists(), cache.bar_lists(ticker),
                *map(cache.user_family, event.holders)]
    if isinstance(event, TradePlaced):
        # The reservation changed the available balance; the new trade heads every list of the user's trades.
        trade = event.trade
        return [cache.user_family(trade.username), *cache.transaction_lists(trade.username, str(trade.user_id))]
    if isinstance(event, TradeCanceled):
        # The release changed the available balance (or shares); the trade reads canceled in every list.
        names = (event.trade.username, str(event.trade.user_id))
        return [cache.user_family(event.trade.username), *cache.transaction_lists(*names),
                *cache.activity_lists(*names)]
    if isinstance(event, TradeReplaced):
        # The reservation moved; both orders read anew in every list.
        names = (event.new.username, str(event.new.user_id))
        return [cache.user_family(event.new.username), *cache.transaction_lists(*names), *cache.activity_lists(*names)]
    if isinstance(event, TradesSettled):
        refs = [ref for user_id, username in event.users.items() for ref in (username, str(user_id))]
        return [*map(cache.user_family, event.users.values()), *map(cache.stock_family, event.tickers),
                cache.stock_lists(), *cache.transaction_lists(*refs), *cache.activity_lists(*refs)]
    if isinstance(event, AccountConfigured):
        return [cache.user_family(event.username)]
    if isinstance(event, CashMoved):
        user = event.moved.user
        return [cache.user_family(user.username), *cache.activity_lists(user.username, str(user.id))]
    return []


def invalidate(event: Event, deps: Dependencies) -> None:
    families = stale_families(event)
    if families:
        deps.cache().invalidate(families=families)


def send_settlement(event: TradePlaced, deps: Dependencies) -> None:
    """One line per placement, after its message was handed to the queue (`queued` false: the relay sends it)."""
    trade = event.trade
    queued = trade.id in deps.queue().send_committed({trade.id: settlement_message(trade.id)})
    get_logger().info("transaction placed", extra={
        "event": "trade_placed", "outcome": trade.status, "transaction_id": str(trade.id),
        "user_id": str(trade.user_id), "queued": queued, "ticker": trade.ticker, "side": trade.side,
        "volume": trade.volume, "reserved_cash": str(trade.reserved_cash), "idempotency_key": event.idempotency_key})


def send_successor(event: TradeReplaced, deps: Dependencies) -> None:
    """The new order of a replace is evaluated as a placed one is (the outbox relay sends it if this fails)."""
    new = event.new
    queued = new.id in deps.queue().send_committed({new.id: settlement_message(new.id)})
    get_logger().info("transaction replaced", extra={
        "event": "trade_replaced", "outcome": new.status, "transaction_id": str(new.id),
        "replaces": str(event.old.id), "user_id": str(new.user_id), "queued": queued, "ticker": new.ticker,
        "volume": new.volume, "reserved_cash": str(new.reserved_cash)})


def send_book(event: PriceMoved, deps: Dependencies) -> None:
    """A new latest bar has the orders it crossed evaluated, behind the queue (the market tick sends what this
    misses: chalicelib/services/settlement.py `books_to_evaluate`)."""
    if event.recorded.latest:
        ticker = event.recorded.stock.ticker
        deps.queue().send({f"book:{ticker}": book_message(ticker)})


# The trade update stream: each is published before anything that could change the order again is sent (the
# settlement message), so an order's `fill` is never published before its `new`.
def announce_placed(event: TradePlaced, deps: Dependencies) -> None:
    deps.updates().publish([trade_updates.placed(event.trade)])


def announce_replaced(event: TradeReplaced, deps: Dependencies) -> None:
    old = event.old
    deps.updates().publish([trade_updates.ended(old, old.replaced_at or old.created_at),
                            trade_updates.placed(event.new)])


def announce_canceled(event: TradeCanceled, deps: Dependencies) -> None:
    trade = event.trade
    deps.updates().publish([trade_updates.ended(trade, trade.canceled_at or trade.created_at)])


def announce_settled(event: TradesSettled, deps: Dependencies) -> None:
    if event.updates:
        deps.updates().publish(event.updates)


def log_canceled(event: TradeCanceled, deps: Dependencies) -> None:
    trade = event.trade
    get_logger().info("transaction canceled", extra={
        "event": "trade_canceled", "outcome": trade.status, "transaction_id": str(trade.id),
        "user_id": str(trade.user_id), "ticker": trade.ticker, "side": trade.side, "volume": trade.volume,
        "released_cash": str(event.released_cash), "released_shares": event.released_shares})


def log_cash_moved(event: CashMoved, deps: Dependencies) -> None:
    movement = event.moved.movement
    get_logger().info(f"cash {movement.kind}", extra={
        "event": "cash_moved", "outcome": movement.kind, "movement_id": str(movement.id),
        "user_id": str(event.moved.user.id), "amount": str(movement.amount)})


def offer_key_record(event: KeyIssued, deps: Dependencies) -> None:
    """Written through, so a new key is checked without the database (and works while it is down); never over a
    later state of the key (chalicelib/adapters/key_records.py)."""
    deps.key_records().offer(event.record)


HANDLERS: dict[type[Event], list[Handler]] = {
    UserRegistered: [],
    StockIngested: [invalidate],
    PriceMoved: [invalidate, send_book],
    TradePlaced: [announce_placed, send_settlement, invalidate],
    TradeCanceled: [announce_canceled, log_canceled, invalidate],
    TradeReplaced: [announce_replaced, send_successor, invalidate],
    TradesSettled: [announce_settled, invalidate],
    CashMoved: [log_cash_moved, invalidate],
    AccountConfigured: [invalidate],
    KeyIssued: [offer_key_record],
    # The revoke itself writes the tombstone, and answers only once it is written (services/keys.py).
    KeyRevoked: [],
}


def handle(events: Iterable[Event], deps: Dependencies) -> None:
    for event in events:
        for handler in HANDLERS[type(event)]:
            try:
                handler(event, deps)
            except Exception:  # noqa: BLE001 - the commit is durable; a failed follow-up is logged, not raised
                get_logger().exception("after-commit step failed", extra={
                    "event": "after_commit_failed", "handler": handler.__name__})
