"""`make migrate`: create the database named by DATABASE_URL if missing and migrate it to head."""
from __future__ import annotations

import sys

from sqlalchemy.engine import make_url

from chalicelib.config import get_settings
from devstack.database import create_database, migrate


def main() -> int:
    url = get_settings().database_url
    create_database(url, str(make_url(url).database), exist_ok=True)
    migrate(url)
    print(f"migrated {make_url(url).render_as_string(hide_password=True)} to head")
    return 0


if __name__ == "__main__":
    sys.exit(main())
