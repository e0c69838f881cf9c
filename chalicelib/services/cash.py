"""Moving cash in and out of an account: each deposit or withdrawal is a journal entry written in the same
transaction as the balance it changes, with the user's row locked (as placements lock it), so a withdrawal never
spends cash a pending buy has set aside and concurrent retries under one Idempotency-Key make one entry."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from chalicelib.domain import views
from chalicelib.domain.errors import Conflict, Refused
from chalicelib.domain.events import CashMoved
from chalicelib.domain.vocabulary import CashKind, Reason
from chalicelib.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Moved:
    body: dict[str, Any]
    replayed: bool


def move(username: str, kind: CashKind, amount: Decimal, idempotency_key: str | None, uow: UnitOfWork) -> Moved:
    """Deposit or withdraw `amount`; the same key with the same request answers the first entry again."""
    fingerprint = hashlib.sha256(json.dumps({"kind": kind, "amount": str(amount)}).encode()).hexdigest()
    with uow:
        user = uow.users.get(username, for_update=True)
        if idempotency_key is not None:
            earlier = uow.cash.by_idempotency_key(user.id, idempotency_key)
            if earlier is not None:
                if earlier.request_fingerprint != fingerprint:
                    raise Conflict("this idempotency key was already used with a different request",
                                   [{"field": "Idempotency-Key"}])
                return Moved(views.cash_moved(earlier, user), replayed=True)
        if kind == CashKind.WITHDRAWAL and amount > user.available_balance:
            raise Refused(Reason.INSUFFICIENT_FUNDS,
                          f"withdrawing {amount:.2f} but only {user.available_balance:.2f} is available "
                          "(the balance less cash set aside for pending buys)", field="amount")
        user.balance += amount if kind == CashKind.DEPOSIT else -amount
        movement = uow.cash.add(user_id=user.id, kind=kind, amount=amount, idempotency_key=idempotency_key,
                                request_fingerprint=fingerprint)
        uow.record(CashMoved(movement.id, user.id, user.username, kind, str(amount)))
        uow.commit()
    return Moved(views.cash_moved(movement, user), replayed=False)
