"""A user's activity feed: fills, rejections, cancels, deposits and withdrawals in one newest-first list,
keyset-paginated, range-filtered, cached per page and dropped by every change to it."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.adapters.cache import Cache, activity_lists
from chalicelib.config import get_settings
from chalicelib.domain import moments, paging, views
from chalicelib.services.unit_of_work import UnitOfWork


def list_for_user(user_ref: str, between: tuple[datetime | None, datetime | None], page: paging.PageRequest,
                  uow: UnitOfWork, cache: Cache) -> paging.Page:
    after = paging.after_trade(page)
    start, end = ("-" if bound is None else bound.strftime(moments.KEY_FORMAT) for bound in between)

    def load() -> dict[str, Any]:
        with uow:
            user = uow.users.get(user_ref)
            found = paging.page_of(uow.activities.page(user.id, after, page.limit, between), page, views.activity,
                                   lambda row: paging.trade_cursor(row.at, row.id))
        return found.to_cache()

    # Bounds are fixed-width and hold no '_'; the page key comes last.
    key = cache.keys.activities(cache.keys.user_ref(user_ref), f"{start}_{end}_{paging.page_key(page)}")
    (family,) = activity_lists(user_ref)
    return paging.Page.from_cache(cache.read_through_page(family, key, get_settings().cache_ttl_transactions_s, load))

