"""Terminal registration over HTTP (admin only, through ``fleet.provision``): the credential is
shown once and works for the new terminal's events; a terminal id already registered, a bad
id, a serial another terminal holds or an unknown merchant is refused with one line in the
reader's language, what was typed kept, and nothing written."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from posguard.fleet.api.app import create_app
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.models import Terminal

from .conftest import T0, Seeded
from .test_pages import login

FORM = {
    "id": "T3001",
    "merchant_id": "M02",
    "brand": "Acme",
    "model": "PX-7",
    "serial": "SN-PX7-0001",
    "acquirer_host": "acq-east",
    "area": "haidian",
    "location": "2F cashier",
}


@pytest.fixture
def client(seeded: Seeded) -> Iterator[TestClient]:
    settings = seeded.settings.model_copy(update={"diagnosis_in_process": False})
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as c:
        yield c


def _count(seeded: Seeded) -> int:
    engine = make_engine(seeded.url)
    with make_sessionmaker(engine)() as s:
        n = s.scalar(select(func.count()).select_from(Terminal))
    engine.dispose()
    return int(n or 0)


def test_register_shows_the_credential_once_and_it_works(
    client: TestClient, seeded: Seeded
) -> None:
    client.headers["Accept-Language"] = "en"
    login(client, "ops")
    assert client.get("/ui/admin/terminals/new").status_code == 403
    client.cookies.clear()
    csrf = login(client, "admin")
    page = client.get("/ui/admin/terminals/new").text
    assert 'value="M02"' in page
    r = client.post("/ui/admin/terminals/new", data={"csrf": csrf, **FORM})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    cred = re.search(r'<code id="credential">([^<]+)</code>', r.text)
    assert cred is not None
    assert "Terminal T3001 registered" in r.text
    ev = {
        "v": 1,
        "terminal_id": "T3001",
        "merchant_id": "M02",
        "seq": 1,
        "ts": T0.isoformat(),
        "kind": "heartbeat",
        "data": {},
    }
    got = client.post(
        "/api/v1/ingest/batch",
        json={"events": [ev]},
        headers={"Authorization": f"Bearer {cred[1]}"},
    )
    assert got.status_code == 200
    assert got.json()["stored"] == 1
    assert "SN-PX7-0001" in client.get("/ui/admin/terminals/T3001").text
    engine = make_engine(seeded.url)
    with make_sessionmaker(engine)() as s:
        t = s.get(Terminal, "T3001")
        assert t is not None
        got_fields = (t.merchant_id, t.brand, t.model, t.acquirer_host, t.area, t.location)
    engine.dispose()
    assert got_fields == ("M02", "Acme", "PX-7", "acq-east", "haidian", "2F cashier")
    assert "credential" not in client.get("/ui/admin/terminals/new").text.split("<form")[0]


@pytest.mark.parametrize(
    ("change", "status", "zh", "en"),
    [
        ({"id": "T1001"}, 409, "终端 T1001 已登记", "terminal T1001 is already registered"),
        ({"id": "T 1/x"}, 422, "终端号：只能用 1-64 位字母", "id: use 1-64 letters"),
        ({"serial": "SN-PX7-0001", "id": "T3002"}, 409, "序列号 SN-PX7-0001 已登记", "serial"),
        ({"merchant_id": "M09"}, 422, "商户 M09 未登记", "merchant M09 is not registered"),
        ({"model": ""}, 422, "型号：必填", "model: required"),
    ],
    ids=["duplicate", "bad-id", "serial-taken", "unknown-merchant", "no-model"],
)
def test_refusals_are_one_line_in_the_readers_language(
    client: TestClient, seeded: Seeded, change: dict[str, str], status: int, zh: str, en: str
) -> None:
    csrf = login(client, "admin")
    if change.get("serial"):  # a first terminal holds the serial
        ok = client.post("/ui/admin/terminals/new", data={"csrf": csrf, **FORM})
        assert ok.status_code == 200
    before = _count(seeded)
    for lang, text in (("zh-CN", zh), ("en", en)):
        client.post("/ui/lang", data={"csrf": csrf, "lang": lang})
        r = client.post("/ui/admin/terminals/new", data={"csrf": csrf, **FORM, **change})
        assert r.status_code == status, r.text
        error = re.search(r'<p class="error" role="alert" id="register-error">([^<]*)</p>', r.text)
        assert error is not None, r.text
        assert text in error[1]
        assert 'id="credential"' not in r.text
        assert f'value="{change.get("id", FORM["id"])}"' in r.text  # kept
    assert _count(seeded) == before


def test_register_on_postgresql_goes_through_the_imports_copy(pg_seeded: Seeded) -> None:
    """On PostgreSQL the import writes new terminals with COPY: one registered terminal too."""
    settings = pg_seeded.settings.model_copy(update={"diagnosis_in_process": False})
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as c:
        c.headers["Accept-Language"] = "en"
        csrf = login(c, "admin")
        r = c.post("/ui/admin/terminals/new", data={"csrf": csrf, **FORM})
        assert r.status_code == 200, r.text
        assert 'id="credential"' in r.text
        again = c.post("/ui/admin/terminals/new", data={"csrf": csrf, **FORM})
        assert again.status_code == 409
    assert _count(pg_seeded) == 6
