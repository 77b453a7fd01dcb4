"""Property-based fuzzing of the whole API from its OpenAPI spec (schemathesis strategies,
in-process ASGI): no input, authenticated or not, makes the service answer 5xx."""

from __future__ import annotations

from collections import Counter
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from .conftest import Api

EXAMPLES_PER_OPERATION = 15


def _fuzz(api: Api, op: Any, failures: list[str], seen: Counter[int]) -> None:
    terminal_auth = op.path.startswith("/api/v1/ingest") or op.path.endswith("/pending")
    headers = api.as_terminal("T1") if terminal_auth else api.headers["admin"]

    @given(case=op.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        response = case.call(headers={**(case.headers or {}), **headers})
        seen[response.status_code] += 1
        if response.status_code >= 500:
            where = f"{case.method} {case.formatted_path}"
            failures.append(f"{where} -> {response.status_code}: {response.text[:200]}")

    check()


_RESOURCES = [
    "auth",
    "users",
    "terminals",
    "events",
    "ingest",
    "incidents",
    "commands",
    "rules",
    "maintenance",
]
FLEET_PREFIXES = (*(f"/api/v1/{r}" for r in _RESOURCES), "/healthz", "/readyz", "/metrics")


def _fleet_path(path: str) -> bool:
    """The fleet's own operations (optional routers of other faces are fuzzed by their tests)."""
    return path.startswith(FLEET_PREFIXES)


def test_no_input_makes_the_api_fail_with_5xx(api: Api) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    operations = [r.ok() for r in schema.get_all_operations() if _fleet_path(r.ok().path)]
    assert len(operations) >= 25
    failures: list[str] = []
    seen: Counter[int] = Counter()
    for op in operations:
        _fuzz(api, op, failures, seen)
    assert failures == []
    # the fuzzing got past authentication and validation, not only bounced off them
    assert seen[200] + seen[201] > 3 * len(operations), seen
    assert seen[422] > 0, seen
