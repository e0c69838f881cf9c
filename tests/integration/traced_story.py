"""A short story run as a Lambda process with active tracing would run it (`LAMBDA_TASK_ROOT`, a daemon address,
a sampled `_X_AMZN_TRACE_ID` per invocation): sign up, ingest a stock, read the user twice, place an order,
settle the message it sent, read the trade. Run in a process of its own, since tracing patches botocore and
pg8000 for the life of the process. Prints, as JSON, each invocation's trace header parent and answer."""
from __future__ import annotations

import json
import os
import sys
from typing import Any

from chalice.test import Client

from devstack.xray_daemon import trace_header


def main() -> int:
    from app import app
    from devstack.aws import sqs_client

    admin_key = os.environ["TRACED_ADMIN_KEY"]
    invocations: list[dict[str, Any]] = []

    def traced(what: str) -> str:
        header, parent = trace_header()
        os.environ["_X_AMZN_TRACE_ID"] = header
        invocations.append({"what": what, "trace_id": header.split(";")[0].removeprefix("Root="), "parent": parent})
        return what

    def call(method: str, path: str, body: Any = None, key: str | None = None) -> Any:
        traced(f"{method} {path}")
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
        response = client.http.request(method, path, headers=headers,
                                       body=json.dumps(body).encode() if body is not None else b"")
        invocations[-1]["status"] = response.status_code
        return json.loads(response.body) if response.body else None

    with Client(app, stage_name="local") as client:
        user = call("POST", "/users", {"username": "tracy", "balance": "1000.00"})
        call("POST", "/stocks", {"ticker": "TRC", "open_price": "10.00", "close_price": "10.00", "high": "10.00",
                                 "low": "10.00", "volume": 100}, admin_key)
        call("GET", "/users/tracy", key=user["api_key"])
        call("GET", "/users/tracy", key=user["api_key"])
        placed = call("POST", "/transactions", {"user": "tracy", "ticker": "TRC", "transaction_type": "buy",
                                                "transaction_volume": 2}, user["api_key"])
        traced("the event source's receive")  # in a trace of its own, outside any invocation
        sqs = sqs_client(os.environ["AWS_ENDPOINT_URL"])
        queue_url = sqs.get_queue_url(QueueName=os.environ["TRADE_QUEUE_NAME"])["QueueUrl"]
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=5).get("Messages", [])
        traced("settle_trades")
        settled = client.lambda_.invoke("settle_trades", client.events.generate_sqs_event(
            message_bodies=[m["Body"] for m in messages], queue_name=os.environ["TRADE_QUEUE_NAME"]))
        invocations[-1]["status"] = settled.payload
        final = call("GET", f"/transactions/tracy/{placed['transaction_id']}", key=user["api_key"])
    print(json.dumps({"invocations": invocations, "trade": final}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
