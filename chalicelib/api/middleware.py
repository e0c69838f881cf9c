"""Chalice middleware: one `invocation` log line per function call (function, request id, trigger, outcome,
duration, cold start), on AWS also an X-Ray subsegment annotated with the same fields, and Chalice's own error
answers given the API's error shape."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chalice.app import Response

from chalicelib.adapters import tracing
from chalicelib.adapters.logs import get_logger
from chalicelib.api.errors import GatewayAnswer
from chalicelib.domain.errors import Error

_cold_start = True


def log_invocation(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """For every function: each line logged during the invocation carries the function name and request id, and
    the invocation ends with one `invocation` line (duration and outcome) and, where it is traced, a subsegment
    with the same fields."""
    global _cold_start
    logger = get_logger()
    context = getattr(event, "lambda_context", None) or getattr(event, "context", None)
    function_name = getattr(context, "function_name", None)
    logger.append_keys(function_name=function_name, request_id=getattr(context, "aws_request_id", None))
    cold_start, _cold_start = _cold_start, False
    started = time.perf_counter()
    outcome: Any = "error"
    with tracing.invocation(function_name) as annotate:
        try:
            response = get_response(event)
            outcome = _outcome(response)
            return response
        finally:
            trigger = _trigger(event)
            annotate(ColdStart=cold_start, trigger=trigger, outcome=outcome)
            logger.info("invocation", extra={"event": "invocation", "trigger": trigger, "outcome": outcome,
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


def chalice_errors_rendered_by(render: Callable[[Error, dict[str, Any] | None], Response],
                               ) -> Callable[[Any, Callable[[Any], Response]], Response]:
    """Middleware: Chalice answers some errors itself (405, 500) as {"Code", "Message"}; `render` gives them the
    API's shape."""

    def normalize(event: Any, get_response: Callable[[Any], Response]) -> Response:
        response = get_response(event)
        body = response.body
        if response.status_code >= 400 and isinstance(body, dict) and "Code" in body and "Message" in body:
            error = GatewayAnswer(str(body["Message"]), response.status_code, _snake(str(body["Code"])))
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
            return render(error, headers)
        return response

    return normalize


def _snake(name: str) -> str:
    name = name.removesuffix("Error") or name
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))
