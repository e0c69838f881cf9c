"""`make run`: find or start PostgreSQL, Redis and the AWS emulator, create the queues, migrate, then serve the
API on 127.0.0.1:8000 with two settlement pollers and the outbox relay running.

Data of embedded PostgreSQL and Redis lives in .devstack/ and survives restarts (`make clean` removes it); the
emulator's queues do not, and the outbox relay re-sends what a restart lost.
Ctrl-C or SIGTERM stops every process this started.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from devstack import aws, services
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
    workers: list = []  # pollers and the relay schedule: anything with stop()
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

        say("looking for the AWS emulator ...")
        emulator = aws.emulator(DATA_DIR / "aws")
        started.append(emulator)
        say(f"AWS emulator ({emulator.origin}): {emulator.url}")

        database_url = _database_url(postgres)
        say("migrating the schema ...")
        migrate(database_url)

        # Messages lost with a restarted emulator are re-sent after a minute rather than AWS's fifteen.
        env = {**aws.EMULATOR_ENV, "OUTBOX_RESEND_AFTER_S": "60", **os.environ, "DATABASE_URL": database_url,
               "REDIS_URL": redis.url, "AWS_ENDPOINT_URL": emulator.url, "STAGE": "local"}
        os.environ.update(env)
        workers = start_settlement(emulator.url)
        chalice = Path(sys.executable).with_name("chalice")
        server = subprocess.Popen(
            [str(chalice), "local", "--no-autoreload", "--stage", "local", "--host", HOST, "--port", str(PORT)],
            cwd=ROOT, env=env, start_new_session=True,
        )
        say(f"API: http://{HOST}:{PORT}  (Ctrl-C stops everything)")
        return server.wait()
    except KeyboardInterrupt:
        say("stopping ...")
        return 0
    finally:
        if server is not None:
            services.stop_process(server)
        for worker in workers:
            worker.stop()
        for service in reversed(started):
            service.stop()
        say("stopped")


def start_settlement(endpoint_url: str) -> list:
    """Create the queues, then run two pollers (like two consumer Lambdas) and the outbox relay schedule."""
    from chalicelib.config import get_settings
    from devstack.poller import SqsPoller
    from devstack.schedule import Every

    settings = get_settings()
    sqs = aws.sqs_client(endpoint_url)
    queues = aws.ensure_trade_queues(sqs, settings.trade_queue_name, settings.trade_dlq_name,
                                     max_receive_count=settings.trade_max_receive_count, visibility_timeout_s=60)
    say(f"queues: {queues['queue']} (dead letters: {queues['dlq']})")
    import app  # after the environment names the services; the handlers are the deployed functions

    workers = [SqsPoller(aws.sqs_client(endpoint_url), queues["queue"], app.settle_trades,
                         function_name=f"tradeapi-local-settle_trades-{i}").start() for i in range(2)]
    workers.append(Every(10, app.relay_outbox).start())
    say("settlement: 2 pollers on the trade queue, outbox relay every 10 s")
    return workers


def _hide(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main())
