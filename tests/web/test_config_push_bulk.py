"""A parameter push from the fleet: the parameters checked before anything is sent, each
terminal's diff against the config its newest heartbeat reported, then the same staged bulk
machinery as software (a first stage given as a list of terminals here), over the API and the
dashboard's forms."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from posguard.fleet import config_params
from posguard.fleet.api.app import create_app
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.models import BulkAction, Command, TerminalLiveness
from posguard.fleet.web import option_cache
from posguard.fleet.web.i18n import messages
from posguard.terminal import config_push

from .conftest import PASSWORD, T0, Seeded
from .test_pages import login

COMMANDS = ["doctor", "re_sign_on", "reboot", "rollback", "settle", "update_config"]
HOSTS = [{"name": "primary", "host": "10.0.0.2", "port": 5800, "tls": {"enabled": False}}]
REPORTED: dict[str, dict[str, Any] | None] = {
    "T1001": {"merchant_name": "Old Shop", "timeouts.read": 30.0, "hosts": HOSTS},
    "T1002": {"merchant_name": "新店 New Shop", "timeouts.read": 12.0, "hosts": HOSTS},
    "T2001": None,  # an older agent: no config in its heartbeat
}
PARAMS = {"timeouts.read": 12, "merchant_name": "新店 New Shop"}


@pytest.fixture
def client(seeded: Seeded) -> Iterator[TestClient]:
    option_cache.forget()
    engine = make_engine(seeded.url)
    with make_sessionmaker(engine).begin() as s:
        for tid, config in REPORTED.items():
            data: dict[str, Any] = {"commands": COMMANDS, "firmware": "2.1.0"}
            if config is not None:
                data["config"] = config
            s.add(
                TerminalLiveness(
                    terminal_id=tid,
                    merchant_id="M01" if tid.startswith("T1") else "M02",
                    last_heartbeat_at=T0,
                    received_at=T0,
                    seq=1,
                    interval_s=60.0,
                    data=data,
                )
            )
    engine.dispose()
    settings = seeded.settings.model_copy(update={"diagnosis_in_process": False})
    with TestClient(
        create_app(settings), base_url="http://127.0.0.1", headers={"Accept-Language": "en"}
    ) as c:
        yield c


def _token(c: TestClient, username: str) -> dict[str, str]:
    r = c.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _sent(seeded: Seeded) -> list[tuple[str, str, dict[str, Any]]]:
    engine = make_engine(seeded.url)
    with make_sessionmaker(engine)() as s:
        rows = s.execute(
            select(Command.terminal_id, Command.name, Command.args).order_by(Command.terminal_id)
        ).all()
    engine.dispose()
    return [(t, n, dict(a)) for t, n, a in rows]


def test_the_fleet_offers_only_what_the_terminal_takes() -> None:
    """Every parameter the dashboard offers is one the terminal's push accepts, and has its
    label in both languages."""
    table = messages()
    for p in config_params.PARAMS:
        assert config_push.refusal(p.key) is None, p.key
        assert set(table[f"param.{p.key}"]) == {"zh", "en"}


def test_the_api_diffs_against_each_terminals_reported_config(client: TestClient) -> None:
    ops = _token(client, "ops")
    body = {"selection": {"filter": {"model": "PX-5"}}, "params": PARAMS}
    r = client.post("/api/v1/bulk-actions/config-diff", json=body, headers=ops)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["changing"], out["unchanged"], out["unknown"]) == (1, 1, 1)
    assert out["params"] == {"timeouts.read": 12.0, "merchant_name": "新店 New Shop"}
    rows = {t["terminal_id"]: t["changes"] for t in out["terminals"]}
    assert rows["T1001"] == [
        {"key": "timeouts.read", "old": 30.0, "new": 12.0},
        {"key": "merchant_name", "old": "Old Shop", "new": "新店 New Shop"},
    ]
    assert rows["T1002"] == []
    assert rows["T2001"] is None
    assert out["terminals"][0]["terminal_id"] == "T1001"  # the changing ones first
    # a host list compares by name, host and port (the terminal keeps its TLS files)
    same_hosts = {**body, "params": {"hosts": "primary=10.0.0.2:5800"}}
    r = client.post("/api/v1/bulk-actions/config-diff", json=same_hosts, headers=ops)
    assert (r.json()["changing"], r.json()["unchanged"]) == (0, 2)


def test_the_api_pushes_in_stages_with_a_listed_first_stage(
    client: TestClient, seeded: Seeded
) -> None:
    ops = _token(client, "ops")
    body = {
        "name": "update_config",
        "selection": {"filter": {"model": "PX-5"}},
        "params": PARAMS,
        "first_terminals": ["T2001"],
        "max_failure": 0.2,
    }
    r = client.post("/api/v1/bulk-actions", json=body, headers=ops)
    assert r.status_code == 201, r.text
    out = r.json()
    assert [(s["size"], s["released"]) for s in out["stages"]] == [(1, True), (2, False)]
    assert out["args"] == {"timeouts.read": 12.0, "merchant_name": "新店 New Shop"}
    assert _sent(seeded) == [("T2001", "update_config", out["args"])]
    released = client.post(f"/api/v1/bulk-actions/{out['id']}/release", headers=ops).json()
    assert released["state"] == "done"
    assert [t for t, *_ in _sent(seeded)] == ["T1001", "T1002", "T2001"]


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"first_terminals": ["T2001", "T9999"]}, 422, "first stage: T9999 not among the 3"),
        ({"params": {"tmk": "00" * 16}}, 422, "'tmk' is not a parameter the fleet pushes"),
        ({"params": {"timeouts.read": 999}}, 422, "timeouts.read must be above 0 and at most"),
        ({"params": {"hosts": "primary=10.0.0.2"}}, 422, "is not name=host:port"),
        ({"params": {}}, 422, "choose at least one parameter"),
        ({"first_pct": 30, "first_terminals": ["T2001"]}, 422, "not both"),
        ({"params": None}, 422, "params: give them with update_config"),
    ],
    ids=["stray-first", "secret", "range", "hosts", "empty", "pct-and-list", "no-params"],
)
def test_the_api_refuses_a_bad_push_and_sends_nothing(
    client: TestClient, seeded: Seeded, change: dict[str, Any], status: int, says: str
) -> None:
    ops = _token(client, "ops")
    body = {"name": "update_config", "selection": {"filter": {"model": "PX-5"}}, "params": PARAMS}
    body = {k: v for k, v in {**body, **change}.items() if v is not None}
    r = client.post("/api/v1/bulk-actions", json=body, headers=ops)
    assert r.status_code == status, r.text
    assert says in r.text
    assert _sent(seeded) == []


def test_a_listed_first_stage_works_for_any_bulk_command(
    client: TestClient, seeded: Seeded
) -> None:
    ops = _token(client, "ops")
    body = {
        "name": "re_sign_on",
        "selection": {"terminals": ["T1001", "T1002", "T2001"]},
        "first_terminals": ["T1002", "T1001"],
    }
    out = client.post("/api/v1/bulk-actions", json=body, headers=ops).json()
    assert [(s["size"], s["released"]) for s in out["stages"]] == [(2, True), (1, False)]
    assert [t for t, *_ in _sent(seeded)] == ["T1001", "T1002"]


def test_the_dashboard_shows_the_diff_before_the_one_confirmation(
    client: TestClient, seeded: Seeded
) -> None:
    csrf = login(client, "ops")
    new = client.get("/ui/bulk/new?model=PX-5").text
    assert 'name="p.timeouts.read"' in new
    assert 'id="first-terminals"' in new
    form = {
        "csrf": csrf,
        "name": "update_config",
        "model": "PX-5",
        "p.timeouts.read": "12",
        "p.merchant_name": "新店 New Shop",
        "p.operator": "",  # blank: not pushed
        "first_terminals": "T1001",
    }
    confirm = client.post("/ui/bulk", data=form)
    assert confirm.status_code == 200, confirm.text
    page = confirm.text
    assert "1 will change, 1 already have these values, 1 have not reported their config." in page
    assert 'data-terminal="T1001" data-diff="change" data-key="timeouts.read"' in page
    assert '<td class="old">30</td><td class="new"><b>12</b></td>' in page
    assert 'data-terminal="T1002" data-diff="same"' in page
    assert 'data-terminal="T2001" data-diff="unknown"' in page
    assert "First 1 now; the other 2 when you release them." in page
    assert '<input type="hidden" name="p.timeouts.read" value="12">' in page
    assert _sent(seeded) == []
    sent = client.post("/ui/bulk", data={**form, "confirm": "yes"}, follow_redirects=False)
    assert sent.status_code == 303
    assert _sent(seeded) == [
        ("T1001", "update_config", {"timeouts.read": 12.0, "merchant_name": "新店 New Shop"})
    ]
    engine = make_engine(seeded.url)
    with make_sessionmaker(engine)() as s:
        (bulk,) = s.scalars(select(BulkAction)).all()
        assert bulk.plan == [["T1001"], ["T1002", "T2001"]]
    engine.dispose()
    refused = client.post("/ui/bulk", data={**form, "p.timeouts.read": "0"})
    assert refused.status_code == 422
    assert "timeouts.read must be above 0" in refused.text
    stray = client.post("/ui/bulk", data={**form, "first_terminals": "T1001, T4242"})
    assert stray.status_code == 422
    assert "T4242 not among" in stray.text
