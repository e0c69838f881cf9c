"""Settings read from the environment, once per process (a warm Lambda keeps them). Each is declared once, in
VARIABLES: its variable, default and meaning."""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from chalicelib.lazy import lazy


@dataclass(frozen=True)
class Settings:
    """Every setting, read once per process from the environment as VARIABLES below says."""

    stage: str
    database_url: str
    db_pool: str
    db_pool_size: int
    db_ping_after_idle_s: float
    db_connect_timeout_s: float
    db_statement_timeout_ms: int
    database_secret_arn: str | None
    redis_secret_arn: str | None
    secret_ttl_s: float
    db_ssl: str
    db_ssl_ca_file: str | None
    redis_url: str
    redis_timeout_s: float
    cache_prefix: str
    cache_ttl_user_s: int
    cache_ttl_stock_s: int
    cache_ttl_transactions_s: int
    cache_ttl_api_key_s: int
    cache_ttl_revoked_key_s: int
    cache_signing_key: str | None
    cache_signing_secret_arn: str | None
    max_keys_per_user: int
    rate_limit_per_window: int
    rate_limit_window_s: int
    signup_limit_per_window: int
    public_limit_per_window: int
    auth_lookups_per_window: int
    aws_endpoint_url: str | None
    aws_emulator: str | None
    aws_region: str
    trade_queue_name: str
    trade_dlq_name: str
    trade_max_receive_count: int
    outbox_relay_min_age_s: float
    outbox_relay_sweep_s: float
    outbox_relay_every_s: float
    outbox_resend_after_s: float
    outbox_max_attempts: int
    log_level: str
    max_body_bytes: int
    cors_allow_origin: str
    health_timeout_s: float
    market_calendar: str
    book_batch: int
    book_budget_s: float
    trade_updates_queue_name: str
    stream_management_url: str | None
    stream_auth_timeout_s: float

    @property
    def is_local(self) -> bool:
        return self.stage == "local"


def _queue_name(env: Env) -> str:
    stage = env("STAGE", "local")
    return "tradeapi-trades" if stage == "local" else f"tradeapi-trades-{stage}"


def _updates_queue_name(env: Env) -> str:
    return f"{env('TRADE_QUEUE_NAME') or _queue_name(env)}-updates.fifo"


Env = Callable[..., "str | None"]


def _calendar_name(name: str) -> str:
    from chalicelib.domain.clock import CALENDARS

    if name not in CALENDARS:
        raise ValueError(f"MARKET_CALENDAR must be one of {', '.join(CALENDARS)}, not {name!r}")
    return name


class Variable(NamedTuple):
    """One setting: the field of Settings it fills, the environment variable it is read from, its default (a
    function of the environment where another variable decides it), how it is read, and what it means (the
    configuration table in docs/configuration.md is generated from these)."""

    field: str
    name: str
    default: str | Callable[[Env], str] | None
    meaning: str
    read: Callable[[str], Any] = str


