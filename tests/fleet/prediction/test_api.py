"""The prediction API over the real app and database: heartbeats with wear counters in through
the ingest API, the visit list per area with its reasons, merchant confinement, and visits
recorded against predictions closing the loop."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from ..conftest import T0, Api, event


def wear_history(reader_share_last_days: list[float], *, seed: int) -> list[dict[str, int]]:
    """Cumulative counters every 6 hours over 28 days (112 heartbeats), ~400 card reads a day;
    the failure share is 2 % except on the last days, as given (one per day)."""
    rng = np.random.default_rng(seed)
    shares = [0.02] * (28 - len(reader_share_last_days)) + reader_share_last_days
    totals = {
        "card_reads": 0,
        "card_read_failures": 0,
        "printer_lines": 0,
        "printer_overheat": 0,
        "boots": 1,
        "watchdog_restarts": 0,
    }
    out = []
    for day in range(28):
        for _ in range(4):
            reads = 100
            totals["card_reads"] += reads
            totals["card_read_failures"] += int(rng.binomial(reads, shares[day]))
            totals["printer_lines"] += 900
            out.append(dict(totals))
    return out


def send(api: Api, terminal_id: str, history: list[dict[str, int]], merchant_id: str) -> None:
    start = T0 - timedelta(days=28) + timedelta(hours=1)
    events = [
        event(
            terminal_id,
            i + 1,
            kind="heartbeat",
            ts=start + timedelta(hours=6 * i),
            merchant_id=merchant_id,
            data={"uptime_s": 60, "interval_s": 60, "wear": wear},
        )
        for i, wear in enumerate(history)
    ]
    r = api.client.post(
        "/api/v1/ingest/batch", json={"events": events}, headers=api.as_terminal(terminal_id)
    )
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == len(events)  # each the sample of its hour


def ramp(days: int) -> list[float]:
    return [0.02 + 0.2 * ((i + 1) / days) ** 2 for i in range(days)]


def test_visit_list_reasons_confinement_and_the_loop(api: Api) -> None:
    ops, m01, m02 = api.headers["ops"], api.headers["m01"], api.headers["m02"]
    send(api, "T1", wear_history(ramp(7), seed=1), "M01")  # a card reader wearing out
    send(api, "T2", wear_history([], seed=2), "M01")  # healthy
    send(api, "T3", wear_history([], seed=3), "M02")  # healthy, another merchant

    lists = api.client.get("/api/v1/prediction/visit-list", headers=ops).json()
    assert [a["area"] for a in lists] == ["pudong"]
    (t1,) = lists[0]["terminals"]
    assert t1["terminal_id"] == "T1"
    assert t1["due"] is True
    assert t1["component"] == "card_reader"
    assert t1["risk"] >= 0.3
    top = t1["evidence"][0]
    assert top["recent_rate"] > 4 * top["baseline_rate"]
    texts = " | ".join(r["en"] for r in top["reasons"])
    assert "Theil–Sen" in texts
    assert "failed reads and chip fallbacks per read" in texts
    assert all(r["zh"] for r in top["reasons"])

    healthy = api.client.get("/api/v1/prediction/terminals/T2", headers=ops).json()
    assert healthy["due"] is False
    assert healthy["risk"] < 0.3
    assert {e["component"] for e in healthy["evidence"]} == {"card_reader", "printer", "device"}

    # a merchant sees its own terminals only
    assert api.client.get("/api/v1/prediction/visit-list", headers=m02).json() == []
    assert api.client.get("/api/v1/prediction/terminals/T1", headers=m02).status_code == 404
    assert api.client.get("/api/v1/prediction/visit-list", headers=m01).json()[0]["area"] == (
        "pudong"
    )

    # recording the visit: staff only; a part replaced needs a confirmed wear
    visit: dict[str, Any] = {"terminal_id": "T1", "outcome": "confirmed", "part_replaced": True}
    assert api.client.post("/api/v1/prediction/visits", json=visit, headers=m01).status_code == 403
    bad = {**visit, "outcome": "not_confirmed"}
    r = api.client.post("/api/v1/prediction/visits", json=bad, headers=ops)
    assert r.status_code == 422
    assert "only a visit that confirmed" in r.text
    r = api.client.post("/api/v1/prediction/visits", json=visit, headers=ops)
    assert r.status_code == 201, r.text
    stored = r.json()
    assert stored["component"] == "card_reader"  # taken from the prediction
    assert stored["risk"] == t1["risk"]
    assert stored["performed_by"] == "ops"

    # the loop is closed: T1 is off the list, and its new reader starts with a clean history
    api.clock.set(T0 + timedelta(hours=1))
    assert api.client.get("/api/v1/prediction/visit-list", headers=ops).json() == []
    after = api.client.get("/api/v1/prediction/terminals/T1", headers=ops).json()
    assert after["due"] is False
    reader = [e for e in after["evidence"] if e["component"] == "card_reader"]
    assert reader == [] or reader[0]["risk"] < 0.3
    stats = api.client.get("/api/v1/prediction/visits/stats", headers=ops).json()
    assert stats == {"visits": 1, "confirmed": 1, "confirmed_share": 1.0}
    assert api.client.get("/api/v1/prediction/visits/stats", headers=m02).json()["visits"] == 0
    listed = api.client.get("/api/v1/prediction/visits?terminal_id=T1", headers=m01).json()
    assert [v["outcome"] for v in listed] == ["confirmed"]


def test_a_heartbeat_without_counters_has_no_prediction(api: Api) -> None:
    r = api.client.post(
        "/api/v1/ingest/batch",
        json={
            "events": [
                event("T2", 1, kind="heartbeat", ts=T0 - timedelta(hours=2), data={"uptime_s": 5})
            ]
        },
        headers=api.as_terminal("T2"),
    )
    assert r.status_code == 200
    got = api.client.get("/api/v1/prediction/terminals/T2", headers=api.headers["ops"]).json()
    assert got["risk"] is None
    assert got["evidence"] == []
    assert got["due"] is False
    r = api.client.post(
        "/api/v1/prediction/visits",
        json={"terminal_id": "T2", "outcome": "not_confirmed"},
        headers=api.headers["ops"],
    )
    assert r.status_code == 422
    assert "name the component" in r.text
