"""A local stand-in for EventBridge schedules: invoke a scheduled handler with a real scheduled event, every
`interval_s` seconds, until stopped."""
from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from devstack.lambda_context import LambdaContext

log = logging.getLogger("devstack.schedule")


def scheduled_event(rule: str = "tradeapi-local-relay_outbox") -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:000000000000:rule/{rule}"],
        "detail": {},
    }


class Every:
    def __init__(self, interval_s: float, handler: Callable[[dict[str, Any], Any], Any],
                 function_name: str = "tradeapi-local-relay_outbox") -> None:
        self._interval_s = interval_s
        self._handler = handler
        self._function_name = function_name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"schedule-{function_name}", daemon=True)

    def start(self) -> Every:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._handler(scheduled_event(), LambdaContext(self._function_name))
            except Exception:
                log.exception("scheduled run failed")


def main(argv: list[str] | None = None) -> int:
    import argparse
    import signal

    from devstack.poller import load_handler
    from devstack.services import StopFlag

    parser = argparse.ArgumentParser(description="Invoke a scheduled handler every N seconds.")
    parser.add_argument("--handler", default="app:relay_outbox")
    parser.add_argument("--every", type=float, default=10.0)
    parser.add_argument("--function-name", default="tradeapi-local-relay_outbox")
    args = parser.parse_args(argv)
    schedule = Every(args.every, load_handler(args.handler), args.function_name)
    stopping = StopFlag()
    signal.signal(signal.SIGTERM, stopping.set)
    signal.signal(signal.SIGINT, stopping.set)
    schedule.start()
    while not stopping.wait(1):
        pass
    schedule.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
