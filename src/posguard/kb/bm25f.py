"""An exact BM25F index over a few weighted fields, small enough to read in one sitting.

Why not bm25s: bm25s scores one text field per index. Scoring title, symptoms and steps
as three indexes and adding the scores saturates each field on its own, so a term that
appears in every field scores almost three times, which is the known flaw BM25F fixes:
weighted term frequencies are summed across fields *before* the one saturation. With a
catalog of tens of entries, the per-(term, document) impact can be computed once at build
time, and a query is a handful of dictionary lookups (well under a millisecond), so
sparse-matrix machinery buys nothing here.

>>> idx = BM25FIndex({"title": 3.0, "body": 1.0})
>>> idx.add("A", {"title": ["paper", "out"], "body": ["load", "roll"]})
>>> idx.add("B", {"title": ["cover", "open"], "body": ["paper", "cover"]})
>>> idx.add("C", {"title": ["offline"], "body": ["cable"]})
>>> idx.freeze()
>>> [doc for doc, _ in idx.score({"paper": 1.0})]   # the title match ranks first
['A', 'B']
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Posting:
    """One term in one document: its precomputed impact and the fields it occurs in."""

    doc: int
    impact: float
    fields: tuple[str, ...]


class BM25FIndex:
    """BM25F with per-field weights and per-field length normalisation.

    ``k1`` controls saturation, ``b`` length normalisation (per field, same for all).
    Call :meth:`add` for every document, then :meth:`freeze`, then :meth:`score`.
    """

    def __init__(self, weights: Mapping[str, float], *, k1: float = 5.0, b: float = 0.3) -> None:
        if not weights or any(w <= 0 for w in weights.values()):
            raise ValueError("field weights must be positive")
        self.weights = dict(weights)
        self.k1 = k1
        self.b = b
        self.doc_ids: list[str] = []
        self._tf: list[dict[str, Counter[str]]] = []
        self._postings: dict[str, list[Posting]] = {}
        self._frozen = False

    def add(self, doc_id: str, fields: Mapping[str, list[str]]) -> None:
        """Add one document as ``field -> terms``; unknown fields are an error."""
        if self._frozen:
            raise RuntimeError("index is frozen")
        unknown = set(fields) - set(self.weights)
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        self.doc_ids.append(doc_id)
        self._tf.append({f: Counter(terms) for f, terms in fields.items()})

    def freeze(self) -> None:
        """Compute every (term, document) impact; the index is read-only afterwards."""
        n = len(self._tf)
        avg = {
            f: (sum(sum(d.get(f, Counter()).values()) for d in self._tf) / n) or 1.0 if n else 1.0
            for f in self.weights
        }
        df: Counter[str] = Counter()
        for doc in self._tf:
            df.update({t for counts in doc.values() for t in counts})
        postings: dict[str, list[Posting]] = defaultdict(list)
        for i, doc in enumerate(self._tf):
            weighted: dict[str, float] = defaultdict(float)
            where: dict[str, list[str]] = defaultdict(list)
            for f, counts in doc.items():
                length = sum(counts.values())
                norm = 1.0 - self.b + self.b * length / avg[f]
                for term, tf in counts.items():
                    weighted[term] += self.weights[f] * tf / norm
                    where[term].append(f)
            for term, wtf in weighted.items():
                idf = math.log(1.0 + (n - df[term] + 0.5) / (df[term] + 0.5))
                impact = idf * wtf * (self.k1 + 1.0) / (self.k1 + wtf)
                postings[term].append(Posting(i, impact, tuple(where[term])))
        self._postings = dict(postings)
        self._frozen = True

    def __contains__(self, term: object) -> bool:
        return term in self._postings

    @property
    def vocabulary(self) -> frozenset[str]:
        return frozenset(self._postings)

    def postings(self, term: str) -> list[Posting]:
        return self._postings.get(term, [])

    def score(self, query: Mapping[str, float]) -> list[tuple[str, float]]:
        """Documents with a positive score for ``query`` (term → query weight), best first."""
        acc: dict[int, float] = defaultdict(float)
        for term, qw in query.items():
            for p in self._postings.get(term, ()):
                acc[p.doc] += qw * p.impact
        ranked = sorted(acc.items(), key=lambda kv: (-kv[1], self.doc_ids[kv[0]]))
        return [(self.doc_ids[i], s) for i, s in ranked if s > 0]
