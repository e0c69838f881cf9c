"""`make admin-key`: create an admin API key in the database DATABASE_URL names and print it, once. Admin keys
ingest stocks and may read any user; only its digest is stored, so a key that is lost cannot be shown again."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from chalicelib import services
from chalicelib.adapters.key_records import get_key_records
from chalicelib.services.unit_of_work import UnitOfWork
from devstack.paths import DATA_DIR

LOCAL_ADMIN_KEY_FILE = DATA_DIR / "admin-api-key"


def main() -> int:
    if not os.environ.get("DATABASE_URL"):
        print("set DATABASE_URL to the database to create the key in", file=sys.stderr)
        return 2
    print(services.keys.issue_admin(UnitOfWork()))
    return 0


def local_admin_key(path: Path = LOCAL_ADMIN_KEY_FILE) -> tuple[str, bool]:
    """The local stack's admin key: the one kept in `path` while the database still knows it, else a new one
    written there (readable by this user alone). Returns the key and whether it was created now."""
    if path.exists():
        token = path.read_text().strip()
        if services.keys.verify(token, UnitOfWork(), get_key_records()) is not None:
            return token, False
    token = services.keys.issue_admin(UnitOfWork())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(token + "\n")
    return token, True


if __name__ == "__main__":
    sys.exit(main())
