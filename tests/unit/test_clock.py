"""The market clock and its calendars, over generated moments: sessions are well formed, the clock agrees with
them, a day order expires at its session's close, and the NYSE calendar keeps its hours, weekends, holidays and
early closes."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.clock import CALENDARS, AlwaysOpen, Clock, Nyse

MOMENTS = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31),
                       timezones=st.just(UTC))
NEW_YORK = ZoneInfo("America/New_York")


@given(now=MOMENTS, calendar=st.sampled_from(sorted(CALENDARS)))
@settings(deadline=None)  # the first NYSE year loads the holidays package
def test_the_clock_agrees_with_its_sessions(now: datetime, calendar: str) -> None:
    clock = Clock(CALENDARS[calendar], now)
    session, upcoming = clock.session, clock.next_session
    assert upcoming.open < upcoming.close and upcoming.close > now
    assert clock.next_open > now and clock.next_close == upcoming.close == clock.day_order_expires_at
    if session is not None:
        assert session.holds(now) and session == upcoming and clock.next_open >= session.close
    else:
        assert upcoming.open > now and clock.next_open == upcoming.open
    assert clock.is_open == (session is not None)


@given(now=MOMENTS)
def test_always_open_sessions_are_utc_days(now: datetime) -> None:
    clock = Clock(AlwaysOpen(), now)
    assert clock.is_open
    midnight = datetime.combine(now.date() + timedelta(days=1), time(0), UTC)
    assert clock.next_close == clock.next_open == midnight


@given(day=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)))
def test_nyse_sessions_are_weekdays_from_half_past_nine_to_four_in_new_york(day: date) -> None:
    session = Nyse().session_on(day)
    if day.weekday() >= 5:
        assert session is None
        return
    if session is None:  # a holiday
        return
    opened, closed = session.open.astimezone(NEW_YORK), session.close.astimezone(NEW_YORK)
    assert opened.date() == closed.date() == day and opened.time() == time(9, 30)
    assert closed.time() in (time(16), time(13))


def test_nyse_holidays_and_early_closes_of_2026() -> None:
    nyse = Nyse()
    for holiday in (date(2026, 1, 1), date(2026, 1, 19), date(2026, 4, 3), date(2026, 7, 3), date(2026, 11, 26),
                    date(2026, 12, 25)):
        assert nyse.session_on(holiday) is None, holiday
    early = [day for day in (date(2026, 11, 27), date(2026, 12, 24)) if (s := nyse.session_on(day))
             and s.close.astimezone(NEW_YORK).time() == time(13)]
    assert early == [date(2026, 11, 27), date(2026, 12, 24)]
    friday_evening = Clock(nyse, datetime(2026, 12, 4, 22, tzinfo=UTC))
    assert not friday_evening.is_open and friday_evening.next_open == datetime(2026, 12, 7, 14, 30, tzinfo=UTC)
    assert friday_evening.day_order_expires_at == datetime(2026, 12, 7, 21, tzinfo=UTC)  # Monday's close
