"""Settings read from the environment, once per process (a warm Lambda keeps them)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from chalicelib.lazy import lazy


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@dataclass(frozen=True)
class Settings:
    stage: str
    database_url: str
    # "null" opens a connection per unit of work (safe behind RDS Proxy or with many Lambdas);
    # "queue" keeps a small pool for the life of the warm container.
    db_pool: str
    db_pool_size: int
    db_ping_after_idle_s: float
    db_connect_timeout_s: float
    db_statement_timeout_ms: int
    # Secrets Manager secrets holding the credentials DATABASE_URL and REDIS_URL leave out (AWS stages).
    database_secret_arn: str | None
    redis_secret_arn: str | None
    secret_ttl_s: float
    # "verify": TLS to PostgreSQL with the server's certificate and host name checked (against DB_SSL_CA_FILE, or
    # the system's trusted CAs, which RDS Proxy's certificates chain to); "off": plain TCP (local stages).
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
    # What signs the key records the cache holds (never stored in Redis): the value itself (local stages), or a
    # Secrets Manager secret holding it (AWS).
    cache_signing_key: str | None
    cache_signing_secret_arn: str | None
    max_keys_per_user: int
    rate_limit_per_window: int
    rate_limit_window_s: int
    signup_limit_per_window: int
    public_limit_per_window: int
    auth_lookups_per_window: int
    aws_endpoint_url: str | None
    # Which AWS emulator serves a local stage ("localstack 4.4.0", "moto 5.2.5"), as the local stack reports it.
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
    # "" turns CORS off; credentials are never allowed (the API uses no cookies).
    cors_allow_origin: str
    health_timeout_s: float

    @property
    def is_local(self) -> bool:
        return self.stage == "local"


def _queue_name(stage: str) -> str:
    return "tradeapi-trades" if stage == "local" else f"tradeapi-trades-{stage}"


@lazy
def get_settings() -> Settings:
    env = os.environ.get
    return Settings(
        stage=env("STAGE", "local"),
        database_url=env("DATABASE_URL", "postgresql+pg8000://postgres@127.0.0.1:5432/tradeapi"),
        db_pool=env("DB_POOL", "queue"),
        db_pool_size=_int("DB_POOL_SIZE", 2),
        db_ping_after_idle_s=_float("DB_PING_AFTER_IDLE_S", 5.0),
        db_connect_timeout_s=_float("DB_CONNECT_TIMEOUT_S", 5.0),
        db_statement_timeout_ms=_int("DB_STATEMENT_TIMEOUT_MS", 10_000),
        database_secret_arn=env("DATABASE_SECRET_ARN") or None,
        redis_secret_arn=env("REDIS_SECRET_ARN") or None,
        secret_ttl_s=_float("SECRET_TTL_S", 300.0),
        db_ssl=env("DB_SSL", "off"),
        db_ssl_ca_file=env("DB_SSL_CA_FILE") or None,
        redis_url=env("REDIS_URL", "redis://127.0.0.1:6379/0"),
        redis_timeout_s=_float("REDIS_TIMEOUT_S", 0.25),
        cache_prefix=env("CACHE_PREFIX", "tradeapi"),
        cache_ttl_user_s=_int("CACHE_TTL_USER_S", 60),
        cache_ttl_stock_s=_int("CACHE_TTL_STOCK_S", 300),
        cache_ttl_transactions_s=_int("CACHE_TTL_TRANSACTIONS_S", 60),
        cache_ttl_api_key_s=_int("CACHE_TTL_API_KEY_S", 300),
        # A revoked key's tombstone outlives by far any request that read the key as active before the revoke.
        cache_ttl_revoked_key_s=_int("CACHE_TTL_REVOKED_KEY_S", 86400),
        cache_signing_key=env("CACHE_SIGNING_KEY") or None,
        cache_signing_secret_arn=env("CACHE_SIGNING_SECRET_ARN") or None,
        # Active API keys a user may hold at once: enough for a key per bot and per machine, never unbounded.
        max_keys_per_user=_int("MAX_KEYS_PER_USER", 10),
        # Requests per principal (an API key's user, or an admin key) per window, as brokers limit accounts.
        rate_limit_per_window=_int("RATE_LIMIT_PER_WINDOW", 200),
        rate_limit_window_s=_int("RATE_LIMIT_WINDOW_S", 60),
        # Sign-ups per source address per window.
        signup_limit_per_window=_int("SIGNUP_LIMIT_PER_WINDOW", 20),
        # Requests to the public routes (stock reads, bars, health, documentation) per source address per window.
        public_limit_per_window=_int("PUBLIC_LIMIT_PER_WINDOW", 600),
        # Key checks per source address per window that the cache cannot answer (unknown or uncached keys): each
        # costs a database read, so random key ids are bounded by this, not by the database.
        auth_lookups_per_window=_int("AUTH_LOOKUPS_PER_WINDOW", 60),
        aws_endpoint_url=env("AWS_ENDPOINT_URL") or None,
        aws_emulator=env("AWS_EMULATOR") or None,
        aws_region=env("AWS_DEFAULT_REGION", env("AWS_REGION", "us-east-1")),
        # dev and prod may share an account: their queues carry the stage (tradeapi-trades-prod); local ones do not.
        trade_queue_name=env("TRADE_QUEUE_NAME", _queue_name(env("STAGE", "local"))),
        trade_dlq_name=env("TRADE_DLQ_NAME", f"{_queue_name(env('STAGE', 'local'))}-dlq"),
        # Deliveries of one message before SQS moves it to the dead-letter queue (the queue's redrive policy). A
        # failed message is retried after 1, 2, 4, 8, then every 10 s (chalicelib/api/consumer.py): 20 receives
        # ride out about 2.5 minutes of the database being away (an RDS failover takes one or two).
        trade_max_receive_count=_int("TRADE_MAX_RECEIVE_COUNT", 20),
        # The API sends right after commit, in milliseconds; a row still unsent after this was missed (the API
        # died between commit and send, or the queue refused it) and the relay sends it. Larger only costs
        # recovery time; smaller risks sending what the API is still sending (harmless: settlement is idempotent).
        outbox_relay_min_age_s=_float("OUTBOX_RELAY_MIN_AGE_S", 10.0),
        # One relay invocation keeps sweeping for this long, every OUTBOX_RELAY_EVERY_S: EventBridge runs it once
        # a minute at most, which would otherwise be how long a missed message waits on AWS. 0: one pass.
        outbox_relay_sweep_s=_float("OUTBOX_RELAY_SWEEP_S", 0.0),
        outbox_relay_every_s=_float("OUTBOX_RELAY_EVERY_S", 5.0),
        # A sent message whose trade is still pending this long later was lost (a purged queue, a restarted
        # emulator): the relay sends it again, at most OUTBOX_MAX_ATTEMPTS times in all.
        outbox_resend_after_s=_float("OUTBOX_RESEND_AFTER_S", 900.0),
        outbox_max_attempts=_int("OUTBOX_MAX_ATTEMPTS", 10),
        log_level=env("LOG_LEVEL", "INFO"),
        max_body_bytes=_int("MAX_BODY_BYTES", 64 * 1024),
        cors_allow_origin=env("CORS_ALLOW_ORIGIN", "*"),
        health_timeout_s=_float("HEALTH_TIMEOUT_S", 2.0),
    )
