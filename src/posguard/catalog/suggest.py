"""Did-you-mean for catalog codes, shared by every face that takes a code.

>>> codes = ["NET.READ_TIMEOUT", "PRN.PAPER_OUT", "PRN.OFFLINE"]
>>> close_codes("net.read_timout", codes)
['NET.READ_TIMEOUT']
>>> close_codes("paper_out", codes)
['PRN.PAPER_OUT']
>>> close_codes("zzz", codes)
[]
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches


def close_codes(text: str, codes: Iterable[str], *, n: int = 3) -> list[str]:
    """Up to ``n`` catalog codes close to ``text``: by the whole code, then by the name
    after the dot (a code typed without its domain)."""
    wanted = text.strip().upper().replace(" ", "_").replace("-", "_")
    all_codes = list(codes)
    found = get_close_matches(wanted, all_codes, n=n, cutoff=0.75)
    names = {c.split(".", 1)[-1]: c for c in all_codes}
    name = wanted.split(".", 1)[-1]
    for match in get_close_matches(name, list(names), n=n, cutoff=0.75):
        if names[match] not in found:
            found.append(names[match])
    return found[:n]
