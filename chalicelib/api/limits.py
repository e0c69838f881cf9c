"""Who a request is counted against, and what it gets past its limit: a keyed request counts against its
principal (a user, or an admin key), an anonymous one against its source address (an IPv6 source by its /64,
which one host holds whole), sign-ups and key lookups the cache cannot answer on budgets of their own. The count
itself is Redis's (chalicelib/adapters/rate_limit.py)."""
from __future__ import annotations

from chalice.app import Request

from chalicelib.adapters.logs import get_logger
from chalicelib.adapters.rate_limit import Budget, get_rate_limiter
from chalicelib.api.access import Principal
from chalicelib.api.errors import TooManyRequests as TooManyRequestsError
from chalicelib.config import get_settings


class TooManyRequests(TooManyRequestsError):
    def __init__(self, budget: Budget, window_s: int) -> None:
        super().__init__(f"rate limit of {budget.limit} requests per {window_s} s exceeded; retry after "
                         f"{budget.retry_after_s} s")
        self.budget = budget

    def headers(self) -> dict[str, str]:
        return {**self.budget.headers(), "Retry-After": str(self.budget.retry_after_s)}


Read = tuple[Budget | None, list[bytes | None] | None]


def admit_principal(principal: Principal, read: tuple[str, ...] = ()) -> Read:
    """Count a keyed request, and read the cache keys `read` in the same round trip; raises TooManyRequests past
    the limit. The budget is None (and nothing is read) when Redis could not be reached."""
    settings = get_settings()
    return _admit(principal.id, settings.rate_limit_per_window, principal.key_id, read)


def admit_source(request: Request, budget: str, limit: int, read: tuple[str, ...] = ()) -> Read:
    """Count a request of an anonymous caller against its source address's `budget` ("signup", "public")."""
    return _admit(f"{budget}:{source_of(request)}", limit, None, read)


def _admit(principal_id: str, limit: int, key_id: str | None, read: tuple[str, ...]) -> Read:
    window_s = get_settings().rate_limit_window_s
    budget, found = get_rate_limiter().admit_reading(principal_id, limit, window_s, key_id=key_id, read=read)
    if budget is not None and not budget.admitted:
        raise TooManyRequests(budget, window_s)
    return budget, found


def may_look_up_key(source_ip: str) -> bool:
    """Whether a caller at `source_ip` may have one more key the cache does not hold looked up in the database
    (AUTH_LOOKUPS_PER_WINDOW per window): what random key ids cost is bounded per source. Redis unreachable:
    yes."""
    settings = get_settings()
    budget = get_rate_limiter().admit(f"key_lookups:{source_address(source_ip)}", settings.auth_lookups_per_window,
                                      settings.rate_limit_window_s)
    if budget is not None and not budget.admitted:
        get_logger().warning("key lookups of this source over its limit: refused without a lookup",
                             extra={"event": "key_lookup_limited"})
        return False
    return True


def source_of(request: Request) -> str:
    """The caller's address as API Gateway saw it (the TCP peer, never a header the caller wrote)."""
    return source_address(str((request.context.get("identity") or {}).get("sourceIp") or ""))


def source_address(raw: str) -> str:
    """An address as limits count it: an IPv6 address by its /64 (one host holds it whole), an IPv4-mapped one as
    the IPv4 address it is."""
    import ipaddress  # only sign-ups, anonymous callers and key lookups pay for it

    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
