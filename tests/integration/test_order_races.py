"""The order engine under concurrency, against real PostgreSQL and the emulator's SQS: a storm of every order type
and time in force with bars arriving while batches settle, owners canceling and replacing, and every settlement
message delivered twice; and each race the engine must decide whole: a cancel racing a trigger, a replace racing a
fill, an expiry racing a fill. The invariant checker runs after each."""
from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from chalicelib.adapters.database import get_engine
from chalicelib.adapters.placement import get_order_desk
from chalicelib.api import market
from chalicelib.api.classic.shapes import NewBar, NewStock, NewTrade, NewUser, ReplaceTrade
from chalicelib.domain.clock import AlwaysOpen, Clock
from chalicelib.domain.errors import Conflict, NotFound, Refused
from chalicelib.domain.messages import settlement_message
from chalicelib.services import orders, prices, settlement, stocks, trades, users
from chalicelib.services.unit_of_work import UnitOfWork
from devstack.invariants import violations
from tests.integration.helpers import drain
from tests.integration.pollers import wait_until_final

USERS = {f"racer{i}": Decimal(random.Random(i).randrange(50_000, 200_000)) + Decimal("0.41") for i in range(8)}
STOCKS = {"AAPL": (Decimal("100.00"), 5_000), "MSFT": (Decimal("40.00"), 3_000)}


def seed_market() -> None:
    for name, balance in USERS.items():
        users.register(NewUser.parse({"username": name, "balance": balance}), UnitOfWork())
    for ticker, (price, volume) in STOCKS.items():
        stocks.ingest(NewStock.parse({"ticker": ticker, "open_price": price, "close_price": price, "high": price,
                                      "low": price, "volume": volume}), UnitOfWork())


def invariants(*, all_final: bool) -> list[str]:
    # One snapshot for every query of the check: the pollers may still be committing batches.
    with get_engine().connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        return violations(conn, USERS, {t: v for t, (_, v) in STOCKS.items()}, all_final=all_final)


def record_bar(ticker: str, price: Decimal, volume: int) -> None:
    prices.record(ticker, NewBar.parse({"timestamp": datetime.now(UTC).isoformat(), "open_price": price,
                                        "close_price": price, "high": price, "low": price, "volume": volume}),
                  UnitOfWork())


def random_order(rng: random.Random, user: str, ticker: str, close: Decimal) -> dict[str, Any]:
    """Any order type and time in force, priced around `close` so that some fill, some rest and some trigger."""
    order_type = rng.choice(["market", "market", "limit", "limit", "stop", "stop_limit"])
    side = rng.choice(["buy", "buy", "sell"])
    tif = rng.choice([None, "day", "gtc", "ioc", "fok"]) if order_type in ("market", "limit") else \
        rng.choice(["day", "gtc"])
    order: dict[str, Any] = {"user": user, "ticker": ticker, "transaction_type": side,
                             "transaction_volume": rng.randint(1, 60), "order_type": order_type}
    if tif is not None:
        order["time_in_force"] = tif
    if order_type in ("limit", "stop_limit"):
        order["limit_price"] = str((close * Decimal(rng.uniform(0.9, 1.1))).quantize(Decimal("0.01")))
    if order_type in ("stop", "stop_limit"):
        order["stop_price"] = str((close * Decimal(rng.uniform(0.9, 1.1))).quantize(Decimal("0.01")))
    return order


def open_orders() -> list[tuple[str, str]]:
    with get_engine().connect() as conn:
        return [(name, str(trade_id)) for name, trade_id in conn.execute(text(
            "SELECT u.username, t.id FROM trades t JOIN users u ON u.id = t.user_id WHERE t.status = 'pending'"))]


def run_all(*workers: Callable[[], None], timeout_s: float = 600) -> None:
    errors: list[BaseException] = []

    def guarded(work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as error:  # noqa: BLE001 - reported to the test below
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout_s)
    assert not any(thread.is_alive() for thread in threads), "workers still running"
    assert errors == [], errors


