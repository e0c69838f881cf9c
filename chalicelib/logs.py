"""CloudWatch-style structured JSON logging (aws-lambda-powertools Logger), shared by every function, and the
middleware that writes one line per invocation: function, request id, event, duration, outcome."""
from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.logging import Logger

from chalicelib.config import get_settings

_cold_start = True


@lru_cache(maxsize=1)
def get_logger() -> Logger:
    return Logger(service="tradeapi", level=get_settings().log_level)


def log_invocation(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware for every function: each line logged during the invocation carries the function name
    and request id, and the invocation ends with one `invocation` line (duration and outcome)."""
    global _cold_start
    logger = get_logger()
    context = getattr(event, "lambda_context", None) or getattr(event, "context", None)
    logger.append_keys(function_name=getattr(context, "function_name", None),
                       request_id=getattr(context, "aws_request_id", None))
    cold_start, _cold_start = _cold_start, False
    started = time.perf_counter()
    outcome: Any = "error"
    try:
        response = get_response(event)
        outcome = _outcome(response)
        return response
    finally:
        logger.info("invocation", extra={"event": "invocation", "trigger": _trigger(event), "outcome": outcome,
                                         "cold_start": cold_start,
                                         "duration_ms": round((time.perf_counter() - started) * 1000, 2)})
        logger.remove_keys(["function_name", "request_id"])


def _trigger(event: Any) -> str:
    if hasattr(event, "method") and hasattr(event, "path"):
        return f"{event.method} {event.path}"
    return type(event).__name__


def _outcome(response: Any) -> Any:
    if hasattr(response, "status_code"):
        return response.status_code
    if isinstance(response, dict) and "batchItemFailures" in response:
        return "partial_failure" if response["batchItemFailures"] else "ok"
    return "ok"
