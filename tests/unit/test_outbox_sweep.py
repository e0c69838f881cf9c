"""The relay's sweep (services/outbox.py): passes every few seconds for as long as it is told, so that a message the
API missed is sent within seconds where the schedule runs once a minute; a pass the database could not serve does
not end the sweep, and a sweep none of whose passes was served fails."""
from __future__ import annotations

import itertools
from typing import Any

import pytest

from chalicelib.domain.errors import DatabaseUnavailable
from chalicelib.services import outbox


def passes(monkeypatch: pytest.MonkeyPatch, answers: list[int | Exception]) -> list[float]:
    import time

    called: list[float] = []

    def relay(*_: Any) -> int:
        called.append(time.monotonic())
        answer = answers[min(len(called), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(outbox, "relay", relay)
    return called


def test_one_pass_without_a_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    called = passes(monkeypatch, [2])
    assert outbox.sweep(None, 2, 60, 10, for_s=0, every_s=5) == 2  # type: ignore[arg-type]
    assert len(called) == 1


def test_a_sweep_passes_every_interval_until_its_time_is_up(monkeypatch: pytest.MonkeyPatch) -> None:
    called = passes(monkeypatch, [1, 0, 3])
    assert outbox.sweep(None, 2, 60, 10, for_s=0.5, every_s=0.2) == 4  # type: ignore[arg-type]
    assert len(called) == 3
    assert all(later - earlier > 0.15 for earlier, later in itertools.pairwise(called))


def test_a_pass_the_database_could_not_serve_is_skipped_and_a_sweep_none_could_is_a_failure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    passes(monkeypatch, [DatabaseUnavailable(), 5])
    assert outbox.sweep(None, 2, 60, 10, for_s=0.3, every_s=0.2) == 5  # type: ignore[arg-type]
    passes(monkeypatch, [DatabaseUnavailable()])
    with pytest.raises(DatabaseUnavailable):
        outbox.sweep(None, 2, 60, 10, for_s=0.3, every_s=0.2)  # type: ignore[arg-type]
