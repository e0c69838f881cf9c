"""The floors warm reads are compared to: the least work a cache hit can do. A Chalice app whose route makes one
Redis GET and returns the bytes (in-process), and the same as a bare WSGI app under the same gunicorn (HTTP)."""
from __future__ import annotations

import os
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
