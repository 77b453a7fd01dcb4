"""Validate a whole batch of telemetry events at once, with the verdicts of :func:`parse_event`.

The ingest hot path. :func:`parse_event` builds an :class:`Event` model per event and walks its
``data`` in Python for clear card numbers; that costs tens of microseconds an event. Here the
batch is validated in one pydantic-core call against a schema with no Python validators,
``data`` is serialised to JSON text once (the form it is stored in), and the clear-PAN check is
one regex pass over the batch's JSON text. Anything that is not plainly valid (a schema error,
a fault event without a code, a digit run that holds a plausible card number, an escape the scan
cannot see through) goes through :func:`parse_event` itself, so each event gets exactly the
verdict and the message it would get alone.

>>> ok, bad = parse_events([
...     {"terminal_id": "T1", "merchant_id": "M1", "seq": 1, "ts": "2026-11-25T10:00:00Z",
...      "kind": "heartbeat", "data": {"uptime_s": 60}},
...     {"terminal_id": "T1", "merchant_id": "M1", "seq": 2, "ts": "2026-11-25T10:00:00Z",
...      "kind": "heartbeat", "data": {"note": "card 4111 1111 1111 1111"}}])
>>> ok[0]["seq"], ok[1]
(1, '{"uptime_s":60}')
>>> str(bad)
'invalid event: data: Value error, data.note looks like a clear card number; mask it first'
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Final, NotRequired, cast

from pydantic import AwareDatetime, Field, TypeAdapter, ValidationError, with_config
from pydantic_core import PydanticSerializationError, to_json
from typing_extensions import TypedDict

from posguard.card import group_windows, pan_text, plausible_pan
from posguard.common.errors import EventError
from posguard.common.events import (
    _CODE_RE,
    _ID_RE,
    _NEEDS_CODE,
    MAX_DATA_DEPTH,
    MAX_EVENT_BYTES,
    SCHEMA_VERSION,
    EventKind,
    parse_event,
)

# 12 or more digits with at most 8 separators or JSON punctuation characters between them:
# every clear card number the exact check can find (in a string, a number, a key, a list of
# digit strings) lies inside one such run of the JSON text
_WIDE_RUN: Final = re.compile(r'[0-9](?:[\s\-._/\\",:\[\]{}]{0,8}[0-9]){11,}')
_GROUPS: Final = re.compile(r"[0-9]+")
# data JSON this long may make its event larger than MAX_EVENT_BYTES: measured exactly then
_LARGE_DATA: Final = MAX_EVENT_BYTES // 4 - 1024


@with_config({"extra": "forbid"})
class EventFields(TypedDict):
    """A valid event's fields as plain values (``v``, ``code``, ``data`` may be absent)."""

    v: NotRequired[Annotated[int, Field(ge=1, le=SCHEMA_VERSION, strict=True)]]
    terminal_id: Annotated[str, Field(pattern=_ID_RE)]
    merchant_id: Annotated[str, Field(pattern=_ID_RE)]
    seq: Annotated[int, Field(ge=0, lt=2**63, strict=True)]
    ts: AwareDatetime
    kind: EventKind
    code: NotRequired[Annotated[str, Field(pattern=_CODE_RE.pattern)] | None]
    data: NotRequired[dict[str, Any]]


ParsedEvent = tuple[EventFields, str]
"""A valid event: its fields and its ``data`` as JSON text."""


class BatchEnvelope(TypedDict):
    """The body of a batch: ``{"events": [...]}`` (other members are ignored)."""

    events: list[EventFields]


class BatchError(ValueError):
    """The batch envelope itself is malformed; the message says where."""


class BatchTooLargeError(BatchError):
    """The batch holds more events than the receiver takes at once."""


_BATCH: Final = TypeAdapter(list[EventFields])
_ONE: Final = TypeAdapter(EventFields)
_ENVELOPE: Final = TypeAdapter(BatchEnvelope)


def _data_json(data: dict[str, Any]) -> str | EventError:
    try:
        text = to_json(data, inf_nan_mode="constants").decode()
    except (PydanticSerializationError, ValueError) as exc:
        return EventError(f"invalid event: data: cannot be stored as JSON ({exc})")
    if ("NaN" in text or "Infinity" in text) and _has_non_finite(data):
        return EventError("invalid event: data: NaN and Infinity are not JSON numbers")
    return text


