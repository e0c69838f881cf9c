"""Reachability of the database, the cache and the queue: checked side by side, each reported, none allowed to
hold the answer past a short deadline (a hung dependency is reported as down, not waited for)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from chalicelib.logs import get_logger
from chalicelib.schemas import CheckOut, HealthOut

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def report(timeout_s: float) -> tuple[dict[str, Any], bool]:
    """The health report and whether every dependency answered in time."""
    checks = _probes()
    started = time.perf_counter()
    futures = {name: _get_executor().submit(_timed, probe) for name, probe in checks.items()}
    wait(futures.values(), timeout=timeout_s)
    results = {name: _result(name, future, timeout_s, started) for name, future in futures.items()}
    healthy = all(check.status == "ok" for check in results.values())
    health = HealthOut(status="ok" if healthy else "unavailable", checks=results)  # type: ignore[arg-type]
    return health.model_dump(mode="json"), healthy


def _probes() -> dict[str, Callable[[], None]]:
    from chalicelib import db
    from chalicelib.cache import get_cache
    from chalicelib.queue import get_trade_queue

    def cache() -> None:
        get_cache().ping()

    def queue() -> None:
        get_trade_queue().ping()

    return {"database": db.ping, "cache": cache, "queue": queue}


def _timed(probe: Callable[[], None]) -> float:
    started = time.perf_counter()
    probe()
    return (time.perf_counter() - started) * 1000


def _result(name: str, future: Future[float], timeout_s: float, started: float) -> CheckOut:
    waited_ms = round((time.perf_counter() - started) * 1000, 2)
    if not future.done():
        error = f"no answer within {timeout_s:g} s"
    elif (failure := future.exception()) is not None:
        # The answer names the kind of failure; the full text (hosts, SQL) goes to the log, not to the client.
        error = type(failure).__name__
        get_logger().warning(f"{name} unhealthy", extra={"event": "health_check_failed", "check": name,
                                                         "error": f"{type(failure).__name__}: {failure}"})
    else:
        return CheckOut(status="ok", latency_ms=round(future.result(), 2))
    return CheckOut(status="down", latency_ms=waited_ms, error=error)


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=6, thread_name_prefix="health")
    return _executor
