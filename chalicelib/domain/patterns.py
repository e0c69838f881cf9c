"""The shape of a username and of a ticker, said once. The validators, the OpenAPI document's patterns and the
path parameters are all derived from these."""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class CharsPattern:
    """`min`-`max` characters from a regex character class, the first one from `first` when it is given."""

    chars: str
    min: int
    max: int
    description: str
    first: str = ""

    @property
    def regex(self) -> str:
        if self.first:
            return f"[{self.first}][{self.chars}]{{{self.min - 1},{self.max - 1}}}"
        return f"[{self.chars}]{{{self.min},{self.max}}}"

    @property
    def anchored(self) -> str:
        return f"^{self.regex}$"

    @property
    def compiled(self) -> re.Pattern[str]:
        return re.compile(self.regex)

    def any_case(self) -> CharsPattern:
        """The same, with lower-case letters too (tickers are matched in any case and stored upper-case)."""
        return CharsPattern(self.chars.replace("A-Z", "A-Za-z"), self.min, self.max, self.description,
                            self.first.replace("A-Z", "A-Za-z"))


USERNAME = CharsPattern(r"A-Za-z0-9_.@+\-", 3, 50, "3-50 characters of letters, digits and _.@+-")
TICKER = CharsPattern(r"A-Z0-9.\-", 1, 15, "1-15 characters of A-Z, 0-9, '.' and '-', starting with a letter or digit",
                      first="A-Z0-9")
# What uuid.UUID reads as a UUID among username characters: 32 hex digits, hyphens anywhere.
UUID_LIKE = r"^-*([0-9a-fA-F]-*){32}$"
# A key's public id (the part of a token before its secret): what key paths and answers name.
KEY_ID_PATTERN = r"^[0-9a-f]{16}$"
