"""Find codes typed into a query: field-39 response codes ("51", "返回码A0", "rc 96",
"error 05") and catalog codes ("NET.READ_TIMEOUT").

A two-character code is only a *mention* of a response code; whether it is *meant* as one
is graded: the query is the code alone, or a response-code word stands next to it
(返回码, 应答码, rc, code, error...) → ``explicit``; otherwise it is a bare number inside
a sentence (it could be a time or a count) → not explicit, and search weighs it less.

>>> [(m.code, m.explicit) for m in find_response_codes("返回码A0")]
[('A0', True)]
>>> [(m.code, m.explicit) for m in find_response_codes("今天12点以后一直连不上")]
[('12', False)]
>>> [(m.code, m.explicit) for m in find_response_codes("51")]
[('51', True)]
>>> find_catalog_codes("see net.read_timeout", {"NET.READ_TIMEOUT"})
['NET.READ_TIMEOUT']
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass

from posguard.kb.segment import normalize

# Two alphanumerics not glued to other Latin letters or digits (Chinese around is fine).
_RC = re.compile(r"(?<![0-9a-z])([0-9a-z]{2})(?![0-9a-z])")
_RC_WORDS = re.compile(
    r"(返回码|响应码|应答码|错误码|交易码|返回|应答|响应|错误|代码|提示码|码|"
    r"\brc\b|\bresponse\b|\bresp\b|\bcode\b|\berror\b|\berr\b|\bdeclined?\b|\bde\s*39\b|"
    r"\bfield\s*39\b|\bf39\b)"
)
_CATALOG = re.compile(r"\b([a-z]{2,6}\.[a-z0-9_]{2,48})\b")
_NEAR = 12  # characters between a code word and the code for it to count as explicit


@dataclass(frozen=True, slots=True)
class CodeMention:
    code: str
    explicit: bool


def find_response_codes(query: str) -> list[CodeMention]:
    """Two-character response-code candidates in ``query``, first mention first."""
    text = normalize(query)
    stripped = text.strip(" \t\r\n.,;:!?。，；：！？\"'()（）[]【】")
    found: dict[str, CodeMention] = {}
    words = [m.span() for m in _RC_WORDS.finditer(text)]
    for m in _RC.finditer(text):
        code = m.group(1).upper()
        alone = stripped == m.group(1)
        near = any(
            (0 <= m.start() - end <= _NEAR) or (0 <= start - m.end() <= _NEAR)
            for start, end in words
        )
        prev = found.get(code)
        if prev is None or ((alone or near) and not prev.explicit):
            found[code] = CodeMention(code, alone or near)
    return list(found.values())


def find_catalog_codes(query: str, known: Container[str]) -> list[str]:
    """Catalog codes spelled out in ``query`` (any case) that exist in ``known``."""
    out: list[str] = []
    for m in _CATALOG.finditer(normalize(query)):
        code = m.group(1).upper()
        if code in known and code not in out:
            out.append(code)
    return out
