"""The outbox relay: a trade's settlement message is written with the trade, by the same statement, and sent once
that committed (chalicelib/services/handlers.py); the relay sends what that send missed and re-sends what was
lost. A row stands for a message in flight, not for the order's state: the consumer removes it when it has
processed the message (whatever state that leaves the order in), so the relay never re-sends an order that waits
on purpose. An accepted trade is never lost."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from chalicelib.adapters.logs import get_logger
from chalicelib.adapters.trade_queue import TradeQueue, get_trade_queue
from chalicelib.domain.errors import DatabaseUnavailable

if TYPE_CHECKING:
    from chalicelib.services.unit_of_work import UnitOfWork


def relay(uow: UnitOfWork, min_age_s: float, resend_after_s: float, max_attempts: int, limit: int = 100,
          queue: TradeQueue | None = None) -> int:
    """Send what the API did not and re-send what was lost; concurrent relays skip each other's rows, which stay
    locked while they are sent. Returns how many were sent."""
    with uow:
        due = uow.outbox.due(min_age_s, resend_after_s, max_attempts, limit)
        if not due:
            return 0
        sent = (queue or get_trade_queue()).deliver(uow.outbox, due)
        uow.commit()
    get_logger().info("outbox relayed", extra={"event": "outbox_relayed", "sent": sent, "found": len(due)})
    return sent


def sweep(uow: UnitOfWork, min_age_s: float, resend_after_s: float, max_attempts: int, *, for_s: float,
          every_s: float) -> int:
    """A relay pass now and another every `every_s` until `for_s` is up, so that what the API missed is sent
    within seconds even where the schedule runs once a minute. A pass the database could not serve is logged and
    the next one tried; if none could be served, the invocation fails with that. Returns how many were sent."""
    deadline = time.monotonic() + for_s
    sent, served, away = 0, False, None
    while True:
        try:
            sent += relay(uow, min_age_s, resend_after_s, max_attempts)
            served = True
        except DatabaseUnavailable as error:
            away = error
        if time.monotonic() + every_s > deadline:
            break
        time.sleep(every_s)
    if not served and away is not None:
        raise away
    return sent
