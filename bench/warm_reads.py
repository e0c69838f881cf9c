"""Warm reads of cached routes, in-process (handler level, chalice.test.Client) and over HTTP (gunicorn over the
WSGI adapter, as `make run` serves it, under a concurrent load generator), each next to the least a cache hit
can cost (one Redis GET), with the Redis and database round trips each request made."""
from __future__ import annotations

import os
import subprocess
import time
from typing import Any

from bench.figures import Figure, Spread, percentile
from bench.http_load import run as load
from bench.round_trips import RoundTrips
from bench.stack import BenchStack
from devstack.paths import ROOT
from devstack.services import free_port, stop_process, wait_for_port
from devstack.wsgi import gunicorn_command

ROUTES = {"GET /stocks/{ticker}": "/stocks/AAPL", "GET /users/{username}": "/users/alice", "GET /stocks": "/stocks"}
WORKERS = "2"  # one per core


def run(stack: BenchStack, quick: bool) -> list[Figure]:
    with stack.database("reads") as database_url:
        key = _seed()
        figures = _in_process(stack, quick, key)
        figures += _over_http(stack, database_url, quick, key)
    return figures


def _seed() -> str:
    """Alice, with her API key (returned), and twenty stocks."""
    from chalicelib.api.classic.shapes import NewStock, NewUser
    from chalicelib.services import stocks, users
    from chalicelib.services.unit_of_work import UnitOfWork

    key: str = users.register(NewUser.parse({"username": "alice", "balance": "1000.00"}), UnitOfWork()).key.token
    for i in range(20):
        ticker = "AAPL" if i == 0 else f"S{i:02d}"
        stocks.ingest(NewStock.parse({"ticker": ticker, "open_price": "10.00", "close_price": "10.50",
                                      "high": "11.00", "low": "9.50", "volume": 1000}), UnitOfWork())
    return key


def _headers(path: str, key: str) -> dict[str, str]:
    """What the route needs: the user's key for a user's route (through the authorizer and the rate limit)."""
    return {"Authorization": f"Bearer {key}"} if path.startswith("/users/") else {}


def _in_process(stack: BenchStack, quick: bool, key: str) -> list[Figure]:
    from chalice.test import Client

    from app import app
    from bench import floor_apps
    from chalicelib.adapters.redis_client import get_redis

    requests, rounds = (300, 1) if quick else (2000, 3)
    figures = []
    with Client(app, stage_name="local") as client, Client(floor_apps.app) as floor_client:
        for route, path in ROUTES.items():
            headers = _headers(path, key)
            assert client.http.get(path, headers=headers).status_code == 200  # the first read fills the cache
            floor_apps._client.set(floor_apps.KEY, get_redis().get(_cache_key(path)))
            ours, floor = [], []
            for _ in range(rounds):  # interleaved, so machine noise falls on both alike
                ours.append(_timed(lambda path=path, headers=headers: client.http.get(path, headers=headers),
                                   requests))
                floor.append(_timed(lambda: floor_client.http.get("/floor"), requests))
            with RoundTrips() as trips:
                for _ in range(100):
                    client.http.get(path, headers=headers)
            counted = trips.per(100)
            per_request = {"redis": counted["redis"], "database": counted["database"] + counted["checkouts"]}
            figures.append(Figure(
                "warm reads", f"{route} in-process, cached", "req/s", Spread.of([r["rps"] for r in ours]),
                "one Redis GET in Chalice", Spread.of([r["rps"] for r in floor]), better="higher",
                details={"p50_ms": min(r["p50_ms"] for r in ours), "p99_ms": min(r["p99_ms"] for r in ours),
                         "floor_p50_ms": min(r["p50_ms"] for r in floor),
                         "redis_round_trips_per_request": per_request["redis"],
                         "database_round_trips_per_request": per_request["database"]}))
            # A user's route also checks the key (the authorizer) and counts the request (the rate limit).
            keyed = bool(headers)
            figures.append(Figure("warm reads", f"{route} round trips per cache hit"
                                  + (", with the key checked and counted" if keyed else ""), "Redis calls",
                                  Spread.of([per_request["redis"]]), "one Redis GET", Spread.of([1.0]),
                                  target=2.0 if keyed else 1.0,
                                  details={"database_round_trips": per_request["database"]}))
    return figures


