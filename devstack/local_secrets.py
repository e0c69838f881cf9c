"""Secrets the local stack makes for itself (the key that signs cached key records, the embedded Redis's password):
made once, kept in a file only its owner can read, read back by every later run."""
from __future__ import annotations

import secrets
from pathlib import Path


def kept_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    value = secrets.token_urlsafe(32)
    path.write_text(value + "\n")
    return value
