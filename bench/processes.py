"""The processes a load benchmark runs, as `make run` runs them: the API (or a floor app) under gunicorn, pollers
fed by the emulator's SQS (settlement's, or the stream's notifier), and the stream's local WebSocket gateway. Each
is a context manager that starts on entry and stops on exit, logging to a file in the bench's directory."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devstack.paths import ROOT
from devstack.services import free_port, stop_process, wait_for_port
from devstack.wsgi import gunicorn_command


class Server:
    """`target` (a WSGI app) under gunicorn with `workers` worker processes; entering gives its port."""

    def __init__(self, env: dict[str, str], log: Path, workers: int,
                 target: str = "devstack.wsgi:application") -> None:
        self.port = free_port()
        self.log = open(log, "ab")  # noqa: SIM115 - closed on exit
        self.process = subprocess.Popen(gunicorn_command(f"127.0.0.1:{self.port}", workers, target), cwd=ROOT,
                                        env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def __enter__(self) -> int:
        wait_for_port("127.0.0.1", self.port, self.process, "gunicorn")
        return self.port

    def __exit__(self, *_: object) -> None:
        stop_process(self.process)
        self.log.close()


class Pollers:
    """`count` pollers on `queue_url` feeding `handler` (settlement unless named), each a process of its own (as
    Lambda runs consumers)."""

    def __init__(self, env: dict[str, str], queue_url: str, count: int, log: Path, *,
                 handler: str = "app:settle_trades", batch_window_s: float | None = None) -> None:
        self.log = open(log, "ab")  # noqa: SIM115 - closed on exit
        window = [] if batch_window_s is None else ["--batch-window", str(batch_window_s)]
        self.processes = [subprocess.Popen(
            [sys.executable, "-m", "devstack.poller", "--queue-url", queue_url, "--wait-time", "1",
             "--handler", handler, *window],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
            for _ in range(count)]

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        for process in self.processes:
            stop_process(process)
        self.log.close()


class StreamGateway:
    """The local WebSocket gateway `make run` serves the trade update stream with; entering gives its URL."""

    def __init__(self, env: dict[str, str], management_port: int, log: Path) -> None:
        self.port = free_port()
        self.log = open(log, "ab")  # noqa: SIM115 - closed on exit
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack.stream_gateway", "--port", str(self.port),
             "--management-port", str(management_port)],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def __enter__(self) -> str:
        wait_for_port("127.0.0.1", self.port, self.process, "stream gateway")
        return f"ws://127.0.0.1:{self.port}/stream"

    def __exit__(self, *_: object) -> None:
        stop_process(self.process)
        self.log.close()
