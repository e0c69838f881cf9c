"""What an anonymous caller can cost: its requests count against its source address (the TCP peer under `make
run`, as API Gateway reports it; an IPv6 source by its /64), whatever forwarding headers it sends; whatever bounds,
limits and cursors it asks for, the cache holds a bounded number of entries for it; and invalidating a list is one
command however many pages of it are cached."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis as redis_lib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client as WsgiClient

from chalicelib.config import get_settings
from devstack.wsgi import ChaliceWSGI
from tests.integration.conftest import JsonClient
from tests.integration.helpers import answer_key, live, seed, trade


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[WsgiClient]:
    monkeypatch.setenv("SIGNUP_LIMIT_PER_WINDOW", "2")
    monkeypatch.setenv("PUBLIC_LIMIT_PER_WINDOW", "3")
    get_settings.cache_clear()
    yield WsgiClient(ChaliceWSGI())
    get_settings.cache_clear()


def sign_up(served: WsgiClient, name: str, peer: str, **headers: str) -> int:
    answer = served.open("/users", method="POST", environ_base={"REMOTE_ADDR": peer},
                         headers={"Content-Type": "application/json", **headers},
                         data=json.dumps({"username": name, "balance": "1"}))
    return answer.status_code


def test_each_peer_has_its_own_sign_up_budget_and_forwarding_headers_change_nothing(
        any_redis: str, served: WsgiClient) -> None:
    assert [sign_up(served, f"a{n}x", "198.51.100.1") for n in range(3)] == [201, 201, 429]
    assert [sign_up(served, f"b{n}x", "198.51.100.2") for n in range(2)] == [201, 201]  # another client's own
    # A client that says it is someone else is still itself.
    assert sign_up(served, "c0x", "198.51.100.1", **{"X-Forwarded-For": "203.0.113.50",
                                                      "X-Real-IP": "203.0.113.51"}) == 429


def test_an_ipv6_source_is_counted_by_its_64(any_redis: str, served: WsgiClient) -> None:
    assert sign_up(served, "v6a", "2001:db8:1:2::1") == 201
    assert sign_up(served, "v6b", "2001:db8:1:2:ffff::9") == 201  # the same /64: one host's addresses
    assert sign_up(served, "v6c", "2001:db8:1:2:abcd::7") == 429
    assert sign_up(served, "v6d", "2001:db8:1:3::1") == 201  # the next /64 is another network
    assert sign_up(served, "v6e", "::ffff:198.51.100.9") == 201  # an IPv4-mapped address is that IPv4 address
    assert sign_up(served, "v6f", "198.51.100.9") == 201
    assert sign_up(served, "v6g", "::ffff:198.51.100.9") == 429


def test_anonymous_reads_are_limited_per_source(any_redis: str, served: WsgiClient) -> None:
    statuses = [served.open("/stocks", environ_base={"REMOTE_ADDR": "198.51.100.3"}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert served.open("/stocks", environ_base={"REMOTE_ADDR": "198.51.100.4"}).status_code == 200


GENERATED = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
moment = st.datetimes(min_value=__import__("datetime").datetime(2000, 1, 1)).map(lambda m: m.isoformat())


@GENERATED
@given(start=st.one_of(st.none(), moment), end=st.one_of(st.none(), moment),
       limit=st.one_of(st.none(), st.integers(min_value=1, max_value=1000)))
def test_no_query_an_anonymous_caller_sends_grows_the_cache(api: JsonClient, redis_client: redis_lib.Redis,
                                                            cache_prefix: str, start: str | None, end: str | None,
                                                            limit: int | None) -> None:
    """Every distinct start, end and limit of a public list used to become an entry (and a member of an index set
    that a new bar deleted in one blocking script). Now only the first page of the whole list is cached."""
    if api.get("/stocks/AAPL", key=None).status_code == 404:
        seed(api)
    query = "&".join(f"{name}={value}" for name, value in (("start", start), ("end", end), ("limit", limit))
                     if value is not None)
    for path in (f"/stocks/AAPL/bars?{query}", f"/stocks?{query}"):
        assert api.get(path, key=None).status_code in (200, 400)
    lists = {key for route in ("list_bars", "list_stocks")
             for key in redis_client.scan_iter(match=f"{cache_prefix}:answer:classic:{route}:*")}
    assert lists <= {answer_key("list_bars", ticker="AAPL"), answer_key("list_stocks")}, lists


def test_invalidating_a_list_is_one_command_however_many_pages_it_has(
        api: JsonClient, redis_client: redis_lib.Redis, cache_prefix: str) -> None:
    seed(api)
    assert api.get("/transactions/alice").status_code == 200
    page = redis_client.get(answer_key("list_trades", user_id="alice"))
    assert page is not None
    # Twenty thousand more cached pages of Alice's transactions, as a busy client could leave behind.
    pipe = redis_client.pipeline(transaction=False)
    for n in range(20_000):
        pipe.set(f"{cache_prefix}:answer:classic:list_trades:{n + 1}", page, ex=60)
    pipe.execute()
    redis_client.config_resetstat()
    api.post("/transactions", trade(volume=1))
    stats = redis_client.info("commandstats")
    # What changed the family: one token, no set read and no key deleted page by page.
    assert "cmdstat_smembers" not in stats and stats.get("cmdstat_del", {}).get("calls", 0) <= 1
    for n in (1, 10_000, 20_000):
        assert not live(redis_client, cache_prefix, f"{cache_prefix}:answer:classic:list_trades:{n}",
                        "transactions:alice")
