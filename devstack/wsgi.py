"""A WSGI adapter over Chalice's own local API Gateway emulation (chalice.local.LocalGateway), so the app can be
served by a multi-process WSGI server instead of `chalice local`'s single-process server.

Why not `chalice local` as it is: its handler (http.server, HTTP/1.1 keep-alive, unbuffered writes) sends the
headers and the body of each response as two TCP segments. With Nagle's algorithm on, the body waits for the
ACK of the headers, which a keep-alive client delays by up to 40 ms, so every request on a reused connection
stalls (~44 ms median under 16 keep-alive clients). Its server is also threaded over one shared
`app.current_request`, so concurrent requests can see each other's request. Served here by gunicorn: one
request at a time per worker process (no shared request state), TCP_NODELAY on every socket, workers for
concurrency.

Slow or hostile clients must not starve the others: each worker has a pool of threads that read requests (a
request body must arrive within BODY_READ_TIMEOUT_S, else 408), while the app itself still runs one invocation at a
time per worker, as a Lambda container does (Chalice keeps the current request on the app object). Chunked bodies
are read like any other, and gunicorn's own refusals answer in the API's error shape (devstack/http_worker.py).

    gunicorn 'devstack.wsgi:application' --worker-class devstack.http_worker.JsonErrorThreadWorker --threads 16
"""
from __future__ import annotations

import collections
import json
import os
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from chalicelib.api.gateway import GATEWAY_HEADERS, GATEWAY_RESPONSES, gateway_error_body
from devstack.paths import ROOT

API_GATEWAY_MAX_BODY = 10 * 1024 * 1024  # API Gateway refuses larger payloads before the function runs
BODY_READ_TIMEOUT_S = 5.0  # the whole body, however it trickles in
READ_THREADS = int(os.environ.get("API_READ_THREADS", "16"))

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def gunicorn_command(bind: str, workers: int | str, target: str = "devstack.wsgi:application") -> list[str]:
    """How the local stack and the benchmarks serve a WSGI app: one request at a time per worker process."""
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    return [gunicorn, target, "--worker-class", "devstack.http_worker.JsonErrorThreadWorker",
            "--threads", str(READ_THREADS), "--workers", str(workers),
            "--bind", bind, "--graceful-timeout", "5", "--log-level", "warning"]


class ChaliceWSGI:
    def __init__(self, stage: str = "local", project_dir: str = str(ROOT)) -> None:
        from chalice.cli.factory import CLIFactory
        from chalice.local import RouteMatcher

        config = CLIFactory(project_dir=project_dir).create_config_obj(chalice_stage_name=stage)
        # As Lambda would, the stage's variables apply; what the environment sets explicitly wins.
        for name, value in config.environment_variables.items():
            os.environ.setdefault(name, value)
        self._gateway = _peer_gateway()(config.chalice_app, config)
        self._routes = RouteMatcher(list(config.chalice_app.routes))
        self._one_invocation_at_a_time = FifoLock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        from chalice.local import LocalGatewayException

        body, refused = _read_body(environ)
        if refused is not None:
            status, headers, payload = refused
        else:
            try:
                with self._one_invocation_at_a_time:
                    # The TCP peer, as API Gateway reports the caller: never a header the caller could write.
                    self._gateway.peer = str(environ.get("REMOTE_ADDR") or "127.0.0.1")
                    response = self._gateway.handle_request(
                        method=environ["REQUEST_METHOD"], path=_raw_path(environ), headers=_headers(environ),
                        body=body)
                status, headers, payload = response["statusCode"], dict(response["headers"]), response["body"]
                for name, values in (response.get("multiValueHeaders") or {}).items():
                    headers[name] = ", ".join(values)
            except LocalGatewayException as error:
                # What API Gateway answers before any function runs, in the shape its gateway responses give it.
                # Chalice's gateway says 403 for an unmatched route (echoing any Authorization header it was sent)
                # as for an authorizer's Deny: which one it was is told by the route table, not by its message.
                kind = "MISSING_AUTHENTICATION_TOKEN" if not self._routed(_raw_path(environ)) \
                    else _gateway_response_type(error)
                status, headers, payload = _gateway_response(kind, error.CODE)
        if payload is None:  # a CORS preflight answered by the gateway itself
            payload = b""
        if isinstance(payload, str):
            payload = payload.encode()
        headers.setdefault("Content-Type", "application/json")
        headers["Content-Length"] = str(len(payload))
        start_response(f"{status} {_reason(status)}", [(k, str(v)) for k, v in headers.items()])
        return [payload]


    def _routed(self, path: str) -> bool:
        try:
            self._routes.match_route(path)
        except ValueError:
            return False
        return True


Answer = tuple[int, dict[str, str], bytes]


