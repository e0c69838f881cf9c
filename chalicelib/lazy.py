"""The one idiom for what a process builds once and keeps (settings, the engine, the Redis and boto3 clients):
built on first use, so importing the app does no I/O, and kept across invocations of a warm Lambda.
`cache_clear()` closes and forgets what was built, for tests that point the process elsewhere."""
from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Hashable
from types import ModuleType
from typing import Generic, TypeVar, overload

T = TypeVar("T")


class Lazy(Generic[T]):
    def __init__(self, build: Callable[..., T], close: Callable[[T], object] | None = None) -> None:
        self._build = build
        self._close = close
        self._built: dict[tuple[Hashable, ...], T] = {}
        # Health checks ask for clients from several threads at once; one build each, never two.
        self._lock = threading.Lock()
        self.__doc__ = build.__doc__
        self.__name__ = build.__name__

    def __call__(self, *args: Hashable) -> T:
        try:
            return self._built[args]
        except KeyError:
            with self._lock:
                if args not in self._built:
                    self._built[args] = self._build(*args)
                return self._built[args]

    @property
    def built(self) -> bool:
        """Whether anything was built yet (cold-start checks: importing the app must build nothing)."""
        return bool(self._built)

    def cache_clear(self) -> None:
        with self._lock:
            built, self._built = self._built, {}
        if self._close is not None:
            for value in built.values():
                self._close(value)


@overload
def lazy(build: Callable[..., T], /) -> Lazy[T]: ...


@overload
def lazy(*, close: Callable[[T], object]) -> Callable[[Callable[..., T]], Lazy[T]]: ...


def lazy(build: Callable[..., T] | None = None, /, *,
         close: Callable[[T], object] | None = None) -> Lazy[T] | Callable[[Callable[..., T]], Lazy[T]]:
    """Decorate a builder: `@lazy def get_settings() -> Settings`, or `@lazy(close=...)` where what was built
    holds resources to release (an engine's pool, a Redis connection)."""
    if build is not None:
        return Lazy(build)

    def wrap(builder: Callable[..., T]) -> Lazy[T]:
        return Lazy(builder, close)

    return wrap


def submodules_on_first_use(package: str, names: frozenset[str]) -> Callable[[str], ModuleType]:
    """A package's `__getattr__` (PEP 562) that imports the named submodules when first asked for, so a cold start
    loads only the modules its one request uses: `services.trades` is imported by the first order placed."""

    def load(name: str) -> ModuleType:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return importlib.import_module(f"{package}.{name}")

    return load
