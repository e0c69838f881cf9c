"""`make run`: find or start PostgreSQL and Redis, migrate, and serve the API on 127.0.0.1:8000.

Data of embedded servers lives in .devstack/ and survives restarts; `make clean` removes it.
Ctrl-C or SIGTERM stops every process this started.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from devstack import services
from devstack.database import ROOT, create_database, migrate

DATA_DIR = ROOT / ".devstack"
HOST, PORT = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8000"))


def say(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


def _database_url(server: services.Service) -> str:
    """The environment's URL as given; otherwise the `tradeapi` database on the found or embedded server."""
    if server.origin == "environment":
        url = server.url
    else:
        url = make_url(server.url).set(database="tradeapi").render_as_string(hide_password=False)
    create_database(url, str(make_url(url).database), exist_ok=True)
    return url


def main() -> int:
    started: list[services.Service] = []
    server: subprocess.Popen[bytes] | None = None

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        say("looking for PostgreSQL ...")
        postgres = services.postgres(DATA_DIR / "postgres")
        started.append(postgres)
        say(f"PostgreSQL ({postgres.origin}): {_hide(postgres.url)}")
        say("looking for Redis ...")
        redis = services.redis(DATA_DIR / "redis")
        started.append(redis)
        say(f"Redis ({redis.origin}): {redis.url}")

        database_url = _database_url(postgres)
        say("migrating the schema ...")
        migrate(database_url)

        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis.url, "STAGE": "local"}
        chalice = Path(sys.executable).with_name("chalice")
        server = subprocess.Popen(
            [str(chalice), "local", "--stage", "local", "--host", HOST, "--port", str(PORT)], cwd=ROOT, env=env
        )
        say(f"API: http://{HOST}:{PORT}  (Ctrl-C stops everything)")
        return server.wait()
    except KeyboardInterrupt:
        say("stopping ...")
        return 0
    finally:
        if server is not None:
            services.stop_process(server)
        for service in reversed(started):
            service.stop()
        say("stopped")


def _hide(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main())
