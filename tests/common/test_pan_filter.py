"""No clear card number gets into an event, however it is written.

PCI DSS v4.0 requirement 3.4.1 / 3.5.1: the PAN is unreadable wherever it is stored, so the
fleet database must never receive one in clear. Hypothesis builds Luhn-valid numbers of real
brand prefixes and lengths and writes them the ways a careless integration does: groups split
by dots, slashes, underscores, double or zero-width spaces, full-width digits, as a JSON number,
as an object key, as a list of groups. Every path in refuses them alike: one event
(``parse_event``), a batch of objects (``parse_events``), an HTTP batch body and an MQTT payload
validated from their bytes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posguard.card import contains_pan, luhn_valid
from posguard.common.errors import EventError
from posguard.common.event_batch import (
    BatchError,
    parse_batch_json,
    parse_events,
    parse_events_json,
)
from posguard.common.events import parse_event

# (prefix, lengths) from the published brand ranges in posguard.card's BIN table
_BRANDS = [
    ("62", (16, 19)),  # UnionPay
    ("4", (16, 13, 19)),  # Visa
    ("53", (16,)),  # Mastercard
    ("2221", (16,)),  # Mastercard 2-series
    ("37", (15,)),  # Amex
    ("6011", (16,)),  # Discover
    ("3530", (16,)),  # JCB
]
_SEPARATORS = [" ", "  ", "-", ".", "/", "_", "\u200b", " \u200b", "\u2060", "\t", "\u3000"]
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _with_check_digit(body: str) -> str:
    for d in "0123456789":
        if luhn_valid(body + d):
            return body + d
    raise AssertionError("unreachable: one check digit always fits")


@st.composite
def pans(draw: st.DrawFn) -> str:
    prefix, lengths = draw(st.sampled_from(_BRANDS))
    length = draw(st.sampled_from(lengths))
    middle = draw(st.text("0123456789", min_size=length - len(prefix) - 1).map(str))
    return _with_check_digit((prefix + middle)[: length - 1])


@st.composite
def groups(draw: st.DrawFn) -> list[str]:
    pan = draw(pans())
    out, i = [], 0
    while i < len(pan):
        size = draw(st.integers(3, 6))
        out.append(pan[i : i + size])
        i += size
    return out


@st.composite
def written_pans(draw: st.DrawFn) -> dict[str, Any]:
    """An event's ``data`` holding a card number in one of the forms seen in the wild."""
    parts = draw(groups())
    pan = "".join(parts)
    form = draw(st.sampled_from(["text", "full_width", "number", "float", "key", "list"]))
    if form in ("text", "full_width"):
        sep = draw(st.sampled_from(_SEPARATORS))
        written = sep.join(parts)
        if form == "full_width":
            written = written.translate(_FULL_WIDTH)
        before = draw(st.sampled_from(["", "card ", "卡号：", "pan="]))
        return {"note": f"{before}{written}{draw(st.sampled_from(['', ' ok', '，谢谢']))}"}
    if form == "number":
        return {"amount": int(pan)}
    if form == "float":
        return {"amount": float(pan)} if len(pan) <= 15 else {"amount": int(pan)}
    if form == "key":
        return {"by_card": {pan: 1}}
    return {"card": parts if draw(st.booleans()) else [p.translate(_FULL_WIDTH) for p in parts]}


def _event(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "v": 1,
        "terminal_id": "T1",
        "merchant_id": "M1",
        "seq": 1,
        "ts": "2026-11-25T10:00:00Z",
        "kind": "transaction",
        "data": data,
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(written_pans())
def test_every_written_form_of_a_card_number_is_refused_on_every_path(data: dict[str, Any]) -> None:
    event = _event(data)
    with pytest.raises(EventError, match="card number"):
        parse_event(event)
    (alone,) = parse_events([event])
    assert isinstance(alone, EventError)
    body = json.dumps({"events": [event]}, ensure_ascii=False).encode()
    (in_batch,) = parse_batch_json(body)
    assert isinstance(in_batch, EventError)
    payload = json.dumps([event, event], ensure_ascii=False).encode()
    from_mqtt = parse_events_json(payload)
    assert from_mqtt is None or all(isinstance(p, EventError) for p in from_mqtt)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 10**6), max_size=20),
    st.sampled_from(["2026-11-25 10:00:00.123", "v3.0.1", "10.0.0.1", "+86 138-0013-8000"]),
)
def test_ordinary_numbers_dates_and_addresses_are_not_card_numbers(
    counts: list[int], text: str
) -> None:
    assert not contains_pan(text)
    parsed = parse_events([_event({"counts": counts, "note": text, "mid": "898310048161234"})])
    assert not isinstance(parsed[0], EventError)


def test_deeply_nested_data_is_refused_not_a_crash() -> None:
    deep = "[" * 5000 + "1" + "]" * 5000
    text = json.dumps({"events": [_event({"x": 1})]}).replace('"x": 1', f'"x": {deep}', 1)
    with pytest.raises(BatchError, match="nested too deeply"):  # Python's json gives up
        parse_batch_json(text.encode())
    shallow: Any = 1
    for _ in range(40):
        shallow = {"a": shallow}
    (refused,) = parse_events([_event({"x": shallow})])
    assert isinstance(refused, EventError)
    assert "nested deeper than 32" in str(refused)
