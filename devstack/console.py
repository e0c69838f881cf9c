"""One readable console line per JSON log line: time, function, level, event, message, then the other fields."""
from __future__ import annotations

import json
from typing import Any

_SHOWN_FIRST = ("timestamp", "level", "event", "message")
_HIDDEN = {"location", "service", "function_name", "cold_start", "sampling_rate", "xray_trace_id"}


def render(function: str, line: str) -> str:
    try:
        fields: Any = json.loads(line)
    except ValueError:
        return f"{function:>15} | {line}"
    if not isinstance(fields, dict):
        return f"{function:>15} | {line}"
    if "_aws" in fields:  # an Embedded Metric Format line
        metrics = {k: v for k, v in fields.items() if k not in ("_aws", "service")}
        return f"{function:>15} | metrics {json.dumps(metrics, separators=(',', ':'))}"
    stamp = str(fields.get("timestamp", ""))[11:23]
    level, event, message = fields.get("level", ""), fields.get("event", "-"), fields.get("message", "")
    head = f"{stamp} {function:>15} {level:<5} {event}: {message}"
    rest = " ".join(f"{k}={v}" for k, v in fields.items()
                    if k not in _SHOWN_FIRST and k not in _HIDDEN and v is not None)
    return f"{head}  {rest}" if rest else head
