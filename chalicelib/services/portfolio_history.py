"""An account's equity and P/L over time, window by window (UTC windows of 1Min..1D), from the cash journal, the
fills and the price bars, computed by the database; never before the account was opened, never past now."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from chalicelib.domain import records
from chalicelib.domain.errors import ValidationFailed
from chalicelib.services.unit_of_work import UnitOfWork

STEPS = {"1Min": timedelta(minutes=1), "5Min": timedelta(minutes=5), "15Min": timedelta(minutes=15),
         "1H": timedelta(hours=1), "1D": timedelta(days=1)}
PERIOD_UNITS = {"D": timedelta(days=1), "W": timedelta(days=7), "M": timedelta(days=30), "A": timedelta(days=365)}
MAX_WINDOWS = 5000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Asked(Protocol):
    @property
    def period(self) -> str | None:
        """A count and a unit: D days, W weeks, M 30 days, A 365 days (default 1M)."""
        ...

    @property
    def timeframe(self) -> str | None: ...

    @property
    def start(self) -> datetime | None: ...

    @property
    def end(self) -> datetime | None: ...


def history(user_ref: str, asked: Asked, now: datetime, uow: UnitOfWork) -> records.EquityHistory:
    with uow:
        user = uow.users.get(user_ref)
        span = _period(asked.period or "1M")
        end = min(asked.end or now, now)
        start = asked.start or end - span
        if asked.start is not None and asked.end is None and asked.period is not None:
            end = min(start + span, now)
        name = asked.timeframe or _default_timeframe(end - start)
        step = STEPS[name]
        first = _floor(max(start, user.created_at), step)
        count = 0 if end <= first else -(-(end - first) // step)
        if count > MAX_WINDOWS:
            raise ValidationFailed(f"that is {count} windows of {name}; at most {MAX_WINDOWS}: ask for a shorter "
                                   "period or a longer timeframe", [{"field": "timeframe", "type": "too_many"}])
        rows = uow.equity.history(user.id, first, step, count, now) if count else []
    if not rows:
        return records.EquityHistory([], None, name)
    base = user.starting_balance + rows[0].flows + rows[0].traded + rows[0].held
    points = [records.EquityPoint(row.start_at, equity := user.starting_balance + row.flows + row.traded + row.held,
                                  equity - base - (row.flows - rows[0].flows)) for row in rows]
    return records.EquityHistory(points, base, name)


def _period(period: str) -> timedelta:
    return int(period[:-1]) * PERIOD_UNITS[period[-1]]


def _default_timeframe(span: timedelta) -> str:
    """Alpaca's defaults (1Min under 7 days, 15Min under 30, else 1D), but 15Min beyond a day: a week of minutes
    is more windows than one answer holds."""
    if span < timedelta(days=7):
        return "1Min" if span <= timedelta(days=1) else "15Min"
    return "15Min" if span < timedelta(days=30) else "1D"


def _floor(moment: datetime, step: timedelta) -> datetime:
    return EPOCH + (moment.astimezone(UTC) - EPOCH) // step * step
