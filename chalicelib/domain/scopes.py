"""What a key may do: a user key acts for its user; an admin key ingests stocks and reads any user."""
from __future__ import annotations

USER, ADMIN = "user", "admin"
