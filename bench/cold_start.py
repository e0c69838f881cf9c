"""Cold start: a fresh process importing app.py and answering its first GET /stocks/{ticker} (cache hit, and
cache miss), next to a bare Chalice hello-world app answering its first request, the floor."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench.figures import Figure, Spread
from bench.stack import BenchStack
from devstack.paths import ROOT

HELLO = '''from chalice import Chalice

app = Chalice(app_name="hello")


@app.route("/stocks/{ticker}")
def get_stock(ticker):
    return {"ticker": ticker}
'''
# The least a cache hit can do: hello-world plus one Redis GET with redis-py, the client the app uses.
HELLO_REDIS = '''import os

from chalice import Chalice, Response

app = Chalice(app_name="hello_redis")


@app.route("/stocks/{ticker}")
def get_stock(ticker):
    import redis

    body = redis.Redis.from_url(os.environ["REDIS_URL"]).get(os.environ["FLOOR_KEY"])
    return Response(body=body.decode(), headers={"Content-Type": "application/json"})
'''


def run(stack: BenchStack, quick: bool) -> list[Figure]:
    from chalicelib.adapters.cache import get_cache
    from chalicelib.api.shapes import NewStock, NewUser
    from chalicelib.services import stocks, users
    from chalicelib.services.unit_of_work import UnitOfWork

    hello_dir = stack.dir / "hello"
    hello_dir.mkdir(exist_ok=True)
    (hello_dir / "hello_app.py").write_text(HELLO)
    (hello_dir / "hello_redis_app.py").write_text(HELLO_REDIS)
    runs = 3 if quick else 11
    with stack.database("cold") as database_url:
        stocks.ingest(NewStock.parse({"ticker": "AAPL", "open_price": "1.00", "close_price": "1.00", "high": "1.00",
                                      "low": "1.00", "volume": 10}), UnitOfWork())
        # Registration writes the key through to the cache, as a warm stack has it.
        api_key = users.register(NewUser.parse({"username": "alice", "balance": "1"}), UnitOfWork())["api_key"]
        cache, key = get_cache(), get_cache().keys.stock("AAPL")
        env = {**os.environ, **stack.app_env(database_url), "FLOOR_KEY": key, "BENCH_API_KEY": api_key}
        samples: dict[str, list[dict]] = {"hello": [], "hello_redis": [], "hit": [], "miss": [], "authorizer": []}
        for _ in range(runs):  # interleaved, so machine noise falls on all of them alike
            samples["hello"].append(_one(str(hello_dir), "hello_app", env))
            samples["hello_redis"].append(_one(str(hello_dir), "hello_redis_app", env))
            stocks.get("AAPL", UnitOfWork(), cache)  # the key is in Redis: the first request is a hit
            samples["hit"].append(_one(str(ROOT), "app", env))
            cache.delete(key)
            samples["miss"].append(_one(str(ROOT), "app", env))
            samples["authorizer"].append(_one(str(ROOT), "app", env, "authorizer"))
    assert all(s["status"] == 200 for group in samples.values() for s in group), samples

    def spread(group: str, field: str) -> Spread:
        return Spread.of([s[field] for s in samples[group]])

    first_hit = samples["hit"][0]
    return [
        Figure("cold start", "process start to first answer, cache hit", "ms", spread("hit", "wall_ms"),
               "hello-world Chalice", spread("hello", "wall_ms"), target=1.5,
               details={"loaded_at_import": first_hit["loaded_at_import"],
                        "created_at_import": first_hit["created_at_import"],
                        "loaded_by_first_answer": first_hit["loaded_after_first"]}),
        Figure("cold start", "process start to first answer, cache hit", "ms", spread("hit", "wall_ms"),
               "hello-world + one Redis GET", spread("hello_redis", "wall_ms")),
        Figure("cold start", "process start to first answer, cache miss", "ms", spread("miss", "wall_ms"),
               "hello-world Chalice", spread("hello", "wall_ms"),
               details={"loaded_by_first_answer": samples["miss"][0]["loaded_after_first"]}),
        Figure("cold start", "import of the app module", "ms", spread("hit", "import_ms"),
               "hello-world Chalice", spread("hello", "import_ms")),
        Figure("cold start", "process start to the authorizer's answer, key cached", "ms",
               spread("authorizer", "wall_ms"), "hello-world + one Redis GET", spread("hello_redis", "wall_ms"),
               details={"loaded_by_first_answer": samples["authorizer"][0]["loaded_after_first"]}),
    ]


def _one(module_dir: str, module: str, env: dict[str, str], *mode: str) -> dict:
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "bench.cold_child", module, *mode], cwd=ROOT,
                             env={**env, "PYTHONPATH": os.pathsep.join((module_dir, str(ROOT)))},
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert child.stdout is not None
    for line in child.stdout:  # the app's own log lines come first
        if line.startswith("BENCH "):
            break
    wall_ms = (time.perf_counter() - started) * 1000  # the process has answered: its last line of work
    report = json.loads(line.removeprefix("BENCH "))
    child.stdout.read()
    child.wait(30)
    return {**report, "wall_ms": wall_ms}
