"""What can go wrong, in the domain's words: a stable code, a message and details naming the fields concerned.
No HTTP here: each surface's edge gives every error its status (chalicelib/api/errors.py) and its body."""
from __future__ import annotations

from typing import Any


class Error(Exception):
    code = "bad_request"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class ValidationFailed(Error):
    """A value the rules refuse (a field of a request, a cursor this API did not issue)."""

    code = "validation_error"

    @classmethod
    def naming(cls, details: list[dict[str, Any]]) -> ValidationFailed:
        """An error that names every offending field in its message and describes each in its details."""
        fields = ", ".join(dict.fromkeys(str(detail.get("field") or "body") for detail in details))
        return cls(f"Invalid request: {fields}", details)


class BadValue(Error):
    """A value that passed validation but the database cannot store or compare (a NUL byte, say)."""

    code = "malformed_request"


class NotFound(Error):
    code = "not_found"


class Conflict(Error):
    """The request contradicts what is recorded (a taken name, a reused key, an order already final)."""

    code = "conflict"


class Refused(Error):
    """What is available does not cover the request (an order's pre-check, a withdrawal): nothing was created.
    The code is the reason (insufficient_funds, ...)."""

    def __init__(self, reason: str, message: str, field: str = "transaction_volume") -> None:
        super().__init__(message, [{"field": field, "reason": reason}])
        self.code = reason


class Unavailable(Error):
    """A service this one depends on could not serve: the same request may succeed shortly."""

    code = "service_unavailable"


class DatabaseUnavailable(Unavailable):
    """The database could not serve (down, restarting, unreachable, too slow)."""

    def __init__(self) -> None:
        super().__init__("the database is unavailable; try again shortly")