def test_a_storm_of_every_order_type_with_bars_cancels_and_replaces_keeps_every_invariant(
        sqs, queues, start_poller) -> None:
    seed_market()
    pollers = [start_poller(f"poller{i}") for i in range(2)]
    stop = threading.Event()
    placed: list[str] = []
    lock = threading.Lock()

    def trader(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(120):
            ticker = rng.choice(list(STOCKS))
            order = NewTrade.parse(random_order(rng, rng.choice(list(USERS)), ticker, STOCKS[ticker][0]))
            try:
                trade_id = trades.place(order, None, UnitOfWork(), get_order_desk(), market.clock()).value.id
            except Refused:
                continue
            # SQS delivers at least once: every settlement message goes out a second time, racing the first.
            assert not sqs.send_message(QueueUrl=queues["queue"],
                                        MessageBody=json.dumps(settlement_message(trade_id))).get("Failed")
            with lock:
                placed.append(str(trade_id))

    def bars() -> None:
        rng = random.Random(99)
        while not stop.is_set():
            ticker = rng.choice(list(STOCKS))
            base, volume = STOCKS[ticker]
            record_bar(ticker, (base * Decimal(rng.uniform(0.9, 1.1))).quantize(Decimal("0.01")),
                       rng.randint(volume // 4, volume))
            time.sleep(0.05)

    def owner() -> None:
        rng = random.Random(7)
        while not stop.is_set():
            found = open_orders()
            if not found:
                time.sleep(0.05)
                continue
            user, trade_id = rng.choice(found)
            try:
                if rng.random() < 0.5:
                    orders.cancel(user, uuid.UUID(trade_id), UnitOfWork(), datetime.now(UTC))
                else:
                    orders.replace(user, uuid.UUID(trade_id), ReplaceTrade.parse({
                        "transaction_volume": rng.randint(1, 30)}), UnitOfWork(), market.clock())
            except (Conflict, Refused, NotFound) as lost:
                # Filled or finished first, or the replacement needs more than is free: what a racing owner gets.
                assert lost.code in ("conflict", "insufficient_funds", "insufficient_shares", "not_found"), lost
            if rng.random() < 0.02:
                orders.cancel_all(rng.choice(list(USERS)), UnitOfWork(), datetime.now(UTC))

    def traders_then_stop() -> None:
        run_all(*(lambda seed=seed: trader(seed) for seed in range(4)))
        stop.set()

    run_all(traders_then_stop, bars, owner)
    assert len(placed) > 200, f"too few orders to be a storm: {len(placed)}"
    assert invariants(all_final=False) == []
    for user in USERS:  # what rests is canceled, so that every order is final
        orders.cancel_all(user, UnitOfWork(), datetime.now(UTC))
    assert wait_until_final(120) == 0
    assert [poller.stop() for poller in pollers] == [0, 0]
    assert invariants(all_final=True) == []
    with get_engine().connect() as conn:
        statuses = dict(conn.execute(text("SELECT status, count(*) FROM trades GROUP BY status")).all())
        triggered = conn.execute(text("SELECT count(*) FROM trades WHERE triggered_at IS NOT NULL")).scalar()
    assert statuses.get("settled", 0) > 0 and statuses.get("canceled", 0) > 0, statuses
    assert statuses.get("replaced", 0) > 0 and triggered, (statuses, triggered)


def resting_buys(count: int, *, tif: str = "gtc") -> list[tuple[str, str]]:
    """`count` limit buys at 99.00, resting while AAPL closes at 100.00: (user, order id)."""
    placed = []
    for i in range(count):
        user = list(USERS)[i % len(USERS)]
        order = NewTrade.parse({"user": user, "ticker": "AAPL", "transaction_type": "buy", "transaction_volume": 3,
                                "limit_price": "99.00", "time_in_force": tif})
        placed.append((user, str(trades.place(order, None, UnitOfWork(), get_order_desk(), market.clock()).value.id)))
    return placed


def outcomes(placed: list[tuple[str, str]]) -> dict[str, tuple[str, int]]:
    with get_engine().connect() as conn:
        rows = conn.execute(text("SELECT id, status, filled_qty FROM trades WHERE id = ANY(:ids)"),
                            {"ids": [uuid.UUID(trade_id) for _, trade_id in placed]}).all()
    return {str(row.id): (row.status, row.filled_qty) for row in rows}


@pytest.mark.parametrize("race", ["cancel", "replace", "expire"])
def test_an_owners_change_racing_a_trigger_wins_or_loses_whole(sqs, queues, race: str) -> None:
    seed_market()
    placed = resting_buys(40, tif="day" if race == "expire" else "gtc")
    drain(sqs, queues["queue"])  # each evaluated once: all rest
    assert {status for status, _ in outcomes(placed).values()} == {"pending"}
    after_close = Clock(AlwaysOpen(), datetime.now(UTC) + timedelta(days=1))

    def trigger() -> None:
        record_bar("AAPL", Decimal("98.50"), 5_000)  # crosses every one of them
        drain(sqs, queues["queue"])

    def change() -> None:
        for user, trade_id in placed:
            try:
                if race == "cancel":
                    orders.cancel(user, uuid.UUID(trade_id), UnitOfWork(), datetime.now(UTC))
                elif race == "replace":
                    orders.replace(user, uuid.UUID(trade_id), ReplaceTrade.parse({"limit_price": "97.00"}),
                                   UnitOfWork(), market.clock())
            except Conflict as lost:  # the fill won
                assert "already settled" in str(lost), lost
        if race == "expire":
            while settlement.expire_due(UnitOfWork(), after_close, limit=5):
                pass

    run_all(trigger, change)
    drain(sqs, queues["queue"])
    lost = {"cancel": "canceled", "replace": "replaced", "expire": "expired"}[race]
    for status, filled in outcomes(placed).values():
        assert (status, filled) in {("settled", 3), (lost, 0)}, (status, filled)
    assert invariants(all_final=False) == []
