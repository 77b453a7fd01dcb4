"""Turn free text into index terms: Chinese words (jieba), light-stemmed English words,
and Chinese character bigrams that keep search robust against typos and odd cuts.

Terms are plain strings; bigrams carry a ``"2:"`` prefix so they never collide with
words and can be weighted apart.

>>> seg = Segmenter.shared()
>>> seg.words("The printers were JAMMING")
['the', 'printer', 'were', 'jam']
>>> seg.bigrams("余额不组")
['2:余额', '2:额不', '2:不组']
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import unicodedata
from importlib.resources import files
from pathlib import Path
from typing import ClassVar

import jieba

BIGRAM_PREFIX = "2:"
SUBWORD_MIN_LEN = 3
"""A Chinese word this long or longer also gives its dictionary sub-words."""
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RUN = re.compile(f"[{_HAN}]+")
# A word is a Han run, or a Latin/digit run (allowing inner dots, e.g. "net.read_timeout"),
# or a concept placeholder produced by the synonym table ("~receipt").
_TOKEN = re.compile(f"~[a-z0-9_]+|[{_HAN}]+|[a-z0-9]+(?:[._][a-z0-9]+)*")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")
USER_DICT = Path(str(files("posguard.kb") / "data" / "userdict.txt"))


def cache_dir() -> Path:
    """Where jieba keeps its model cache: the user cache dir, never the source tree."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "posguard" / "jieba"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        path = Path(tempfile.gettempdir()) / "posguard-jieba"
        path.mkdir(parents=True, exist_ok=True)
    return path


def normalize(text: str) -> str:
    """NFKC (full-width → half-width), lower case, control characters to spaces.

    >>> normalize("ＰＯＳ\\x00机　Ａ０")
    'pos 机 a0'
    """
    return _CONTROL.sub(" ", unicodedata.normalize("NFKC", text)).lower()


def stem(word: str) -> str:
    """A light English stemmer: plurals, -ing, -ed. Same on both sides, so it needs no
    linguistic perfection, only consistency.

    >>> [stem(w) for w in ("receipts", "batteries", "printing", "jammed", "refused", "status")]
    ['receipt', 'battery', 'print', 'jam', 'refus', 'status']
    """
    if not word.isascii() or len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


class Segmenter:
    """jieba with the domain user dictionary, plus English tokenising and stemming.

    jieba logs to stderr on first load and caches its model; the shared instance keeps
    that cache under the user cache dir and logs at WARNING only.
    """

    _shared: ClassVar[Segmenter | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, extra_words: tuple[str, ...] = ()) -> None:
        jieba.setLogLevel(logging.WARNING)
        self._jieba = jieba.Tokenizer()
        self._jieba.tmp_dir = str(cache_dir())
        self._jieba.initialize()
        self._jieba.load_userdict(str(USER_DICT))
        for word in extra_words:
            self._jieba.add_word(word, freq=2000)
        self._cut_lock = threading.Lock()

    @classmethod
    def shared(cls) -> Segmenter:
        """One segmenter per process (jieba's model load is the slow part)."""
        with cls._lock:
            if cls._shared is None:
                cls._shared = Segmenter()
            return cls._shared

    def add_words(self, words: tuple[str, ...] | list[str]) -> None:
        """Teach jieba extra words (the synonym table's Chinese forms)."""
        with self._cut_lock:
            for word in words:
                if _HAN_RUN.fullmatch(word):
                    self._jieba.add_word(word, freq=2000)

    def words(self, text: str) -> list[str]:
        """The word terms of ``text`` (already normalized or not): Chinese words from
        jieba, English words stemmed, concept placeholders kept as they are."""
        out: list[str] = []
        for tok in _TOKEN.findall(normalize(text)):
            if tok[0] == "~":
                out.append(tok)
            elif _HAN_RUN.fullmatch(tok):
                with self._cut_lock:
                    out.extend(w for w in self._jieba.lcut(tok, HMM=True) if w.strip())
            else:
                out.append(stem(tok))
        return out

    def subwords(self, word: str) -> list[str]:
        """The dictionary words inside a long Chinese word (three characters or more), as
        jieba's search mode finds them: ``系统升级`` holds ``系统`` and ``升级``. A complaint
        often says the part (升级) where the catalog says the whole (系统升级) or the
        other way round; the parts let the two meet.

        >>> Segmenter.shared().subwords("系统升级")
        ['系统', '升级']
        """
        if len(word) < SUBWORD_MIN_LEN or not _HAN_RUN.fullmatch(word):
            return []
        freq = self._jieba.FREQ
        out: list[str] = []
        for n in (2, 3):
            for i in range(len(word) - n + 1):
                part = word[i : i + n]
                if part != word and freq.get(part) and part not in out:
                    out.append(part)
        return out

    @staticmethod
    def bigrams(text: str) -> list[str]:
        """Character bigrams of every Chinese run (a one-character run gives nothing)."""
        out: list[str] = []
        for run in _HAN_RUN.findall(text):
            out.extend(BIGRAM_PREFIX + run[i : i + 2] for i in range(len(run) - 1))
        return out
