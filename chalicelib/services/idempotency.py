"""Idempotent requests, one way for every write that takes a key (orders, cash): a request is remembered by its
key with a fingerprint of what it asked; the same key again with the same request replays the first answer, with
another request it is a conflict."""
from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol, TypeVar

from chalicelib.adapters.logs import get_logger
from chalicelib.domain.errors import Conflict


class Remembered(Protocol):
    @property
    def id(self) -> object: ...
    @property
    def request_fingerprint(self) -> str | None: ...


Found = TypeVar("Found", bound=Remembered)


def fingerprint(canonical: dict[str, Any]) -> str:
    """What tells a repeated request from another one under the same key (keys are per user)."""
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def replay(earlier: Found | None, request_fingerprint: str, field: str) -> Found | None:
    """What an earlier request under this key wrote, to be answered again; None if there was none. `field` names
    where the key came from, for the 409."""
    if earlier is None:
        return None
    if earlier.request_fingerprint != request_fingerprint:
        raise Conflict("this idempotency key was already used with a different request", [{"field": field}])
    get_logger().info("idempotent replay", extra={"event": "idempotent_replay", "id": str(earlier.id)})
    return earlier
