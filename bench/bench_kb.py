"""Knowledge base: index build time, query latency and accuracy, against a plain substring
scan over the same catalog texts in the same run.

Run: ``.venv/bin/python -m bench kb`` (``--quick`` for a smoke run). Targets: index build
< 2 s (also measured cold, with jieba's model load), query p50 < 5 ms, top-1 >= 90 % and
top-3 >= 97 % on tests/data/kb_eval.yaml. The held-out set (never tuned on) is reported too.

The baseline is what a support page without a search engine does: lower-case everything,
split the query on spaces and punctuation, and rank entries by how many of those pieces
occur as substrings of the entry's title, symptoms, steps and auto text.
"""

from __future__ import annotations

import os
import re
import statistics
import tempfile
import time
from pathlib import Path

from bench._result import Result
from posguard.catalog.loader import default_catalog
from posguard.catalog.model import Entry
from posguard.kb.analyze import Analyzer
from posguard.kb.evaluate import Case, evaluate, load_cases
from posguard.kb.search import KnowledgeBase
from posguard.kb.segment import Segmenter, normalize
from posguard.kb.synonyms import SynonymTable

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
_SPLIT = re.compile(r"[\s,.;:!?'\"()\[\]，。；：！？、（）【】]+")


class SubstringScan:
    """The baseline: substring counting over the same texts, no segmentation, no ranking."""

    def __init__(self, entries: list[Entry]) -> None:
        self.docs = [
            (
                e.code,
                normalize(
                    " ".join(
                        [
                            e.title.zh,
                            e.title.en,
                            *e.symptoms.zh,
                            *e.symptoms.en,
                            *(s.zh + " " + s.en for s in e.steps),
                            e.auto.zh,
                            e.auto.en,
                        ]
                    )
                ),
            )
            for e in entries
        ]

    def search(self, query: str, limit: int = 3) -> list[str]:
        pieces = [p for p in _SPLIT.split(normalize(query)) if p]
        scored = [(sum(p in text for p in pieces), code) for code, text in self.docs]
        ranked = sorted((s for s in scored if s[0] > 0), key=lambda s: (-s[0], s[1]))
        return [code for _, code in ranked[:limit]]


def _accuracy(search: object, cases: list[Case]) -> tuple[float, float]:
    top1 = top3 = 0
    for c in cases:
        got = search(c.query)  # type: ignore[operator]
        top1 += bool(got) and got[0] in c.codes
        top3 += any(g in c.codes for g in got[:3])
    return top1 / len(cases), top3 / len(cases)


def _latencies_ms(fn: object, queries: list[str], rounds: int) -> list[float]:
    out: list[float] = []
    for _ in range(rounds):
        for q in queries:
            t0 = time.perf_counter()
            fn(q)  # type: ignore[operator]
            out.append((time.perf_counter() - t0) * 1000.0)
    return out


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def run(quick: bool) -> list[Result]:
    rounds = 1 if quick else 5
    catalog = default_catalog()
    entries = list(catalog.values())
    cases = load_cases(DATA / "kb_eval.yaml")
    holdout = load_cases(DATA / "kb_eval_holdout.yaml")
    queries = [c.query for c in cases + holdout]

    t0 = time.perf_counter()
    seg = Segmenter()  # a fresh jieba: loads its model (from the user cache dir)
    analyzer = Analyzer(seg, SynonymTable.load(seg))
    cold = time.perf_counter() - t0
    builds = []
    for _ in range(3 if quick else 5):
        t0 = time.perf_counter()
        kb = KnowledgeBase(catalog, analyzer=analyzer)
        builds.append(time.perf_counter() - t0)
    build = min(builds)
    cold += build
    with tempfile.TemporaryDirectory() as empty:  # first run ever: jieba builds its cache
        saved = os.environ.get("XDG_CACHE_HOME")
        os.environ["XDG_CACHE_HOME"] = empty
        try:
            t0 = time.perf_counter()
            seg0 = Segmenter()
            KnowledgeBase(catalog, analyzer=Analyzer(seg0, SynonymTable.load(seg0)))
            first = time.perf_counter() - t0
        finally:
            if saved is None:
                del os.environ["XDG_CACHE_HOME"]
            else:
                os.environ["XDG_CACHE_HOME"] = saved
    t0 = time.perf_counter()
    scan = SubstringScan(entries)
    scan_build = time.perf_counter() - t0

    for q in queries:  # warm caches (jieba's per-word lookups) before timing
        kb.search(q, limit=3)
    ours = _latencies_ms(lambda q: kb.search(q, limit=3), queries, rounds)
    base = _latencies_ms(scan.search, queries, rounds)

    report = evaluate(kb, cases)
    held = evaluate(kb, holdout)
    b1, b3 = _accuracy(scan.search, cases)
    h1, h3 = _accuracy(scan.search, holdout)
    n = f"{len(entries)} entries"
    return [
        Result("index build", build, "s", scan_build, "substring scan", False, "< 2 s", n),
        Result("index build, cold (jieba load)", cold, "s", None, "", False, "< 2 s", n),
        Result("index build, first run (no jieba cache)", first, "s", None, "", False, "", n),
        Result(
            "query p50",
            _pct(ours, 0.5),
            "ms",
            _pct(base, 0.5),
            "substring scan",
            False,
            "< 5 ms",
            f"{len(ours)} queries",
        ),
        Result("query p99", _pct(ours, 0.99), "ms", _pct(base, 0.99), "substring scan", False),
        Result(
            "query mean",
            statistics.fmean(ours),
            "ms",
            statistics.fmean(base),
            "substring scan",
            False,
        ),
        Result(
            "top-1 accuracy",
            100 * report.top1_accuracy,
            "%",
            100 * b1,
            "substring scan",
            True,
            ">= 90 %",
            f"{report.total} cases",
        ),
        Result(
            "top-3 accuracy",
            100 * report.top3_accuracy,
            "%",
            100 * b3,
            "substring scan",
            True,
            ">= 97 %",
            f"{report.total} cases",
        ),
        Result(
            "top-1 accuracy, held out",
            100 * held.top1_accuracy,
            "%",
            100 * h1,
            "substring scan",
            True,
            "",
            f"{held.total} cases, never tuned on",
        ),
        Result(
            "top-3 accuracy, held out",
            100 * held.top3_accuracy,
            "%",
            100 * h3,
            "substring scan",
            True,
            "",
            f"{held.total} cases, never tuned on",
        ),
    ]
