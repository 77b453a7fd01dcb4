"""What a shard tells the correlator: per correlation rule, terminal and minute of event time,
how many of its events matched the rule (and how many transactions named a card BIN, for an
issuer group's size), with the first and the latest of them. The correlator combines these
counts into host / area / model / issuer incidents without reading the events table.

A shard writes its rows (``group_hits``, :mod:`posguard.fleet.repo.group_hits`) in the same
transaction as its cursor, so a step that is rolled back (kill -9) wrote no counts and is
replayed once. Each row also keeps the sequence numbers of the events it counted
(``counted_seqs``, sorted), so an event is counted exactly once: a shard re-diagnosing recent
events (a restart, a first start) skips those in the set, and an event stored after a later one
of its terminal (two ingest workers share the MQTT subscription: seq 11 can commit before seq 10)
is still counted when it is read. A high-water mark would not do: it takes that late seq 10 for
counted already, and a terminal's second fault, the one that makes a small host "unreachable"
(``count: 2``), would never be counted.

The set is bounded: a row that would count more than :data:`MAX_COUNTED` events (two a second
for the whole minute, for one rule and terminal) drops it (``NULL``) and from then on knows only
``seq_hw``, the highest sequence number it counted: an event at or below it counts as counted
already. That is the old high-water rule, exact for events stored in order; it is also how the
rows written before the set existed (migration 0016) go on. A row that counts that much is far
past every threshold, so a late event it misses changes no decision.

The correlator turns each new or grown row back into at most three stand-ins for the events
(the BIN tried, the first match, the latest match weighted by the matches in between), in event
id order, and feeds them to the same :class:`~.correlation.CorrelationEvaluator` the embedded
diagnoser feeds with events: a group's distinct terminals, its per-terminal counts, the event
that crosses the threshold and the latest evidence are the same. The events between a row's
first and latest match are counted, not linked to the group incident as evidence.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from posguard.fleet.diagnosis.correlation import CorrelationEvaluator, issuer_of
from posguard.fleet.diagnosis.observed import Decision, Observed

BUCKET_S = 60  # event-time width of a row: below every correlation window
MAX_COUNTED = 2 * BUCKET_S  # sequence numbers a row keeps; past them, only its high-water mark


def bucket_of(ts: datetime) -> datetime:
    """The start of the minute ``ts`` falls in.

    >>> bucket_of(datetime(2026, 12, 2, 10, 3, 59, tzinfo=UTC)).isoformat()
    '2026-12-02T10:03:00+00:00'
    """
    return ts.astimezone(UTC).replace(second=0, microsecond=0)


Key = tuple[str, str, datetime, str]  # rule_id, terminal_id, bucket, BIN ('' for none)


@dataclass(slots=True)
class HitRow:
    """One row of ``group_hits``: a terminal's events of one minute that one rule counts."""

    rule_id: str
    terminal_id: str
    bucket: datetime
    bin6: str = ""
    seq_hw: int = 0
    hits: int = 0
    first: Observed | None = None
    last: Observed | None = None
    tries: int = 0
    tried_at: datetime | None = None
    tried_id: int = 0
    version: int = 0
    # the sequence numbers counted, sorted; None: past MAX_COUNTED or written before the set
    # existed, only ``seq_hw`` is known
    counted_seqs: list[int] | None = field(default_factory=list)

    @property
    def key(self) -> Key:
        return (self.rule_id, self.terminal_id, self.bucket, self.bin6)

    def has_counted(self, seq: int) -> bool:
        """Whether the event of this sequence number is in the row's counts already.

        >>> minute = datetime(2026, 12, 2, 10, 3, tzinfo=UTC)
        >>> row = HitRow("network-outage", "T1", minute, seq_hw=11, counted_seqs=[11])
        >>> row.has_counted(11), row.has_counted(10)
        (True, False)
        >>> HitRow("network-outage", "T1", minute, seq_hw=11, counted_seqs=None).has_counted(10)
        True
        """
        if self.counted_seqs is None:
            return seq <= self.seq_hw
        i = bisect_left(self.counted_seqs, seq)
        return i < len(self.counted_seqs) and self.counted_seqs[i] == seq

    def add(self, ev: Observed, *, matched: bool, tried: bool) -> None:
        self.seq_hw = max(self.seq_hw, ev.seq)
        self.counted_seqs = with_seqs(self.counted_seqs, [ev.seq])
        if tried:
            self.tries += 1
            if self.tried_at is None or self.tried_at <= ev.ts:
                self.tried_at, self.tried_id = ev.ts, ev.id
        if matched:
            self.hits += 1
            if self.first is None:
                self.first = ev
            self.last = ev


