"""Who needs training on what (issue 20), through the API over a real database: terminals post
their transactions and operator errors (OPS.*) through the ingest; the training list puts the
merchant and the operator whose quick voids are far above the fleet's first with that topic,
leaves the others alone, ignores practice, and a recorded session shows the rate before and
after it; a merchant sees its own part only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .conftest import T0, Api, event


def _post(api: Api, tid: str, events: list[dict[str, Any]]) -> None:
    for i in range(0, len(events), 500):
        r = api.client.post(
            "/api/v1/ingest/batch",
            json={"events": events[i : i + 500]},
            headers=api.as_terminal(tid),
        )
        assert r.status_code == 200, r.text
        assert r.json()["stored"] == len(events[i : i + 500]), r.text


def _traffic(
    tid: str, merchant: str, operator: str, *, txns: int, voids: int, start_days: int, span: int
) -> list[dict[str, Any]]:
    """``txns`` sales and ``voids`` OPS.QUICK_VOID by ``operator`` spread over ``span`` days
    starting ``start_days`` before T0."""
    out, seq = [], _traffic.seq.get(tid, 0)  # type: ignore[attr-defined]
    for i in range(txns):
        seq += 1
        ts = T0 - timedelta(days=start_days) + timedelta(seconds=i * span * 86_400 / txns)
        out.append(
            event(
                tid,
                seq,
                kind="transaction",
                ts=ts,
                merchant_id=merchant,
                data={"type": "sale", "outcome": "approved", "operator": operator},
            )
        )
    for i in range(voids):
        seq += 1
        ts = T0 - timedelta(days=start_days) + timedelta(seconds=(i + 0.5) * span * 86_400 / voids)
        out.append(
            event(
                tid,
                seq,
                kind="fault",
                code="OPS.QUICK_VOID",
                ts=ts,
                merchant_id=merchant,
                data={"operator": operator, "stan": f"{i:06d}"},
            )
        )
    _traffic.seq[tid] = seq  # type: ignore[attr-defined]
    return out


_traffic.seq = {}  # type: ignore[attr-defined]


def test_training_list_and_the_effect_of_a_session(api: Api) -> None:
    _traffic.seq.clear()  # type: ignore[attr-defined]
    # M01's operator 02 voids right after the sale far more often than anyone, until trained
    _post(api, "T1", _traffic("T1", "M01", "02", txns=100, voids=12, start_days=27, span=13))
    _post(api, "T1", _traffic("T1", "M01", "02", txns=100, voids=1, start_days=13, span=13))
    _post(api, "T2", _traffic("T2", "M01", "01", txns=200, voids=0, start_days=27, span=27))
    _post(api, "T3", _traffic("T3", "M02", "01", txns=600, voids=1, start_days=27, span=27))
    # practice errors count nowhere
    practice = event(
        "T3",
        10_000,
        kind="fault",
        code="OPS.QUICK_VOID",
        ts=T0 - timedelta(days=1),
        merchant_id="M02",
        data={"operator": "01", "training": True},
    )
    _post(api, "T3", [practice])

    ops = api.headers["ops"]
    body = api.client.get("/api/v1/training/list?days=28", headers=ops).json()
    assert body["fleet_transactions"] == 1000
    assert body["fleet_per_1000"] == {"OPS.QUICK_VOID": 14.0}
    first, second = body["items"][:2]
    assert (first["merchant_id"], first["operator"]) == ("M01", "02")
    assert [t["code"] for t in first["topics"] if t["flagged"]] == ["OPS.QUICK_VOID"]
    assert first["topics"][0]["per_1000"] == 65.0  # 13 in 200
    assert (second["merchant_id"], second["operator"]) == ("M01", None)  # the shop as a whole
    flagged = {
        (i["merchant_id"], i["operator"])
        for i in body["items"]
        if any(t["flagged"] for t in i["topics"])
    }
    assert flagged == {("M01", "02"), ("M01", None)}  # M02 and M01's operator 01 are fine

    # the session held with operator 02, two weeks ago: the rate before and after it
    r = api.client.post(
        "/api/v1/training/sessions",
        json={
            "merchant_id": "M01",
            "operator": "02",
            "topics": ["OPS.QUICK_VOID"],
            "held_at": (T0 - timedelta(days=14)).isoformat(),
            "note": "void vs. amount check",
        },
        headers=ops,
    )
    assert r.status_code == 201, r.text
    assert r.json()["trainer"] == "ops"
    (effect,) = api.client.get("/api/v1/training/list", headers=ops).json()["sessions"]
    assert (effect["before_transactions"], effect["after_transactions"]) == (100, 100)
    assert (effect["before_per_1000"], effect["after_per_1000"]) == (120.0, 10.0)

    # a merchant sees its own part, and cannot record sessions
    mine = api.client.get("/api/v1/training/list", headers=api.headers["m02"]).json()
    assert {i["merchant_id"] for i in mine["items"]} == {"M02"}
    assert mine["sessions"] == []
    assert mine["fleet_transactions"] == 1000  # judged against the fleet
    refused = api.client.post(
        "/api/v1/training/sessions",
        json={"merchant_id": "M02", "topics": ["OPS.QUICK_VOID"]},
        headers=api.headers["m02"],
    )
    assert refused.status_code == 403


def test_a_bad_session_is_refused_naming_the_field(api: Api) -> None:
    ops = api.headers["ops"]
    for body, field in (
        ({"merchant_id": "M99", "topics": ["OPS.QUICK_VOID"]}, "merchant_id"),
        ({"merchant_id": "M01", "topics": ["PRN.PAPER_OUT"]}, "topics"),
        (
            {
                "merchant_id": "M01",
                "topics": ["OPS.QUICK_VOID"],
                "held_at": (T0 + timedelta(days=1)).isoformat(),
            },
            "held_at",
        ),
        ({"merchant_id": "M01", "topics": []}, "topics"),
    ):
        r = api.client.post("/api/v1/training/sessions", json=body, headers=ops)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["detail"][0]["loc"][-1] == field, r.text
    assert api.client.get("/api/v1/training/sessions", headers=ops).json() == []
