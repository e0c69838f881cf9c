"""`make run`: the whole stack in one command.

Finds or starts PostgreSQL, Redis and the AWS emulator, creates the trade queue, its dead-letter queue and the
log groups, migrates the schema, then runs each function as its own process, as Lambda would: the API (Chalice's
local API Gateway emulation under gunicorn) on 127.0.0.1:8000, two settlement pollers and the outbox relay.
Their stdout goes to the console and to CloudWatch Logs on the emulator (`make logs` tails it). A function's
process that dies is started again after a short backoff, as Lambda replaces a crashed container; one that dies
RESTART_LIMIT times within RESTART_WINDOW_S stops the stack, saying so, since that is a bug, not bad luck.

Data of embedded PostgreSQL and Redis lives in .devstack/ and survives restarts (`make clean` removes it); the
emulator's queues do not, and the outbox relay re-sends what a restart lost. Ctrl-C or SIGTERM stops every
process this started.
"""
from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field

from sqlalchemy.engine import make_url

from devstack import aws, services
from devstack.admin_key import LOCAL_ADMIN_KEY_FILE, local_admin_key
from devstack.cloudwatch import LogShipper, ensure_group, logs_client
from devstack.console import render
from devstack.database import create_database, migrate
from devstack.local_secrets import kept_secret
from devstack.paths import DATA_DIR, FUNCTION_PREFIX, LOG_GROUP_PREFIX, ROOT, STACK_FILE
from devstack.wsgi import gunicorn_command

HOST, PORT = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8000"))
# The trade update stream's WebSocket port, next to the API's unless chosen.
STREAM_PORT = int(os.environ.get("STREAM_PORT") or PORT + 1)
# How often connections that never authenticated are closed (EventBridge runs it once a minute on AWS).
STREAM_SWEEP_EVERY_S = 5
RESTART_LIMIT, RESTART_WINDOW_S = 5, 30.0
# The local numbers behind a fast recovery (AWS's are in .chalice/merge-template.json and chalicelib/config.py):
# a crashed poller's messages come back after the queue's visibility timeout, a batch takes well under a second
# (and fails within the database's connect timeout while it is away), and a failed message is retried after a
# few seconds by the consumer itself; the relay runs every RELAY_EVERY_S and sends what is RELAY_MIN_AGE_S old.
VISIBILITY_TIMEOUT_S, RELAY_EVERY_S, RELAY_MIN_AGE_S = 10, 2, 2
# The market tick runs once a minute, as EventBridge runs it on AWS.
MARKET_TICK_EVERY_S = 60
# The stream's three WebSocket functions run in the one local gateway process, and log to its group.
FUNCTIONS = ("api_handler", "settle_trades", "relay_outbox", "market_tick", "stream_gateway", "notify_trade_updates",
             "stream_sweep")


def say(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


@dataclass
class FunctionProcess:
    """One function's process; its output lines go to the console and to its log group."""

    name: str
    command: list[str]
    env: dict[str, str]
    shipper: LogShipper | None
    quiet: bool = False
    process: subprocess.Popen[str] = field(init=False)
    exits: collections.deque[float] = field(default_factory=collections.deque)  # monotonic times, recent only
    restart_at: float | None = None

    def start(self) -> FunctionProcess:
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                        start_new_session=True)
        threading.Thread(target=self._pump, name=f"pump-{self.name}", daemon=True).start()
        return self

    def _pump(self) -> None:
        assert self.process.stdout is not None
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{self.name}-{self.process.pid}"
        for line in self.process.stdout:
            line = line.rstrip("\n")
            if not line:
                continue
            if self.shipper is not None:
                self.shipper.ship(FUNCTION_PREFIX + self.name.split("#")[0], stream, line)
            if not self.quiet:
                print(render(self.name, line), flush=True)

    def stop(self) -> None:
        services.stop_process(self.process)


