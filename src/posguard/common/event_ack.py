"""The fleet's confirmation of stored events: the second half of the telemetry contract.

A terminal forgets an event only when the fleet says it is stored, never when a broker says
it received it. After a batch commits, the fleet answers each terminal with the ``seq``
numbers it has settled for good, as inclusive ranges::

    {"v": 1, "terminal_id": "T0001", "ranges": [[1, 100], [102, 102]]}

"Settled" means stored now, stored before (a duplicate) or refused for its content (a resend
would be refused again). Over MQTT the fleet publishes it at QoS 1 on the terminal's
``posguard/v1/{merchant}/{terminal}/acks`` topic; over HTTP the same ``confirmed`` ranges are
in the ingest answer. Ranges rather than "the highest contiguous seq": a terminal's own
outbox leaves gaps (heartbeats dropped when it is full), which a contiguous mark would wait
for forever.

>>> seq_ranges([5, 1, 2, 3, 3, 7])
[(1, 3), (5, 5), (7, 7)]
>>> ack = parse_ack(ack_payload("T0001", [(1, 3)]))
>>> ack.terminal_id, ack.ranges, sorted(ack.seqs())
('T0001', ((1, 3),), [1, 2, 3])
>>> parse_ack(b'{"v": 1, "terminal_id": "T1", "ranges": [[3, 1]]}')
Traceback (most recent call last):
...
posguard.common.errors.EventError: invalid acknowledgement: ranges[0]: first 3 is after last 1
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from posguard.common.errors import EventError

ACK_VERSION: Final = 1
MAX_ACK_RANGES: Final = 10_000
"""More ranges than this in one acknowledgement is refused (a fleet never sends that many)."""


def seq_ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted, merged inclusive ranges covering exactly ``seqs``."""
    out: list[tuple[int, int]] = []
    for s in sorted(set(seqs)):
        if out and s == out[-1][1] + 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


@dataclass(frozen=True)
class Ack:
    """One terminal's confirmed ``seq`` ranges (inclusive)."""

    terminal_id: str
    ranges: tuple[tuple[int, int], ...]

    def seqs(self) -> Iterator[int]:
        for first, last in self.ranges:
            yield from range(first, last + 1)

    def json_ready(self) -> dict[str, Any]:
        return {
            "v": ACK_VERSION,
            "terminal_id": self.terminal_id,
            "ranges": [list(r) for r in self.ranges],
        }


def ack_payload(terminal_id: str, ranges: Iterable[tuple[int, int]]) -> bytes:
    """The acknowledgement message for ``terminal_id`` as JSON bytes: exactly
    ``json.dumps(Ack(terminal_id, ranges).json_ready())``, written out directly (the fleet sends
    one per terminal per stored batch).

    >>> ack_payload("T0001", [(1, 3), (5, 5)])
    b'{"v": 1, "terminal_id": "T0001", "ranges": [[1, 3], [5, 5]]}'
    """
    spans = ", ".join([f"[{int(first)}, {int(last)}]" for first, last in ranges])
    tid = json.dumps(terminal_id)
    return f'{{"v": {ACK_VERSION}, "terminal_id": {tid}, "ranges": [{spans}]}}'.encode()


def parse_ack(raw: bytes | str) -> Ack:
    """Validate an acknowledgement message; raise :class:`EventError` saying what is wrong."""
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise EventError("invalid acknowledgement: not JSON") from exc
    if not isinstance(obj, dict):
        raise EventError("invalid acknowledgement: must be a JSON object")
    if obj.get("v") != ACK_VERSION:
        raise EventError(f"invalid acknowledgement: v must be {ACK_VERSION}")
    terminal_id = obj.get("terminal_id")
    if not isinstance(terminal_id, str) or not terminal_id:
        raise EventError("invalid acknowledgement: terminal_id must be a non-empty string")
    return Ack(terminal_id, parse_ack_ranges(obj.get("ranges")))


def parse_ack_ranges(raw_ranges: Any) -> tuple[tuple[int, int], ...]:
    """Validate a JSON list of ``[first, last]`` pairs (the ``ranges`` of an acknowledgement,
    the ``confirmed`` member of an HTTP ingest answer)."""
    if not isinstance(raw_ranges, list) or len(raw_ranges) > MAX_ACK_RANGES:
        raise EventError(
            f"invalid acknowledgement: ranges must be a list of at most {MAX_ACK_RANGES}"
        )
    ranges: list[tuple[int, int]] = []
    for i, r in enumerate(raw_ranges):
        if (
            not isinstance(r, list)
            or len(r) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in r)
        ):
            raise EventError(
                f"invalid acknowledgement: ranges[{i}] must be [first, last], whole numbers >= 0"
            )
        if r[0] > r[1]:
            raise EventError(
                f"invalid acknowledgement: ranges[{i}]: first {r[0]} is after last {r[1]}"
            )
        ranges.append((r[0], r[1]))
    return tuple(ranges)
