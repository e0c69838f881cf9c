"""Cold start: a fresh process importing app.py and answering its first GET /stocks/{ticker} (cache hit, and
cache miss), next to a bare Chalice hello-world app answering its first request, the floor. And what tracing
costs where it is on (Lambda with active tracing: the X-Ray SDK and botocore loaded by the first invocation, a
subsegment sent per invocation), next to the same process untraced."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench.cold_child import WARM_RUNS
from bench.figures import Figure, Spread
from bench.stack import BenchStack
from chalicelib.adapters.tracing import SERVICE
from devstack.paths import ROOT
from devstack.xray_daemon import XRayDaemon

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
    from chalicelib.api.classic.routes import routes
    from chalicelib.api.classic.shapes import NewStock, NewUser
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
        api_key = users.register(NewUser.parse({"username": "alice", "balance": "1"}), UnitOfWork()).key.token
        cache, key = get_cache(), routes.answer_key("get_stock", ticker="AAPL")
        routes.fill("get_stock", ticker="AAPL")  # what the floor reads, as a warm stack holds it
        env = {**os.environ, **stack.app_env(database_url), "FLOOR_KEY": key, "BENCH_API_KEY": api_key}
        samples: dict[str, list[dict]] = {"hello": [], "hello_redis": [], "hit": [], "miss": [], "authorizer": [],
                                          "traced": []}
        with XRayDaemon() as daemon:
            traced_env = {**env, "LAMBDA_TASK_ROOT": str(ROOT), "AWS_XRAY_DAEMON_ADDRESS": daemon.address,
                          "POWERTOOLS_SERVICE_NAME": SERVICE,
                          "_X_AMZN_TRACE_ID": "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;"
                                              "Sampled=1"}
            for _ in range(runs):  # interleaved, so machine noise falls on all of them alike
                samples["hello"].append(_one(str(hello_dir), "hello_app", env))
                samples["hello_redis"].append(_one(str(hello_dir), "hello_redis_app", env))
                routes.fill("get_stock", ticker="AAPL")  # the answer is in Redis: the first request is a hit
                # The hit's cold figures are out before its warm runs begin, so one process gives both.
                samples["hit"].append(_one(str(ROOT), "app", env, "warm"))
                samples["traced"].append(_one(str(ROOT), "app", traced_env, "warm"))
                sent = daemon.datagrams()
                cache.delete(key)
                samples["miss"].append(_one(str(ROOT), "app", env))
                samples["authorizer"].append(_one(str(ROOT), "app", env, "authorizer"))
            # Each traced invocation (the first and the warm ones) sent its subsegment; none untraced did.
            assert sent == daemon.datagrams() == runs * (1 + WARM_RUNS), f"{sent} traces arrived"
    assert all(s["status"] == 200 for group in samples.values() for s in group), samples
    assert all("aws_xray_sdk.core" in s["loaded_after_first"] for s in samples["traced"])
    assert not any("aws_xray_sdk.core" in s["loaded_after_first"] for s in samples["hit"])

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
        Figure("tracing", "process start to first answer, cache hit, traced (Powertools Tracer)", "ms",
               spread("traced", "wall_ms"), "the same, untraced", spread("hit", "wall_ms"),
               details={"loaded_by_first_answer": samples["traced"][0]["loaded_after_first"]}),
        Figure("tracing", "warm cache hit, traced (Lambda handler, one subsegment sent)", "us",
               spread("traced", "warm_us"), "the same, untraced", spread("hit", "warm_us")),
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
    warm = [json.loads(rest.removeprefix("WARM ")) for rest in child.stdout if rest.startswith("WARM ")]
    child.wait(30)
    return {**report, "wall_ms": wall_ms, "warm_us": warm[0] if warm else None}