def main() -> int:
    started: list[services.Service] = []
    functions: list[FunctionProcess] = []
    shipper: LogShipper | None = None
    stopping = services.StopFlag()
    signal.signal(signal.SIGTERM, stopping.set)
    signal.signal(signal.SIGINT, stopping.set)
    try:
        _loopback_only(HOST)
        for port, variable in ((PORT, "PORT"), (STREAM_PORT, "STREAM_PORT")):
            services.reserve_port(port)
            if services.port_open(HOST, port):
                raise ServingFailed(f"something already listens on {HOST}:{port}; stop it or choose another "
                                    f"{variable}")
        say(f"data directory: {DATA_DIR.relative_to(ROOT) if DATA_DIR.is_relative_to(ROOT) else DATA_DIR}")
        postgres, redis, emulator = _start_services(started)
        database_url = _database_url(postgres)
        say("migrating the schema ...")
        migrate(database_url)

        # Messages lost with a restarted emulator are re-sent after a minute rather than AWS's fifteen.
        env = {**aws.EMULATOR_ENV, "OUTBOX_RESEND_AFTER_S": "60", "OUTBOX_RELAY_MIN_AGE_S": str(RELAY_MIN_AGE_S),
               "CACHE_SIGNING_KEY": kept_secret(DATA_DIR / "cache-signing-key"), **os.environ,
               "DATABASE_URL": database_url,
               "REDIS_URL": redis.url, "AWS_ENDPOINT_URL": emulator.url, "AWS_EMULATOR": emulator.kind,
               "STAGE": "local", "PYTHONUNBUFFERED": "1"}
        management_port = services.free_port()
        env["STREAM_MANAGEMENT_URL"] = f"http://{HOST}:{management_port}/local"
        os.environ.update(env)
        queue_url, updates_url = _create_queues_and_log_groups(emulator.url)
        admin_key = _admin_key()
        shipper = LogShipper(logs_client(emulator.url)).start()
        functions = _start_functions(env, queue_url, updates_url, management_port, shipper)

        api, stream = f"http://{HOST}:{PORT}", f"ws://{HOST}:{STREAM_PORT}/stream"
        _wait_until_serving(api, functions[0], stopping)
        _wait_until_streaming(STREAM_PORT, next(f for f in functions if f.name == "stream_gateway"), stopping)
        _write_stack_file(api, stream, emulator, database_url, redis.url, queue_url, admin_key)
        say(f"ready: API {api}  |  trade updates: {stream}  |  docs: {api}/swagger  |  logs: make logs  |  "
            "demo: make demo  |  Ctrl-C stops everything")
        return _supervise(functions, stopping)
    except ServingFailed as failure:
        say(str(failure))
        return 1
    finally:
        say("stopping ...")
        for function in functions:
            function.stop()
        if shipper is not None:
            shipper.stop()
        for service in reversed(started):
            service.stop()
        STACK_FILE.unlink(missing_ok=True)
        say("stopped")


def _start_services(started: list[services.Service]) -> tuple[services.Service, services.Service, services.Service]:
    """PostgreSQL, Redis and the AWS emulator, found or started; each is added to `started` as soon as it runs."""
    say("PostgreSQL: looking for DATABASE_URL or 127.0.0.1:5432, else starting an embedded server ...")
    postgres = services.postgres(DATA_DIR / "postgres")
    started.append(postgres)
    say(f"PostgreSQL ({postgres.origin}): {_hide(postgres.url)}")
    say("Redis: looking for REDIS_URL or 127.0.0.1:6379, else starting an embedded server ...")
    redis = services.redis(DATA_DIR / "redis")
    started.append(redis)
    say(f"Redis ({redis.origin}): {redis.url}")
    say("AWS emulator: looking for AWS_ENDPOINT_URL, else starting LocalStack (or moto server if it cannot run "
        "here; TRADEAPI_EMULATOR=localstack|moto chooses) ...")
    emulator = aws.emulator(DATA_DIR / "aws", say=lambda line: say(line.removeprefix("[devstack] ")))
    started.append(emulator)
    say(f"AWS emulator ({emulator.origin}, {emulator.kind or 'unidentified'}): {emulator.url}")
    return postgres, redis, emulator