def _has_non_finite(data: dict[str, Any]) -> bool:
    try:
        json.dumps(data, allow_nan=False)
    except ValueError:
        return True
    return False


def _exact(raw: Any) -> ParsedEvent | EventError:
    """The verdict of :func:`parse_event` for one event."""
    try:
        event = parse_event(raw)
    except EventError as exc:
        return exc
    fields = cast(EventFields, event.model_dump(exclude_none=False))
    text = _data_json(event.data)
    if isinstance(text, EventError):
        return text
    if len(text) > _LARGE_DATA and len(event.model_dump_json().encode()) > MAX_EVENT_BYTES:
        return EventError(f"invalid event: larger than {MAX_EVENT_BYTES} bytes")
    return fields, text


def _schema_pass(
    items: list[Any], out: list[ParsedEvent | EventError | None]
) -> list[tuple[int, EventFields]]:
    """Items valid against the plain schema; the others get their exact verdict in ``out``."""
    if all(type(r) is dict for r in items):
        try:
            return list(enumerate(_BATCH.validate_python(items)))
        except ValidationError:
            pass
    valid: list[tuple[int, EventFields]] = []
    for i, raw in enumerate(items):
        if type(raw) is dict:
            try:
                valid.append((i, _ONE.validate_python(raw)))
                continue
            except ValidationError:
                pass
        out[i] = _exact(raw)
    return valid


def _suspects(texts: list[str]) -> set[int]:
    """Indexes of the texts that may hold a clear card number, or nest too deeply (one regex
    pass over them all); the others are plainly clean.

    ``data`` is JSON-serialised without ASCII escaping, so digits appear as themselves. A card
    number written in a string (its groups split by the separators :func:`contains_pan` knows),
    as a number, as an object key or as a list of digit strings (``"4111","1111"``) lies in a
    run of digits with at most 8 separator or JSON punctuation characters between them, and
    some run of its whole groups is a plausible card number: every such text is a suspect. So
    is every text with an escape (``\\t``, ``\\u0001``: a control character between groups), with
    characters outside ASCII
    that :func:`pan_text` changes (full-width digits, zero-width spaces), or with more brackets
    than :data:`MAX_DATA_DEPTH`. A suspect gets :func:`parse_event`'s exact verdict.
    """
    found: set[int] = set()
    for k, t in enumerate(texts):
        if (
            "\\" in t
            or (not t.isascii() and pan_text(t) != t)
            or t.count("[") + t.count("{") >= MAX_DATA_DEPTH
        ):
            found.add(k)
    # joined by a character no JSON text holds raw and no run crosses
    joined = "\x00".join(texts)
    starts: list[int] | None = None
    for wide in _WIDE_RUN.finditer(joined):
        groups = _GROUPS.findall(wide.group())
        if any(plausible_pan(d) for d in group_windows(groups)):
            if starts is None:
                starts = list(itertools.accumulate((len(t) + 1 for t in texts[:-1]), initial=0))
            found.add(bisect.bisect_right(starts, wide.start()) - 1)
    return found


def parse_events(raws: Sequence[Any]) -> list[ParsedEvent | EventError]:
    """Validate a batch: for each item its fields and ``data`` JSON, or the :class:`EventError`
    :func:`parse_event` raises for it. Items may be decoded objects or JSON bytes/text."""
    items = list(raws)
    out: list[ParsedEvent | EventError | None] = [None] * len(items)
    valid = _schema_pass(items, out)
    return _finish(valid, out, lambda: items)


