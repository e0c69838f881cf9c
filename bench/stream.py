"""The trade update stream as `make run` serves it: the API under gunicorn, two settlement pollers, the notifier
fed by the FIFO update queue, and the local WebSocket gateway it posts through.

- Latency: a bot places market orders on /v2 one at a time and learns that each filled two ways at once:
  alpaca-py's TradingStream is pushed the `fill`, and the bot polls GET /v2/orders/{id} back to back on a
  keep-alive session. Placement to the push stands next to placement to the first poll that saw the order filled.
  The push's delay after the settlement commit (the issue's target: 50 ms at p50) is a figure of its own, next to a
  ping answered by the gateway (the least a message over that socket costs). The commit is not observed; the first
  poll that saw it is, and the commit came at most two poll round trips before it (the poll before saw nothing),
  so the figure is bracketed: from that poll to the push, and that plus two round trips (in the details). From the
  order's `settled_at` (stamped inside the settlement transaction, before its commit) it is an upper bound.
- Throughput: end to end's 16 clients place trades for 20 accounts, settled by two pollers, with 100 listeners
  (five on each account) and with none, after a round that warms both, rounds interleaved (target: at least
  0.9x). Every listener must hear the final update of each of its account's orders, or the run fails."""
from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from bench.end_to_end import USERS, place_trades, seed_traders, wait_settled
from bench.figures import Figure, InvariantBroken, Spread, percentile
from bench.processes import Pollers, Server, StreamGateway
from bench.stack import BenchStack
from devstack.paths import ROOT
from devstack.services import free_port

LISTENERS_PER_ACCOUNT = 100 // USERS
FINAL = {"fill", "rejected", "canceled", "expired"}
WAIT_S = 60.0
PUSH_TARGET_MS = 50.0
THROUGHPUT_TARGET = 0.9


def run(stack: BenchStack, quick: bool) -> list[Figure]:
    from devstack.aws import ensure_trade_queues, sqs_client

    orders, trades, rounds = (10, 40, 1) if quick else (100, 1000, 3)
    sqs = sqs_client(stack.aws_url)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    queues = ensure_trade_queues(sqs, name, f"{name}-dlq", max_receive_count=5, visibility_timeout_s=30)
    try:
        with stack.database("stream") as database_url:
            _, _, keys = seed_traders()
            env = {**os.environ, **stack.app_env(database_url), "AWS_ENDPOINT_URL": stack.aws_url,
                   "TRADE_QUEUE_NAME": name, "TRADE_DLQ_NAME": f"{name}-dlq", "PYTHONPATH": str(ROOT)}
            with _streaming(stack, env, queues) as (port, stream_url):
                latency = [_latency_round(port, stream_url, keys["trader0"], orders) for _ in range(rounds)]
                quiet, crowded = [], []
                _settlement_rate(port, keys, min(trades, 100))
                for round_ in range(rounds):
                    for crowd_first in ((False, True) if round_ % 2 == 0 else (True, False)):
                        if crowd_first:
                            with Crowd(stream_url, keys) as crowd:
                                crowded.append(_settlement_rate(port, keys, trades, crowd))
                        else:
                            quiet.append(_settlement_rate(port, keys, trades))
    finally:
        for url in queues.values():
            sqs.delete_queue(QueueUrl=url)
    return _figures(latency, quiet, crowded, orders, trades)


@contextmanager
def _streaming(stack: BenchStack, env: dict[str, str], queues: dict[str, str]) -> Iterator[tuple[int, str]]:
    management_port = free_port()
    env = {**env, "STREAM_MANAGEMENT_URL": f"http://127.0.0.1:{management_port}/local"}
    log = stack.dir / "stream.log"
    with Server(env, stack.dir / "stream-api.log", 4) as port, Pollers(env, queues["queue"], 2, log), \
            Pollers(env, queues["updates"], 1, log, handler="app:notify_trade_updates", batch_window_s=0), \
            StreamGateway(env, management_port, log) as stream_url:
        yield port, stream_url