def _peer_gateway() -> Any:
    from chalice.local import LocalGateway

    from devstack.local_gateway import calling_request_authorizers

    class PeerGateway(LocalGateway):  # type: ignore[misc]
        """Chalice's local gateway, with the caller's address API Gateway would report (Chalice's says 127.0.0.1
        for everyone, so every client of `make run` shared one sign-up budget). One invocation at a time per
        worker, so the address is set for the request in hand."""

        peer = "127.0.0.1"

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            calling_request_authorizers(self)

        def _generate_lambda_event(self, *args: Any, **kwargs: Any) -> Any:
            event = super()._generate_lambda_event(*args, **kwargs)
            event["requestContext"]["identity"]["sourceIp"] = self.peer
            return event

    return PeerGateway


def __getattr__(name: str) -> Any:
    # `application` is built on first use, in the worker, after the environment names the services.
    if name == "application":
        app = ChaliceWSGI(os.environ.get("STAGE", "local"))
        globals()["application"] = app
        return app
    raise AttributeError(name)


class FifoLock:
    """A lock handed to its waiters in the order they came. threading.Lock favours whichever thread runs next, so
    under load some requests waited many turns: a fair queue keeps the tail latency near the median's."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiting: collections.deque[threading.Lock] = collections.deque()

    def __enter__(self) -> None:
        with self._mutex:
            if not self._held:
                self._held = True
                return
            turn = threading.Lock()
            turn.acquire()
            self._waiting.append(turn)
        turn.acquire()  # released by the holder before us, which hands the lock over without letting it go

    def __exit__(self, *_: object) -> None:
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().release()
            else:
                self._held = False


def _read_body(environ: dict[str, Any]) -> tuple[bytes, Answer | None]:
    """The whole body (Content-Length or chunked), read before the app is entered and within BODY_READ_TIMEOUT_S;
    else what API Gateway would answer instead. gunicorn drains or closes a connection whose body was not read."""
    chunked = "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if length < 0 or length > API_GATEWAY_MAX_BODY:
        return b"", _gateway_response("REQUEST_TOO_LARGE" if length > 0 else "DEFAULT_4XX", 400)
    if not length and not chunked:
        return b"", None
    connection = environ.get("gunicorn.socket")
    deadline = time.monotonic() + BODY_READ_TIMEOUT_S
    limit = length if length else API_GATEWAY_MAX_BODY + 1
    parts: list[bytes] = []
    received = 0
    try:
        while received < limit:
            if connection is not None:
                connection.settimeout(max(0.01, deadline - time.monotonic()))
            part = environ["wsgi.input"].read(min(64 * 1024, limit - received))
            if not part:
                break
            parts.append(part)
            received += len(part)
            if time.monotonic() > deadline:
                raise TimeoutError
    except TimeoutError:
        return b"", error_answer(408, "request_timeout", f"request body not received within {BODY_READ_TIMEOUT_S:g} s")
    if received > API_GATEWAY_MAX_BODY:
        return b"", _gateway_response("REQUEST_TOO_LARGE", 413)
    return b"".join(parts), None


def _gateway_response_type(error: Any) -> str:
    """Which of API Gateway's responses Chalice's local gateway is emulating with `error`."""
    if error.CODE == 401:  # no Authorization header, or the authorizer refused the key
        return "UNAUTHORIZED"
    if error.CODE == 503:  # the authorizer could not check the key
        return "AUTHORIZER_FAILURE"
    if error.CODE == 403:  # a route that exists: the authorizer denied it
        return "ACCESS_DENIED"
    return f"DEFAULT_{error.CODE // 100}XX"


def _gateway_response(kind: str, status: int) -> Answer:
    configured, _, _ = GATEWAY_RESPONSES[kind]
    body = json.dumps(gateway_error_body(kind), separators=(",", ":")).encode()
    return configured or status, {"Content-Type": "application/json", **GATEWAY_HEADERS.get(kind, {})}, body


def error_answer(status: int, code: str, message: str) -> Answer:
    """An answer the server gives before any function runs, in the API's one error shape."""
    body = json.dumps({"error": {"code": code, "message": message, "details": []}}, separators=(",", ":")).encode()
    return status, {"Content-Type": "application/json"}, body


def _raw_path(environ: dict[str, Any]) -> str:
    # gunicorn keeps the request target as sent in RAW_URI; other servers (and test clients) give only the path
    # there, or nothing. The query string always comes from QUERY_STRING.
    raw = str(environ.get("RAW_URI") or "").split("?", 1)[0]
    path = raw or urllib.parse.quote(environ.get("PATH_INFO", "/"))
    query = environ.get("QUERY_STRING")
    return f"{path}?{query}" if query else path


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
