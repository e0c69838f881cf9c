"""Which AWS emulator the stack runs: LocalStack by default, moto server when LocalStack cannot be installed or
started here (saying why in one line), either when forced with TRADEAPI_EMULATOR."""
from __future__ import annotations

from pathlib import Path

import pytest

from devstack.aws import emulator
from devstack.localstack.host import Unavailable


@pytest.fixture
def no_localstack_here(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An environment where LocalStack cannot be installed: the Python to build it with does not exist."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("TRADEAPI_EMULATOR", raising=False)
    monkeypatch.setenv("TRADEAPI_LOCALSTACK_HOME", str(tmp_path / "localstack-home"))
    monkeypatch.setenv("TRADEAPI_LOCALSTACK_PYTHON", str(tmp_path / "no-such-python"))
    return tmp_path


def test_falls_back_to_moto_server_and_says_why_in_one_line(no_localstack_here: Path) -> None:
    said: list[str] = []
    service = emulator(no_localstack_here / "aws", say=said.append)
    try:
        assert service.kind.startswith("moto ")
        fallback = [line for line in said if "LocalStack unavailable" in line]
        assert len(fallback) == 1 and "\n" not in fallback[0] and "no-such-python" in fallback[0]
    finally:
        service.stop()


def test_forcing_localstack_fails_loudly_instead_of_falling_back(no_localstack_here: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEAPI_EMULATOR", "localstack")
    with pytest.raises(Unavailable, match="virtual environment"):
        emulator(no_localstack_here / "aws", say=lambda _: None)


def test_forcing_moto_never_tries_localstack(no_localstack_here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEAPI_EMULATOR", "moto")
    said: list[str] = []
    service = emulator(no_localstack_here / "aws", say=said.append)
    try:
        assert service.kind.startswith("moto ") and said == []
        assert not (no_localstack_here / "localstack-home").exists()
    finally:
        service.stop()


def test_an_unknown_emulator_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("TRADEAPI_EMULATOR", "minio")
    with pytest.raises(ValueError, match="TRADEAPI_EMULATOR"):
        emulator(tmp_path, say=lambda _: None)
