"""Batch validation gives each event exactly the verdict and message ``parse_event`` gives it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posguard.common.errors import EventError
from posguard.common.event_batch import (
    BatchError,
    parse_batch_json,
    parse_events,
    parse_events_json,
)
from posguard.common.events import EventKind, parse_event

PAN = "6212345678901232"  # UnionPay BIN, valid Luhn


def _event(seq: int = 1, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "v": 1,
        "terminal_id": "T0000001",
        "merchant_id": "898310048990001",
        "seq": seq,
        "ts": "2026-11-25T10:00:00+08:00",
        "kind": "heartbeat",
        "data": {"uptime_s": 60, "firmware": "2.1.0"},
    }
    base.update(over)
    return base


def _alone(raw: Any) -> tuple[str, Any]:
    """What parse_event says about one item: ("ok", fields) or ("error", message)."""
    try:
        event = parse_event(raw)
    except EventError as exc:
        return "error", str(exc)
    return "ok", event.model_dump()


def _in_batch(item: Any) -> tuple[str, Any]:
    if isinstance(item, EventError):
        return "error", str(item)
    fields, text = item
    full = {"v": 1, "code": None, "data": {}, **fields}
    assert json.loads(text) == full["data"]
    return "ok", full


def test_a_clean_batch_is_valid_with_data_as_json_text() -> None:
    out = parse_events([_event(seq) for seq in range(50)])
    assert [_in_batch(x) for x in out] == [_alone(_event(seq)) for seq in range(50)]
    fields, text = out[3]  # type: ignore[misc]
    assert fields["seq"] == 3
    assert fields["kind"] is EventKind.HEARTBEAT
    assert json.loads(text) == {"uptime_s": 60, "firmware": "2.1.0"}


def test_each_bad_event_is_refused_with_its_own_reason_and_the_rest_pass() -> None:
    batch: list[Any] = [
        _event(1),
        _event(-1),
        _event(3, kind="fault"),  # no code
        _event(4, data={"note": f"card {PAN[:4]} {PAN[4:8]} {PAN[8:12]} {PAN[12:]}"}),
        _event(5, data={"rows": [{"pan": int(PAN)}]}),
        _event(6, data={"x": "\u0001" + PAN}),  # behind a \\u escape in the JSON text
        _event(7, data={"x": "终端" + PAN}),  # right after non-ASCII text
        _event(8, data={"amount": float(PAN)}),  # a card number written as a float
        _event(9, data={PAN: 1}),  # or as a key
        _event(10, data={"rrn": "412345678901", "mid": "898310048161234"}),
        _event(11, data={"v": float("nan")}),
        json.dumps(_event(12)).encode(),
        [1, 2],
        _event(14, code="NET.READ_TIMEOUT\n", kind="fault"),
        _event(15, extra=1),
        _event(16),
    ]
    out = parse_events(batch)
    verdicts = [_in_batch(x) for x in out]
    for k, item in enumerate(batch):
        if k == 10:
            continue  # NaN: refused here, see below
        assert verdicts[k] == _alone(item), k
    assert [v[0] for v in verdicts] == [
        "ok", "error", "error", "error", "error", "error", "error", "error",
        "error", "ok", "error", "ok", "error", "ok", "error", "ok",
    ]  # fmt: skip
    assert "data.note" in verdicts[3][1]
    assert "data.rows[0].pan" in verdicts[4][1]
    assert all(PAN not in str(v[1]) for v in verdicts if v[0] == "error")
    assert "NaN" in verdicts[10][1]


def test_a_valid_batch_of_one_hundred_is_not_slowed_by_one_bad_event() -> None:
    batch = [_event(seq) for seq in range(100)]
    batch[57] = _event(57, data={"pan": PAN})
    out = parse_events(batch)
    assert [k for k, x in enumerate(out) if isinstance(x, EventError)] == [57]


_text = st.text(
    alphabet=st.sampled_from([*"0123456789", " ", "-", "a", "é", "\u0001", "\n", '"', "\\"]),
    max_size=40,
)
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | _text | st.sampled_from([PAN, int(PAN)]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_events = st.fixed_dictionaries(
    {
        "terminal_id": st.sampled_from(["T1", "", "T 1"]),
        "merchant_id": st.just("M1"),
        "seq": st.integers(min_value=-1, max_value=2**64),
        "ts": st.sampled_from(["2026-11-25T10:00:00Z", "2026-11-25T10:00:00", "x"]),
        "kind": st.sampled_from([*(k.value for k in EventKind), "nope"]),
        "data": st.dictionaries(_text, _values, max_size=4),
    },
    optional={"code": st.sampled_from([None, "NET.READ_TIMEOUT", "bad", "PRN.X\n"])},
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_events, max_size=6))
def test_batch_verdicts_equal_one_by_one_verdicts(batch: list[dict[str, Any]]) -> None:
    assert [_in_batch(x) for x in parse_events(batch)] == [_alone(e) for e in batch]


@settings(max_examples=200, deadline=None)
@given(st.lists(_events, max_size=6))
def test_batch_from_json_bytes_gives_the_verdicts_of_decoded_events(
    batch: list[dict[str, Any]],
) -> None:
    body = json.dumps({"events": batch}).encode()
    from_bytes = [_in_batch(x) for x in parse_batch_json(body)]
    assert from_bytes == [_alone(e) for e in json.loads(body)["events"]]


def test_batch_from_json_bytes_of_clean_events_skips_the_decoded_path() -> None:
    body = json.dumps({"events": [_event(seq) for seq in range(20)], "meta": 1}).encode()
    out = parse_batch_json(body)
    assert [f["seq"] for f, _ in out] == list(range(20))  # type: ignore[index]
    assert json.loads(out[3][1]) == {"uptime_s": 60, "firmware": "2.1.0"}  # type: ignore[index]


def test_batch_from_json_bytes_refuses_a_body_that_is_not_an_envelope() -> None:
    for body, says in [
        (b"\xff", "body: not JSON"),
        (b"[]", "body: must be a JSON object"),
        (b"{}", "events: missing"),
        (b'{"events": "x"}', "events: must be an array"),
    ]:
        with pytest.raises(BatchError, match=says):
            parse_batch_json(body)


@settings(max_examples=200, deadline=None)
@given(st.lists(_events, min_size=1, max_size=6))
def test_payload_fast_path_is_all_or_nothing_with_the_exact_verdicts(
    batch: list[dict[str, Any]],
) -> None:
    """An MQTT payload validated from its bytes: either None (the caller takes the exact
    path) or, for every event, the verdict parse_event gives it alone."""
    for payload in (json.dumps(batch).encode(), json.dumps(batch[0]).encode()):
        fast = parse_events_json(payload)
        decoded = json.loads(payload)
        alone = [_alone(e) for e in (decoded if isinstance(decoded, list) else [decoded])]
        if fast is not None:
            assert [_in_batch(x) for x in fast] == alone
        else:
            assert any(verdict == "error" for verdict, _ in alone)


def test_payload_fast_path_takes_clean_arrays_and_single_objects() -> None:
    many = parse_events_json(json.dumps([_event(1), _event(2)]).encode())
    one = parse_events_json(json.dumps(_event(3)).encode())
    assert many is not None
    assert [f["seq"] for f, _ in many] == [1, 2]  # type: ignore[index]
    assert one is not None
    assert one[0][0]["seq"] == 3  # type: ignore[index]
    assert parse_events_json(b"[1, 2]") is None
    assert parse_events_json(b"not json") is None
