"""Placement under load: POST /transactions over HTTP to the API served as `make run` serves it (gunicorn, four
workers, the emulator's SQS), from 16 keep-alive connections, for one user and for 32 users, with settlement
paused (no consumer) and running (two pollers, as `make run` starts). The floor is the same placement done by one
hand-written SQL statement through pg8000 plus one SQS send (bench/floor_apps.py), under the same server and load.

The load comes from wrk when it is installed (a C load generator, as the targets were measured), else from threads
in this process, which compete with the server for the same cores; BENCH_LOAD_GENERATOR=threads|wrk chooses."""
from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bench import http_load
from bench.figures import Figure, InvariantBroken, Spread
from bench.http_load import Request
from bench.processes import Pollers, Server
from bench.stack import BenchStack
from devstack.paths import ROOT

USERS = 32
CONNECTIONS = 16
WORKERS = 4
PRICE = Decimal("1.00")
BALANCE = Decimal("9999999999.00")


@dataclass(frozen=True)
class Load:
    requests: int
    accepted: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds


def run(stack: BenchStack, quick: bool) -> list[Figure]:
    from devstack.aws import ensure_trade_queues, sqs_client

    seconds, rounds = (2.0, 1) if quick else (10.0, 3)
    sqs = sqs_client(stack.aws_url)
    figures = []
    with stack.database("placement") as database_url:
        keys = _seed()
        for users in (1, USERS):
            for settling in (False, True):
                ours: list[Load] = []
                floors: list[Load] = []
                for _ in range(rounds):
                    for target, results in (("devstack.wsgi:application", ours),
                                            ("bench.floor_apps:placement", floors)):
                        name = f"bench-{uuid.uuid4().hex[:8]}"
                        queue = ensure_trade_queues(sqs, name, f"{name}-dlq", max_receive_count=5,
                                                    visibility_timeout_s=30)
                        env = {**os.environ, **stack.app_env(database_url), "AWS_ENDPOINT_URL": stack.aws_url,
                               "TRADE_QUEUE_NAME": name, "TRADE_DLQ_NAME": f"{name}-dlq", "PYTHONPATH": str(ROOT)}
                        with Server(env, stack.dir / "placement-api.log", WORKERS, target) as port, \
                                Pollers(env, queue["queue"], 2 if settling else 0, stack.dir / "pollers.log"):
                            _load(port, users, keys, 1.0, stack.dir)  # warm every worker's connections
                            results.append(_load(port, users, keys, seconds, stack.dir))
                        with Pollers(env, queue["queue"], 2, stack.dir / "pollers.log"):  # settle it all first
                            _wait_settled(timeout_s=600)
                        for url in queue.values():
                            sqs.delete_queue(QueueUrl=url)
                who = "one user" if users == 1 else f"{users} users"
                label = f"{who}, settlement {'running' if settling else 'paused'}"
                figures.append(Figure(
                    "placement", f"POST /transactions over HTTP, {CONNECTIONS} connections, {label}", "orders/s",
                    Spread.of([load.rate for load in ours]), "one SQL statement via pg8000 + one SQS send",
                    Spread.of([load.rate for load in floors]), better="higher",
                    details={"generator": "wrk" if _use_wrk() else "python threads",
                             "p50_ms": round(statistics.median([load.p50_ms for load in ours]), 1),
                             "p99_ms": round(statistics.median([load.p99_ms for load in ours]), 1),
                             "floor_p99_ms": round(statistics.median([load.p99_ms for load in floors]), 1),
                             "target_orders_per_s": 250 if settling else 320, "target_p99_ms": 100}))
        broken = _violations()
        if broken:
            raise InvariantBroken(f"placement: {broken}")
    return figures


def _seed() -> dict[str, str]:
    """USERS traders with all the cash they could want and one stock with all the volume, and their keys."""
    from chalicelib.api.classic.shapes import NewStock, NewUser
    from chalicelib.services import stocks, users
    from chalicelib.services.unit_of_work import UnitOfWork

    keys = {f"placer{i}": users.register(NewUser.parse({"username": f"placer{i}", "balance": BALANCE}),
                                         UnitOfWork()).key.token for i in range(USERS)}
    stocks.ingest(NewStock.parse({"ticker": "LOAD", "open_price": PRICE, "close_price": PRICE, "high": PRICE,
                                  "low": PRICE, "volume": 2**31 - 1}), UnitOfWork())
    return keys


def _order(user: str) -> str:
    return json.dumps({"user": user, "ticker": "LOAD", "transaction_type": "buy", "transaction_volume": 1})


def _load(port: int, users: int, keys: dict[str, str], seconds: float, work_dir: Path) -> Load:
    chosen = list(keys.items())[:users]
    if _use_wrk():
        return _wrk(port, chosen, seconds, work_dir)
    return _threads(port, chosen, seconds)


def _use_wrk() -> bool:
    return os.environ.get("BENCH_LOAD_GENERATOR", "wrk") == "wrk" and shutil.which("wrk") is not None


def _wrk(port: int, users: list[tuple[str, str]], seconds: float, work_dir: Path) -> Load:
    script = work_dir / "place.lua"
    rows = "\n".join(f'  {{{json.dumps(_order(user))}, "Bearer {key}"}},' for user, key in users)
    script.write_text(f"""
local orders = {{
{rows}
}}
local n = 0
local accepted = 0
request = function()
  n = n + 1
  local order = orders[(n % #orders) + 1]
  return wrk.format("POST", "/transactions", {{["Content-Type"] = "application/json",
                                                 ["Authorization"] = order[2]}}, order[1])
end
""")
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency", "-s", str(script),
               f"http://127.0.0.1:{port}"]
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60)
    out = result.stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    elapsed = float(re.search(r"requests in ([\d.]+)s", out).group(1))  # type: ignore[union-attr]
    return Load(requests, requests - (int(failed.group(1)) if failed else 0), elapsed,
                _wrk_ms(out, "50%"), _wrk_ms(out, "99%"))


def _wrk_ms(out: str, quantile: str) -> float:
    value, unit = re.search(rf"{quantile}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _threads(port: int, users: list[tuple[str, str]], seconds: float) -> Load:
    def order(n: int) -> Request:
        user, key = users[n % len(users)]
        return "POST", _order(user), {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}

    result = http_load.run(f"http://127.0.0.1:{port}/transactions", CONNECTIONS, seconds, request=order)
    return Load(result.requests, result.succeeded, result.seconds, result.percentile(50), result.percentile(99))


def _wait_settled(timeout_s: float) -> None:
    from sqlalchemy import text

    from chalicelib.adapters.database import get_engine

    deadline = time.monotonic() + timeout_s
    while True:
        with get_engine().connect() as conn:
            pending = conn.execute(text("SELECT count(*) FROM trades WHERE status = 'pending'")).scalar_one()
        if pending == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{pending} trades still pending after {timeout_s} s")
        time.sleep(0.2)


def _violations() -> list[str]:
    from chalicelib.adapters.database import get_engine
    from devstack.invariants import violations

    with get_engine().connect() as conn:
        balances = {f"placer{i}": BALANCE for i in range(USERS)}
        return violations(conn, balances, {"LOAD": 2**31 - 1})