def with_seqs(counted: list[int] | None, seqs: Iterable[int]) -> list[int] | None:
    """``counted`` and ``seqs``, sorted; None past :data:`MAX_COUNTED` (or if ``counted`` is).

    >>> with_seqs([3, 11], [10])
    [3, 10, 11]
    >>> with_seqs(list(range(MAX_COUNTED)), [MAX_COUNTED]) is None
    True
    """
    if counted is None:
        return None
    merged = sorted([*counted, *seqs])
    return merged if len(merged) <= MAX_COUNTED else None


def collect(
    correlations: Sequence[CorrelationEvaluator],
    events: Iterable[Observed],
    stored: Mapping[Key, HitRow] | None = None,
) -> list[HitRow]:
    """The rows a shard adds for ``events`` (in id order); ``stored``: the rows already written
    for these keys (the events they counted are skipped)."""
    rows: dict[Key, HitRow] = {}
    for ev in events:
        for corr in correlations:
            c = corr.rule.create
            bin6 = issuer_of(ev) if "issuer" in c.group_by else None
            tried = bin6 is not None and ev.kind == "transaction"
            matched = corr.matches(c.match, ev)
            if not (tried or matched):
                continue
            key = (corr.rule.id, ev.terminal_id, bucket_of(ev.ts), bin6 or "")
            old = stored.get(key) if stored is not None else None
            if old is not None and old.has_counted(ev.seq):
                continue
            row = rows.get(key)
            if row is None:
                row = rows[key] = HitRow(*key)
            row.add(ev, matched=matched, tried=tried)
    return list(rows.values())


@dataclass(slots=True)
class _Seen:
    hits: int = 0
    tries: int = 0


@dataclass(order=True, slots=True)
class _Step:
    order: tuple[int, int, int]  # rule (in the engine's order), event id, try/first/latest
    rule_id: str = field(compare=False)
    bin6: str = field(compare=False)
    ev: Observed | None = field(compare=False, default=None)  # a match (None: a BIN tried)
    weight: int = field(compare=False, default=1)
    terminal_id: str = field(compare=False, default="")
    tried_at: datetime | None = field(compare=False, default=None)


class HitReader:
    """The correlator's side: rows read (new or grown) -> decisions of the evaluators."""

    def __init__(self, correlations: Sequence[CorrelationEvaluator]) -> None:
        self.by_rule = {c.rule.id: c for c in correlations}
        self.rank = {c.rule.id: n for n, c in enumerate(correlations)}
        self.seen: dict[Key, _Seen] = {}

    def observe(self, rows: Iterable[HitRow]) -> list[Decision]:
        steps: list[_Step] = []
        for row in rows:
            if row.rule_id not in self.by_rule:
                continue
            rank = self.rank[row.rule_id]
            seen = self.seen.setdefault(row.key, _Seen())
            if row.tries > seen.tries and row.tried_at is not None:
                steps.append(
                    _Step(
                        (rank, row.tried_id, 0),
                        row.rule_id,
                        row.bin6,
                        terminal_id=row.terminal_id,
                        tried_at=row.tried_at,
                    )
                )
            new = row.hits - seen.hits
            if new > 0 and row.first is not None and row.last is not None:
                if seen.hits == 0:
                    steps.append(_Step((rank, row.first.id, 1), row.rule_id, row.bin6, row.first))
                    new -= 1
                if new > 0:
                    steps.append(
                        _Step((rank, row.last.id, 2), row.rule_id, row.bin6, row.last, new)
                    )
            seen.hits, seen.tries = max(seen.hits, row.hits), max(seen.tries, row.tries)
        out: list[Decision] = []
        for st in sorted(steps):
            corr = self.by_rule[st.rule_id]
            if st.ev is None:
                assert st.tried_at is not None
                corr.tried(st.bin6, st.terminal_id, st.tried_at)
            else:
                out.extend(corr.hit(st.ev, st.bin6 or None, st.weight))
        return out

    def forget_before(self, bucket: datetime) -> None:
        """Drop what was seen of rows older than ``bucket`` (memory stays bounded)."""
        for key in [k for k in self.seen if k[2] < bucket]:
            del self.seen[key]
