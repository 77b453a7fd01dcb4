"""Search the exception catalog in Chinese and English and say why each entry matched.

>>> kb = KnowledgeBase.default()
>>> kb.search("").reason
'empty query'
>>> kb.search("\\x00\\x01 \\x7f").hits
()
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from posguard.catalog.loader import Catalog, default_catalog
from posguard.catalog.model import Entry
from posguard.kb.analyze import Analyzer, Kind, Term
from posguard.kb.bm25f import BM25FIndex
from posguard.kb.codes import find_catalog_codes, find_response_codes
from posguard.kb.priors import catalog_priors
from posguard.kb.segment import normalize

FIELD_WEIGHTS: Mapping[str, float] = {
    "title": 3.0,
    "symptoms": 2.0,
    "code": 1.5,
    "steps": 0.5,
    "auto": 0.3,
}
"""title > symptoms > steps: the title names the fault, symptoms are how people say it,
steps mention many neighbouring things (a printer step mentions paper, cover and power)."""
QUERY_WEIGHTS: Mapping[Kind, float] = {
    Kind.WORD: 1.0,
    Kind.SYNONYM: 1.0,
    Kind.FUZZY: 0.7,
    Kind.SUBWORD: 0.7,
    Kind.BIGRAM: 0.3,
}
"""A sub-word (``升级`` inside ``系统升级``) stands in for a long word the catalog never
uses, as near as a corrected typo: it counts only when the whole word matches nothing."""
MAX_QUERY_CHARS = 500
"""Longer queries are cut here (a complaint is a few sentences; 100 KB is a paste accident)."""
MAX_LIMIT = 50
MAX_MATCHES_SHOWN = 20
PRIOR_EXPONENT = 0.5
"""How much how often a fault happens moves the ranking of a *vague* complaint: score x
weight ** 0.5, so a very common fault (8) scores 2.8 times a typical one (1) and 4 times an
uncommon one (0.5)."""
GENERIC_SHARE = 0.24
"""A query term found in at least this share of the entries says only which area the fault
is in ("小票", "打印"); a complaint made only of such terms is vague, and only a vague
complaint is weighed by the prior. One specific word ("太烫", "红线", "缺纸") and the words
decide alone. Measured on both evaluation sets: a share between 15 and 17 entries of 65
keeps every figure; lower, specific complaints lose to common faults."""
WEAK_CODE_SHARE = 0.5
"""A number inside a sentence that happens to be a response code adds this share of the
best text score; a code typed as a code ("51", "返回码51") ranks its entry first."""


@dataclass(frozen=True, slots=True)
class Match:
    """One query term that matched an entry: what was typed, what it was indexed as,
    in which fields, and the synonym forms it stood for."""

    surface: str
    term: str
    kind: Kind
    fields: tuple[str, ...]
    synonyms: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"query": self.surface, "term": self.term, "kind": self.kind.value}
        d["fields"] = list(self.fields)
        if self.synonyms:
            d["synonyms"] = list(self.synonyms)
        return d


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked catalog entry."""

    entry: Entry
    score: float
    matches: tuple[Match, ...] = ()
    response_code: str | None = None
    code_typed: bool = False

    @property
    def code(self) -> str:
        return self.entry.code

    def why(self, lang: str = "en") -> str:
        """One line saying why this entry matched, for people."""
        zh = lang.lower().startswith("zh")
        parts: list[str] = []
        if self.code_typed:
            parts.append("输入了目录代码" if zh else "catalog code typed")
        if self.response_code:
            parts.append(
                f"返回码 {self.response_code}" if zh else f"response code {self.response_code}"
            )
        for m in self.matches:
            if m.kind is Kind.BIGRAM:
                continue
            label = m.surface
            if m.kind is Kind.SYNONYM and m.synonyms:
                others = [f for f in m.synonyms if f != m.surface][:2]
                label += f" ≈ {'/'.join(others)}"
            elif m.kind is Kind.FUZZY:
                label += f" → {m.term}"
            elif m.kind is Kind.SUBWORD:  # a part of the typed word matched, not all of it
                label += f" ⊃ {'/'.join(m.synonyms[:2]) or m.term}"
            parts.append(f"{label} [{','.join(m.fields)}]")
        bigrams = [m.surface for m in self.matches if m.kind is Kind.BIGRAM]
        if bigrams:
            parts.append(("字组: " if zh else "character pairs: ") + " ".join(bigrams[:6]))
        return "; ".join(parts)

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {
            "code": self.code,
            "score": round(self.score, 4),
            "title": self.entry.title.get(lang),
            "category": self.entry.category.value,
            "severity": self.entry.severity.value,
            "why": {
                "summary": self.why(lang),
                "response_code": self.response_code,
                "code_typed": self.code_typed,
                "matches": [m.to_dict() for m in self.matches if m.kind is not Kind.BIGRAM][
                    :MAX_MATCHES_SHOWN
                ],
                "bigrams": [m.surface for m in self.matches if m.kind is Kind.BIGRAM][
                    :MAX_MATCHES_SHOWN
                ],
            },
        }


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The ranking for one query; ``reason`` says why it is empty, ``notes`` what was done
    to the query (cut, characters dropped)."""

    query: str
    hits: tuple[Hit, ...]
    lang: str
    reason: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def codes(self) -> list[str]:
        return [h.code for h in self.hits]

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "lang": self.lang,
            "reason": self.reason,
            "notes": list(self.notes),
            "hits": [h.to_dict(self.lang) for h in self.hits],
        }


def guess_lang(text: str) -> str:
    """``zh`` when the text has any Chinese character, else ``en``.

    >>> guess_lang("打印机 offline"), guess_lang("printer offline")
    ('zh', 'en')
    """
    return "zh" if any("\u3400" <= ch <= "\u9fff" for ch in text) else "en"


class KnowledgeBase:
    """The search index over a catalog. Build once (well under 2 s), query many times."""

    _default: ClassVar[KnowledgeBase | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        analyzer: Analyzer | None = None,
        priors: Mapping[str, float] | None = None,
    ) -> None:
        self.catalog = catalog if catalog is not None else default_catalog()
        weights = catalog_priors() if priors is None else priors
        self.prior: Mapping[str, float] = {code: weights.get(code, 1.0) for code in self.catalog}
        self.analyzer = analyzer or Analyzer.shared()
        self.index = BM25FIndex(FIELD_WEIGHTS)
        for entry in self.catalog.values():
            self.index.add(entry.code, self._fields(entry))
        self.index.freeze()
        self.speller = self.analyzer.speller(self.index.vocabulary)

    @classmethod
    def default(cls) -> KnowledgeBase:
        """The index over the shipped catalog, built once per process."""
        with cls._lock:
            if cls._default is None:
                cls._default = KnowledgeBase()
            return cls._default

    def _terms(self, *texts: str) -> list[str]:
        return [t.term for text in texts for t in self.analyzer.analyze(text)]

    def _fields(self, e: Entry) -> dict[str, list[str]]:
        return {
            "title": self._terms(e.title.zh, e.title.en),
            "symptoms": self._terms(*e.symptoms.zh, *e.symptoms.en),
            "steps": self._terms(*(s.zh for s in e.steps), *(s.en for s in e.steps)),
            "auto": self._terms(e.auto.zh, e.auto.en),
            "code": self._terms(e.code.split(".", 1)[1].replace("_", " ")),
        }

    def search(self, query: str, *, limit: int = 5, lang: str | None = None) -> SearchResult:
        """Rank catalog entries for ``query``. Never raises for any text: an unusable
        query gives an empty result with a ``reason``."""
        if not isinstance(query, str):
            raise TypeError(f"query must be str, not {type(query).__name__}")
        limit = max(1, min(int(limit), MAX_LIMIT))
        notes: list[str] = []
        clean = query.encode("utf-8", "replace").decode("utf-8")
        if clean != query:  # lone surrogates (broken UTF-16 or argv bytes) cannot be output
            notes.append("characters that are not valid Unicode were replaced by '?'")
            query = clean
        text = query
        if len(text) > MAX_QUERY_CHARS:
            text = text[:MAX_QUERY_CHARS]
            notes.append(f"query cut to its first {MAX_QUERY_CHARS} of {len(query)} characters")
        lang = (lang or guess_lang(text)).lower()
        lang = "zh" if lang.startswith("zh") else "en"
        shown = query if len(query) <= 200 else query[:200] + "…"
        if not normalize(text).strip():
            return SearchResult(shown, (), lang, reason="empty query", notes=tuple(notes))
        terms = self.analyzer.analyze(text, speller=self.speller, subwords=True)
        typed = find_catalog_codes(text, self.catalog)
        rcs = [
            (m, entry)
            for m in find_response_codes(text)
            if (entry := self.catalog.by_response_code(m.code)) is not None
        ]
        if not terms and not typed and not rcs:
            return SearchResult(
                shown, (), lang, reason="no searchable words in the query", notes=tuple(notes)
            )
        hits = self._rank(terms, typed, rcs)
        reason = None if hits else "nothing in the catalog matches these words"
        return SearchResult(shown, tuple(hits[:limit]), lang, reason=reason, notes=tuple(notes))

    def is_vague(self, qweights: Mapping[str, float]) -> bool:
        """True when every whole-word term of the query that matched anything is generic
        (in at least GENERIC_DF entries): the words name an area, not a fault."""
        words = [t for t, w in qweights.items() if w >= QUERY_WEIGHTS[Kind.FUZZY]]
        dfs = [len(self.index.postings(t)) for t in words]
        matched = [df for df in dfs if df > 0]
        return bool(matched) and min(matched) >= GENERIC_SHARE * len(self.catalog)

    def _rank(self, terms: list[Term], typed: list[str], rcs: list[tuple[Any, Entry]]) -> list[Hit]:
        qweights: dict[str, float] = {}
        surfaces: dict[str, Term] = {}
        for t in terms:
            if t.kind is Kind.SUBWORD and self.index.postings(t.surface):
                continue  # the whole word is in the catalog: it decides, not its parts
            w = QUERY_WEIGHTS[t.kind]
            if w > qweights.get(t.term, 0.0):
                qweights[t.term] = w
                surfaces[t.term] = t
        scores = dict(self.index.score(qweights))
        if self.is_vague(qweights):
            scores = {c: v * self.prior[c] ** PRIOR_EXPONENT for c, v in scores.items()}
        matches: dict[str, list[Match]] = {}
        for term, t in surfaces.items():
            for p in self.index.postings(term):
                code = self.index.doc_ids[p.doc]
                syn = (
                    self.analyzer.synonyms.forms(term)
                    if t.kind in (Kind.SYNONYM, Kind.SUBWORD)
                    else ()
                )
                matches.setdefault(code, []).append(Match(t.surface, term, t.kind, p.fields, syn))
        # An entry matched by a single stray character pair is noise, not a hit.
        for code, ms in matches.items():
            if all(m.kind is Kind.BIGRAM for m in ms) and len(ms) < 2:
                scores.pop(code, None)
        top = max(scores.values(), default=0.0)
        rc_of: dict[str, str] = {}
        pinned: list[str] = []
        for m, entry in rcs:
            rc_of.setdefault(entry.code, m.code)
            if m.explicit:
                pinned.append(entry.code)
            else:
                scores[entry.code] = scores.get(entry.code, 0.0) + WEAK_CODE_SHARE * max(top, 1.0)
        pinned = typed + [c for c in pinned if c not in typed]
        for rank, code in enumerate(pinned):
            scores[code] = top + 10.0 * (len(pinned) - rank)
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        return [
            Hit(
                self.catalog[code],
                score,
                tuple(matches.get(code, ())),
                rc_of.get(code),
                code in typed,
            )
            for code, score in ranked
        ]
