"""A staged software rollout over the real API and SQLite: the ``update`` command carries the
chosen package; terminals of other models are skipped; stage 1's failure rate counts the
command answers AND the terminals that report ``SW.UPDATE_FAILED`` for the version afterwards
(the watchdog rolled it back within its probation), and the rollout pauses by itself above
its threshold."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from posguard.fleet.clock import FakeClock

from .conftest import Api, FleetDB, event, make_api, register
from .test_packages import make_package, upload

PX5 = ["T1", "T2", "T4", "T5", "T6", "T7", "T8", "T9"]


@pytest.fixture
def api(fleet_db: FleetDB, clock: FakeClock, tmp_path: Path) -> Iterator[Api]:
    """The same on SQLite and on PostgreSQL."""
    for gen in [make_api(fleet_db, clock, package_dir=tmp_path / "packages")]:
        api = next(gen)
        for tid in PX5[2:]:
            api.creds[tid] = register(fleet_db, tid)
        yield api
        for _ in gen:
            pass


def rollout(api: Api, sha: str, **extra: Any) -> Any:
    body = {
        "name": "update",
        "package": sha,
        "selection": {"terminals": [*PX5, "T3"]},
        "first_pct": 25,
        "max_failure": 0.3,
        **extra,
    }
    return api.client.post("/api/v1/bulk-actions", json=body, headers=api.headers["ops"])


def answer(api: Api, tid: str, seq: int, status: str, **data: Any) -> None:
    (cmd,) = api.client.get(
        f"/api/v1/terminals/{tid}/commands/pending", headers=api.as_terminal(tid)
    ).json()
    assert cmd["name"] == "update"
    ev = event(
        tid,
        seq,
        kind="command_result",
        data={"command_id": cmd["command_id"], "status": status, "detail": "x"},
    )
    r = api.client.post("/api/v1/ingest", json=ev, headers=api.as_terminal(tid))
    assert r.status_code < 300, r.text


def test_stage_one_pauses_when_a_terminal_rolls_back_within_probation(api: Api) -> None:
    pkg = upload(api, make_package("2.2.0")).json()
    r = rollout(api, pkg["sha256"])
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["skipped"] == ["T3"]  # a QX-9: the package is for PX-5
    assert [(s["size"], s["released"]) for s in out["stages"]] == [(2, True), (6, False)]
    first = sorted(c["terminal_id"] for c in out["commands"])
    assert len(first) == 2
    assert out["args"] == {"version": "2.2.0", "sha256": pkg["sha256"], "size": pkg["size"]}
    for tid in first:
        answer(api, tid, 1, "ok")
    url = f"/api/v1/bulk-actions/{out['id']}"
    now = api.client.get(url, headers=api.headers["ops"]).json()
    assert now["state"] == "running"
    assert now["stages"][0]["failure_rate"] == 0.0
    # the new version crashes on one of them; its watchdog rolls back and reports it
    fault = event(
        first[1],
        2,
        kind="fault",
        code="SW.UPDATE_FAILED",
        data={
            "from_version": "2.1.0",
            "to_version": "2.2.0",
            "stage": "probation",
            "reason": "runtime exited 1 three times",
            "running": "2.1.0",
        },
    )
    assert (
        api.client.post("/api/v1/ingest", json=fault, headers=api.as_terminal(first[1])).status_code
        < 300
    )
    now = api.client.get(url, headers=api.headers["ops"]).json()
    assert now["state"] == "paused"
    assert now["stages"][0]["failure_rate"] == 0.5
    assert api.client.post(f"{url}/release", headers=api.headers["ops"]).status_code == 409
    assert now["sent"] == 2  # the other six got nothing


def test_a_failed_answer_pauses_and_release_anyway_sends_the_rest(api: Api) -> None:
    pkg = upload(api, make_package("2.2.0")).json()
    out = rollout(api, pkg["sha256"]).json()
    tids = sorted(c["terminal_id"] for c in out["commands"])
    answer(api, tids[0], 1, "failed")
    url = f"/api/v1/bulk-actions/{out['id']}"
    assert api.client.get(url, headers=api.headers["ops"]).json()["state"] == "paused"
    done = api.client.post(f"{url}/release?anyway=true", headers=api.headers["ops"]).json()
    assert (done["state"], done["sent"]) == ("done", 8)


def test_the_package_goes_with_update_only(api: Api) -> None:
    pkg = upload(api, make_package("2.2.0")).json()
    ops = api.headers["ops"]
    sel = {"terminals": ["T1"]}
    no_pkg = api.client.post(
        "/api/v1/bulk-actions", json={"name": "update", "selection": sel}, headers=ops
    )
    assert no_pkg.status_code == 422
    other = api.client.post(
        "/api/v1/bulk-actions",
        json={"name": "reboot", "package": pkg["sha256"], "selection": sel},
        headers=ops,
    )
    assert other.status_code == 422
    assert rollout(api, "0" * 64).status_code == 404
    only_qx = api.client.post(
        "/api/v1/bulk-actions",
        json={"name": "update", "package": pkg["sha256"], "selection": {"terminals": ["T3"]}},
        headers=ops,
    )
    assert only_qx.status_code == 409  # no selected terminal is a PX-5
    assert (
        api.client.post(
            "/api/v1/bulk-actions",
            json={"name": "update", "package": pkg["sha256"], "selection": sel},
            headers=api.headers["m01"],
        ).status_code
        == 403
    )
