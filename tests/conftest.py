"""Session-wide real services: PostgreSQL and Redis from the environment, the local ports, or embedded servers.

Each test session gets its own database (migrated with Alembic, dropped at the end); each test gets empty tables
and its own Redis key prefix.
"""
from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import services
from devstack.database import create_database, drop_database, migrate

# What signs cached key records in this session (and in the processes it starts); never in Redis.
os.environ.setdefault("CACHE_SIGNING_KEY", secrets.token_urlsafe(32))


def pytest_report_header() -> list[str]:
    return [f"tradeapi services: TRADEAPI_EMBEDDED={os.environ.get('TRADEAPI_EMBEDDED', '0')}"]


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def postgres_service(stack_dir: Path) -> Iterator[services.Service]:
    service = services.postgres(stack_dir / "postgres")
    yield service
    service.stop()


@pytest.fixture(scope="session")
def redis_service(stack_dir: Path) -> Iterator[services.Service]:
    service = services.redis(stack_dir / "redis")
    yield service
    service.stop()


@pytest.fixture(scope="session")
def database_url(postgres_service: services.Service) -> Iterator[str]:
    name = f"tradeapi_test_{uuid.uuid4().hex[:10]}"
    url = create_database(postgres_service.url, name)
    migrate(url)
    yield url
    from chalicelib.adapters.database import get_database

    get_database.cache_clear()
    drop_database(postgres_service.url, name)


@pytest.fixture(scope="session")
def redis_url(redis_service: services.Service) -> str:
    return redis_service.url


@pytest.fixture(scope="session")
def aws_service(stack_dir: Path) -> Iterator[services.Service]:
    """The AWS emulator: AWS_ENDPOINT_URL if set, else LocalStack started for this run (installed on first use),
    or moto server where LocalStack cannot run here or TRADEAPI_EMULATOR=moto says so."""
    from devstack.aws import EMULATOR_ENV, emulator

    for name, value in EMULATOR_ENV.items():
        os.environ.setdefault(name, value)
    service = emulator(stack_dir / "aws")
    yield service
    service.stop()


@pytest.fixture(scope="session")
def aws_endpoint(aws_service: services.Service) -> str:
    return aws_service.url
