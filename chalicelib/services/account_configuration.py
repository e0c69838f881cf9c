"""An account's trading configuration, read and changed by its owner: suspending trading stops every new order
(placement, closing a position, replacing) until the owner lifts it; cancels still work."""
from __future__ import annotations

from typing import Protocol

from chalicelib.domain import records
from chalicelib.domain.events import AccountConfigured
from chalicelib.services.unit_of_work import UnitOfWork


class Changes(Protocol):
    """What a change sets; None keeps what is there."""

    @property
    def suspend_trade(self) -> bool | None: ...

    @property
    def trade_confirm_email(self) -> str | None: ...

    @property
    def ptp_no_exception_entry(self) -> bool | None: ...


def get(user_ref: str, uow: UnitOfWork) -> records.AccountConfiguration:
    with uow:
        return records.AccountConfiguration.of(uow.users.get(user_ref))


def change(user_ref: str, changes: Changes, uow: UnitOfWork) -> records.AccountConfiguration:
    """The user's row is locked as placement locks it, so an order placed after the change is answered sees it."""
    with uow:
        user = uow.users.get(user_ref, for_update=True)
        if changes.suspend_trade is not None:
            user.trading_suspended = changes.suspend_trade
        if changes.trade_confirm_email is not None:
            user.trade_confirm_email = changes.trade_confirm_email
        if changes.ptp_no_exception_entry is not None:
            user.ptp_no_exception_entry = changes.ptp_no_exception_entry
        configured = records.AccountConfiguration.of(user)
        uow.record(AccountConfigured(user.username))
        uow.commit()
    return configured
