"""API keys: a public key id and a random secret, written together as one bearer token (`tapi.<id>.<secret>`).
Only a digest of the secret is stored; a key is checked by recomputing it and comparing in constant time. The
secret has 256 bits of entropy, so a plain SHA-256 digest cannot be reversed or guessed from a database dump."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

PREFIX = "tapi"
_TOKEN = re.compile(rf"{PREFIX}\.([0-9a-f]{{16}})\.([A-Za-z0-9_-]{{43}})")


@dataclass(frozen=True)
class IssuedKey:
    """A key as issued: the token is shown to its owner once and never stored."""

    key_id: str
    token: str
    secret_digest: str


class StoredKey(Protocol):
    """A key as the database holds it."""

    @property
    def id(self) -> str: ...
    @property
    def secret_digest(self) -> str: ...
    @property
    def scope(self) -> str: ...
    @property
    def user_id(self) -> object | None: ...
    @property
    def revoked_at(self) -> datetime | None: ...


# Where a key is in its life; a later state never gives way to an earlier one (the cache holds to it too).
ACTIVE, REVOKED = 1, 2


@dataclass(frozen=True)
class KeyRecord:
    """What the authorizer needs of a key: its secret's digest (never the secret), scope, user, and whether it is
    revoked."""

    key_id: str
    digest: str
    scope: str
    user_id: str | None
    username: str | None
    revoked: bool

    @classmethod
    def of(cls, key: StoredKey, username: str | None) -> KeyRecord:
        return cls(key.id, key.secret_digest, key.scope, None if key.user_id is None else str(key.user_id),
                   username, key.revoked_at is not None)

    @property
    def state(self) -> int:
        return REVOKED if self.revoked else ACTIVE

    def as_revoked(self) -> KeyRecord:
        return KeyRecord(self.key_id, self.digest, self.scope, self.user_id, self.username, True)

    def accepts(self, secret: str) -> bool:
        return not self.revoked and matches(secret, self.digest)


def issue() -> IssuedKey:
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    return IssuedKey(key_id, f"{PREFIX}.{key_id}.{secret}", digest(secret))


def parse(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    match = _TOKEN.fullmatch(token)
    return (match.group(1), match.group(2)) if match else None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, secret_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), secret_digest)


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value, else None."""
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def from_key_pair(key_id: str, secret: str) -> str | None:
    """The token Alpaca's clients send in two halves (`APCA-API-KEY-ID`, `APCA-API-SECRET-KEY`), whole; None
    unless both halves are well formed."""
    token = f"{PREFIX}.{key_id.strip()}.{secret.strip()}"
    return token if len(token) < 100 and parse(token) is not None else None
