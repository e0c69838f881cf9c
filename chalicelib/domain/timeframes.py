"""Bar timeframes as Alpaca spells them (`1Min`..`59Min`, `1Hour`..`23Hour`, `1Day`, `1Week`, `1Month`, `2Month`,
`3Month`, `6Month`, `12Month`): the stored bars are aggregated into UTC buckets of one, by the database."""
from __future__ import annotations

import re
from dataclasses import dataclass

_SPELLED = re.compile(r"([0-9]{1,2})(Min|T|Hour|H|Day|D|Week|W|Month|M)")
_UNITS = {"Min": "minute", "T": "minute", "Hour": "hour", "H": "hour", "Day": "day", "D": "day", "Week": "week",
          "W": "week", "Month": "month", "M": "month"}
_ALLOWED = {"minute": range(1, 60), "hour": range(1, 24), "day": (1,), "week": (1,), "month": (1, 2, 3, 6, 12)}


@dataclass(frozen=True)
class TimeFrame:
    amount: int
    unit: str  # minute, hour, day, week or month

    @classmethod
    def parse(cls, text: str) -> TimeFrame:
        matched = _SPELLED.fullmatch(text)
        if matched is None:
            raise ValueError("must be a timeframe: 1-59Min, 1-23Hour, 1Day, 1Week or 1, 2, 3, 6 or 12Month")
        amount, unit = int(matched.group(1)), _UNITS[matched.group(2)]
        if amount not in _ALLOWED[unit]:
            raise ValueError(f"{amount} {unit}s is not a timeframe: 1-59Min, 1-23Hour, 1Day, 1Week or 1, 2, 3, 6 or "
                             "12Month")
        return cls(amount, unit)
