"""`make run` (`python -m devstack.run`) as a child process, for tests and benchmarks that need the stack a newcomer
runs: started, waited for until it writes its stack file, its function processes found, stopped with SIGTERM."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from devstack.paths import ROOT

# What a caller's environment may name that must not leak into a stack it starts: the stack gets its own.
ISOLATED = ("DATABASE_URL", "REDIS_URL", "AWS_ENDPOINT_URL", "AWS_EMULATOR", "CACHE_PREFIX", "TRADE_QUEUE_NAME",
            "TRADE_UPDATES_QUEUE_NAME", "STREAM_MANAGEMENT_URL", "TRADE_DLQ_NAME", "TRADE_MAX_RECEIVE_COUNT",
            "OUTBOX_RELAY_MIN_AGE_S", "DB_POOL_SIZE")


class StackProcess:
    def __init__(self, data_dir: Path, env: dict[str, str], log: Path | None = None) -> None:
        self.data_dir = data_dir
        self.log_path = log or data_dir.parent / f"stack-{time.time_ns()}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed when the stack stops
        self.process = subprocess.Popen([sys.executable, "-m", "devstack.run"], cwd=ROOT, env=env,
                                        stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self.info = self._wait_ready()
        self.api: str = self.info["api"]

    def _wait_ready(self, timeout: float = 120) -> dict[str, Any]:
        stack_file = self.data_dir / "stack.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the stack exited with code {self.process.returncode}:\n{self.output()}")
            if stack_file.exists():
                return dict(json.loads(stack_file.read_text()))
            time.sleep(0.2)
        raise RuntimeError(f"the stack was not ready in {timeout:.0f} s:\n{self.output()}")

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def functions(self, marker: str) -> list[psutil.Process]:
        """The stack's live processes whose command line holds `marker` ("devstack.poller", "gunicorn")."""
        found = []
        for child in self.descendants():
            try:
                if child.status() != psutil.STATUS_ZOMBIE and any(marker in part for part in child.cmdline()):
                    found.append(child)
            except psutil.NoSuchProcess:
                continue
        return found

    def api_workers(self) -> list[psutil.Process]:
        """gunicorn's worker processes (the master is the one whose parent is the stack)."""
        return [p for p in self.functions("gunicorn") if p.ppid() != self.process.pid]

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                raise
        self._log.close()
        return self.process.returncode
