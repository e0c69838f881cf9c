"""Moments as the API reads them, in range bounds and bar timestamps alike: an ISO 8601 date (a whole day) or
date-time (naive means UTC), or Unix seconds; ASCII only, always answered in UTC."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

UNIX_SECONDS = re.compile(r"-?\d{1,12}(\.\d{1,6})?", re.ASCII)
DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?", re.ASCII)
PATTERNS = (UNIX_SECONDS, DATE, DATE_TIME)
DESCRIPTION = "an ISO 8601 date or date-time, or Unix seconds"


def parse(raw: str, *, end_of_day: bool = False) -> datetime:
    """The UTC moment `raw` names; a date is its first microsecond, or its last with `end_of_day`. Raises
    ValueError (or OverflowError, InvalidOperation for out-of-range numbers) for anything else."""
    if UNIX_SECONDS.fullmatch(raw):
        seconds = Decimal(raw)
        return datetime.fromtimestamp(0, UTC) + timedelta(microseconds=int(seconds * 1_000_000))
    if DATE.fullmatch(raw):
        day = datetime.combine(date.fromisoformat(raw), time(0), UTC)
        return day + timedelta(days=1, microseconds=-1) if end_of_day else day
    if not DATE_TIME.fullmatch(raw):
        raise ValueError("not a moment")
    moment = datetime.fromisoformat(raw)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# Fixed width, and with ':' which no username holds: how moments are spelled in cache keys, so a key holding one
# can never spell another's.
KEY_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def iso(at: datetime) -> str:
    """A moment as every answer and message writes it: ISO 8601, "Z" for UTC."""
    text = at.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
