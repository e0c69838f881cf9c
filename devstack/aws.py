"""The AWS emulator for local runs and tests: the endpoint the environment names; else LocalStack in host mode,
installed on first use; else, when LocalStack cannot be installed or started here, a moto server. Either is
started on loopback. `TRADEAPI_EMULATOR=localstack|moto` forces one (no fallback). Also creates the trade queue
with its dead-letter queue and redrive policy."""
from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from devstack.localstack.host import VERSION as LOCALSTACK_VERSION
from devstack.localstack.host import LocalStackServer, Unavailable, ensure_installed
from devstack.services import LoopbackServer, Service

# Dummy credentials: the emulator accepts any, and boto3 must never reach for real ones.
EMULATOR_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


class MotoServer(LoopbackServer):
    name = "moto server"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    def env(self) -> dict[str, str]:
        return {**os.environ, **EMULATOR_ENV}


EMULATORS = ("localstack", "moto")


def emulator(data_dir: Path, say: Callable[[str], object] = print) -> Service:
    """The AWS endpoint to use; its `kind` says which emulator serves it ("" when the environment named it)."""
    if url := os.environ.get("AWS_ENDPOINT_URL"):
        return Service("aws", url, "environment", kind=_identify(url))
    forced = os.environ.get("TRADEAPI_EMULATOR", "")
    if forced not in ("", *EMULATORS):
        raise ValueError(f"TRADEAPI_EMULATOR must be one of {', '.join(EMULATORS)}, not {forced!r}")
    if forced != "moto":
        try:
            server = LocalStackServer(data_dir / "localstack", ensure_installed(say))
            return Service("aws", server.url, "embedded", server, kind=f"localstack {LOCALSTACK_VERSION}")
        except Unavailable as why:
            if forced:
                raise
            say(f"[devstack] LocalStack unavailable, using moto server instead: {why}")
    moto = MotoServer(data_dir / "moto.log")
    return Service("aws", moto.url, "embedded", moto, kind=f"moto {version('moto')}")


def _identify(url: str) -> str:
    """"localstack <version>" when the endpoint is LocalStack, else "" (moto server, or AWS itself)."""
    try:
        with urllib.request.urlopen(f"{url}/_localstack/health", timeout=1) as answer:
            return f"localstack {json.load(answer).get('version', '')}".strip()
    except (OSError, ValueError):
        return ""


def sqs_client(endpoint_url: str) -> Any:
    import boto3

    return boto3.client(
        "sqs",
        endpoint_url=endpoint_url,
        region_name=EMULATOR_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=EMULATOR_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=EMULATOR_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def ensure_trade_queues(sqs: Any, queue_name: str, dlq_name: str, *, max_receive_count: int,
                        visibility_timeout_s: int) -> dict[str, str]:
    """Create (or reuse, with these settings) the trade queue, its dead-letter queue and the trade update queue
    (`<queue name>-updates.fifo`, the name the settings default to); returns their URLs."""
    dlq_url = _queue_with(sqs, dlq_name, {"MessageRetentionPeriod": "1209600"})
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = _queue_with(sqs, queue_name, {
        "VisibilityTimeout": str(visibility_timeout_s),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}),
    })
    updates_url = ensure_updates_queue(sqs, f"{queue_name}-updates.fifo", visibility_timeout_s=visibility_timeout_s)
    return {"queue": queue_url, "dlq": dlq_url, "updates": updates_url}


def _queue_with(sqs: Any, name: str, attributes: dict[str, str]) -> str:
    # Created bare and then set: SQS refuses to "create" an existing queue with other attributes (a long-lived
    # emulator still holding an earlier run's queue).
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url


def ensure_updates_queue(sqs: Any, queue_name: str, *, visibility_timeout_s: int = 30) -> str:
    """Create (or reuse) the FIFO queue of trade updates the stream's notifier reads; returns its URL. FIFO
    queues are created with FifoQueue set (it cannot be set afterwards)."""
    url: str = sqs.create_queue(QueueName=queue_name, Attributes={"FifoQueue": "true"})["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": str(visibility_timeout_s)})
    return url