# dev and prod may share an account: their queues carry the stage (tradeapi-trades-prod); local ones do not.
VARIABLES: tuple[Variable, ...] = (
    Variable("stage", "STAGE", "local", "the stage: `local`, `dev` or `prod` (`.chalice/config.json` sets it)"),
    Variable("database_url", "DATABASE_URL", "postgresql+pg8000://postgres@127.0.0.1:5432/tradeapi",
             "SQLAlchemy URL (pg8000 driver)"),
    # "null" opens a connection per unit of work (safe behind RDS Proxy or with many Lambdas); "queue" keeps a
    # small pool for the life of the warm container.
    Variable("db_pool", "DB_POOL", "queue", "`queue`: a small pool kept by the warm Lambda; `null`: a connection "
             "per unit of work (RDS Proxy; the default on `dev` and `prod`)"),
    Variable("db_pool_size", "DB_POOL_SIZE", "2", "pool size when `DB_POOL=queue` (for transactions, and the same "
             "again for one-statement placements)", int),
    Variable("db_ping_after_idle_s", "DB_PING_AFTER_IDLE_S", "5", "a pooled connection idle longer than this is "
             "pinged before use; a busy one is not", float),
    Variable("db_connect_timeout_s", "DB_CONNECT_TIMEOUT_S", "5", "connect timeout", float),
    Variable("db_statement_timeout_ms", "DB_STATEMENT_TIMEOUT_MS", "10000", "statement and lock timeout, sent at "
             "connect", int),
    Variable("database_secret_arn", "DATABASE_SECRET_ARN", None, "a Secrets Manager secret with the database "
             "`username` and `password` (the JSON RDS writes); `DATABASE_URL` then names only where to connect"),
    Variable("redis_secret_arn", "REDIS_SECRET_ARN", None, "a secret with the Redis AUTH token "
             "(`{\"auth_token\": ...}` or the token itself)"),
    Variable("secret_ttl_s", "SECRET_TTL_S", "300", "how long a container holds a secret before fetching it again "
             "(a refused password is fetched again at once)", float),
    # "verify": TLS with the server's certificate and host name checked (against DB_SSL_CA_FILE, or the system's
    # trusted CAs, which RDS Proxy's certificates chain to); "off": plain TCP (local stages).
    Variable("db_ssl", "DB_SSL", "off", "`verify` (the AWS stages): TLS to PostgreSQL with the certificate and host "
             "name checked; `off`: plain TCP"),
    Variable("db_ssl_ca_file", "DB_SSL_CA_FILE", None, "the CA bundle `DB_SSL=verify` checks against (else the "
             "system's)"),
    Variable("redis_url", "REDIS_URL", "redis://127.0.0.1:6379/0", "Redis URL (`rediss://` for TLS, the "
             "certificate and host name checked)"),
    Variable("redis_timeout_s", "REDIS_TIMEOUT_S", "0.25", "Redis connect and socket timeout: an outage costs at "
             "most this per call", float),
    Variable("cache_prefix", "CACHE_PREFIX", "tradeapi", "prefix of every cache key"),
    Variable("cache_ttl_user_s", "CACHE_TTL_USER_S", "60", "TTL of a cached user", int),
    Variable("cache_ttl_stock_s", "CACHE_TTL_STOCK_S", "300", "TTL of cached stocks and bars", int),
    Variable("cache_ttl_transactions_s", "CACHE_TTL_TRANSACTIONS_S", "60", "TTL of cached transactions and "
             "activities", int),
    Variable("cache_ttl_api_key_s", "CACHE_TTL_API_KEY_S", "300", "how long a key's record (its digest, never the "
             "key) stays in the cache; a revoke replaces it with a tombstone at once", int),
    # A revoked key's tombstone outlives by far any request that read the key as active before the revoke.
    Variable("cache_ttl_revoked_key_s", "CACHE_TTL_REVOKED_KEY_S", "86400", "how long a revoked key's tombstone "
             "stays in the cache", int),
    Variable("cache_signing_key", "CACHE_SIGNING_KEY", None, "what signs the key records the cache holds (never "
             "stored in Redis); `make run` makes one"),
    Variable("cache_signing_secret_arn", "CACHE_SIGNING_SECRET_ARN", None, "a secret holding that key (the AWS "
             "stages: a generated secret)"),
    # Enough for a key per bot and per machine, never unbounded.
    Variable("max_keys_per_user", "MAX_KEYS_PER_USER", "10", "active API keys a user may hold", int),
    # As brokers limit accounts.
    Variable("rate_limit_per_window", "RATE_LIMIT_PER_WINDOW", "200", "requests each user (or admin key) may make "
             "per window", int),
    Variable("rate_limit_window_s", "RATE_LIMIT_WINDOW_S", "60", "the sliding window every limit counts in", int),
    Variable("signup_limit_per_window", "SIGNUP_LIMIT_PER_WINDOW", "20", "sign-ups per source address per window",
             int),
    Variable("public_limit_per_window", "PUBLIC_LIMIT_PER_WINDOW", "600", "requests to the public routes (stock "
             "reads, bars, health, documentation) per source address per window", int),
    # Each costs a database read, so random key ids are bounded by this, not by the database.
    Variable("auth_lookups_per_window", "AUTH_LOOKUPS_PER_WINDOW", "60", "key checks per source address per window "
             "that the cache cannot answer; past it a source's unknown keys are refused without a database read",
             int),
    Variable("aws_endpoint_url", "AWS_ENDPOINT_URL", None, "AWS emulator endpoint (LocalStack, moto server) on local "
             "stages; unset, `make run` and the tests start LocalStack"),
    Variable("aws_emulator", "AWS_EMULATOR", None, "the emulator `GET /health` reports on local stages (set by "
             "`make run`)"),
    Variable("aws_region", "AWS_DEFAULT_REGION", lambda env: env("AWS_REGION", "us-east-1") or "us-east-1",
             "the AWS region (else `AWS_REGION`, else `us-east-1`)"),
    Variable("trade_queue_name", "TRADE_QUEUE_NAME", _queue_name, "the SQS queue (`tradeapi-trades`; "
             "`tradeapi-trades-<stage>` on `dev` and `prod`)"),
    Variable("trade_dlq_name", "TRADE_DLQ_NAME", lambda env: f"{_queue_name(env)}-dlq", "its dead-letter queue"),
    # A failed message is retried after 1, 2, 4, 8, then every 10 s (chalicelib/api/consumer.py): 20 receives
    # ride out about 2.5 minutes of the database being away (an RDS failover takes one or two).
    Variable("trade_max_receive_count", "TRADE_MAX_RECEIVE_COUNT", "20", "receives before a message moves to the "
             "dead-letter queue (the queue's redrive policy)", int),
    # The API sends right after commit, in milliseconds; a row still unsent after this was missed. Larger only
    # costs recovery time; smaller risks sending what the API is still sending (harmless: settlement is
    # idempotent).
    Variable("outbox_relay_min_age_s", "OUTBOX_RELAY_MIN_AGE_S", "10", "the relay sends outbox rows older than this "
             "that were never sent (`make run`: 2)", float),
    # EventBridge runs the relay once a minute at most, which would otherwise be how long a missed message waits.
    Variable("outbox_relay_sweep_s", "OUTBOX_RELAY_SWEEP_S", "0", "one relay run keeps sweeping this long (`prod`: "
             "45; 0: one pass)", float),
    Variable("outbox_relay_every_s", "OUTBOX_RELAY_EVERY_S", "5", "how often a sweep runs a pass", float),
    # A purged queue, a restarted emulator: the relay sends it again, at most OUTBOX_MAX_ATTEMPTS times in all.
    Variable("outbox_resend_after_s", "OUTBOX_RESEND_AFTER_S", "900", "a sent message still not processed this long "
             "after its last send was lost, and is sent again (`make run`: 60)", float),
    Variable("outbox_max_attempts", "OUTBOX_MAX_ATTEMPTS", "10", "sends of one message at most", int),
    Variable("log_level", "LOG_LEVEL", "INFO", "level of the JSON logs"),
    Variable("max_body_bytes", "MAX_BODY_BYTES", "65536", "largest accepted request body", int),
    # Credentials are never allowed (the API uses no cookies).
    Variable("cors_allow_origin", "CORS_ALLOW_ORIGIN", "*", "the origin browsers may call from (read at deploy "
             "time); empty: no CORS"),
    Variable("health_timeout_s", "HEALTH_TIMEOUT_S", "2", "how long `GET /health` waits for its checks; one still "
             "running then is reported down", float),
    Variable("market_calendar", "MARKET_CALENDAR", "always_open", "`always_open`: sessions are UTC days and the "
             "market never closes; `nyse`: NYSE regular hours, holidays and early closes (docs/rules.md)",
             _calendar_name),
    Variable("book_batch", "BOOK_BATCH", "500", "open orders a new bar crossed that one transaction evaluates", int),
    # A Lambda invocation has a deadline; a book bigger than this allows is continued by a redelivery.
    Variable("book_budget_s", "BOOK_BUDGET_S", "20", "how long one consumer invocation evaluates a crossed book "
             "before handing the rest to the next delivery", float),
    Variable("trade_updates_queue_name", "TRADE_UPDATES_QUEUE_NAME", _updates_queue_name, "the FIFO queue of trade "
             "updates the stream's notifier posts to listeners (the trade queue's name and `-updates.fifo`)"),
    Variable("stream_management_url", "STREAM_MANAGEMENT_URL", None, "where the stream's connections are posted to "
             "(the API Gateway Management API); unset, the WebSocket API's own `https://<api id>.execute-api."
             "<region>.amazonaws.com/<stage>` (`make run` sets its local gateway's)"),
    Variable("stream_auth_timeout_s", "STREAM_AUTH_TIMEOUT_S", "10", "a stream connection that has not "
             "authenticated this long after connecting is closed", float),
)


@lazy
def get_settings() -> Settings:
    env = os.environ.get
    values: dict[str, Any] = {}
    for variable in VARIABLES:
        default = variable.default(env) if callable(variable.default) else variable.default
        raw = env(variable.name) or default if variable.default is None else env(variable.name, default)
        values[variable.field] = None if raw is None else variable.read(raw)
    return Settings(**values)
