"""The floors warm reads are compared to: the least work a cache hit can do. A Chalice app whose route makes one
Redis GET and returns the bytes (in-process), and the same as a bare WSGI app under the same gunicorn (HTTP)."""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

import redis
from chalice import Chalice, Response

_client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
KEY = os.environ.get("FLOOR_KEY", "bench:floor")

app = Chalice(app_name="floor")


@app.route("/floor")
def one_redis_get() -> Response:
    body = (_client.get(KEY) or b"null").decode()
    return Response(body=body, status_code=200, headers={"Content-Type": "application/json"})


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = _client.get(KEY) or b"null"
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


# The placement floor: the least work placing an order can do. The same one-statement placement, written by hand
# and sent through pg8000 directly (no SQLAlchemy, no validation, no key, no cache), then one SQS send.
_PLACE = """
WITH s AS (SELECT ticker, close_price, volume FROM stocks WHERE ticker = :ticker),
reserved AS (
    UPDATE users u SET reserved_cash = u.reserved_cash + s.close_price * :volume FROM s
    WHERE u.username = :username AND s.close_price * :volume <= u.balance - u.reserved_cash
      AND CAST(:volume AS bigint) <= s.volume
    RETURNING u.id AS user_id, s.ticker, s.close_price * :volume AS cash),
trade AS (
    INSERT INTO trades (id, user_id, ticker, side, volume, reserved_cash, reserved_quantity, status)
    SELECT :id, user_id, ticker, 'buy', :volume, cash, 0, 'pending' FROM reserved RETURNING id),
queued AS (INSERT INTO outbox (trade_id, payload) SELECT id, CAST(:message AS jsonb) FROM trade)
SELECT id FROM trade
"""
_placement: dict[str, Any] = {}
# One order at a time per worker process, as the app under test runs one invocation at a time (gunicorn's threads
# only read requests).
_one_at_a_time = threading.Lock()


def _placement_clients() -> tuple[Any, Any, str]:
    if not _placement:
        import urllib.parse

        import boto3
        import pg8000.native

        url = urllib.parse.urlsplit(os.environ["DATABASE_URL"].replace("postgresql+pg8000://", "postgresql://"))
        # The embedded PostgreSQL listens on a Unix socket only, which its URL names as `unix_sock`.
        socket = urllib.parse.parse_qs(url.query).get("unix_sock", [None])[0]
        where: dict[str, Any] = {"unix_sock": socket} if socket else {"host": url.hostname or "127.0.0.1",
                                                                      "port": url.port or 5432}
        _placement["db"] = pg8000.native.Connection(url.username or "postgres", database=url.path.lstrip("/"),
                                                    password=url.password, **where)
        _placement["sqs"] = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1",
                                         aws_access_key_id="test", aws_secret_access_key="test")
        _placement["queue"] = _placement["sqs"].get_queue_url(QueueName=os.environ["TRADE_QUEUE_NAME"])["QueueUrl"]
    return _placement["db"], _placement["sqs"], _placement["queue"]


def placement(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    import json
    import uuid

    order = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
    trade_id = str(uuid.uuid4())
    message = json.dumps({"type": "trade.placed", "version": 1, "trade_id": trade_id})
    with _one_at_a_time:
        db, sqs, queue = _placement_clients()
        placed = db.run(_PLACE, id=trade_id, username=order["user"], ticker=order["ticker"],
                        volume=int(order["transaction_volume"]), message=message)
        if placed:
            sqs.send_message(QueueUrl=queue, MessageBody=message)
    body = json.dumps({"transaction_id": trade_id, "status": "pending"}).encode()
    start_response("202 Accepted" if placed else "400 Bad Request",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
