"""The spec's invariants after a concurrent storm with every message delivered twice, after cancels racing the
settlement of the same trades, and after a poller dies between committing a settlement and deleting its
messages."""
from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal

from sqlalchemy import text

from chalicelib.adapters.database import get_engine
from chalicelib.adapters.placement import get_order_desk
from chalicelib.api import market
from chalicelib.api.classic.shapes import NewStock, NewTrade, NewUser
from chalicelib.domain.errors import Conflict, Refused
from chalicelib.domain.messages import settlement_message
from chalicelib.services import orders as services_orders
from chalicelib.services import stocks, trades, users
from chalicelib.services.unit_of_work import UnitOfWork
from devstack.invariants import violations
from tests.integration.helpers import queue_depth
from tests.integration.pollers import settled_counts, wait_until_final

USERS = {f"trader{i}": Decimal(random.Random(i).randrange(20_000, 100_000)) + Decimal("0.37") for i in range(10)}
STOCKS = {"AAPL": (Decimal("101.25"), 4_000), "MSFT": (Decimal("37.10"), 2_500), "TINY": (Decimal("3.33"), 600)}


def seed_market() -> None:
    for name, balance in USERS.items():
        users.register(NewUser.parse({"username": name, "balance": balance}), UnitOfWork())
    for ticker, (price, volume) in STOCKS.items():
        stocks.ingest(NewStock.parse({"ticker": ticker, "open_price": price, "close_price": price, "high": price,
                                      "low": price, "volume": volume}), UnitOfWork())


def check_invariants() -> None:
    with get_engine().connect() as conn:
        broken = violations(conn, USERS, {t: v for t, (_, v) in STOCKS.items()})
    assert broken == []