def _cache_key(path: str) -> str:
    from chalicelib.api.classic.routes import routes
    from chalicelib.api.classic.shapes import PageQuery

    return routes.answer_key("list_stocks", query=PageQuery()) if path == "/stocks" else (
        routes.answer_key("get_stock", ticker="AAPL") if path.startswith("/stocks/")
        else routes.answer_key("get_user", username="alice"))


def _timed(call: Any, requests: int) -> dict[str, float]:
    latencies = []
    started = time.perf_counter()
    for _ in range(requests):
        begun = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - begun) * 1000)
    elapsed = time.perf_counter() - started
    return {"rps": requests / elapsed, "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99)}


def _over_http(stack: BenchStack, database_url: str, quick: bool, key: str) -> list[Figure]:
    import redis

    seconds, rounds = (1.0, 1) if quick else (5.0, 3)
    env = {**os.environ, **stack.app_env(database_url), "PYTHONPATH": str(ROOT)}
    servers = {}
    logs = open(stack.dir / "gunicorn.log", "ab")  # noqa: SIM115 - closed below
    try:
        for name, target in (("ours", "devstack.wsgi:application"), ("floor", "bench.floor_apps:application")):
            port = free_port()
            process = subprocess.Popen(gunicorn_command(f"127.0.0.1:{port}", WORKERS, target), cwd=ROOT,
                                       env=env, stdout=logs, stderr=subprocess.STDOUT, start_new_session=True)
            wait_for_port("127.0.0.1", port, process, f"gunicorn ({name})")
            servers[name] = (port, process)
        raw = redis.Redis.from_url(stack.redis.url)
        figures = []
        for route, path in ROUTES.items():
            ours_url = f"http://127.0.0.1:{servers['ours'][0]}{path}"
            headers = _headers(path, key)
            load(ours_url, 2, 0.5, headers)  # warm every worker and the cache
            raw.set(os.environ.get("FLOOR_KEY", "bench:floor"), raw.get(_cache_key(path)) or b"null")
            ours, floor, trips = [], [], []
            for _ in range(rounds):
                before = (_redis_commands(raw), _transactions(database_url))
                result = load(ours_url, 16, seconds, headers)
                after = (_redis_commands(raw), _transactions(database_url))
                ours.append(result)
                # INFO itself is one command; the database's counters are read from its own statistics view.
                trips.append(((after[0] - before[0] - 1) / result.requests, (after[1] - before[1]) / result.requests))
                floor.append(load(f"http://127.0.0.1:{servers['floor'][0]}/", 16, seconds))
            figures.append(Figure(
                "warm reads", f"{route} over HTTP, 16 clients, cached", "req/s", Spread.of([r.rps for r in ours]),
                "one Redis GET under the same gunicorn", Spread.of([r.rps for r in floor]), better="higher",
                details={"p50_ms": min(r.percentile(50) for r in ours), "p99_ms": min(r.percentile(99) for r in ours),
                         "floor_p50_ms": min(r.percentile(50) for r in floor), "errors": sum(r.errors for r in ours),
                         "redis_commands_per_request": round(min(t[0] for t in trips), 3),
                         "database_transactions_per_request": round(min(t[1] for t in trips), 3),
                         "workers": int(WORKERS)}))
        raw.close()
        return figures
    finally:
        for _, process in servers.values():
            stop_process(process)
        logs.close()


def _redis_commands(raw: Any) -> int:
    return int(raw.info("stats")["total_commands_processed"])


def _transactions(database_url: str) -> int:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    time.sleep(1.1)  # PostgreSQL publishes a backend's counters at most once a second
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = :d"),
                             {"d": make_url(database_url).database}).scalar()
    engine.dispose()
    return int(count) - 1  # this query's own transaction
