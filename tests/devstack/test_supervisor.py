"""`make run`'s supervisor (devstack/run.py): a function's process that dies is started again with one log line, as
Lambda replaces a crashed container; one that keeps dying at start stops the stack with the reason; Ctrl-C still
stops everything. Real processes, real signals."""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from devstack import run
from devstack.services import StopFlag


def function(name: str, code: str, tmp_path: Path) -> run.FunctionProcess:
    return run.FunctionProcess(name, [sys.executable, "-c", code], {**os.environ, "MARKER": str(tmp_path)}, None,
                               quiet=True)


def test_a_process_that_dies_is_restarted_with_one_line_and_lives_on(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    # The first start kills itself with SIGKILL (as `kill -9` would); the second one lives.
    code = ("import os, pathlib, signal, time\n"
            "first = pathlib.Path(os.environ['MARKER'], 'started')\n"
            "if not first.exists():\n    first.touch(); os.kill(os.getpid(), signal.SIGKILL)\n"
            "pathlib.Path(os.environ['MARKER'], 'again').touch(); time.sleep(60)")
    poller = function("settle_trades#1", code, tmp_path).start()
    stopping = StopFlag()
    supervised = threading.Thread(target=lambda: setattr(supervised, "code", run._supervise([poller], stopping)))
    supervised.start()
    deadline = time.monotonic() + 20
    while not (tmp_path / "again").exists():
        assert time.monotonic() < deadline, "not restarted within 20 s"
        time.sleep(0.05)
    stopping.set()  # Ctrl-C
    supervised.join(10)
    poller.stop()
    assert supervised.code == 0  # type: ignore[attr-defined]
    lines = [line for line in capsys.readouterr().out.splitlines() if "settle_trades#1" in line]
    assert lines == ["[devstack] settle_trades#1 exited with code -9; restarting"]


def test_a_process_that_keeps_dying_at_start_stops_the_stack_saying_why(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    broken = function("relay_outbox", "raise SystemExit(3)", tmp_path).start()
    healthy = function("api_handler", "import time; time.sleep(60)", tmp_path).start()
    started = time.monotonic()
    code = run._supervise([healthy, broken], StopFlag())
    took = time.monotonic() - started
    healthy.stop()
    assert code == 1
    out = capsys.readouterr().out.splitlines()
    assert out.count("[devstack] relay_outbox exited with code 3; restarting") == run.RESTART_LIMIT - 1
    assert out[-1] == (f"[devstack] relay_outbox exited {run.RESTART_LIMIT} times in {run.RESTART_WINDOW_S:.0f} s "
                       "(last with code 3); stopping the stack: its log above says why")
    assert took < run.RESTART_WINDOW_S  # backoff 0.5, 1, 2, 4 s: a real bug shows within seconds


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com", ""])
def test_the_stack_refuses_to_listen_beyond_loopback(host: str) -> None:
    with pytest.raises(run.ServingFailed, match="loopback"):
        run._loopback_only(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_the_stack_listens_on_any_loopback_address(host: str) -> None:
    run._loopback_only(host)
