"""Counts what the app in this process sends: Redis round trips (a pipeline is one), database statements, pool
checkouts (each pings the server first: one more round trip) and commits. Hooks are removed on exit."""
from __future__ import annotations

from collections import Counter
from types import TracebackType
from typing import Any


class RoundTrips:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def __enter__(self) -> RoundTrips:
        from sqlalchemy import event

        from chalicelib.adapters.database import get_engine
        from chalicelib.adapters.redis_client import get_redis

        self._client = get_redis()
        self._originals = (self._client.execute_command, self._client.pipeline)
        execute, pipeline = self._originals

        def counted_execute(*args: Any, **kwargs: Any) -> Any:
            self.counts["redis"] += 1
            return execute(*args, **kwargs)

        def counted_pipeline(*args: Any, **kwargs: Any) -> Any:
            pipe = pipeline(*args, **kwargs)
            run = pipe.execute

            def execute_once(*a: Any, **k: Any) -> Any:
                self.counts["redis"] += 1
                return run(*a, **k)

            pipe.execute = execute_once
            return pipe

        self._client.execute_command, self._client.pipeline = counted_execute, counted_pipeline
        engine = get_engine()
        self._listeners = [(engine, "before_cursor_execute", self._counter("database")),
                           (engine, "commit", self._counter("commits")),
                           (engine.pool, "checkout", self._counter("checkouts"))]
        for target, name, listener in self._listeners:
            event.listen(target, name, listener)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        from sqlalchemy import event

        self._client.execute_command, self._client.pipeline = self._originals
        for target, name, listener in self._listeners:
            event.remove(target, name, listener)

    def per(self, units: int) -> dict[str, float]:
        return {name: round(self.counts[name] / units, 3) for name in ("redis", "database", "checkouts", "commits")}

    def _counter(self, name: str) -> Any:
        def count(*_: Any) -> None:
            self.counts[name] += 1

        return count
