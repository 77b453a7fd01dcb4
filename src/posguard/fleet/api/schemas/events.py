"""Event schemas (ingest results and stored events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field

from posguard.common.events import Event
from posguard.fleet.ingest.store import Outcome


class EventBase(BaseModel):
    terminal_id: str
    merchant_id: str
    seq: int
    ts: datetime
    kind: str
    code: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class EventPublic(EventBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    received_at: datetime


class IngestResultPublic(BaseModel):
    index: int
    outcome: Outcome
    terminal_id: str | None = None
    seq: int | None = None
    reason: str | None = None


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def event_json_schema() -> dict[str, Any]:
    """The telemetry event's JSON schema (:class:`posguard.common.events.Event`), self-contained
    so it can sit inside the OpenAPI document."""
    schema = Event.model_json_schema()
    return cast(dict[str, Any], _inline_refs(schema, schema.get("$defs", {})))


class BatchCreate(BaseModel):
    events: list[Any] = Field(description="Telemetry events (see posguard.common.events).")


class BatchResultPublic(BaseModel):
    stored: int
    duplicate: int
    rejected: int
    results: list[IngestResultPublic]
    confirmed: list[tuple[int, int]] = Field(
        description="Inclusive [first, last] seq ranges the fleet holds (stored or duplicate): "
        "the terminal may forget these events; a rejected one is not confirmed."
    )
