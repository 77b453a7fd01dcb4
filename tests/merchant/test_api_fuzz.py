"""Schema-driven fuzzing of the merchant routes: no input makes them answer 5xx."""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings

from posguard.merchant.api import router


def test_no_input_makes_the_merchant_api_fail_with_5xx() -> None:
    app = FastAPI()
    app.include_router(router)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 6
    failures: list[str] = []
    for op in operations:

        @given(case=op.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call()
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.text[:300]}")

        check()
    assert failures == []
