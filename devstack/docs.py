"""The tables the docs show that the code already says: every route with who may call it and what it answers
(from the routes' declarations), and every setting with its default and meaning (chalicelib/config.py).
`make docs` rewrites them in place between their markers; tests/unit/test_docs.py fails when one is out of date."""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from devstack.paths import ROOT

WHO = {"public": "anyone", "owner": "owner, admin (reads)", "owner_or_admin": "owner, admin", "admin": "admin",
       "self": "the key's own account"}


def route_table() -> str:
    from chalicelib.api.classic.routes import routes

    return _table(routes.specs)


def alpaca_route_table() -> str:
    from chalicelib.api.alpaca.routes import routes

    return _table(routes.specs)


def _table(specs: Any) -> str:
    rows = ["| route | who | does | answers |", "|---|---|---|---|"]
    for spec in specs:
        answer = spec.response or spec.content_type
        cached = ", cached" if spec.cached is not None else ""
        rows.append(f"| `{spec.method} {spec.path}` | {WHO[spec.access]} | {spec.summary} | "
                    f"{spec.status} `{answer}`{cached} |")
    return "\n".join(rows)


def settings_table() -> str:
    """Every variable the app reads (chalicelib/config.py VARIABLES), its default and what it means."""
    from chalicelib.config import VARIABLES

    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for variable in VARIABLES:
        default = variable.default
        shown = "unset" if default is None else "derived" if callable(default) else f"`{default}`"
        rows.append(f"| `{variable.name}` | {shown} | {variable.meaning} |")
    return "\n".join(rows)


TABLES = {"routes": route_table, "alpaca-routes": alpaca_route_table, "settings": settings_table}
FILES = {"routes": ROOT / "docs" / "api.md", "alpaca-routes": ROOT / "docs" / "alpaca.md",
         "settings": ROOT / "docs" / "configuration.md"}


def rendered(text: str, name: str) -> str:
    start, end = f"<!-- generated: {name} -->", f"<!-- end generated: {name} -->"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"no {start} ... {end} markers")
    return pattern.sub(lambda _: f"{start}\n{TABLES[name]()}\n{end}", text)


def main() -> int:
    for name, path in FILES.items():
        Path(path).write_text(rendered(Path(path).read_text(), name))
        print(f"[docs] {path.relative_to(ROOT)}: {name} table rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
