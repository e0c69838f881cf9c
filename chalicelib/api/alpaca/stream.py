"""The trade update stream's protocol (WebSocket edge), exactly as Alpaca's clients speak it: a connection sends
`{"action": "authenticate", "data": {"key_id", "secret_key"}}` and the very next message it gets says whether that
was `authorized` (or `unauthorized`, and it is closed); then `{"action": "listen", "data": {"streams":
["trade_updates"]}}`, answered by `listening`; from then on the notifier sends it its account's updates. Nothing is
sent before the authorization reply, and a connection that does not authenticate in time is closed (`sweep`).

Each frame is one invocation (API Gateway's $connect, $default and $disconnect routes); replies go out through
the Management API, as the notifier's updates do."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from chalicelib import services
from chalicelib.adapters.logs import get_logger
from chalicelib.adapters.stream_gateway import connections_api, management_endpoint
from chalicelib.config import get_settings
from chalicelib.domain import api_keys
from chalicelib.services.unit_of_work import UnitOfWork

# A client's frames are small: the two actions and their data. Anything bigger is not one of them.
MAX_FRAME_BYTES = 4096
STREAMS = ("trade_updates",)


def on_connect(event: dict[str, Any]) -> None:
    context = event["requestContext"]
    services.stream.connect(context["connectionId"], management_endpoint(context["apiId"], context["stage"]),
                            UnitOfWork())


def on_disconnect(event: dict[str, Any]) -> None:
    services.stream.forget([event["requestContext"]["connectionId"]], UnitOfWork())


def on_message(event: dict[str, Any]) -> None:
    context = event["requestContext"]
    connection = _Connection(context["connectionId"], management_endpoint(context["apiId"], context["stage"]))
    message = _parsed(event.get("body"))
    action = message.get("action") if message is not None else None
    data: dict[str, Any] = message["data"] if message is not None and isinstance(message.get("data"), dict) else {}
    if action == "authenticate":
        _authenticate(connection, data, context.get("identity", {}).get("sourceIp", ""))
    elif not services.stream.is_authenticated(connection.id, UnitOfWork()):
        # Before its key checks a client is told nothing but that: the reply it waits for, then the close.
        connection.refuse("not authenticated")
    elif action == "listen":
        streams = data.get("streams")
        wanted = [name for name in streams if name in STREAMS] if isinstance(streams, list) else []
        services.stream.listen(connection.id, bool(wanted), UnitOfWork())
        connection.send({"stream": "listening", "data": {"streams": wanted}})
    else:
        connection.send({"stream": "error", "data": {"error": "unknown action; expected authenticate or listen"}})


def sweep(now: datetime | None = None) -> int:
    """Close the connections that did not authenticate in time (the schedule's); how many."""
    overdue = services.stream.overdue(now or datetime.now(UTC), get_settings().stream_auth_timeout_s, UnitOfWork())
    for connection_id, endpoint in overdue:
        try:
            connections_api(endpoint).close(connection_id)
        except Exception as exc:  # noqa: BLE001 - forgotten either way: it can never authenticate now
            get_logger().warning("could not close an unauthenticated stream connection", extra={
                "event": "stream_close_failed", "error": f"{type(exc).__name__}: {exc}"})
    services.stream.forget([connection_id for connection_id, _ in overdue], UnitOfWork())
    return len(overdue)


def _authenticate(connection: _Connection, data: dict[str, Any], source_ip: str) -> None:
    from chalicelib.adapters.key_records import get_key_records
    from chalicelib.api.limits import may_look_up_key

    key_id, secret = data.get("key_id"), data.get("secret_key")
    token = api_keys.from_key_pair(key_id, secret) if isinstance(key_id, str) and isinstance(secret, str) else None
    record = services.keys.verify(token, UnitOfWork(), get_key_records(),
                                  lambda: may_look_up_key(source_ip)) if token else None
    # A user key only: the stream is an account's own.
    if record is None or record.user_id is None or not services.stream.authenticate(
            connection.id, uuid.UUID(str(record.user_id)), UnitOfWork()):
        connection.refuse("access key verification failed")
        return
    connection.send({"stream": "authorization", "data": {"action": "authenticate", "status": "authorized"}})
    get_logger().info("stream connection authenticated", extra={"event": "stream_authenticated",
                                                                "user_id": str(record.user_id)})


def _parsed(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, str) or len(body) > MAX_FRAME_BYTES:
        return None
    try:
        message = json.loads(body)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


class _Connection:
    def __init__(self, connection_id: str, endpoint: str) -> None:
        self.id = connection_id
        self._api = connections_api(endpoint)

    def send(self, message: dict[str, Any]) -> None:
        self._api.post(self.id, json.dumps(message, separators=(",", ":")).encode())

    def refuse(self, why: str) -> None:
        self.send({"stream": "authorization",
                   "data": {"action": "authenticate", "status": "unauthorized", "message": why}})
        self._api.close(self.id)
