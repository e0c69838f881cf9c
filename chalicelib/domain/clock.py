"""The market clock: when the market is open, and the calendar of sessions. Orders are evaluated only while a
session is open; a `day` order lives until the close of the session it was placed in (or, placed while the
market is closed, of the next one).

Two calendars: `always_open` (the default: sessions are UTC days, 00:00 to 00:00, so `day` means the UTC day and
the market is never closed), and `nyse` (regular hours, 09:30 to 16:00 America/New_York, on weekdays that are
not NYSE holidays, with the 13:00 early closes; holidays from the `holidays` package)."""
from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Protocol

# How far ahead the next session is looked for: the longest NYSE closure is a long weekend plus a holiday or two.
_SEARCH_DAYS = 14


@dataclass(frozen=True, slots=True)
class Session:
    date: date
    open: datetime  # UTC
    close: datetime  # UTC

    def holds(self, moment: datetime) -> bool:
        return self.open <= moment < self.close


class Calendar(Protocol):
    name: str

    def session_on(self, day: date) -> Session | None:
        """The session trading on `day`, or None when the market does not open that day."""


class AlwaysOpen:
    name = "always_open"

    def session_on(self, day: date) -> Session | None:
        start = datetime.combine(day, time(0), UTC)
        return Session(day, start, start + timedelta(days=1))


_NEW_YORK = "America/New_York"


class Nyse:
    name = "nyse"

    def session_on(self, day: date) -> Session | None:
        if day.weekday() >= 5 or day in _nyse_holidays(day.year):
            return None
        zone = _new_york()
        closes_at = time(13) if self._closes_early(day) else time(16)
        return Session(day, datetime.combine(day, time(9, 30), zone).astimezone(UTC),
                       datetime.combine(day, closes_at, zone).astimezone(UTC))

    def _closes_early(self, day: date) -> bool:
        """NYSE closes at 13:00 on July 3, the day after Thanksgiving and December 24, when they are trading days."""
        if (day.month, day.day) in ((7, 3), (12, 24)):
            return True
        return day.month == 11 and day.weekday() == 4 and (day - timedelta(days=1)) in _nyse_holidays(day.year)


@functools.cache
def _new_york() -> tzinfo:
    from zoneinfo import ZoneInfo  # loaded by the NYSE calendar alone: the settings check this module at start

    return ZoneInfo(_NEW_YORK)


@functools.cache
def _nyse_holidays(year: int) -> frozenset[date]:
    import holidays  # only a deployment that asks for the NYSE calendar loads it

    return frozenset(holidays.financial_holidays("NYSE", years=year))


CALENDARS: dict[str, Calendar] = {"always_open": AlwaysOpen(), "nyse": Nyse()}


@dataclass(frozen=True)
class Clock:
    """The market as it is at `now`, by `calendar`."""

    calendar: Calendar
    now: datetime

    @property
    def session(self) -> Session | None:
        """The session open now, if any."""
        for session in self._sessions_from(self.now.date() - timedelta(days=1)):
            if session.open > self.now:
                return None
            if session.holds(self.now):
                return session
        return None

    @property
    def is_open(self) -> bool:
        return self.session is not None

    @property
    def next_session(self) -> Session:
        """The session open now, or else the next to open."""
        return next(session for session in self._sessions_from(self.now.date() - timedelta(days=1))
                    if session.close > self.now)

    @property
    def next_open(self) -> datetime:
        """When the market next opens (after the session open now, if one is)."""
        return next(session.open for session in self._sessions_from(self.now.date() - timedelta(days=1))
                    if session.open > self.now)

    @property
    def next_close(self) -> datetime:
        return self.next_session.close

    @property
    def day_order_expires_at(self) -> datetime:
        """When a `day` order placed now expires: its session's close."""
        return self.next_session.close

    def sessions(self, start: date, end: date) -> list[Session]:
        """The sessions trading from `start` to `end`, both included."""
        days = (start + timedelta(days=n) for n in range((end - start).days + 1))
        return [session for day in days if (session := self.calendar.session_on(day)) is not None]

    def _sessions_from(self, day: date) -> Iterator[Session]:
        for offset in range(_SEARCH_DAYS + 1):
            session = self.calendar.session_on(day + timedelta(days=offset))
            if session is not None:
                yield session