def _latency_round(port: int, stream_url: str, token: str, orders: int) -> dict[str, list[float]]:
    """Place `orders` market orders one by one; for each, ms from placement to the pushed fill and to the poll
    that saw it filled, from that poll and from the order's settled_at to the push, and a poll's round trip."""
    import requests
    from alpaca.trading.stream import TradingStream

    key_id, secret = token.split(".", 2)[1:]
    pushed: dict[str, float] = {}

    async def on_update(update: Any) -> None:
        if update.event == "fill":
            pushed.setdefault(str(update.order.id), time.time())

    stream = TradingStream(key_id, secret, url_override=stream_url)
    stream.subscribe_trade_updates(on_update)
    listening = threading.Thread(target=stream.run, daemon=True)
    listening.start()
    session = requests.Session()
    session.headers.update({"APCA-API-KEY-ID": key_id, "APCA-API-SECRET-KEY": secret})
    base = f"http://127.0.0.1:{port}/v2/orders"
    try:
        _until(lambda: _listening_connections(key_id) == 1, "the bot's stream to be listening")
        samples: dict[str, list[float]] = {"push": [], "poll": [], "seen_to_push": [], "settled_to_push": [],
                                           "poll_round_trip": []}
        for _ in range(orders):
            placed_at = time.time()
            answer = session.post(base, json={"symbol": "E2E", "qty": "1", "side": "buy", "type": "market",
                                              "time_in_force": "day"}, timeout=30)
            assert answer.status_code == 200, answer.text
            order_id = answer.json()["id"]
            while True:
                asked_at = time.time()
                order = session.get(f"{base}/{order_id}", timeout=30).json()
                seen_at = time.time()
                if order["status"] == "filled":
                    break
                if seen_at - placed_at > WAIT_S:
                    raise TimeoutError(f"order {order_id} not filled: {order['status']}")
            _until(lambda order_id=order_id: order_id in pushed, f"the fill of {order_id} to be pushed")
            settled_at = datetime.fromisoformat(order["filled_at"]).timestamp()
            for kind, since, until in (("push", placed_at, pushed[order_id]), ("poll", placed_at, seen_at),
                                       ("seen_to_push", seen_at, pushed[order_id]),
                                       ("settled_to_push", settled_at, pushed[order_id]),
                                       ("poll_round_trip", asked_at, seen_at)):
                samples[kind].append((until - since) * 1000)
        samples["ping"] = _gateway_pings(stream_url, key_id, secret, orders)
        return samples
    finally:
        stream.stop()
        loop = getattr(stream, "_loop", None)
        if loop is not None:  # TradingStream alone looks at its stop flag every 5 s
            asyncio.run_coroutine_threadsafe(stream.close(), loop).result(WAIT_S)
        listening.join(WAIT_S)
        session.close()


def _gateway_pings(stream_url: str, key_id: str, secret: str, count: int) -> list[float]:
    """ms from a ping to its pong on an authenticated stream connection (the gateway answers pings itself)."""
    from websockets.sync.client import connect

    with connect(stream_url) as ws:
        ws.send(json.dumps({"action": "authenticate", "data": {"key_id": key_id, "secret_key": secret}}))
        ws.recv(timeout=WAIT_S)
        samples = []
        for _ in range(count):
            sent = time.perf_counter()
            ws.ping().wait(WAIT_S)
            samples.append((time.perf_counter() - sent) * 1000)
        return samples


def _settlement_rate(port: int, keys: dict[str, str], trades: int, crowd: Crowd | None = None) -> float:
    """Trades settled per second, placement of the first to settlement of the last; with a crowd listening,
    also waits (bounded) until each of its listeners has heard every one of its account's orders end."""
    started = time.time()
    ids = place_trades(port, trades, keys)
    wait_settled(ids, timeout_s=600)
    rate = len(ids) / (time.time() - started)
    if crowd is not None:
        owners = _owners(ids)
        deadline = time.monotonic() + WAIT_S
        while (missing := crowd.missing(owners)) and time.monotonic() < deadline:
            time.sleep(0.2)
        if missing:
            raise InvariantBroken(f"stream: {missing} final updates never reached a listening connection")
    return rate


