"""Many terminals posting at once to a real server: every batch is stored, none waits for a
database connection. (A request used to hold one pooled connection for the credential check
and ask for a second to store; 15 concurrent posts drained the default pool and stalled.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx

from .conftest import LiveServer, Seeded, event

CONCURRENT = 40  # well over the pool's 5 + 10 connections


async def _post_all(srv: LiveServer, seeded: Seeded) -> list[httpx.Response]:
    now = datetime.now(UTC)
    tids = sorted(seeded.credentials)
    async with httpx.AsyncClient(base_url=srv.url, timeout=20.0) as client:

        async def post(i: int) -> httpx.Response:
            tid = tids[i % len(tids)]
            batch = [
                event(tid, 1000 + i * 10 + k, "lifecycle", now, event="boot") for k in range(5)
            ]
            return await client.post(
                "/api/v1/ingest/batch",
                json={"events": batch},
                headers={"Authorization": f"Bearer {seeded.credentials[tid]}"},
            )

        return await asyncio.gather(*(post(i) for i in range(CONCURRENT)))


def test_forty_terminals_posting_at_once_are_all_stored(
    live_server: tuple[LiveServer, Seeded],
) -> None:
    srv, seeded = live_server
    answers = asyncio.run(_post_all(srv, seeded))
    assert [a.status_code for a in answers] == [200] * CONCURRENT
    assert sum(a.json()["stored"] for a in answers) == CONCURRENT * 5
