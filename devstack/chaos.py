"""Chaos on the local stack, as `make run` runs it: its processes on a PostgreSQL and a Redis of their own (on
spare loopback ports), a paced storm of idempotent orders, and during it the faults production meets:

    PostgreSQL crashed and restarted, Redis killed and restarted, an API worker killed, a settlement poller
    killed, PostgreSQL restarted again.

Each order carries an Idempotency-Key and is retried with it on a 5xx or a dropped connection, as a careful client
would. Afterwards what must hold is checked, and how long recovery took is measured: the seconds from the last
fault ending to the last trade becoming final. The chaos test (tests/chaos) and `make bench` both run it.

Loopback only, and bounded: every wait has a deadline."""
from __future__ import annotations

import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from devstack import invariants
from devstack.postgres_cluster import PostgresCluster, redis_binary
from devstack.services import RedisServer, free_port
from devstack.stack_process import ISOLATED as STACK_OWN
from devstack.stack_process import StackProcess

# The storm sets its own limits too: the caller's must not throttle it.
ISOLATED = (*STACK_OWN, "RATE_LIMIT_PER_WINDOW", "RATE_LIMIT_WINDOW_S", "SIGNUP_LIMIT_PER_WINDOW",
            "PUBLIC_LIMIT_PER_WINDOW")
USERS, TICKERS, PRICE, ON_OFFER, CASH = 8, ("CHA", "OS"), Decimal("10.00"), 10**6, Decimal("100000.00")
DOWN_S = 2.0  # how long a crashed server stays down before it is started again
ANSWER_WITHIN_S = 90.0  # an order still without a definitive answer after this is a failure
FINAL_WITHIN_S = 120.0  # every accepted trade final within this of the storm's end, or the run fails
Say = Callable[[str], object]


@dataclass
class Order:
    user: str
    idempotency_key: str
    body: dict[str, Any]
    status: int | None = None  # the definitive answer's: 202, or a 4xx refusal
    transaction_id: str | None = None
    attempts: int = 0
    retried: Counter[str] = field(default_factory=Counter)  # 5xx statuses and dropped connections met


@dataclass
class Fault:
    name: str
    at_s: float  # after the storm began
    act: Callable[[], None]
    started: float = 0.0  # wall clock
    ended: float = 0.0


@dataclass
class Report:
    orders: list[Order]
    faults: list[Fault]
    recovery_s: float  # last fault ended -> last trade final
    problems: list[str]  # anything that broke; empty when everything held
    restarts: list[str]  # the supervisor's restart lines
    postgres: str
    redis: str

    @property
    def accepted(self) -> int:
        return sum(1 for order in self.orders if order.status == 202)

    def summary(self) -> str:
        retried = sum((order.retried for order in self.orders), Counter())
        return (f"{len(self.orders)} orders ({self.accepted} accepted), retried after {dict(retried)}; faults: "
                + ", ".join(f"{f.name} at {f.at_s:.1f} s ({f.ended - f.started:.1f} s)" for f in self.faults)
                + f"; recovery {self.recovery_s:.1f} s after the last fault; PostgreSQL {self.postgres}, "
                  f"Redis {self.redis}")


