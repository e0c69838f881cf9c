"""tradeapi: the table of contents. Each surface is a folder of routes (chalicelib/api/<surface>/routes.py) and
is registered here with the authorizer; the settlement consumer and the schedules (the outbox relay, the market
tick) are declared here.

Importing this module is the cold start every function pays: it loads Chalice, the logger and the routes. Each
use case (`services.<name>`) and the authorizer, docs and consumer modules (`api.<name>`) load when first called,
and SQLAlchemy, pydantic, redis-py and boto3 when first needed (see chalicelib/lazy.py)."""
from __future__ import annotations

from typing import Any

from chalice.app import AuthResponse, Chalice, Rate, SQSEvent, WebsocketEvent

from chalicelib import api, services
from chalicelib.api import middleware
from chalicelib.api.alpaca.routes import routes as alpaca_routes
from chalicelib.api.classic import errors as classic_errors
from chalicelib.api.classic.routes import routes
from chalicelib.api.request_authorizer import GatewayRequest, request_authorizer
from chalicelib.config import get_settings
from chalicelib.services.unit_of_work import UnitOfWork

# Logs are powertools' JSON lines on the same "tradeapi" logger; Chalice's own text handler would repeat them.
app = Chalice(app_name="tradeapi", configure_logs=False)
app.experimental_feature_flags.update(["WEBSOCKETS"])
app.register_middleware(middleware.log_invocation, "all")
app.register_middleware(middleware.chalice_errors_rendered_by(classic_errors.render), "http")


# Settings are read at import here: the deployer wires CORS preflight and the queue's event source into API Gateway
# and Lambda.
@request_authorizer(app)
def api_key_authorizer(request: GatewayRequest) -> AuthResponse:
    return api.authorizer.authorize(request)


routes.register(app, api_key_authorizer, cors_origin=get_settings().cors_allow_origin)
alpaca_routes.register(app, api_key_authorizer, cors_origin=get_settings().cors_allow_origin)


# On AWS: batches fill for up to two seconds at low traffic (settlement is built for batches), and at most four
# batches run at once however long the backlog, so settlement never opens more database connections than that
# (batches of one ticker serialise on its row anyway). tests/deploy holds the template to these numbers.
SETTLE_BATCH_SIZE, SETTLE_BATCHING_WINDOW_S, SETTLE_MAX_CONCURRENCY = 10, 2, 4


@app.on_sqs_message(queue=get_settings().trade_queue_name, batch_size=SETTLE_BATCH_SIZE,
                    maximum_batching_window_in_seconds=SETTLE_BATCHING_WINDOW_S,
                    maximum_concurrency=SETTLE_MAX_CONCURRENCY)
def settle_trades(event: SQSEvent) -> dict[str, Any]:
    return api.consumer.handle_batch(event.to_dict(), event.context)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def relay_outbox(event: Any) -> dict[str, int]:
    current = get_settings()
    sent = services.outbox.sweep(UnitOfWork(), current.outbox_relay_min_age_s, current.outbox_resend_after_s,
                                 current.outbox_max_attempts, for_s=current.outbox_relay_sweep_s,
                                 every_s=current.outbox_relay_every_s)
    return {"sent": sent}


@app.schedule(Rate(1, unit=Rate.MINUTES))
def market_tick(event: Any) -> dict[str, int]:
    return api.market.tick()


# The trade update stream (Alpaca's trade_updates): a WebSocket API whose three routes keep the connection
# registry and speak the protocol, and a notifier fed by the FIFO queue of updates that changed orders publish.
@app.on_ws_connect()
def stream_connect(event: WebsocketEvent) -> None:
    from chalicelib.api.alpaca import stream

    stream.on_connect(event.to_dict())


@app.on_ws_message()
def stream_message(event: WebsocketEvent) -> None:
    from chalicelib.api.alpaca import stream

    stream.on_message(event.to_dict())


@app.on_ws_disconnect()
def stream_disconnect(event: WebsocketEvent) -> None:
    from chalicelib.api.alpaca import stream

    stream.on_disconnect(event.to_dict())


# Each account's updates arrive in order (the queue is FIFO, grouped by account); batches of different accounts
# are posted side by side.
@app.on_sqs_message(queue=get_settings().trade_updates_queue_name, batch_size=10, maximum_concurrency=2)
def notify_trade_updates(event: SQSEvent) -> dict[str, Any]:
    from chalicelib.api.alpaca import notifier

    return notifier.handle_batch(event.to_dict(), event.context)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def stream_sweep(event: Any) -> dict[str, int]:
    from chalicelib.api.alpaca import stream

    return {"closed": stream.sweep()}
