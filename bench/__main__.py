"""`make bench`: what users pay for, each figure next to its floor measured in the same run. Prints a table,
writes bench/results/latest.json, and fails loudly if any invariant of the spec broke during the runs.

    python -m bench [--quick] [--only cold,zip,reads,placement,settlement,book,alpaca,e2e,stream,growth,recovery]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench import (
    alpaca,
    book,
    cold_start,
    end_to_end,
    growth,
    lambda_zip,
    placement,
    recovery,
    settlement,
    stream,
    warm_reads,
)
from bench.figures import Figure, InvariantBroken, table
from bench.stack import BenchStack, machine

SECTIONS = {"cold": cold_start.run, "zip": lambda_zip.run, "reads": warm_reads.run, "placement": placement.run,
            "settlement": settlement.run, "book": book.run, "alpaca": alpaca.run, "e2e": end_to_end.run,
            "stream": stream.run, "growth": growth.run, "recovery": recovery.run}
RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few runs and small sizes: checks the suite works")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")

    began = datetime.now(UTC).isoformat(timespec="seconds")
    stack = BenchStack()
    figures: list[Figure] = []
    broken: list[str] = []
    failed: list[str] = []
    started = time.monotonic()
    try:
        for name in chosen:
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            try:
                figures += SECTIONS[name](stack, args.quick)
            except InvariantBroken as error:
                broken.append(f"{name}: {error}")
            except Exception:  # noqa: BLE001 - the other sections still run and report; the run fails
                traceback.print_exc()
                failed.append(name)
    finally:
        stack.close()

    print(table(figures))
    report = {"started": began, "quick": args.quick,
              "seconds": round(time.monotonic() - started, 1), "machine": machine(),
              "invariants": "broken" if broken else "held", "broken": broken, "failed_sections": failed,
              "figures": [figure.to_json() for figure in figures]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}", file=sys.stderr)
    if broken:
        print("INVARIANTS BROKEN:\n" + "\n".join(f"  {b}" for b in broken), file=sys.stderr)
    if failed:
        print(f"SECTIONS FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if broken or failed else 0


if __name__ == "__main__":
    sys.exit(main())
