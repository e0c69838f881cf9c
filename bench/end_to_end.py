"""End to end: POST /transactions over HTTP from 16 keep-alive connections (gunicorn over the WSGI adapter, four
workers, as `make run` serves it) to settled, through the emulator's
SQS and 1, 2 and 4 settlement pollers (each its own process, as Lambda's event source mapping would run
consumers): throughput and latency from placement to settlement. The emulator alone (send, then receive and
delete, in batches of 10) is the floor: how much of the figure is the emulator."""
from __future__ import annotations

import http.client
import json
import os
import threading
import time
import uuid
from decimal import Decimal
from typing import Any

from bench.figures import Figure, InvariantBroken, Spread, percentile
from bench.processes import Pollers, Server
from bench.stack import BenchStack
from devstack.paths import ROOT

USERS = 20
PRICE = Decimal("10.00")


def run(stack: BenchStack, quick: bool) -> list[Figure]:
    from devstack.aws import ensure_trade_queues, sqs_client

    trades, rounds = (40, 1) if quick else (1000, 3)
    sqs = sqs_client(stack.aws_url)
    figures = []
    with stack.database("e2e") as database_url:
        balances, volumes, keys = seed_traders()
        for pollers in (1, 2, 4):
            rates, emulator, latencies = [], [], []
            for _ in range(rounds):
                name = f"bench-{uuid.uuid4().hex[:8]}"
                queue = ensure_trade_queues(sqs, name, f"{name}-dlq", max_receive_count=5, visibility_timeout_s=30)
                env = {**os.environ, **stack.app_env(database_url), "AWS_ENDPOINT_URL": stack.aws_url,
                       "TRADE_QUEUE_NAME": name, "TRADE_DLQ_NAME": f"{name}-dlq", "PYTHONPATH": str(ROOT)}
                with Server(env, stack.dir / "e2e-api.log", 4) as port, \
                        Pollers(env, queue["queue"], pollers, stack.dir / "e2e-pollers.log"):
                    started = time.time()
                    ids = place_trades(port, trades, keys)
                    latencies += wait_settled(ids, timeout_s=600)
                    rates.append(len(ids) / (time.time() - started))
                emulator.append(_emulator_rate(sqs, queue["queue"], trades))
                for url in queue.values():
                    sqs.delete_queue(QueueUrl=url)
            figures.append(Figure(
                "end to end", f"POST to settled, {pollers} poller{'s' if pollers > 1 else ''}", "trades/s",
                Spread.of(rates), "emulator alone: send + receive + delete", Spread.of(emulator), better="higher",
                details={"trades_per_round": trades,
                         **{f"p{p}_ms": round(percentile(latencies, p), 1) for p in (50, 95, 99)}}))
        broken = _violations(balances, volumes)
        if broken:
            raise InvariantBroken(f"end to end: {broken}")
    return figures


def seed_traders() -> tuple[dict[str, Decimal], dict[str, int], dict[str, str]]:
    """The traders' starting cash, the stock on offer, and each trader's API key."""
    from chalicelib.api.classic.shapes import NewStock, NewUser
    from chalicelib.services import stocks, users
    from chalicelib.services.unit_of_work import UnitOfWork

    balances = {f"trader{i}": Decimal("1000000.00") for i in range(USERS)}
    keys = {name: users.register(NewUser.parse({"username": name, "balance": balance}), UnitOfWork()).key.token
            for name, balance in balances.items()}
    stocks.ingest(NewStock.parse({"ticker": "E2E", "open_price": PRICE, "close_price": PRICE, "high": PRICE,
                                  "low": PRICE, "volume": 10**9}), UnitOfWork())
    return balances, {"E2E": 10**9}, keys


def place_trades(port: int, trades: int, keys: dict[str, str], clients: int = 16) -> list[str]:
    """POST the trades from `clients` keep-alive connections; returns the accepted ids."""
    ids: list[str] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for n in range(index, trades, clients):
            trader = f"trader{n % USERS}"
            body = {"user": trader, "ticker": "E2E", "transaction_type": "buy" if n % 3 else "sell",
                    "transaction_volume": 1 + n % 5}
            conn.request("POST", "/transactions", json.dumps(body),
                         {"Content-Type": "application/json", "Authorization": f"Bearer {keys[trader]}"})
            response = conn.getresponse()
            answer = json.loads(response.read())
            if response.status == 202:
                with lock:
                    ids.append(answer["transaction_id"])
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ids


def wait_settled(ids: list[str], timeout_s: float) -> list[float]:
    """Wait until every trade is final; returns placement-to-settlement latencies in ms."""
    from sqlalchemy import text

    from chalicelib.adapters.database import get_engine

    deadline = time.monotonic() + timeout_s
    while True:
        with get_engine().connect() as conn:
            rows = conn.execute(text(
                "SELECT status, extract(epoch FROM settled_at - created_at) * 1000 FROM trades WHERE id = ANY(:ids)"),
                {"ids": [uuid.UUID(i) for i in ids]}).all()
        if all(status != "pending" for status, _ in rows) and len(rows) == len(ids):
            return [float(ms) for status, ms in rows if ms is not None]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sum(s == 'pending' for s, _ in rows)} trades still pending")
        time.sleep(0.2)


def _emulator_rate(sqs: Any, queue_url: str, messages: int) -> float:
    """Messages per second the emulator alone carries through send, receive and delete, in batches of 10."""
    started = time.perf_counter()
    for start in range(0, messages, 10):
        sqs.send_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "MessageBody": json.dumps({"n": start + i})} for i in range(min(10, messages - start))])
    done = 0
    while done < messages:
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", [])
        if received:
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)])
            done += len(received)
    return messages / (time.perf_counter() - started)


def _violations(balances: dict[str, Decimal], volumes: dict[str, int]) -> list[str]:
    from chalicelib.adapters.database import get_engine
    from devstack.invariants import violations

    with get_engine().connect() as conn:
        return violations(conn, balances, volumes)