def _supervise(functions: list[FunctionProcess], stopping: services.StopFlag) -> int:
    """Until Ctrl-C or SIGTERM (0), or until a function's process keeps dying (1). A process that exits is started
    again after 0.5 s, doubling with each exit in the last RESTART_WINDOW_S."""
    while not stopping.wait(0.2):
        now = time.monotonic()
        for function in functions:
            if function.restart_at is not None:
                if now >= function.restart_at:
                    function.restart_at = None
                    function.start()
                continue
            code = function.process.poll()
            if code is None:
                continue
            function.exits.append(now)
            while function.exits and now - function.exits[0] > RESTART_WINDOW_S:
                function.exits.popleft()
            if len(function.exits) >= RESTART_LIMIT:
                say(f"{function.name} exited {len(function.exits)} times in {RESTART_WINDOW_S:.0f} s (last with code "
                    f"{code}); stopping the stack: its log above says why")
                return 1
            say(f"{function.name} exited with code {code}; restarting")
            function.restart_at = now + 0.5 * 2 ** (len(function.exits) - 1)
    return 0


class ServingFailed(RuntimeError):
    pass


def _loopback_only(host: str) -> None:
    """Every server the local stack starts listens on loopback alone: its admin key, unsigned emulator and
    password-less local services are for this machine only."""
    import ipaddress

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ServingFailed(f"HOST={host} is not a loopback address: the local stack serves this machine only")


def _start_functions(env: dict[str, str], queue_url: str, updates_url: str, management_port: int,
                     shipper: LogShipper) -> list[FunctionProcess]:
    python = sys.executable
    workers = os.environ.get("API_WORKERS", "4")
    specs = [
        ("api_handler", gunicorn_command(f"{HOST}:{PORT}", workers)),
        *[(f"settle_trades#{i}", [python, "-m", "devstack.poller", "--queue-url", queue_url,
                                  "--function-name", f"{FUNCTION_PREFIX}settle_trades"]) for i in (1, 2)],
        ("relay_outbox", [python, "-m", "devstack.schedule", "--handler", "app:relay_outbox", "--every",
                          str(RELAY_EVERY_S),
                          "--function-name", f"{FUNCTION_PREFIX}relay_outbox"]),
        ("market_tick", [python, "-m", "devstack.schedule", "--handler", "app:market_tick", "--every",
                         str(MARKET_TICK_EVERY_S), "--function-name", f"{FUNCTION_PREFIX}market_tick"]),
        ("stream_gateway", [python, "-m", "devstack.stream_gateway", "--host", HOST, "--port", str(STREAM_PORT),
                            "--management-port", str(management_port)]),
        ("notify_trade_updates", [python, "-m", "devstack.poller", "--queue-url", updates_url, "--handler",
                                  "app:notify_trade_updates", "--batch-window", "0",
                                  "--function-name", f"{FUNCTION_PREFIX}notify_trade_updates"]),
        ("stream_sweep", [python, "-m", "devstack.schedule", "--handler", "app:stream_sweep", "--every",
                          str(STREAM_SWEEP_EVERY_S), "--function-name", f"{FUNCTION_PREFIX}stream_sweep"]),
    ]
    quiet = os.environ.get("DEVSTACK_QUIET") == "1"
    functions = [FunctionProcess(name, command, env, shipper, quiet).start() for name, command in specs]
    say(f"functions: api_handler ({workers} gunicorn workers), settle_trades x2 (SQS pollers), "
        f"relay_outbox (every {RELAY_EVERY_S} s), market_tick (every {MARKET_TICK_EVERY_S} s), the stream's "
        f"WebSocket gateway (on {STREAM_PORT}), notify_trade_updates (SQS poller), stream_sweep (every "
        f"{STREAM_SWEEP_EVERY_S} s); each restarted if it dies")
    return functions


