"""What a benchmark runs against: PostgreSQL and Redis found or started as the tests find them, a fresh migrated
database per section (dropped afterwards), a Redis key prefix per run, and the AWS emulator when a section
needs SQS. The app in this process is pointed at them through the environment, as Lambda would be."""
from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devstack import services
from devstack.database import create_database, drop_database, migrate


class BenchStack:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tradeapi-bench-"))
        self.postgres = services.postgres(self.dir / "postgres")
        self.redis = services.redis(self.dir / "redis")
        self.prefix = f"bench-{uuid.uuid4().hex[:8]}"
        # One signing key for every process of a run, as a deployment has: a key record the bench wrote is
        # believed by the API processes it starts, and theirs by each other.
        self.signing_key = secrets.token_urlsafe(32)
        self._aws: services.Service | None = None
        self._databases: list[str] = []

    @property
    def aws_url(self) -> str:
        if self._aws is None:
            from devstack.aws import EMULATOR_ENV, emulator

            for name, value in EMULATOR_ENV.items():
                os.environ.setdefault(name, value)
            self._aws = emulator(self.dir / "aws")
        return self._aws.url

    @contextmanager
    def database(self, section: str) -> Iterator[str]:
        """A fresh migrated database the app in this process uses until the block ends."""
        name = f"tradeapi_bench_{section}_{uuid.uuid4().hex[:6]}"
        url = create_database(self.postgres.url, name)
        migrate(url)
        self.point_app_at(url)
        try:
            yield url
        finally:
            from chalicelib.adapters.database import get_database

            get_database.cache_clear()
            drop_database(self.postgres.url, name)

    def app_env(self, database_url: str) -> dict[str, str]:
        # The limits are counted as always but set past what a benchmark sends, so every answer is a read (or a
        # placement): the key lookups too, which every fresh API process makes once per key.
        return {"DATABASE_URL": database_url, "REDIS_URL": self.redis.url, "CACHE_PREFIX": self.prefix,
                "STAGE": "local", "LOG_LEVEL": "INFO", "DB_POOL_SIZE": "4", "RATE_LIMIT_PER_WINDOW": str(10**9),
                "PUBLIC_LIMIT_PER_WINDOW": str(10**9), "SIGNUP_LIMIT_PER_WINDOW": str(10**9),
                "AUTH_LOOKUPS_PER_WINDOW": str(10**9), "CACHE_SIGNING_KEY": self.signing_key}

    def point_app_at(self, database_url: str) -> None:
        from chalicelib.adapters.database import get_database
        from chalicelib.adapters.redis_client import get_redis
        from chalicelib.config import get_settings

        os.environ.update(self.app_env(database_url))
        get_settings.cache_clear()
        get_database.cache_clear()
        get_redis.cache_clear()
        quiet_app_logs()

    def close(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis.url)
        keys = list(client.scan_iter(match=f"{self.prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
        for service in (self._aws, self.redis, self.postgres):
            if service is not None:
                service.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def quiet_app_logs() -> None:
    """The app still formats every JSON line it would log (that work is part of what is measured), but in this
    process they go nowhere instead of flooding the table."""
    from chalicelib.adapters.logs import get_logger

    for handler in logging.getLogger(get_logger().name).handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process


def machine() -> dict[str, Any]:
    import platform

    model = ""
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": model or platform.processor(), "cores": os.cpu_count(), "memory_gib": round(memory_gib, 1),
            "os": platform.platform(), "python": platform.python_version()}
