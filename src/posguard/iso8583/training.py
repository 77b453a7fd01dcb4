"""Training mode on the wire (培训模式): how a practice transaction is told from a live one.

A training request carries field 63 (reserved private) = ``TRAINING``. Field 63 lies under the
MAC (field 64 covers every field before it), so the mark cannot be added or stripped on the
way without the host answering ``A0``. With the ``unionpay`` spec the CUPS header's terminal
status says ``1`` (test state) as well; the header is outside the MAC, so field 63 decides,
and a header that contradicts it is a format error. A host that honours the mark answers with
field 63 = ``TRAINING`` echoed; an approval of a training request without it came from a host
that may have booked it, and the terminal reverses it.

>>> msg = mark_training({"t": "0200", "h": "6000000000603100000000"})
>>> msg["63"], msg["h"][14]
('TRAINING', '1')
>>> is_training(msg), is_training({"t": "0200"})
(True, False)
>>> is_training({"t": "0200", "h": "6000000000603110000000"})
Traceback (most recent call last):
...
posguard.common.errors.MessageDecodeError: field h: terminal status 1 (test) without field 63 ...
"""

from __future__ import annotations

from typing import Final

from posguard.common.errors import MessageDecodeError
from posguard.iso8583.codec import Message

FIELD: Final = "63"
MARK: Final = "TRAINING"
_STATUS_AT: Final = 14  # the header's terminal status digit, in the 22 hex digits of field h
_TEST_STATUS: Final = "1"


def mark_training(msg: Message) -> Message:
    """``msg`` with the training mark (field 63, and the header's test status when it has
    one); a new dict."""
    out: Message = {**msg, FIELD: MARK}
    h = out.get("h")
    if isinstance(h, str) and len(h) == 22:
        out["h"] = h[:_STATUS_AT] + _TEST_STATUS + h[_STATUS_AT + 1 :]
    return out


def is_training(msg: Message) -> bool:
    """Whether ``msg`` is a training request or answer; MessageDecodeError when its header and
    field 63 disagree."""
    marked = msg.get(FIELD) == MARK
    h = msg.get("h")
    if isinstance(h, str) and len(h) == 22 and (h[_STATUS_AT] == _TEST_STATUS) != marked:
        raise MessageDecodeError(
            "field h: terminal status 1 (test) without field 63 TRAINING, or the other way round",
            field="h",
        )
    return marked


def answered_as_training(answer: Message | None) -> bool:
    """Whether a host's answer echoes the training mark (it honoured it)."""
    return answer is not None and answer.get(FIELD) == MARK
