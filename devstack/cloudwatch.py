"""Local CloudWatch Logs: ship each function's stdout lines to `/aws/lambda/<function>` on the AWS emulator, as
Lambda does, and read them back (`make logs`)."""
from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from devstack.paths import LOG_GROUP_PREFIX


def logs_client(endpoint_url: str) -> Any:
    import boto3

    from devstack.aws import EMULATOR_ENV

    return boto3.client("logs", endpoint_url=endpoint_url, region_name=EMULATOR_ENV["AWS_DEFAULT_REGION"],
                        aws_access_key_id=EMULATOR_ENV["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=EMULATOR_ENV["AWS_SECRET_ACCESS_KEY"])


def ensure_group(logs: Any, group: str) -> None:
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)


class LogShipper:
    """Batches lines per function and puts them every `interval_s` (PutLogEvents), on a thread of its own."""

    def __init__(self, logs: Any, interval_s: float = 1.0) -> None:
        self._logs = logs
        self._interval_s = interval_s
        self._lines: queue.SimpleQueue[tuple[str, str, int, str]] = queue.SimpleQueue()
        self._known: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)

    def start(self) -> LogShipper:
        self._thread.start()
        return self

    def ship(self, function: str, stream: str, line: str) -> None:
        self._lines.put((LOG_GROUP_PREFIX + function, stream, int(time.time() * 1000), line))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._flush()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._flush()
            except Exception as exc:  # noqa: BLE001 - the emulator may be going away; lines are not worth a crash
                print(f"[devstack] log shipping failed: {exc}", flush=True)

    def _flush(self) -> None:
        batches: dict[tuple[str, str], list[dict[str, Any]]] = {}
        while not self._lines.empty():
            group, stream, timestamp, message = self._lines.get()
            batches.setdefault((group, stream), []).append({"timestamp": timestamp, "message": message})
        for (group, stream), events in batches.items():
            if (group, stream) not in self._known:
                ensure_group(self._logs, group)
                with contextlib.suppress(self._logs.exceptions.ResourceAlreadyExistsException):
                    self._logs.create_log_stream(logGroupName=group, logStreamName=stream)
                self._known.add((group, stream))
            for start in range(0, len(events), 1000):
                self._logs.put_log_events(logGroupName=group, logStreamName=stream,
                                          logEvents=events[start:start + 1000])


@dataclass(frozen=True)
class LogLine:
    group: str
    timestamp: int
    message: str
    event_id: str

    @property
    def function(self) -> str:
        return self.group.removeprefix(LOG_GROUP_PREFIX)

    def fields(self) -> dict[str, Any] | None:
        try:
            parsed = json.loads(self.message)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None


def read(logs: Any, prefix: str, since_ms: int, contains: str | None = None) -> list[LogLine]:
    """Every line of the groups under `prefix` since `since_ms`, oldest first, optionally those containing text."""
    groups = [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=prefix).get("logGroups", [])]
    lines: list[LogLine] = []
    for group in groups:
        kwargs: dict[str, Any] = {"logGroupName": group, "startTime": since_ms}
        while True:
            page = logs.filter_log_events(**kwargs)
            lines += [LogLine(group, e["timestamp"], e["message"], e["eventId"]) for e in page.get("events", [])
                      if contains is None or contains in e["message"]]
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
    return sorted(lines, key=lambda line: (line.timestamp, line.event_id))


def follow(logs: Any, prefix: str, since_ms: int, contains: str | None = None,
           poll_s: float = 1.0) -> Iterator[LogLine]:
    """Like `aws logs tail --follow`: every new line, as it arrives, until the caller stops iterating."""
    seen: set[str] = set()
    cursor = since_ms
    while True:
        for line in read(logs, prefix, cursor, contains):
            if line.event_id not in seen:
                seen.add(line.event_id)
                cursor = max(cursor, line.timestamp)
                yield line
        time.sleep(poll_s)
