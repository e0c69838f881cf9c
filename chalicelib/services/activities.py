"""A user's activity feed: fills, rejections, cancels, deposits and withdrawals in one newest-first list,
keyset-paginated and range-filtered."""
from __future__ import annotations

from datetime import datetime

from chalicelib.domain import paging, records
from chalicelib.services.unit_of_work import UnitOfWork


def list_for_user(user_ref: str, between: tuple[datetime | None, datetime | None], page: paging.PageRequest,
                  uow: UnitOfWork) -> paging.Page[records.Activity]:
    after = paging.after_trade(page)
    with uow:
        user = uow.users.get(user_ref)
        return paging.page_of(uow.activities.page(user.id, after, page.limit, between), page, records.Activity.of,
                              lambda row: paging.trade_cursor(row.at, row.id))