def run(aws_endpoint: str, work_dir: Path, *, rate_per_s: float = 25.0, pace: float = 1.0,
        say: Say = print) -> Report:
    """The whole scenario; `aws_endpoint` is an emulator the stack uses with queues of its own. `pace` scales the
    fault schedule (0.5: the same faults in half the time)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    postgres = PostgresCluster()
    redis = RedisServer(work_dir / "redis", executable=redis_binary())
    stack: StackProcess | None = None
    try:
        database_url = make_url(postgres.url).set(database="tradeapi").render_as_string(hide_password=False)
        stack = StackProcess(work_dir / "devstack", _stack_env(database_url, redis.url, aws_endpoint,
                                                               work_dir / "devstack"), log=work_dir / "stack.log")
        say(f"[chaos] stack on PostgreSQL {postgres.version} ({postgres.bin_dir}) and {redis.command()[0]}")
        keys = _seed(stack)
        faults = _faults(postgres, redis, stack, pace)
        orders = _storm(stack.api, keys, faults, rate_per_s, say)
        engine = create_engine(database_url, poolclass=NullPool)
        try:
            problems = _wait_until_final(engine)
            problems += _check(engine, orders, stack)
            recovery = _recovery_s(engine, faults)
        finally:
            engine.dispose()
        restarts = [line for line in stack.output().splitlines() if "; restarting" in line]
        report = Report(orders, faults, recovery, problems, restarts, postgres.version, _redis_version(redis.url))
        say(f"[chaos] {report.summary()}")
        return report
    finally:
        if stack is not None:
            stack.stop()
        redis.stop()
        postgres.stop()


def _redis_version(url: str) -> str:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return str(client.info()["redis_version"])
    finally:
        client.close()


def _stack_env(database_url: str, redis_url: str, aws_endpoint: str, data_dir: Path) -> dict[str, str]:
    run_id = uuid.uuid4().hex[:8]
    env = {name: value for name, value in os.environ.items() if name not in ISOLATED}
    return {**env, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "AWS_ENDPOINT_URL": aws_endpoint,
            "TRADEAPI_DATA_DIR": str(data_dir), "CACHE_PREFIX": f"chaos-{run_id}",
            "TRADE_QUEUE_NAME": f"chaos-{run_id}", "TRADE_DLQ_NAME": f"chaos-{run_id}-dlq",
            "PORT": str(free_port()), "STREAM_PORT": str(free_port()), "DEVSTACK_QUIET": "1", "API_WORKERS": "2",
            "RATE_LIMIT_PER_WINDOW": str(10**9), "SIGNUP_LIMIT_PER_WINDOW": "1000",
            "PUBLIC_LIMIT_PER_WINDOW": str(10**9)}


def _seed(stack: StackProcess) -> dict[str, str]:
    """Users with cash and stocks on offer; returns each user's key."""
    admin = stack.info["admin_api_key"]
    for ticker in TICKERS:
        status, answer = _call(stack.api, "POST", "/stocks", {
            "ticker": ticker, "open_price": str(PRICE), "close_price": str(PRICE), "high": str(PRICE),
            "low": str(PRICE), "volume": ON_OFFER}, admin)
        assert status == 201, answer
    keys = {}
    for n in range(USERS):
        status, answer = _call(stack.api, "POST", "/users", {"username": f"chaos{n}", "balance": str(CASH)})
        assert status == 201, answer
        keys[f"chaos{n}"] = answer["api_key"]
    return keys


def _faults(postgres: PostgresCluster, redis: RedisServer, stack: StackProcess, pace: float) -> list[Fault]:
    def crash_postgres() -> None:
        postgres.crash()
        time.sleep(DOWN_S)
        postgres.start()

    def kill_redis() -> None:
        redis.kill()
        time.sleep(DOWN_S)
        redis.start()

    def kill_api_worker() -> None:
        stack.api_workers()[0].kill()

    def kill_poller() -> None:
        stack.functions("devstack.poller")[0].kill()

    def restart_postgres() -> None:
        postgres.shut_down()
        time.sleep(DOWN_S)
        postgres.start()

    schedule = [("PostgreSQL crash-restart", 3, crash_postgres), ("Redis killed and restarted", 9, kill_redis),
                ("an API worker killed", 15, kill_api_worker), ("a settlement poller killed", 19, kill_poller),
                ("PostgreSQL restarted", 25, restart_postgres)]
    return [Fault(name, at_s * pace, act) for name, at_s, act in schedule]


def _storm(api: str, keys: dict[str, str], faults: list[Fault], rate_per_s: float, say: Say) -> list[Order]:
    """Orders at `rate_per_s` from the first fault's start to the last one's end, the faults on their schedule."""
    chooser = random.Random(20261203)
    orders: list[Order] = []
    stop = threading.Event()
    began = time.monotonic()

    def submit(order: Order, due: float) -> None:
        time.sleep(max(0.0, due - time.monotonic()))
        _place(api, keys[order.user], order)

    with ThreadPoolExecutor(max_workers=24, thread_name_prefix="storm") as pool:
        def schedule() -> None:
            n = 0
            while not stop.is_set():
                user = chooser.choice(sorted(keys))
                side = "sell" if chooser.random() < 0.25 else "buy"
                order = Order(user, str(uuid.uuid4()), {"user": user, "ticker": chooser.choice(TICKERS),
                                                         "transaction_type": side,
                                                         "transaction_volume": chooser.randint(1, 5)})
                orders.append(order)
                due = began + n / rate_per_s
                pool.submit(submit, order, due)
                n += 1
                time.sleep(max(0.0, due - time.monotonic()))

        scheduler = threading.Thread(target=schedule, name="storm-schedule")
        scheduler.start()
        for fault in faults:
            time.sleep(max(0.0, began + fault.at_s - time.monotonic()))
            fault.started = time.time()
            fault.act()
            fault.ended = time.time()
            say(f"[chaos] {fault.name} at {fault.at_s:.1f} s: over in {fault.ended - fault.started:.1f} s")
        stop.set()
        scheduler.join()
    return orders


