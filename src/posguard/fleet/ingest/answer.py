"""The answer to a batch ingest, serialised straight from the results (the hot path).

The same JSON shape as :class:`~posguard.fleet.api.schemas.events.BatchResultPublic`:
counts, then a result per event in batch order. A serialiser compiled for the
result dataclass writes them directly, without building a dict per event first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from pydantic import TypeAdapter
from typing_extensions import TypedDict

from posguard.common.event_ack import seq_ranges
from posguard.fleet.ingest.store import EventResult, Outcome, outcome_counts, settled


class _Answer(TypedDict):
    stored: int
    duplicate: int
    rejected: int
    results: list[EventResult]  # list, not Sequence: pydantic serialises a Sequence in Python
    confirmed: list[tuple[int, int]]


# a serialiser compiled for the result dataclass: ≈0.4 µs an event, against ≈1 µs for a dict
# per event + json.dumps, and ≈1.9 µs for schema-less to_json of the dataclasses
_ANSWER: Final = TypeAdapter(_Answer)


def batch_answer(results: Sequence[EventResult]) -> bytes:
    """``{"stored": n, "duplicate": n, "rejected": n, "results": [...], "confirmed": [...]}`` as
    JSON bytes. ``confirmed``: the seq ranges the terminal may forget, the same acknowledgement
    the MQTT worker publishes (:mod:`posguard.common.event_ack`). A batch holds one terminal's
    events (its credential's), so the ranges are that terminal's.

    >>> batch_answer([EventResult(0, Outcome.STORED, "T1", 7)])
    b'{"stored":1,"duplicate":0,"rejected":0,"results":[{"index":0,"outcome":"stored","terminal_id":"T1","seq":7,"reason":null}],"confirmed":[[7,7]]}'
    """
    counts = outcome_counts(results)
    return _ANSWER.dump_json(
        {
            "stored": counts[Outcome.STORED],
            "duplicate": counts[Outcome.DUPLICATE],
            "rejected": counts[Outcome.REJECTED],
            "results": list(results),
            "confirmed": seq_ranges(r.seq for r in results if settled(r) and r.seq is not None),
        }
    )
