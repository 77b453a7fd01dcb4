"""The synonym / colloquial-variant table: many surface forms, one concept term.

Loaded from ``data/synonyms.yaml``. Each form is segmented with the same segmenter as the
text it will meet; a one-term form maps that term to the concept, a longer form is matched
as a phrase (longest first). Both the catalog side and the query side go through
:meth:`SynonymTable.conflate`, so 收据, 凭条 and receipt all index as ``~receipt``.

>>> from posguard.kb.segment import Segmenter
>>> table = SynonymTable.load(Segmenter.shared())
>>> table.conflate(["printer", "out", "of", "paper"])
[('~printer', 'printer'), ('~no_paper', 'out of paper')]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from posguard.common.errors import ConfigError
from posguard.kb.segment import Segmenter, normalize

SYNONYMS_FILE = Path(str(files("posguard.kb") / "data" / "synonyms.yaml"))
CONCEPT_PREFIX = "~"
MAX_PHRASE = 6


@dataclass(frozen=True, slots=True)
class SynonymTable:
    """Concept groups: ``groups`` concept → forms; ``single`` term → concept;
    ``phrases`` tuple of terms → concept."""

    groups: Mapping[str, tuple[str, ...]]
    single: Mapping[str, str]
    phrases: Mapping[tuple[str, ...], str] = field(default_factory=dict)

    @classmethod
    def load(cls, segmenter: Segmenter, path: Path | None = None) -> SynonymTable:
        """Read and validate the table; a form in two groups is an error naming both."""
        path = path or SYNONYMS_FILE
        try:
            raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path.name}: cannot load synonym table: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"{path.name}: must map concept names to lists of forms")
        return cls.from_groups(segmenter, raw, source=path.name)

    @classmethod
    def from_groups(
        cls, segmenter: Segmenter, raw: Mapping[str, Any], *, source: str = "<groups>"
    ) -> SynonymTable:
        groups: dict[str, tuple[str, ...]] = {}
        owner: dict[str, str] = {}
        for concept, forms in raw.items():
            if not isinstance(concept, str) or not concept.replace("_", "").isalnum():
                raise ConfigError(f"{source}: concept name {concept!r} must be a plain word")
            if not isinstance(forms, list) or not forms:
                raise ConfigError(f"{source}: concept {concept!r}: needs a non-empty list")
            clean: list[str] = []
            for form in forms:
                text = normalize(str(form)).strip()
                if not text:
                    raise ConfigError(f"{source}: concept {concept!r}: blank form")
                if text in owner and owner[text] != concept:
                    raise ConfigError(
                        f"{source}: form {text!r} is in both {owner[text]!r} and {concept!r}"
                    )
                owner[text] = concept
                clean.append(text)
            groups[concept] = tuple(clean)
        segmenter.add_words([f for forms in groups.values() for f in forms])
        single: dict[str, str] = {}
        phrases: dict[tuple[str, ...], str] = {}
        for concept, forms in groups.items():
            for form in forms:
                terms = tuple(segmenter.words(form))
                if not terms:
                    continue
                if len(terms) == 1:
                    single.setdefault(terms[0], CONCEPT_PREFIX + concept)
                elif len(terms) <= MAX_PHRASE:
                    phrases.setdefault(terms, CONCEPT_PREFIX + concept)
        return cls(groups=groups, single=single, phrases=phrases)

    def conflate(self, terms: Iterable[str]) -> list[tuple[str, str]]:
        """Map a term sequence to ``(term, surface)`` pairs: phrase forms first (longest
        match), then one-term forms; other terms pass through with themselves as surface."""
        seq = list(terms)
        out: list[tuple[str, str]] = []
        for term, start, end in self.spans(seq):
            joiner = " " if all(t.isascii() for t in seq[start:end]) else ""
            out.append((term, joiner.join(seq[start:end])))
        return out

    def spans(self, seq: list[str]) -> list[tuple[str, int, int]]:
        """Like :meth:`conflate`, as ``(term, start, end)`` over positions in ``seq``."""
        out: list[tuple[str, int, int]] = []
        i = 0
        while i < len(seq):
            for n in range(min(MAX_PHRASE, len(seq) - i), 1, -1):
                concept = self.phrases.get(tuple(seq[i : i + n]))
                if concept is not None:
                    out.append((concept, i, i + n))
                    i += n
                    break
            else:
                out.append((self.single.get(seq[i], seq[i]), i, i + 1))
                i += 1
        return out

    def forms(self, concept_term: str) -> tuple[str, ...]:
        """The forms of a concept term (``~receipt``), or ``()`` for a plain term."""
        return self.groups.get(concept_term.removeprefix(CONCEPT_PREFIX), ())
