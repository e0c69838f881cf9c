"""X-Ray traces through Powertools Tracer, on AWS only: every invocation is a `## <function>` subsegment annotated
like its `invocation` log line (cold start, service, trigger, outcome), and every SQS and Secrets Manager call
(botocore) and every SQL statement (pg8000) is a subsegment inside it.

Off Lambda nothing is built: the X-Ray SDK imports botocore (150-200 ms), which a local process, a test or the
deploy tooling importing the app would otherwise pay for traces no daemon receives. On Lambda the tracer is built
by the first invocation, and Powertools has the last word (`POWERTOOLS_TRACE_DISABLED=true` turns it off)."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from chalicelib.lazy import lazy

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

SERVICE = "tradeapi"

Annotate = Callable[..., None]


@lazy
def get_tracer() -> Tracer | None:
    """The process's tracer, or None where nothing traces (off Lambda, or tracing disabled)."""
    if not os.environ.get("LAMBDA_TASK_ROOT"):
        return None
    from aws_lambda_powertools import Tracer

    # botocore is loaded by the X-Ray SDK itself, so patching it now costs nothing more; pg8000 is patched when
    # the first engine is built (`trace_sql`), so a cache hit never loads the driver for tracing's sake.
    tracer = Tracer(service=SERVICE, patch_modules=("botocore",))
    return None if tracer.disabled else tracer


def trace_sql() -> None:
    """Make each SQL statement a subsegment (the X-Ray SDK wraps `pg8000.connect`): call before connecting."""
    tracer = get_tracer()
    if tracer is not None:
        tracer.patch(("pg8000",))


def _ignore(**annotations: Any) -> None:
    return None


@contextlib.contextmanager
def invocation(function_name: str | None) -> Iterator[Annotate]:
    """A subsegment for one invocation, yielding a function that annotates it (annotations are indexed: a trace can
    be found by `annotation.outcome = 503`). An exception leaving it is recorded on the subsegment."""
    tracer = get_tracer()
    if tracer is None:
        yield _ignore
        return
    with tracer.provider.in_subsegment(name=f"## {function_name or 'handler'}") as given:
        # Typed as always given, but the X-Ray SDK gives None where it finds no segment to hang it on (and logs
        # that): the invocation goes on, unannotated.
        subsegment: Any = given
        if subsegment is None:
            yield _ignore
            return
        subsegment.put_annotation(key="Service", value=SERVICE)

        def annotate(**annotations: Any) -> None:
            for key, value in annotations.items():
                # X-Ray indexes strings, numbers and booleans; a number stays one (`annotation.outcome >= 500`).
                indexed: Any = value if isinstance(value, str | int | float | bool) else str(value)
                subsegment.put_annotation(key=key, value=indexed)

        yield annotate