class Crowd:
    """LISTENERS_PER_ACCOUNT raw WebSocket listeners on each account, on one event loop in a thread of its own
    (a client as light as can be, so that the figure is the stack's); each keeps the final events it hears."""

    def __init__(self, stream_url: str, keys: dict[str, str]) -> None:
        self.url = stream_url
        self.accounts = [(trader, *token.split(".", 2)[1:]) for trader, token in keys.items()
                         for _ in range(LISTENERS_PER_ACCOUNT)]
        self.heard: list[set[str]] = [set() for _ in self.accounts]
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stopping: asyncio.Event | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._listen_all(),), daemon=True)

    def __enter__(self) -> Crowd:
        self.thread.start()
        if not self.ready.wait(WAIT_S):
            raise TimeoutError("the crowd of listeners did not all start listening")
        return self

    def __exit__(self, *_: object) -> None:
        if self.stopping is not None:
            self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(WAIT_S)

    def missing(self, owners: dict[str, str]) -> int:
        """How many (listener, order of its account) pairs have not heard the order end."""
        by_account: dict[str, set[str]] = {}
        for order_id, trader in owners.items():
            by_account.setdefault(trader, set()).add(order_id)
        return sum(len(by_account.get(trader, set()) - heard)
                   for (trader, _, _), heard in zip(self.accounts, self.heard, strict=True))

    async def _listen_all(self) -> None:
        from websockets.asyncio.client import connect

        self.stopping = asyncio.Event()
        connections = [await connect(self.url) for _ in self.accounts]
        try:
            for ws, (_, key_id, secret) in zip(connections, self.accounts, strict=True):
                await ws.send(json.dumps({"action": "authenticate", "data": {"key_id": key_id, "secret_key": secret}}))
                assert json.loads(await ws.recv())["data"]["status"] == "authorized"
                await ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
                assert json.loads(await ws.recv())["stream"] == "listening"
            readers = [asyncio.create_task(self._read(ws, heard)) for ws, heard in zip(connections, self.heard,
                                                                                         strict=True)]
            self.ready.set()
            await self.stopping.wait()
            for reader in readers:
                reader.cancel()
        finally:
            for ws in connections:
                await ws.close()

    @staticmethod
    async def _read(ws: Any, heard: set[str]) -> None:
        async for frame in ws:
            update = json.loads(frame)["data"]
            if update["event"] in FINAL:
                heard.add(update["order"]["id"])


def _owners(ids: list[str]) -> dict[str, str]:
    from sqlalchemy import text

    from chalicelib.adapters.database import get_engine

    with get_engine().connect() as conn:
        rows = conn.execute(text("SELECT t.id, u.username FROM trades t JOIN users u ON u.id = t.user_id "
                                 "WHERE t.id = ANY(:ids)"), {"ids": [uuid.UUID(i) for i in ids]}).all()
    return {str(order_id): username for order_id, username in rows}


def _listening_connections(key_id: str) -> int:
    from chalicelib.services.unit_of_work import UnitOfWork

    with UnitOfWork() as uow:
        found = uow.keys.get(key_id)
        return len(uow.connections.listening([found[0].user_id])) if found and found[0].user_id else 0


def _until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {WAIT_S:.0f} s for {what}")
        time.sleep(0.01)


def _figures(latency: list[dict[str, list[float]]], quiet: list[float], crowded: list[float], orders: int,
             trades: int) -> list[Figure]:
    def p(kind: str, q: float) -> list[float]:
        return [percentile(round_[kind], q) for round_ in latency]

    def every(kind: str) -> list[float]:
        return [sample for round_ in latency for sample in round_[kind]]

    seen_p50 = percentile(every("seen_to_push"), 50)
    round_trip_p50 = percentile(every("poll_round_trip"), 50)
    return [
        Figure("stream", "placement to fill pushed, p50", "ms", Spread.of(p("push", 50)),
               "placement to filled, polled back to back, p50", Spread.of(p("poll", 50)),
               details={"orders_per_round": orders,
                        "push_p99_ms": round(percentile(every("push"), 99), 1),
                        "poll_p99_ms": round(percentile(every("poll"), 99), 1)}),
        Figure("stream", f"commit (first seen filled) to fill at the listener, p50 (target {PUSH_TARGET_MS:g} ms)",
               "ms", Spread.of(p("seen_to_push", 50)), "a ping answered by the gateway, p50", Spread.of(p("ping", 50)),
               details={"p99_ms": round(percentile(every("seen_to_push"), 99), 1),
                        "poll_round_trip_p50_ms": round(round_trip_p50, 1),
                        "at_most_p50_ms": round(seen_p50 + 2 * round_trip_p50, 1),
                        "settled_at_to_push_p50_ms": round(percentile(every("settled_to_push"), 50), 1),
                        "target_ms": PUSH_TARGET_MS, "target_met": seen_p50 + 2 * round_trip_p50 <= PUSH_TARGET_MS}),
        Figure("stream", f"settlement with {LISTENERS_PER_ACCOUNT * USERS} listeners", "trades/s",
               Spread.of(crowded), "the same with no listener", Spread.of(quiet), better="higher",
               target=THROUGHPUT_TARGET, details={"trades_per_round": trades, "accounts": USERS}),
    ]
