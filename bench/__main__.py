"""Run every benchmark (or those named) and print one table of ratios against in-run baselines.

Usage: ``python -m bench [--quick] [topic ...]`` where topic is the part after ``bench_``.
Each ``bench/bench_<topic>.py`` defines ``run(quick: bool) -> list[Result]``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench._result import Result


def _topics() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name[6:] for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("topics", nargs="*", help=f"some of: {', '.join(_topics())}")
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    args = parser.parse_args(argv)
    # bench_fleet runs bench_fleet_scale itself: once in a run of every topic
    topics = args.topics or [t for t in _topics() if t != "fleet_scale"]
    rows: list[tuple[str, Result]] = []
    for topic in topics:
        module = importlib.import_module(f"bench.bench_{topic}")
        t0 = time.perf_counter()
        results: list[Result] = module.run(quick=args.quick)
        print(
            f"bench {topic}: {len(results)} figures in {time.perf_counter() - t0:.1f}s",
            file=sys.stderr,
        )
        rows.extend((topic, r) for r in results)
    table = Table(title=f"posguard benchmarks — {platform.machine()}, {platform.python_version()}")
    for col in ("topic", "figure", "ours", "baseline", "ratio", "target", "note"):
        table.add_column(col)
    for topic, r in rows:
        base = f"{r.baseline:,.4g} {r.unit} ({r.baseline_name})" if r.baseline is not None else "-"
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else "-"
        table.add_row(topic, r.name, f"{r.ours:,.4g} {r.unit}", base, ratio, r.target, r.note)
    Console(width=200).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
