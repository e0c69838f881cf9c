"""Moving cash in and out of an account: each deposit or withdrawal is a journal entry written in the same
transaction as the balance it changes, with the user's row locked (as placements lock it), so a withdrawal never
spends cash a pending buy has set aside and concurrent retries under one Idempotency-Key make one entry."""
from __future__ import annotations

from decimal import Decimal

from chalicelib.domain import records
from chalicelib.domain.errors import Refused
from chalicelib.domain.events import CashMoved
from chalicelib.domain.vocabulary import CashKind, Reason
from chalicelib.services import idempotency
from chalicelib.services.unit_of_work import UnitOfWork


def move(username: str, kind: CashKind, amount: Decimal, idempotency_key: str | None,
         uow: UnitOfWork) -> records.Replayable[records.CashMoved]:
    """Deposit or withdraw `amount`; the same key with the same request answers the first entry again."""
    fingerprint = idempotency.fingerprint({"kind": kind, "amount": str(amount)})
    with uow:
        user = uow.users.get(username, for_update=True)
        if idempotency_key is not None:
            earlier = idempotency.replay(uow.cash.by_idempotency_key(user.id, idempotency_key), fingerprint,
                                         "Idempotency-Key")
            if earlier is not None:
                return records.Replayable(_moved(earlier, user), replayed=True)
        if kind == CashKind.WITHDRAWAL and amount > user.available_balance:
            raise Refused(Reason.INSUFFICIENT_FUNDS,
                          f"withdrawing {amount:.2f} but only {user.available_balance:.2f} is available "
                          "(the balance less cash set aside for pending buys)", field="amount")
        user.balance += amount if kind == CashKind.DEPOSIT else -amount
        movement = uow.cash.add(user_id=user.id, kind=kind, amount=amount, idempotency_key=idempotency_key,
                                request_fingerprint=fingerprint)
        moved = _moved(movement, user)
        uow.record(CashMoved(moved))
        uow.commit()
    return records.Replayable(moved, replayed=False)


def _moved(movement: object, user: object) -> records.CashMoved:
    return records.CashMoved(records.CashMovement.of(movement), records.User.of(user))
