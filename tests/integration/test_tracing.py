"""X-Ray tracing (Powertools Tracer) as a Lambda with active tracing runs it, against the real PostgreSQL, Redis
and SQS emulator: each invocation is one `## <function>` subsegment of its trace, annotated like its log line,
with the SQL statements and SQS calls it made inside it; tracing changes no answer and never fails an invocation;
and off Lambda, or with tracing disabled, the X-Ray SDK is never loaded."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from devstack.paths import ROOT
from devstack.xray_daemon import Segment, XRayDaemon


def run_story(daemon: XRayDaemon, admin_key: str, **env: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "tests.integration.traced_story"], cwd=ROOT, capture_output=True, text=True,
        timeout=120, env={**os.environ, "LAMBDA_TASK_ROOT": str(ROOT), "AWS_XRAY_DAEMON_ADDRESS": daemon.address,
                          "TRACED_ADMIN_KEY": admin_key, **env})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    *logged, last = result.stdout.strip().splitlines()
    story: dict[str, Any] = json.loads(last)
    story["invocation_lines"] = [line for line in map(json.loads, filter(None, logged))
                                 if line.get("event") == "invocation"]
    return story


def descendants(root: Segment, segments: list[Segment]) -> list[Segment]:
    found, frontier = [], {root.id}
    while frontier:
        children = [s for s in segments if s.parent_id in frontier]
        found += children
        frontier = {s.id for s in children}
    return found


def test_each_invocation_is_one_annotated_subsegment_holding_its_sql_and_sqs_calls(admin_key: str) -> None:
    with XRayDaemon() as daemon:
        story = run_story(daemon, admin_key)
        segments = daemon.received()
    invocations = story["invocations"]
    assert [i["status"] for i in invocations if i["what"] != "the event source's receive"] == [
        201, 201, 200, 200, 202, {"batchItemFailures": []}, 200]
    assert story["trade"]["status"] == "settled" and story["trade"]["total"] == "20.00"

    triggers = ["POST /users", "POST /stocks", "GET /users/{username}", "GET /users/{username}",
                "POST /transactions", "SQSEvent", "GET /transactions/{user_id}/{transaction_id}"]
    functions = []
    for number, invocation in enumerate(i for i in invocations if i["what"] != "the event source's receive"):
        in_trace = [s for s in segments if s.trace_id == invocation["trace_id"]]
        (function,) = [s for s in in_trace if s.name.startswith("## ")]
        assert function.parent_id == invocation["parent"], invocation  # the facade Lambda's header names
        assert function.name == ("## settle_trades" if invocation["what"] == "settle_trades" else "## api_handler")
        assert function.annotations == {
            "Service": "tradeapi", "ColdStart": number == 0, "trigger": triggers[number],
            "outcome": "ok" if invocation["what"] == "settle_trades" else invocation["status"]}
        inside = descendants(function, segments)
        assert {s.id for s in inside} == {s.id for s in in_trace} - {function.id}, "nothing outside the function"
        functions.append((invocation["what"], function, inside))

    def sql(inside: list[Segment]) -> list[Segment]:
        return [s for s in inside if "sql" in s.document]

    def sqs_calls(inside: list[Segment]) -> list[tuple[str, str]]:
        return [(s.document["aws"]["operation"],
                 s.document["aws"].get("queue_name") or s.document["aws"]["queue_url"].rsplit("/", 1)[-1])
                for s in inside if s.name.lower() == "sqs"]

    by_call = {what: inside for what, _, inside in functions}
    assert sql(by_call["POST /transactions"])
    trades, updates = os.environ["TRADE_QUEUE_NAME"], f"{os.environ['TRADE_QUEUE_NAME']}-updates.fifo"
    # The order's `new` is published before its settlement message is sent: a `fill` never overtakes it.
    assert sqs_calls(by_call["POST /transactions"]) == [
        ("GetQueueUrl", updates), ("SendMessageBatch", updates), ("GetQueueUrl", trades), ("SendMessageBatch", trades)]
    # Settlement sends no settlement message, only its `fill` to the update queue (whose URL this process knows).
    assert sql(by_call["settle_trades"]) and sqs_calls(by_call["settle_trades"]) == [("SendMessageBatch", updates)]
    # A read of the user answered from the cache makes no SQL statement at all.
    # Each invocation's log line names its trace: from a log line in CloudWatch to the trace in X-Ray.
    assert [line["xray_trace_id"] for line in story["invocation_lines"]] == [
        i["trace_id"] for i in invocations if i["what"] != "the event source's receive"]
    second_read = [inside for what, _, inside in functions if what == "GET /users/tracy"][1]
    assert not sql(second_read)
    for statement in sql(by_call["POST /transactions"]):
        assert statement.document["sql"]["database_type"] == "PostgreSQL"
        assert "tracy" not in json.dumps(statement.document["sql"]), "values are bound, never in the trace"


def test_with_tracing_disabled_nothing_is_sent_and_every_answer_is_the_same(admin_key: str) -> None:
    with XRayDaemon() as daemon:
        story = run_story(daemon, admin_key, POWERTOOLS_TRACE_DISABLED="true")
        assert daemon.received(quiet_s=0.5) == []
    assert [i["status"] for i in story["invocations"] if i["what"] != "the event source's receive"] == [
        201, 201, 200, 200, 202, {"batchItemFailures": []}, 200]
    assert story["trade"]["status"] == "settled"


@pytest.mark.parametrize("lambda_task_root", [None, "set, but tracing disabled"])
def test_where_nothing_traces_the_xray_sdk_is_never_loaded(lambda_task_root: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED")}
    if lambda_task_root:
        env |= {"LAMBDA_TASK_ROOT": str(ROOT), "POWERTOOLS_TRACE_DISABLED": "true"}
    probe = (
        "import sys, json\n"
        "from chalice.test import Client\n"
        "from app import app\n"
        "from chalicelib.adapters.tracing import get_tracer\n"
        "with Client(app, stage_name='local') as client:\n"
        "    status = client.http.get('/openapi.json').status_code\n"
        "print(json.dumps([status, get_tracer() is None, 'aws_xray_sdk.core' in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    status, no_tracer, xray_loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert status == 200 and no_tracer
    # Off Lambda the SDK (and the botocore it loads) is never imported; on Lambda Powertools decides, after it.
    assert xray_loaded is bool(lambda_task_root)


def test_an_invocation_the_sdk_finds_no_segment_for_is_answered_all_the_same() -> None:
    """Tracing never fails an invocation: with no segment to hang a subsegment on (here a plain context, not
    Lambda's, with no segment begun), the SDK logs and gives none, and the answer is as ever."""
    probe = (
        "import json\n"
        "from aws_xray_sdk.core import xray_recorder\n"
        "from aws_xray_sdk.core.context import Context\n"
        "from chalice.test import Client\n"
        "from app import app\n"
        "from chalicelib.adapters.tracing import get_tracer\n"
        "assert get_tracer() is not None\n"
        "xray_recorder.configure(context=Context(context_missing='LOG_ERROR'))\n"
        "with Client(app, stage_name='local') as client:\n"
        "    answer = client.http.get('/openapi.json')\n"
        "print(json.dumps([answer.status_code, json.loads(answer.body)['openapi']]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "POWERTOOLS_TRACE_DISABLED"}
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**env, "LAMBDA_TASK_ROOT": str(ROOT), "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:9"})
    assert result.returncode == 0, result.stderr[-3000:]
    status, version = json.loads(result.stdout.strip().splitlines()[-1])
    assert status == 200 and version.startswith("3.")
