"""The chaos run reports its recovery time at the end of every test session that ran it."""
from __future__ import annotations

import pytest

summaries: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for summary in summaries:
        terminalreporter.write_line(f"chaos: {summary}")
