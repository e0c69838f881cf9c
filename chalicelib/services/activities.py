"""A user's activity feed: fills, rejections, cancels, deposits and withdrawals in one newest-first list,
keyset-paginated and range-filtered."""
from __future__ import annotations

from datetime import datetime

from chalicelib.domain import paging, records
from chalicelib.domain.vocabulary import ActivityKind
from chalicelib.services.unit_of_work import UnitOfWork


def list_for_user(user_ref: str, between: tuple[datetime | None, datetime | None], page: paging.PageRequest,
                  uow: UnitOfWork, *, kinds: frozenset[ActivityKind] | None = None,
                  oldest_first: bool = False) -> paging.Page[records.Activity]:
    """A page of the user's entries of `kinds` (None: all), newest first unless `oldest_first`."""
    after = paging.after_trade(page)
    with uow:
        user = uow.users.get(user_ref)
        return paging.page_of(uow.activities.page(user.id, after, page.limit, between, kinds, oldest_first), page,
                              records.Activity.of, lambda row: paging.trade_cursor(row.at, row.id))
