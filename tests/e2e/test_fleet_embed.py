"""The fleet service as the demo embeds it: migrated SQLite, terminals registered with working
credentials, the dashboard user able to log in, and a clean stop."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx

from posguard.sim.fleet_embed import DASHBOARD_USER, EmbeddedFleet
from posguard.sim.population import build_estate


async def test_embedded_fleet_takes_telemetry_and_lets_the_demo_user_in(tmp_path: Path) -> None:
    estate = build_estate(terminals=5, seed=11)
    fleet = EmbeddedFleet(tmp_path / "fleet.db")
    fleet.prepare(estate)
    await fleet.start()
    try:
        assert fleet.port > 0
        spec = estate.terminals[0]
        event = {
            "v": 1,
            "terminal_id": spec.terminal_id,
            "merchant_id": spec.merchant_id,
            "seq": 1,
            "ts": datetime.now(UTC).isoformat(),
            "kind": "fault",
            "code": "PRN.PAPER_OUT",
            "data": {"state": "paper_out"},
        }
        async with httpx.AsyncClient(base_url=fleet.base_url, timeout=10) as client:
            ok = await client.post(
                "/api/v1/ingest/batch",
                json={"events": [event]},
                headers={"Authorization": f"Bearer {fleet.tokens[spec.terminal_id]}"},
            )
            assert ok.status_code == 200, ok.text
            assert ok.json()["stored"] == 1
            other = estate.terminals[1].terminal_id
            wrong = await client.post(
                "/api/v1/ingest/batch",
                json={"events": [event]},
                headers={"Authorization": f"Bearer {fleet.tokens[other]}"},
            )
            assert wrong.json()["rejected"] == 1  # a credential speaks for its own terminal only
            page = await client.get("/ui/login")
            assert page.status_code == 200
            match = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert match is not None
            login = await client.post(
                "/ui/login",
                data={
                    "username": DASHBOARD_USER,
                    "password": fleet.password,
                    "csrf": match.group(1),
                    "next": "/ui/",
                },
            )
            assert login.status_code == 303, login.text[:500]
            overview = await client.get("/ui/")
            assert overview.status_code == 200
            assert "posguard" in overview.text
        assert fleet.event_counts() == {"fault": 1}
    finally:
        await fleet.stop()
    assert (tmp_path / "fleet.db").exists()
