"""A local stand-in for Lambda's SQS event source mapping: long-poll the queue, build the Lambda SQS event with the
real message ids, invoke the app's handler, delete what succeeded and leave the reported failures to come back
after the visibility timeout (and, past the redrive policy's count, to land in the dead-letter queue).

Run several at once, in threads or as processes:
    python -m devstack.poller --queue-url URL [--handler app:settle_trades]
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devstack.lambda_context import LambdaContext
from devstack.services import StopFlag

Handler = Callable[[dict[str, Any], Any], Any]
log = logging.getLogger("devstack.poller")


@dataclass
class BatchResult:
    received: int = 0
    deleted: int = 0
    failed: int = 0


class SqsPoller:
    def __init__(self, sqs: Any, queue_url: str, handler: Handler, *, function_name: str = "tradeapi-local-settle",
                 batch_size: int = 10, wait_time_s: int = 1, batch_window_s: float = 0.0,
                 exit_before_delete: bool = False) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._handler = handler
        self._function_name = function_name
        self._batch_size = batch_size
        self._wait_time_s = wait_time_s
        # Lambda's MaximumBatchingWindowInSeconds: a batch that is not full waits this long for more messages, so
        # the handler sees full batches under a steady trickle instead of one message at a time.
        self._batch_window_s = batch_window_s
        # Fault injection for tests: die right after the handler returns, before deleting (a crashed Lambda).
        self._exit_before_delete = exit_before_delete
        self._queue_arn: str | None = None
        self._stop = StopFlag()
        self._thread: threading.Thread | None = None
        self.totals = BatchResult()

    @property
    def queue_arn(self) -> str:
        if self._queue_arn is None:
            attributes = self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])
            self._queue_arn = attributes["Attributes"]["QueueArn"]
        return self._queue_arn

    def poll_once(self) -> BatchResult:
        messages = self._receive(self._batch_size, self._wait_time_s)
        if not messages:
            return BatchResult()
        if len(messages) < self._batch_size and self._batch_window_s > 0:
            self._stop.wait(self._batch_window_s)
            messages += self._receive(self._batch_size - len(messages), 0)
        event = {"Records": [self._record(message) for message in messages]}
        try:
            response = self._handler(event, LambdaContext(self._function_name))
            failed = {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])}
        except Exception:
            log.exception("handler raised; the whole batch will be retried")
            failed = {message["MessageId"] for message in messages}
        if self._exit_before_delete:
            os._exit(17)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start:start + 10]
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        result = BatchResult(len(messages), len(done), len(failed))
        self.totals = BatchResult(self.totals.received + result.received, self.totals.deleted + result.deleted,
                                  self.totals.failed + result.failed)
        return result

    def _receive(self, at_most: int, wait_time_s: int) -> list[dict[str, Any]]:
        answer = self._sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=at_most,
                                           WaitTimeSeconds=wait_time_s, AttributeNames=["All"],
                                           MessageAttributeNames=["All"])
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        return messages

    def run(self) -> None:
        """Poll until stopped; a failing queue is retried with a short back-off, as the event source would."""
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # noqa: BLE001 - keep polling through emulator hiccups
                log.warning("polling %s failed (%s: %s); retrying in 1 s", self._queue_url, type(exc).__name__, exc)
                self._stop.wait(1.0)

    def start(self) -> SqsPoller:
        self._thread = threading.Thread(target=self.run, name=f"poller-{self._function_name}", daemon=True)
        self._thread.start()
        return self

    def request_stop(self, *_: object) -> None:
        """Finish the batch in hand, then stop (safe to call from a signal handler)."""
        self._stop.set()

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "binaryValue": value.get("BinaryValue"),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value["DataType"],
                }
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.queue_arn.split(":")[3],
        }


def load_handler(spec: str) -> Handler:
    module, _, name = spec.partition(":")
    handler: Handler = getattr(importlib.import_module(module), name)
    return handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"))
    parser.add_argument("--handler", default="app:settle_trades")
    parser.add_argument("--function-name", default="tradeapi-local-settle_trades")
    parser.add_argument("--wait-time", type=int, default=1)
    parser.add_argument("--batch-window", type=float, default=float(os.environ.get("SETTLE_BATCH_WINDOW_S", "0.2")),
                        help="seconds a batch that is not full waits for more messages (Lambda's batching window)")
    parser.add_argument("--exit-before-delete", action="store_true", help="fault injection: crash after settling")
    args = parser.parse_args(argv)

    from devstack.aws import sqs_client

    poller = SqsPoller(sqs_client(args.endpoint_url), args.queue_url, load_handler(args.handler),
                       function_name=args.function_name, wait_time_s=args.wait_time,
                       batch_window_s=args.batch_window, exit_before_delete=args.exit_before_delete)
    signal.signal(signal.SIGTERM, poller.request_stop)
    signal.signal(signal.SIGINT, poller.request_stop)
    poller.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