def test_storm_of_trades_settled_by_two_pollers_with_every_message_twice(sqs, queues, start_poller) -> None:
    seed_market()
    pollers = [start_poller(f"poller{i}") for i in range(2)]
    accepted: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()

    def send_duplicates(trade_ids: list[str]) -> None:
        # SQS delivers at least once: every message goes out a second time, racing the first.
        entries = [{"Id": str(i), "MessageBody": json.dumps(settlement_message(t))} for i, t in enumerate(trade_ids)]
        assert not sqs.send_message_batch(QueueUrl=queues["queue"], Entries=entries).get("Failed")

    def trader(seed: int) -> None:
        rng = random.Random(seed)
        unsent: list[str] = []
        for _ in range(250):
            order = NewTrade.parse({
                "user": rng.choice(list(USERS)),
                "ticker": rng.choice(list(STOCKS)),
                "transaction_type": rng.choice(["buy", "buy", "sell"]),
                "transaction_volume": rng.randint(1, 40),
            })
            try:
                placed = trades.place(order, None, UnitOfWork(), get_order_desk(), market.clock())
            except Refused as refusal:
                with lock:
                    refused.append(refusal.code)
                continue
            unsent.append(str(placed.value.id))
            if len(unsent) == 10:
                send_duplicates(unsent)
                with lock:
                    accepted.extend(unsent)
                unsent = []
        if unsent:
            send_duplicates(unsent)
            with lock:
                accepted.extend(unsent)

    threads = [threading.Thread(target=trader, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not any(thread.is_alive() for thread in threads), f"traders still running: {len(accepted)} accepted, " \
        f"{len(refused)} refused so far"

    assert len(accepted) + len(refused) == 2000
    # How many are accepted depends on how fast the pollers settle (a sell needs shares a settled buy brought):
    # about 1,000 on a quiet machine, fewer on a loaded one. Every accepted trade goes through the emulator twice,
    # and its cost grows faster than linearly, so the market is sized to keep this near 1,000.
    assert len(accepted) > 600, f"too few accepted to be a storm: {len(accepted)} ({Counter(refused)})"
    assert wait_until_final() == 0
    assert [poller.stop() for poller in pollers] == [0, 0]

    counts = settled_counts(pollers)
    assert set(counts) == set(accepted) and set(counts.values()) == {1}  # each trade finalised exactly once
    assert all(p.events() for p in pollers)  # both pollers took part
    redelivered = sum(e.get("event") == "trade_redelivered" for p in pollers for e in p.events())
    assert redelivered >= len(accepted)
    with get_engine().connect() as conn:
        statuses = dict(conn.execute(text("SELECT status, count(*) FROM trades GROUP BY status")).all())
    assert statuses.get("settled", 0) > 0 and sum(statuses.values()) == len(accepted)
    check_invariants()


def test_poller_killed_after_commit_before_delete_settles_nothing_twice(sqs, queues, start_poller) -> None:
    seed_market()
    placed = [
        trades.place(NewTrade.parse({"user": name, "ticker": "AAPL", "transaction_type": "buy",
                                     "transaction_volume": 2}), None, UnitOfWork(), get_order_desk(), market.clock())
        for name in list(USERS) * 2
    ]
    assert queue_depth(sqs, queues["queue"]) == len(placed) == 20

    crashing = start_poller("crashing", exit_before_delete=True)
    assert crashing.process.wait(60) == 17  # died right after its first batch committed
    crashing.stop()
    first_batch = settled_counts([crashing])
    assert 1 <= len(first_batch) <= 10
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM trades WHERE status <> 'pending'")).scalar() == len(first_batch)
    assert queue_depth(sqs, queues["queue"]) == 20  # nothing was deleted

    restarted = start_poller("restarted")
    assert wait_until_final() == 0
    while queue_depth(sqs, queues["queue"]):  # the crashed batch comes back after its visibility timeout
        wait_until_final(1)
    assert restarted.stop() == 0

    counts = settled_counts([crashing, restarted])
    assert set(counts.values()) == {1} and len(counts) == 20
    redelivered = {e["transaction_id"] for e in restarted.events() if e.get("event") == "trade_redelivered"}
    assert redelivered == set(first_batch)
    check_invariants()


def test_cancels_racing_two_pollers_with_every_message_twice_leave_one_final_state_each(sqs, queues,
                                                                                          start_poller) -> None:
    """Owners cancel while two pollers settle the same trades, each message delivered twice: every trade ends
    exactly one of settled, rejected or canceled; a cancel that answered 200 is the trade's final state and one
    that answered 409 names the state settlement gave it; money and shares add up."""
    seed_market()
    rng = random.Random(14)
    placed: list[tuple[str, str]] = []
    for _ in range(300):
        user = rng.choice(list(USERS))
        order = NewTrade.parse({"user": user, "ticker": rng.choice(list(STOCKS)),
                                "transaction_type": "buy", "transaction_volume": rng.randint(1, 20)})
        try:
            placed_trade = trades.place(order, None, UnitOfWork(), get_order_desk(), market.clock()).value
            placed.append((user, str(placed_trade.id)))
        except Refused:
            continue
    ids = [trade_id for _, trade_id in placed]
    for start in range(0, len(ids), 10):  # the second delivery of every message
        entries = [{"Id": str(i), "MessageBody": json.dumps(settlement_message(t))}
                   for i, t in enumerate(ids[start:start + 10])]
        assert not sqs.send_message_batch(QueueUrl=queues["queue"], Entries=entries).get("Failed")

    answers: dict[str, tuple[int, str]] = {}
    lock = threading.Lock()

    def canceler(share: list[tuple[str, str]]) -> None:
        for user, trade_id in share:
            try:
                canceled = services_orders.cancel(user, uuid.UUID(trade_id), UnitOfWork(), market.clock().now)
                outcome = (200, canceled.status)
            except Conflict as conflict:
                outcome = (409, conflict.details[0]["value"])
            with lock:
                answers[trade_id] = outcome

    to_cancel = rng.sample(placed, len(placed) // 2)
    pollers = [start_poller(f"poller{i}") for i in range(2)]
    # The cancels start once settlement has: on a loaded machine a poller's start can outlast every cancel.
    deadline = time.monotonic() + 60
    while not final_count() and time.monotonic() < deadline:
        time.sleep(0.005)
    cancelers = [threading.Thread(target=canceler, args=(to_cancel[i::3],)) for i in range(3)]
    for thread in cancelers:
        thread.start()
    for thread in cancelers:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in cancelers)
    assert wait_until_final() == 0
    while queue_depth(sqs, queues["queue"]):
        wait_until_final(1)
    assert [poller.stop() for poller in pollers] == [0, 0]

    with get_engine().connect() as conn:
        final = dict(conn.execute(text("SELECT id::text, status FROM trades")).all())
    assert len(final) == len(placed) and set(final.values()) <= {"settled", "rejected", "canceled"}
    assert len(answers) == len(to_cancel)
    for trade_id, (status, state) in answers.items():
        assert final[trade_id] == state and (status == 200) == (state == "canceled"), trade_id
    canceled = {trade_id for trade_id, state in final.items() if state == "canceled"}
    assert canceled and len(canceled) < len(to_cancel)  # the race went both ways
    counts = settled_counts(pollers)
    assert set(counts) == set(final) - canceled and set(counts.values()) == {1}
    check_invariants()


def final_count() -> int:
    with get_engine().connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM trades WHERE status <> 'pending'")).scalar_one())