def _place(api: str, key: str, order: Order) -> None:
    """Retried with the same Idempotency-Key until a definitive answer (a 2xx, or a 4xx refusal) comes back."""
    deadline = time.monotonic() + ANSWER_WITHIN_S
    while time.monotonic() < deadline:
        order.attempts += 1
        try:
            status, answer = _call(api, "POST", "/transactions", order.body, key,
                                   {"Idempotency-Key": order.idempotency_key})
        except OSError as dropped:  # refused, reset, timed out: the answer, if any, was lost
            order.retried[type(dropped).__name__] += 1
        else:
            if status < 500:
                order.status = status
                order.transaction_id = answer.get("transaction_id") if status == 202 else None
                return
            order.retried[str(status)] += 1
        time.sleep(0.25)


def _wait_until_final(engine: Any) -> list[str]:
    deadline = time.monotonic() + FINAL_WITHIN_S
    while True:
        try:
            with engine.connect() as conn:
                pending = conn.execute(text("SELECT count(*) FROM trades WHERE status = 'pending'")).scalar_one()
        except Exception:  # noqa: BLE001 - the database may still be recovering; the deadline bounds the wait
            pending = -1
        if pending == 0:
            return []
        if time.monotonic() > deadline:
            return [f"{pending} trades still not final {FINAL_WITHIN_S:.0f} s after the storm"]
        time.sleep(0.25)


def _check(engine: Any, orders: list[Order], stack: StackProcess) -> list[str]:
    problems = []
    unanswered = [o for o in orders if o.status is None]
    if unanswered:
        problems.append(f"{len(unanswered)} orders got no definitive answer in {ANSWER_WITHIN_S:.0f} s")
    odd = Counter(o.status for o in orders if o.status not in (None, 202, 400))
    if odd:
        problems.append(f"orders answered neither 202 nor a 400 refusal: {dict(odd)}")
    if any("500" in o.retried for o in orders):
        problems.append("an order was answered 500 (a bug, never an outage)")
    with engine.connect() as conn:
        trades = conn.execute(text("SELECT idempotency_key, id FROM trades")).all()
        by_key: dict[str, list[str]] = {}
        for stored_key, trade_id in trades:
            by_key.setdefault(str(stored_key).removeprefix("header:"), []).append(str(trade_id))
        for order in orders:
            placed = by_key.get(order.idempotency_key, [])
            if order.status == 202 and placed != [order.transaction_id]:
                problems.append(f"order {order.idempotency_key} answered {order.transaction_id}, placed {placed}")
            elif order.status != 202 and placed:
                problems.append(f"order {order.idempotency_key} was refused ({order.status}) but placed {placed}")
        accepted = sum(1 for order in orders if order.status == 202)
        if len(trades) != accepted:
            problems.append(f"{len(trades)} trades for {accepted} accepted orders")
        problems += invariants.violations(conn, {f"chaos{n}": CASH for n in range(USERS)},
                                          dict.fromkeys(TICKERS, ON_OFFER))
    if stack.process.poll() is not None:
        problems.append(f"the stack itself stopped (code {stack.process.returncode})")
    elif (answer := _serving(stack.api))[0] != 200:
        problems.append(f"the API does not serve after the storm: GET /stocks answered {answer[0]} {answer[1]!r:.300}")
    return problems


def _recovery_s(engine: Any, faults: list[Fault]) -> float:
    with engine.connect() as conn:
        last_final = conn.execute(text(
            "SELECT extract(epoch FROM max(coalesce(settled_at, rejected_at, canceled_at))) FROM trades")).scalar()
    return max(0.0, float(last_final or 0) - max(fault.ended for fault in faults))


def _serving(api: str, within_s: float = 5.0) -> tuple[int, Any]:
    """GET /stocks until it answers 200 or `within_s` pass (a worker still replacing a connection the last restart
    broke answers 503 once, as it should); the last answer."""
    deadline = time.monotonic() + within_s
    while (answer := _call(api, "GET", "/stocks"))[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.25)
    return answer


def _call(api: str, method: str, path: str, body: dict[str, Any] | None = None, key: str | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(api + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {key}"} if key else {}),
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as refused:
        payload = refused.read()
        try:
            return refused.code, json.loads(payload or b"null")
        except ValueError:
            return refused.code, payload.decode(errors="replace")
