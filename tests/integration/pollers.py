"""Settlement pollers as separate processes, like separate Lambda instances, with their JSON logs on disk."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import text

from chalicelib.adapters.database import get_engine
from devstack.paths import ROOT


class PollerProcess:
    def __init__(self, queue_url: str, log_path: Path, *, exit_before_delete: bool = False) -> None:
        self.log_path = log_path
        args = [sys.executable, "-m", "devstack.poller", "--queue-url", queue_url, "--wait-time", "1"]
        if exit_before_delete:
            args.append("--exit-before-delete")
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "DB_POOL_SIZE": "2", "LOG_LEVEL": "INFO"}
        self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def stop(self, timeout: float = 30) -> int:
        """Stop it (SIGTERM: it finishes its batch), kill it if it hangs; returns its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self._log.closed:
            self._log.close()
        return self.process.returncode

    def events(self) -> list[dict]:
        lines = self.log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


def settled_counts(pollers: list[PollerProcess]) -> Counter[str]:
    """How many times each transaction was finalised (trade_settled events, settled or rejected) across pollers."""
    return Counter(e["transaction_id"] for p in pollers for e in p.events() if e.get("event") == "trade_settled")


def wait_until_final(timeout: float = 180) -> int:
    """Wait until no trade is pending; returns how many still are when the time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        with get_engine().connect() as conn:
            pending = conn.execute(text("SELECT count(*) FROM trades WHERE status = 'pending'")).scalar_one()
        if pending == 0 or time.monotonic() > deadline:
            return int(pending)
        time.sleep(0.5)
