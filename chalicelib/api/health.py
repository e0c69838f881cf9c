"""Reachability of the database, the cache and the queue: checked side by side, each reported, none allowed to
hold the answer past a short deadline (a hung dependency is reported as down, not waited for)."""
from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from chalicelib.adapters import database
from chalicelib.adapters.cache import get_cache
from chalicelib.adapters.logs import get_logger
from chalicelib.adapters.trade_queue import get_trade_queue
from chalicelib.config import get_settings
from chalicelib.lazy import lazy


def report(timeout_s: float) -> tuple[dict[str, Any], bool]:
    """The health report (the `HealthOut` shape) and whether every dependency answered in time."""
    started = time.perf_counter()
    futures = {name: _executor().submit(_timed, probe) for name, probe in _PROBES.items()}
    wait(futures.values(), timeout=timeout_s)
    checks = {name: _check(name, future, timeout_s, started) for name, future in futures.items()}
    healthy = all(check["status"] == "ok" for check in checks.values())
    report: dict[str, Any] = {"status": "ok" if healthy else "unavailable", "checks": checks}
    if get_settings().is_local:
        report["emulator"] = get_settings().aws_emulator
    return report, healthy


_PROBES: dict[str, Callable[[], object]] = {
    "database": database.ping,
    "cache": lambda: get_cache().ping(),
    "queue": lambda: get_trade_queue().ping(),
}


def _timed(probe: Callable[[], object]) -> float:
    started = time.perf_counter()
    probe()
    return (time.perf_counter() - started) * 1000


def _check(name: str, future: Future[float], timeout_s: float, started: float) -> dict[str, Any]:
    waited_ms = round((time.perf_counter() - started) * 1000, 2)
    if not future.done():
        error = f"no answer within {timeout_s:g} s"
    elif (failure := future.exception()) is not None:
        # The answer names the kind of failure; the full text (hosts, SQL) goes to the log, not to the client.
        error = type(failure).__name__
        get_logger().warning(f"{name} unhealthy", extra={"event": "health_check_failed", "check": name,
                                                         "error": f"{type(failure).__name__}: {failure}"})
    else:
        return {"status": "ok", "latency_ms": round(future.result(), 2), "error": None}
    return {"status": "down", "latency_ms": waited_ms, "error": error}


@lazy(close=ThreadPoolExecutor.shutdown)
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=6, thread_name_prefix="health")
