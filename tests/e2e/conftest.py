"""The environment a `make run` under test starts with: a database of its own on the session's server, the
session's Redis under a prefix of its own, its own port and data directory, and nothing of the session's own
settings."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.database import create_database, drop_database
from devstack.localstack.host import home as localstack_home
from devstack.services import Service, free_port
from devstack.stack_process import ISOLATED


@pytest.fixture
def stack_env(postgres_service: Service, redis_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    name = f"tradeapi_stack_{uuid.uuid4().hex[:8]}"
    database_url = create_database(postgres_service.url, name)
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED}
    env.update({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "CACHE_PREFIX": f"stack-{name}",
                "PORT": str(free_port()), "STREAM_PORT": str(free_port()),
                "TRADEAPI_DATA_DIR": str(tmp_path / "devstack"), "DEVSTACK_QUIET": "1",
                "API_WORKERS": "2",
                # The stack's data is this test's own; LocalStack's environment is the checkout's, installed once.
                "TRADEAPI_LOCALSTACK_HOME": str(localstack_home())})
    yield env
    drop_database(postgres_service.url, name)


