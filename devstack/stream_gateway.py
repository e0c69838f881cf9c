"""A local stand-in for an API Gateway WebSocket API: serves WebSocket connections on `/stream` (and `/stream/`,
alpaca-trade-api's path, and `/`), turns each connect, frame and disconnect into the Lambda event API Gateway
would send to the app's `$connect`, `$default` and `$disconnect` handlers, and serves the Management API the
handlers and the notifier post to (`POST`, `GET` and `DELETE /<stage>/@connections/{id}`) on a port of its own.

    python -m devstack.stream_gateway --port 8001 --management-port 8002

Like API Gateway, it answers pings itself, frames are handled one at a time per connection, and a post to a
connection that is gone answers 410 (GoneException)."""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
import urllib.parse
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from devstack.lambda_context import LambdaContext
from devstack.poller import load_handler

log = logging.getLogger("devstack.stream_gateway")
API_ID, STAGE = "local", "local"
PATHS = ("/", "/stream", "/stream/")
ROUTES = {"$connect": "stream_connect", "$default": "stream_message", "$disconnect": "stream_disconnect"}
# API Gateway's limits: a frame of 32 KB, a message of 128 KB.
MAX_MESSAGE_BYTES = 128 * 1024


class Gateway:
    def __init__(self, host: str, port: int, handlers: dict[str, Any]) -> None:
        self.host, self.port = host, port
        self._handlers = handlers
        self._connections: dict[str, ServerConnection] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, stopping: asyncio.Event) -> None:
        self.loop = asyncio.get_running_loop()
        async with serve(self._connection, self.host, self.port, process_request=self._only_stream_paths,
                         max_size=MAX_MESSAGE_BYTES, ping_interval=None):
            await stopping.wait()

    @staticmethod
    def _only_stream_paths(connection: ServerConnection, request: Request) -> Response | None:
        if urllib.parse.urlsplit(request.path).path in PATHS:
            return None
        return connection.respond(HTTPStatus.NOT_FOUND, "no WebSocket route here\n")

    async def _connection(self, ws: ServerConnection) -> None:
        connection_id = base64.b64encode(secrets.token_bytes(12)).decode()
        self._connections[connection_id] = ws
        try:
            await self._invoke("$connect", "CONNECT", connection_id, ws)
        except Exception:
            log.exception("$connect failed")
            self._connections.pop(connection_id, None)
            await ws.close(1011, "connect failed")
            return
        try:
            async for frame in ws:
                body = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
                try:
                    await self._invoke("$default", "MESSAGE", connection_id, ws, body)
                except Exception:
                    log.exception("$default failed")
        except ConnectionClosed:
            pass
        finally:
            self._connections.pop(connection_id, None)
            try:
                await self._invoke("$disconnect", "DISCONNECT", connection_id, ws)
            except Exception:
                log.exception("$disconnect failed")

    async def _invoke(self, route: str, kind: str, connection_id: str, ws: ServerConnection,
                      body: str | None = None) -> None:
        event = lambda_event(route, kind, connection_id, ws.remote_address[0], f"{self.host}:{self.port}", body)
        name, handler = self._handlers[route]
        await asyncio.to_thread(handler, event, LambdaContext(f"tradeapi-local-{name}"))

    # The Management API, called from the HTTP server's threads.
    def post(self, connection_id: str, data: bytes) -> bool:
        ws = self._connections.get(connection_id)
        if ws is None or self.loop is None:
            return False
        try:
            asyncio.run_coroutine_threadsafe(ws.send(data.decode("utf-8", "replace")), self.loop).result(5)
        except ConnectionClosed:
            return False
        return True

    def close(self, connection_id: str) -> bool:
        ws = self._connections.get(connection_id)
        if ws is None or self.loop is None:
            return False
        asyncio.run_coroutine_threadsafe(ws.close(1000, "closed by the server"), self.loop).result(5)
        return True

    def knows(self, connection_id: str) -> bool:
        return connection_id in self._connections


def lambda_event(route: str, kind: str, connection_id: str, source_ip: str, domain: str,
                 body: str | None) -> dict[str, Any]:
    now = time.time()
    return {
        "requestContext": {
            "routeKey": route, "eventType": kind, "connectionId": connection_id, "messageId": uuid.uuid4().hex,
            "apiId": API_ID, "stage": STAGE, "domainName": domain, "requestId": str(uuid.uuid4()),
            "connectedAt": int(now * 1000), "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": source_ip}, "messageDirection": "IN", "extendedRequestId": str(uuid.uuid4()),
        },
        "body": body, "isBase64Encoded": False,
    }


def management_server(gateway: Gateway, host: str, port: int) -> ThreadingHTTPServer:
    class Management(BaseHTTPRequestHandler):
        def _connection_id(self) -> str | None:
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
            prefix = f"/{STAGE}/@connections/"
            return path[len(prefix):] if path.startswith(prefix) else None

        def _answer(self, status: int, body: dict[str, Any] | None = None, error: str | None = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if error:
                self.send_header("x-amzn-ErrorType", error)
            self.end_headers()
            self.wfile.write(data)

        def _gone(self) -> None:
            self._answer(410, {"message": "the connection is gone"}, "GoneException")

        def do_POST(self) -> None:
            connection_id = self._connection_id()
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if connection_id is None:
                self._answer(404, {"message": "not found"}, "NotFoundException")
            elif len(data) > MAX_MESSAGE_BYTES:
                self._answer(413, {"message": "payload too large"}, "PayloadTooLargeException")
            elif gateway.post(connection_id, data):
                self._answer(200)
            else:
                self._gone()

        def do_DELETE(self) -> None:
            connection_id = self._connection_id()
            if connection_id is not None and gateway.close(connection_id):
                self._answer(204)
            else:
                self._gone()

        def do_GET(self) -> None:
            connection_id = self._connection_id()
            if connection_id is not None and gateway.knows(connection_id):
                self._answer(200, {"connectedAt": None, "identity": {}})
            else:
                self._gone()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Management)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--management-port", type=int, required=True)
    parser.add_argument("--app", default="app")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), stream=sys.stderr)
    logging.getLogger("websockets").setLevel(logging.WARNING)  # not a line per probe of the port

    handlers = {route: (name, load_handler(f"{args.app}:{name}")) for route, name in ROUTES.items()}
    gateway = Gateway(args.host, args.port, handlers)
    management = management_server(gateway, args.host, args.management_port)
    threading.Thread(target=management.serve_forever, name="management-api", daemon=True).start()

    async def run() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await gateway.serve(stopping)

    asyncio.run(run())
    management.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
