"""Top-1 / top-3 accuracy of knowledge-base search on the evaluation set.

Usage: ``python -m posguard.kb.evaluate [PATH] [--misses]`` (default: tests/data/kb_eval.yaml
in the source tree).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from posguard.common.errors import ConfigError
from posguard.kb.search import KnowledgeBase

DEFAULT_SET = Path(__file__).resolve().parents[3] / "tests" / "data" / "kb_eval.yaml"


@dataclass(frozen=True, slots=True)
class Case:
    query: str
    codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Miss:
    case: Case
    got: tuple[str, ...]
    rank: int | None  # 1-based rank of the first acceptable code, None if not in the top 3


@dataclass(frozen=True, slots=True)
class Report:
    total: int
    top1: int
    top3: int
    misses: tuple[Miss, ...]

    @property
    def top1_accuracy(self) -> float:
        return self.top1 / self.total if self.total else 0.0

    @property
    def top3_accuracy(self) -> float:
        return self.top3 / self.total if self.total else 0.0


def load_cases(path: Path = DEFAULT_SET) -> list[Case]:
    """Read the evaluation set: a YAML list of ``{q, codes}``."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read evaluation set: {exc}") from exc
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: must be a list of {{q, codes}}")
    cases: list[Case] = []
    for i, item in enumerate(raw, start=1):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("q"), str)
            or not item.get("codes")
        ):
            raise ConfigError(f"{path}: case {i}: needs q (text) and codes (list)")
        cases.append(Case(item["q"], tuple(item["codes"])))
    return cases


def evaluate(kb: KnowledgeBase, cases: list[Case]) -> Report:
    """Run every case; a case counts for top-k when any acceptable code is in the first k."""
    top1 = top3 = 0
    misses: list[Miss] = []
    for case in cases:
        got = tuple(kb.search(case.query, limit=3).codes)
        rank = next((i + 1 for i, c in enumerate(got) if c in case.codes), None)
        top1 += rank == 1
        top3 += rank is not None
        if rank != 1:
            misses.append(Miss(case, got, rank))
    return Report(len(cases), top1, top3, tuple(misses))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m posguard.kb.evaluate")
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_SET)
    parser.add_argument("--quiet", action="store_true", help="only the two figures")
    parser.add_argument("--lang", choices=("zh", "en"), default="en", help="labels' language")
    args = parser.parse_args(argv)
    zh = args.lang == "zh"
    kb = KnowledgeBase.default()
    unknown = sorted({c for case in load_cases(args.path) for c in case.codes} - set(kb.catalog))
    report = evaluate(kb, load_cases(args.path))
    if zh:
        print(f"用例：{report.total}  目录条目：{len(kb.catalog)}")
        print(f"top-1 准确率：{report.top1_accuracy:.3f}（{report.top1}/{report.total}）")
        print(f"top-3 准确率：{report.top3_accuracy:.3f}（{report.top3}/{report.total}）")
    else:
        print(f"cases: {report.total}  catalog entries: {len(kb.catalog)}")
        print(f"top-1 accuracy: {report.top1_accuracy:.3f} ({report.top1}/{report.total})")
        print(f"top-3 accuracy: {report.top3_accuracy:.3f} ({report.top3}/{report.total})")
    if unknown:
        print(f"labels not in the catalog ({len(unknown)}): {' '.join(unknown)}")
    if not args.quiet:
        for m in report.misses:
            where = f"rank {m.rank}" if m.rank else "not in top 3"
            print(
                f"  {where:13} {m.case.query!r} want {'|'.join(m.case.codes)} got {' '.join(m.got)}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