def _create_queues_and_log_groups(endpoint_url: str) -> tuple[str, str]:
    from chalicelib.config import get_settings

    settings = get_settings()
    queues = aws.ensure_trade_queues(aws.sqs_client(endpoint_url), settings.trade_queue_name,
                                     settings.trade_dlq_name, max_receive_count=settings.trade_max_receive_count,
                                     visibility_timeout_s=VISIBILITY_TIMEOUT_S)
    updates = queues["updates"]
    say(f"queues: {queues['queue']}  (dead letters: {queues['dlq']}), trade updates: {updates}")
    logs = logs_client(endpoint_url)
    for function in FUNCTIONS:
        ensure_group(logs, f"{LOG_GROUP_PREFIX}{FUNCTION_PREFIX}{function}")
    say(f"log groups: {LOG_GROUP_PREFIX}{FUNCTION_PREFIX}{{{','.join(FUNCTIONS)}}}")
    return queues["queue"], updates


def _wait_until_streaming(port: int, gateway: FunctionProcess, stopping: services.StopFlag,
                          timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stopping.is_set():
        if gateway.process.poll() is not None:
            raise ServingFailed(f"the stream gateway exited with code {gateway.process.returncode}")
        if services.port_open(HOST, port):
            return
        time.sleep(0.2)
    raise ServingFailed(f"the stream gateway did not listen on {HOST}:{port} within {timeout:.0f} s")


def _wait_until_serving(api: str, server: FunctionProcess, stopping: services.StopFlag, timeout: float = 60) -> None:
    say(f"waiting for the API on {api} ...")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stopping.is_set():
        if server.process.poll() is not None:
            raise ServingFailed(f"the API server exited with code {server.process.returncode}")
        try:
            with urllib.request.urlopen(f"{api}/stocks", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    if not stopping.is_set():
        raise ServingFailed(f"the API did not answer on {api} within {timeout:.0f} s")


def _database_url(server: services.Service) -> str:
    """The environment's URL as given; otherwise the `tradeapi` database on the found or embedded server."""
    if server.origin == "environment":
        url = server.url
    else:
        url = make_url(server.url).set(database="tradeapi").render_as_string(hide_password=False)
    create_database(url, str(make_url(url).database), exist_ok=True)
    return url


def _admin_key() -> str:
    """The local stage's admin key (ingesting stocks needs one): created on the first start, kept after."""
    token, created = local_admin_key()
    where = LOCAL_ADMIN_KEY_FILE.relative_to(ROOT) if LOCAL_ADMIN_KEY_FILE.is_relative_to(ROOT) \
        else LOCAL_ADMIN_KEY_FILE
    say(f"admin API key {'created' if created else 'kept'}: in {where} and in stack.json as admin_api_key "
        "(make demo uses it; local stage only)")
    return token


def _write_stack_file(api: str, stream: str, emulator: services.Service, database_url: str, redis_url: str,
                      queue_url: str, admin_key: str) -> None:
    STACK_FILE.parent.mkdir(parents=True, exist_ok=True)
    # It holds the admin key: readable by its owner only, from the moment it exists.
    STACK_FILE.touch(mode=0o600)
    STACK_FILE.chmod(0o600)
    STACK_FILE.write_text(json.dumps({
        "api": api, "stream_url": stream, "aws_endpoint_url": emulator.url, "emulator": emulator.kind,
        "database_url": database_url,
        "redis_url": redis_url, "queue_url": queue_url, "log_group_prefix": f"{LOG_GROUP_PREFIX}{FUNCTION_PREFIX}",
        "admin_api_key": admin_key, "pid": os.getpid(),
    }, indent=2))


def _hide(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main())
