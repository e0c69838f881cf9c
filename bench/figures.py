"""A measured figure next to the floor it is compared to, both from the same run, as medians with min and max."""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


class InvariantBroken(AssertionError):
    """A benchmark left the database in a state the spec forbids."""


def percentile(samples: Sequence[float], p: float) -> float:
    """The sample at or below which p% of the samples fall (nearest rank); NaN for no samples."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))


@dataclass
class Figure:
    section: str
    name: str
    unit: str
    value: Spread
    floor_name: str | None = None
    floor: Spread | None = None
    # How the ratio reads: "lower" when less is better (times), "higher" when more is better (rates).
    better: str = "lower"
    target: float | None = None  # the ratio the issue asks for: at most (lower) or at least (higher)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.floor is None or not self.floor.median:
            return None
        return self.value.median / self.floor.median

    @property
    def met(self) -> bool | None:
        if self.target is None or self.ratio is None:
            return None
        return self.ratio <= self.target if self.better == "lower" else self.ratio >= self.target

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


def table(figures: list[Figure]) -> str:
    rows = [("section", "figure", "median", "min..max", "floor", "ratio", "target")]
    for f in figures:
        floor = f"{f.floor.median:.4g} ({f.floor_name})" if f.floor else ""
        ratio = f"{f.ratio:.2f}x" if f.ratio is not None else ""
        target = ""
        if f.target is not None:
            target = f"{'<=' if f.better == 'lower' else '>='} {f.target:g}x {'met' if f.met else 'NOT met'}"
        rows.append((f.section, f.name, f"{f.value.median:.4g} {f.unit}", f"{f.value.low:.4g}..{f.value.high:.4g}",
                     floor, ratio, target))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows)
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    """The README's table, from a results file: python -m bench.figures bench/results/latest.json"""

    def number(x: float) -> str:
        return f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"

    rows = ["| section | figure | median (min..max) | floor, same run | ratio | target |",
            "|---|---|---|---|---|---|"]
    for f in report["figures"]:
        value, floor = f["value"], f["floor"]
        target = ""
        if f["target"] is not None:
            target = f"{'<=' if f['better'] == 'lower' else '>='} {f['target']:g}x: {'met' if f['met'] else 'not met'}"
        rows.append(" | ".join([
            f"| {f['section']}", f["name"],
            f"{number(value['median'])} {f['unit']} ({number(value['low'])}..{number(value['high'])})",
            f"{number(floor['median'])} ({f['floor_name']})" if floor else "",
            f"{f['ratio']:.2f}x" if f["ratio"] is not None else "", f"{target} |"]))
    return "\n".join(rows)


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    print(markdown(json.loads(Path(sys.argv[1]).read_text())))
