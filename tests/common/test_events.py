"""The telemetry event schema: valid events pass, bad ones say what and where."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posguard.common.errors import EventError
from posguard.common.events import MAX_EVENT_BYTES, Event, EventKind, parse_event


def _event(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "v": 1,
        "terminal_id": "T0000001",
        "merchant_id": "898310048990001",
        "seq": 42,
        "ts": "2026-11-25T10:00:00+08:00",
        "kind": "fault",
        "code": "NET.READ_TIMEOUT",
        "data": {"host": "primary", "elapsed_ms": 30012},
    }
    base.update(over)
    return base


def test_valid_event_round_trips_through_json() -> None:
    event = parse_event(json.dumps(_event()).encode())
    assert event.kind is EventKind.FAULT
    again = parse_event(event.model_dump_json())
    assert again == event


@pytest.mark.parametrize(
    ("over", "fragment"),
    [
        ({"seq": -1}, "seq"),
        ({"terminal_id": ""}, "terminal_id"),
        ({"ts": "2026-11-25T10:00:00"}, "time zone"),
        ({"kind": "explosion"}, "kind"),
        ({"code": "read timeout"}, "DOMAIN.NAME"),
        ({"code": None}, "needs a catalog code"),
        ({"v": 2}, "v"),
        ({"extra": 1}, "extra"),
        ({"data": {"card": "6212345678901232"}}, "data.card"),
        ({"data": {"rows": [{"pan": 6212345678901232}]}}, "data.rows[0].pan"),
    ],
)
def test_bad_events_name_the_field(over: dict[str, Any], fragment: str) -> None:
    with pytest.raises(EventError) as info:
        parse_event(_event(**over))
    assert fragment in str(info.value)
    assert "6212345678901232" not in str(info.value)


def test_not_json_not_object_and_oversized_are_refused() -> None:
    for raw, fragment in [
        (b"\xff\xfe", "not JSON"),
        (b"[1,2]", "JSON object"),
        (b"{" + b" " * MAX_EVENT_BYTES + b"}", "larger than"),
    ]:
        with pytest.raises(EventError, match=fragment):
            parse_event(raw)


def test_events_are_immutable() -> None:
    event = Event.model_validate(_event())
    with pytest.raises(ValueError, match="frozen"):
        event.seq = 43  # type: ignore[misc]


@given(st.binary(max_size=512))
def test_arbitrary_bytes_only_ever_raise_event_error(raw: bytes) -> None:
    with contextlib.suppress(EventError):
        parse_event(raw)
