"""Who may call a route, decided in one place. Every route declares a rule: PUBLIC (no key), OWNER (the key of
the user the path or body names; an admin key may also read), OWNER_OR_ADMIN (the same, and an admin key may
also write: an operator cancels a user's order), ADMIN (an admin key), SELF (a user's key, acting for its own
user: a route that names no user, as Alpaca's do). The authorizer has already proved the key; here the
principal it found is held to the route's rule."""
from __future__ import annotations

from typing import Any, NamedTuple

from chalice.app import Request

from chalicelib.api.errors import Forbidden
from chalicelib.domain.user_ref import UserRef
from chalicelib.domain.vocabulary import Scope

PUBLIC, OWNER, OWNER_OR_ADMIN, ADMIN, SELF = "public", "owner", "owner_or_admin", "admin", "self"
RULES = (PUBLIC, OWNER, OWNER_OR_ADMIN, ADMIN, SELF)
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
        return self.user_id if self.scope == Scope.USER and self.user_id else f"admin:{self.key_id}"

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
        if self.scope != Scope.USER or not reference:
            return False
        named = UserRef.parse(reference)
        if named.id is not None:
            return self.user_id is not None and str(named.id) == self.user_id
        return named.username == self.username


def needs_body(rule: str, params: dict[str, Any]) -> bool:
    """Whether the user a request concerns is named in its body rather than its path (placing a trade)."""
    return rule in (OWNER, OWNER_OR_ADMIN) and not any(name in params for name in SUBJECT_PARAMETERS)


def check(rule: str, principal: Principal, method: str, params: dict[str, Any], body: Any) -> None:
    """Raise 403 unless `principal` may make this request under `rule`; nothing is read or written before."""
    if rule == ADMIN and principal.scope != Scope.ADMIN:
        raise Forbidden("this route needs an admin key")
    if rule == SELF and principal.scope != Scope.USER:
        # The route names no user: the subject is the key's own, and an admin key has none.
        raise Forbidden("this route acts for the key's own user; an admin key has none")
    if rule not in (OWNER, OWNER_OR_ADMIN):
        return
    subject = next((params[name] for name in SUBJECT_PARAMETERS if name in params), None)
    if subject is None:
        subject = getattr(body, "user_ref", None)
    if principal.scope == Scope.ADMIN and (method == "GET" or rule == OWNER_OR_ADMIN):
        return
    if subject is None or not principal.is_user(str(subject)):
        raise Forbidden("this key may not act for that user")
