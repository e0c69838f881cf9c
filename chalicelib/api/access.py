"""Who may call a route, decided in one place. Every route declares a rule: PUBLIC (no key), OWNER (the key of
the user the path or body names; an admin key may also read), OWNER_OR_ADMIN (the same, and an admin key may
also write: an operator cancels a user's order), ADMIN (an admin key). The authorizer has already
proved the key; here the principal it found is held to the route's rule, and its requests are counted against
the rate limit."""
from __future__ import annotations

import time
from typing import Any, NamedTuple

from chalice.app import Request

from chalicelib.adapters.cache import get_cache
from chalicelib.adapters.logs import get_logger
from chalicelib.config import get_settings
from chalicelib.domain import scopes
from chalicelib.domain.errors import ApiError, Forbidden

PUBLIC, OWNER, OWNER_OR_ADMIN, ADMIN = "public", "owner", "owner_or_admin", "admin"
RULES = (PUBLIC, OWNER, OWNER_OR_ADMIN, ADMIN)
# Path parameters and body fields that name the user a request concerns.
SUBJECT_PARAMETERS = ("username", "user_id")


# NamedTuples rather than dataclasses: this module is loaded by every cold start, and they are built faster.
class Principal(NamedTuple):
    """Who a valid key speaks for, as the authorizer put it in the request context."""

    key_id: str
    scope: str
    user_id: str | None
    username: str | None

    @property
    def id(self) -> str:
        return self.user_id if self.scope == scopes.USER and self.user_id else f"admin:{self.key_id}"

    def to_context(self) -> dict[str, str]:
        # API Gateway passes an authorizer's context values as strings.
        return {"key_id": self.key_id, "scope": self.scope, "user_id": self.user_id or "",
                "username": self.username or ""}

    @classmethod
    def from_request(cls, request: Request) -> Principal:
        context = request.context.get("authorizer") or {}
        return cls(str(context["key_id"]), str(context["scope"]), context.get("user_id") or None,
                   context.get("username") or None)

    def is_user(self, reference: str) -> bool:
        """Whether `reference` (a username or a user id) names this principal's user."""
        if self.scope != scopes.USER or not reference:
            return False
        # Usernames are never UUIDs, so a reference that reads as this user's id (in any case, with or without
        # hyphens) names this user and nobody else.
        return reference == self.username or (
            self.user_id is not None and reference.replace("-", "").lower() == self.user_id.replace("-", ""))


def needs_body(rule: str, params: dict[str, Any]) -> bool:
    """Whether the user a request concerns is named in its body rather than its path (placing a trade)."""
    return rule in (OWNER, OWNER_OR_ADMIN) and not any(name in params for name in SUBJECT_PARAMETERS)


def check(rule: str, principal: Principal, method: str, params: dict[str, Any], body: Any) -> None:
    """Raise 403 unless `principal` may make this request under `rule`; nothing is read or written before."""
    if rule == ADMIN and principal.scope != scopes.ADMIN:
        raise Forbidden("this route needs an admin key")
    if rule not in (OWNER, OWNER_OR_ADMIN):
        return
    subject = next((params[name] for name in SUBJECT_PARAMETERS if name in params), None)
    if subject is None:
        subject = getattr(body, "user_ref", None)
    if principal.scope == scopes.ADMIN and (method == "GET" or rule == OWNER_OR_ADMIN):
        return
    if subject is None or not principal.is_user(str(subject)):
        raise Forbidden("this key may not act for that user")


class Budget(NamedTuple):
    """Where a principal stands in its rate-limit window."""

    limit: int
    used: int
    reset_at: int  # Unix seconds when the window ends

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    def headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(max(0, self.limit - self.used)),
                "X-RateLimit-Reset": str(self.reset_at)}


class Meter:
    """Counts one request of a principal in the current fixed window, which also records when its key was last
    used. Fails open: with Redis down every request passes, and a warning is logged."""

    def __init__(self, principal_id: str, limit: int, key_id: str | None = None) -> None:
        self._principal_id = principal_id
        self._limit = limit
        self._key_id = key_id
        self._reset_at = 0
        self._finished = False
        self.budget: Budget | None = None

    def start(self, *, with_next_read: bool) -> None:
        """Count now (one round trip) or, for a read that asks the cache first, together with that read; either
        way the request is refused (TooManyRequests) before it reads or writes anything else."""
        window_s = get_settings().rate_limit_window_s
        now = int(time.time())
        self._reset_at = now - now % window_s + window_s
        cache = get_cache()
        used = (cache.keys.keys_last_used(), self._key_id, str(now)) if self._key_id else None
        cache.count_request(cache.keys.rate_window(self._principal_id, self._reset_at - window_s), window_s, used,
                            self._counted, with_next_read=with_next_read)

    def finish(self) -> None:
        """Count the request if its read never came (it failed validation, say): it is counted all the same."""
        self._finished = True
        get_cache().send_waiting_count()

    def _counted(self, counted: int | None) -> None:
        if counted is None:
            get_logger().warning("rate limit not enforced: cache unavailable", extra={"event": "rate_limit_skipped"})
        self.budget = Budget(self._limit, counted or 0, self._reset_at)
        if self.budget.exceeded and not self._finished:
            raise TooManyRequests(self.budget)


class TooManyRequests(ApiError):
    status = 429
    code = "too_many_requests"

    def __init__(self, budget: Budget) -> None:
        super().__init__(f"rate limit of {budget.limit} requests per {get_settings().rate_limit_window_s} s "
                         "exceeded; retry after the window resets")
        self.retry_after = max(1, budget.reset_at - int(time.time()))
