"""The MQTT ingest payload rules: which topic an events message comes on, and what one
message may hold (one event object, or a JSON array of its terminal's events within the size
and count limits). Pure: bytes in, event objects and drop reasons out; the worker
(:mod:`posguard.fleet.ingest.mqtt_worker`) stores and acknowledges."""

from __future__ import annotations

import json
import re
from typing import Any, Final

from posguard.common.events import MAX_EVENT_BYTES

SHARE_GROUP = "posguard-ingest"
TOPIC_ROOT = "posguard/v1"
SHARED_TOPIC = f"$share/{SHARE_GROUP}/{TOPIC_ROOT}/+/+/events"

MAX_BATCH_PAYLOAD_BYTES: Final = 1024 * 1024
"""The largest payload holding a JSON array of events (one event alone: ``MAX_EVENT_BYTES``)."""
MAX_BATCH_EVENTS: Final = 1000
"""The most events one array payload may hold (the HTTP batch's default limit too)."""

# JSON whitespace then "[": the payload is an array, so the array's size limit applies to it
_ARRAY_START: Final = re.compile(rb"[ \t\n\r]*\[")


def split_topic(topic: str, root: str = TOPIC_ROOT) -> tuple[str, str] | None:
    """(merchant_id, terminal_id) of an events topic under ``root``, or None.

    >>> split_topic("posguard/v1/M01/T0001/events")
    ('M01', 'T0001')
    >>> split_topic("posguard/v1/M01/events") is None
    True
    """
    head, sep, rest = topic.partition(root + "/")
    parts = rest.split("/")
    if head or not sep or len(parts) != 3 or parts[2] != "events" or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1]


def decode(
    topic: str, payload: bytes, root: str = TOPIC_ROOT
) -> tuple[list[dict[str, Any]], list[str]]:
    """The event objects of one message, and a reason for each part of it that is dropped.

    A payload dropped whole gives one reason: ``bad_topic``, ``too_large`` (one event over
    ``MAX_EVENT_BYTES``), ``batch_too_large`` (an array over ``MAX_BATCH_PAYLOAD_BYTES``),
    ``not_json``, ``not_object`` (neither an object nor an array), ``empty_batch`` or
    ``batch_too_many`` (an array of more than ``MAX_BATCH_EVENTS``). Otherwise each element of
    an array that is not an object gives ``not_object`` and each event whose ``merchant_id`` or
    ``terminal_id`` is not its topic's gives ``topic_mismatch``; the other events are returned.
    Schema checks happen in the store.

    >>> decode("posguard/v1/M1/T1/events", b'[{"merchant_id": "M1", "terminal_id": "T1"}, 7]')
    ([{'merchant_id': 'M1', 'terminal_id': 'T1'}], ['not_object'])
    >>> decode("posguard/v1/M1/T1/events", b" []")
    ([], ['empty_batch'])
    """
    where = split_topic(topic, root)
    if where is None:
        return [], ["bad_topic"]
    too_big = oversize(payload)
    if too_big is not None:
        return [], [too_big]
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return [], ["not_json"]
    merchant_id, terminal_id = where
    if isinstance(obj, dict):
        if obj.get("merchant_id") != merchant_id or obj.get("terminal_id") != terminal_id:
            return [], ["topic_mismatch"]
        return [obj], []
    if not isinstance(obj, list):
        return [], ["not_object"]
    if not obj:
        return [], ["empty_batch"]
    if len(obj) > MAX_BATCH_EVENTS:
        return [], ["batch_too_many"]
    events: list[dict[str, Any]] = []
    reasons: list[str] = []
    for item in obj:
        if not isinstance(item, dict):
            reasons.append("not_object")
        elif item.get("merchant_id") != merchant_id or item.get("terminal_id") != terminal_id:
            reasons.append("topic_mismatch")
        else:
            events.append(item)
    return events, reasons


def oversize(payload: bytes) -> str | None:
    """``batch_too_large`` for an array over ``MAX_BATCH_PAYLOAD_BYTES``, ``too_large`` for
    anything else over ``MAX_EVENT_BYTES``, None when the payload's size is allowed."""
    if _ARRAY_START.match(payload) is not None:
        return "batch_too_large" if len(payload) > MAX_BATCH_PAYLOAD_BYTES else None
    return "too_large" if len(payload) > MAX_EVENT_BYTES else None
