"""The one text pipeline shared by the index and the query: segment, correct English
typos against the index vocabulary, fold synonyms into concepts, drop stop words, and add
Chinese character bigrams.

>>> a = Analyzer.shared()
>>> [t.term for t in a.analyze("收据打不出来")]
['~receipt', '~print', '2:收据', '2:据打', '2:打不', '2:不出', '2:出来']
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from typing import ClassVar

from posguard.kb.segment import BIGRAM_PREFIX, Segmenter
from posguard.kb.synonyms import CONCEPT_PREFIX, SynonymTable

STOPWORDS_FILE = Path(str(files("posguard.kb") / "data" / "stopwords.txt"))
STOPWORDS = frozenset(
    w
    for line in STOPWORDS_FILE.read_text(encoding="utf-8").splitlines()
    if not line.startswith("#")
    for w in line.split()
)
FUZZY_MIN_LEN = 5


class Kind(StrEnum):
    WORD = "word"
    SYNONYM = "synonym"
    FUZZY = "fuzzy"
    SUBWORD = "subword"
    BIGRAM = "bigram"


@dataclass(frozen=True, slots=True)
class Term:
    """One analysed term and where it came from in the text (``surface``)."""

    term: str
    surface: str
    kind: Kind


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _within_one(a: str, b: str) -> bool:
    """Levenshtein distance ≤ 1, or one adjacent transposition."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if la < lb else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


class Speller:
    """English typo correction against one index's vocabulary (one edit away).

    Each :class:`KnowledgeBase` owns its speller, so two indexes over different catalogs
    sharing one analyser never correct towards each other's words.

    >>> Speller(["offline", "online", "printer"]).correct("ofline")
    'offline'
    """

    def __init__(self, words: Iterable[str]) -> None:
        known = {w for w in words if w.isascii() and w.isalpha() and len(w) >= FUZZY_MIN_LEN - 1}
        self._known = frozenset(known)
        dmap: dict[str, set[str]] = {}
        for w in known:
            dmap.setdefault(w, set()).add(w)
            for d in _deletes(w):
                dmap.setdefault(d, set()).add(w)
        self._delete_map = dmap

    def correct(self, word: str) -> str | None:
        """The known word within one edit of ``word``, or None when ``word`` is known, too
        short, or nothing is close. Ties prefer a dropped letter (the commonest slip:
        "ofline" → "offline", not "online"), then a wrong letter, then an extra one."""
        if (
            word in self._known
            or len(word) < FUZZY_MIN_LEN
            or not (word.isascii() and word.isalpha())
        ):
            return None
        cands: set[str] = set()
        for key in (word, *_deletes(word)):
            cands |= self._delete_map.get(key, set())
        close = sorted(
            (c for c in cands if _within_one(word, c)), key=lambda c: (len(word) - len(c), c)
        )
        return close[0] if close else None


class Analyzer:
    """Text → terms; stateless after construction, so one instance serves every index."""

    _shared: ClassVar[Analyzer | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, segmenter: Segmenter, synonyms: SynonymTable) -> None:
        self.segmenter = segmenter
        self.synonyms = synonyms

    @classmethod
    def shared(cls) -> Analyzer:
        """The analyser over the shared segmenter and the shipped synonym table."""
        with cls._lock:
            if cls._shared is None:
                seg = Segmenter.shared()
                cls._shared = Analyzer(seg, SynonymTable.load(seg))
            return cls._shared

    def speller(self, index_words: Iterable[str]) -> Speller:
        """A speller over an index's words plus the synonym table's one-word forms."""
        return Speller([*index_words, *self.synonyms.single])

    def _subwords(self, word: str) -> list[Term]:
        """The dictionary sub-words of a long Chinese word, each folded by the synonym
        table (``系统升级`` gives ``系统`` and ``~update``)."""
        out: list[Term] = []
        for part in self.segmenter.subwords(word):
            term = self.synonyms.single.get(part, part)
            if term not in STOPWORDS:
                out.append(Term(term, word, Kind.SUBWORD))
        return out

    def analyze(
        self, text: str, *, speller: Speller | None = None, subwords: bool = False
    ) -> list[Term]:
        """Terms of ``text``: words (typos fixed by ``speller``, synonyms folded, stop words
        dropped), with ``subwords`` the dictionary words inside each long Chinese word (a
        query's, so the index keeps its lengths), then bigrams."""
        words = self.segmenter.words(text)
        fixed: dict[int, str] = {}
        if speller is not None:
            for i, w in enumerate(words):
                c = speller.correct(w)
                if c is not None:
                    fixed[i] = w
                    words[i] = c
        out: list[Term] = []
        for term, start, end in self.synonyms.spans(words):
            if term in STOPWORDS or (len(term) == 1 and term.isascii()):
                continue
            originals = [fixed.get(i, words[i]) for i in range(start, end)]
            joiner = " " if all(w.isascii() for w in originals) else ""
            if any(i in fixed for i in range(start, end)):
                kind = Kind.FUZZY
            elif term.startswith(CONCEPT_PREFIX):
                kind = Kind.SYNONYM
            else:
                kind = Kind.WORD
            out.append(Term(term, joiner.join(originals), kind))
            if kind is Kind.WORD and subwords:
                out.extend(self._subwords(term))
        out.extend(
            Term(b, b.removeprefix(BIGRAM_PREFIX), Kind.BIGRAM)
            for b in self.segmenter.bigrams(text)
        )
        return out
