"""Nothing listens beyond loopback: every socket of every process `make run` starts (here with embedded PostgreSQL
and Redis and its own LocalStack, what a fresh machine runs) and of every server this test session started."""
from __future__ import annotations

import os
from pathlib import Path

import psutil

from devstack.services import Service
from devstack.stack_process import StackProcess
from tests.loopback import exposed, listening, started_by


def test_every_process_make_run_starts_listens_on_loopback_only(stack_env: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in stack_env.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    stack = StackProcess(tmp_path / "devstack", {**env, "TRADEAPI_EMBEDDED": "1"})
    try:
        processes = started_by(stack.process.pid, str(tmp_path / "devstack"))
        assert listening(processes) >= 3  # the API, Redis and the emulator at least (PostgreSQL: a Unix socket)
        assert exposed(processes) == []
    finally:
        assert stack.stop() == 0


def test_every_server_this_session_started_listens_on_loopback_only(
        postgres_service: Service, redis_service: Service, aws_service: Service, stack_dir: Path) -> None:
    processes = started_by(os.getpid(), str(stack_dir))
    assert listening(processes) >= 1
    assert exposed(processes) == [], [p.cmdline() for p in processes if isinstance(p, psutil.Process)]