def parse_batch_json(body: bytes | str) -> list[ParsedEvent | EventError]:
    """Validate a batch envelope ``{"events": [...]}`` straight from its JSON text, with the
    verdicts :func:`parse_events` gives for its decoded events.

    The common case (every event plainly valid) is one pydantic-core pass over the bytes, with
    no intermediate Python objects; otherwise the body is decoded and goes through
    :func:`parse_events`. Raises :class:`BatchError` when the body itself is not such an
    envelope (not JSON, not an object, ``events`` missing or not an array).

    >>> [p[0]["seq"] for p in parse_batch_json(
    ...     b'{"events": [{"terminal_id": "T1", "merchant_id": "M1", "seq": 7,'
    ...     b' "ts": "2026-11-25T10:00:00Z", "kind": "heartbeat"}]}')]
    [7]
    >>> parse_batch_json(b'{"events": 1}')
    Traceback (most recent call last):
    ...
    posguard.common.event_batch.BatchError: events: must be an array of event objects
    """
    try:
        events = _ENVELOPE.validate_json(body)["events"]
    except ValidationError:
        return parse_events(batch_items(body))
    return _finish_validated(events, functools.cache(lambda: batch_items(body)))


def parse_events_json(payload: bytes | str) -> list[ParsedEvent | EventError] | None:
    """The events of a JSON array of events (or of one event object) when every one of them
    is valid against the plain schema, validated in one pass over the bytes; None when the
    payload is anything else (the caller then decodes it and takes the exact path).

    >>> [p[0]["seq"] for p in parse_events_json(
    ...     b'[{"terminal_id": "T1", "merchant_id": "M1", "seq": 7,'
    ...     b' "ts": "2026-11-25T10:00:00Z", "kind": "heartbeat"}]')]
    [7]
    >>> parse_events_json(b'[{"seq": 7}]') is None
    True
    """
    text = payload.lstrip()
    try:
        if text[:1] in (b"[", "["):
            events = _BATCH.validate_json(payload)
        else:
            events = [_ONE.validate_json(payload)]
    except ValidationError:
        return None

    def items() -> list[Any]:
        obj = json.loads(payload)
        return obj if isinstance(obj, list) else [obj]

    return _finish_validated(events, functools.cache(items))


def _finish_validated(
    events: list[EventFields], items: Callable[[], list[Any]]
) -> list[ParsedEvent | EventError]:
    """:func:`_finish` for a batch that passed the plain schema whole, validated from its
    bytes: ``items`` decodes them (once, cached) only if some event needs its exact verdict."""
    return _finish(list(enumerate(events)), [None] * len(events), items)


def batch_items(body: bytes | str) -> list[Any]:
    """The ``events`` array of a batch envelope, decoded; :class:`BatchError` if there is none."""
    try:
        obj = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BatchError(f"body: not JSON ({exc})") from exc
    except RecursionError as exc:
        raise BatchError("body: JSON nested too deeply") from exc
    if not isinstance(obj, dict):
        raise BatchError('body: must be a JSON object {"events": [...]}')
    if "events" not in obj:
        raise BatchError("events: missing")
    events = obj["events"]
    if not isinstance(events, list):
        raise BatchError("events: must be an array of event objects")
    return events


def _finish(
    valid: list[tuple[int, EventFields]],
    out: list[ParsedEvent | EventError | None],
    items: Callable[[], list[Any]],
) -> list[ParsedEvent | EventError]:
    """Serialise ``data`` and scan it; odd events get their exact verdict from ``items()``."""
    plain: list[tuple[int, EventFields]] = []
    for i, f in valid:
        if f["kind"] in _NEEDS_CODE and f.get("code") is None:
            out[i] = _exact(items()[i])
        else:
            plain.append((i, f))
    try:
        texts = [to_json(f.get("data", {}), inf_nan_mode="constants").decode() for _, f in plain]
    except (PydanticSerializationError, ValueError):
        texts = []
        for _, f in plain:
            text = _data_json(f.get("data", {}))
            texts.append(text if isinstance(text, str) else "")
    odd = {k for k, t in enumerate(texts) if not t or len(t) > _LARGE_DATA} | _suspects(texts)
    joined = "".join(texts)
    if "NaN" in joined or "Infinity" in joined:
        odd.update(k for k, t in enumerate(texts) if "NaN" in t or "Infinity" in t)
    for k, ((i, f), text) in enumerate(zip(plain, texts, strict=True)):
        out[i] = _exact(items()[i]) if k in odd else (f, text)
    return cast(list[ParsedEvent | EventError], out)


__all__ = [
    "BatchEnvelope",
    "BatchError",
    "BatchTooLargeError",
    "EventFields",
    "ParsedEvent",
    "batch_items",
    "parse_batch_json",
    "parse_events",
    "parse_events_json",
]
