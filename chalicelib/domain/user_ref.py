"""How a request names a user: by id (a UUID, in any case, with or without hyphens) or by username. Parsed once,
with one canonical spelling, so every spelling of one user shares one cache family and one access decision."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uuid


@dataclass(frozen=True, slots=True)
class UserRef:
    id: uuid.UUID | None
    username: str | None

    @classmethod
    def parse(cls, text: str) -> UserRef:
        import uuid  # it loads `platform` too: only a request that names a user pays for it

        # Usernames are never UUIDs (registration refuses one), so what reads as a UUID is an id.
        try:
            return cls(uuid.UUID(text), None)
        except ValueError:
            return cls(None, text)

    def __str__(self) -> str:
        return str(self.id) if self.id is not None else str(self.username)


def canonical(text: str) -> str:
    return str(UserRef.parse(text))
