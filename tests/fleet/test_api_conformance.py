"""The OpenAPI document and the server agree (schemathesis, in-process ASGI): every answer to
generated valid and invalid requests is documented (status code, content type, body schema),
invalid input is refused with a 4xx, and stateful sequences of linked calls (what one answer
returns, the next one uses) hold too. Any violation fails the test."""

from __future__ import annotations

from collections import Counter
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import Api
from .test_api_fuzz import _fleet_path

EXAMPLES = 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _title(exc: Failure | FailureGroup) -> str:
    found = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
    return "; ".join(f"{f.title}: {f.message[:160]}" for f in found if isinstance(f, Failure))


def _headers(api: Api, path: str) -> dict[str, str]:
    terminal_auth = path.startswith("/api/v1/ingest") or path.endswith("/pending")
    return api.as_terminal("T1") if terminal_auth else api.headers["admin"]


def _check(
    api: Api, op: Any, mode: GenerationMode, failures: list[str], seen: Counter[int]
) -> None:
    headers = _headers(api, op.path)

    @given(case=op.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        try:
            response = case.call_and_validate(
                headers={**(case.headers or {}), **headers}, checks=CHECKS
            )
            seen[response.status_code] += 1
        except (Failure, FailureGroup) as exc:  # every violation is collected and reported
            failures.append(f"{mode.value} {case.method} {case.formatted_path}: {_title(exc)}")

    try:
        check()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # nothing to get wrong: no parameters, no body


def test_every_answer_is_documented_and_invalid_input_is_refused(api: Api) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    operations = [r.ok() for r in schema.get_all_operations() if _fleet_path(r.ok().path)]
    failures: list[str] = []
    seen: Counter[int] = Counter()
    for op in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _check(api, op, mode, failures, seen)
    report = "\n".join(sorted(set(failures)))
    assert failures == [], report
    assert seen[200] + seen[201] > len(operations), seen


def test_stateful_sequences_of_linked_calls_conform(api: Api) -> None:
    """Links between operations (explicit, or inferred by schemathesis from the answers) are
    followed: a terminal created, then read, commanded, listed; every step checked."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app).include(
        path_regex=r"^/api/v1/(terminals|incidents|commands|maintenance|events)"
    )
    base = schema.as_state_machine()
    failures: list[str] = []
    calls: Counter[str] = Counter()

    class Machine(base):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            calls[f"{case.method} {case.operation.path}"] += 1
            return {"headers": {**(case.headers or {}), **_headers(api, case.operation.path)}}

        def validate_response(self, response: Any, case: Any, **_kwargs: Any) -> None:
            try:
                case.validate_response(response, checks=CHECKS)
            except (Failure, FailureGroup) as exc:
                failures.append(f"{case.method} {case.formatted_path}: {_title(exc)}")

    Machine.TestCase.settings = settings(
        max_examples=15,
        stateful_step_count=6,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    Machine.run()
    assert failures == [], "\n".join(sorted(set(failures)))
    assert sum(calls.values()) > 15, calls  # sequences, not one call per example
    assert len(calls) >= 3, calls
