"""The terminal inventory over HTTP: search, filters, merchant scope, keyset paging (no row
lost or repeated, back and forth, in both orders), the status filter against the overview's
health, the streamed CSV, and the overview tiles' links."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.pool import Pool

from posguard.fleet.api.app import create_app
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.models import Incident, Terminal
from posguard.fleet.repo.terminals import add_terminal
from posguard.fleet.web import option_cache

from .conftest import PASSWORD, T0, Seeded
from .test_pages import login


@pytest.fixture
def client(seeded: Seeded) -> Iterator[TestClient]:
    option_cache.forget()
    with TestClient(create_app(seeded.settings), base_url="http://127.0.0.1") as c:
        yield c


def _more_terminals(seeded: Seeded, n: int) -> None:
    """``n`` more terminals of merchant M03 ("东方超市"), with serials, on two models."""
    engine = make_engine(seeded.url)
    with make_sessionmaker(engine).begin() as s:
        for i in range(n):
            add_terminal(
                s,
                terminal_id=f"T3{i:03d}",
                merchant_id="M03",
                merchant_name="东方超市",
                model="PX-7" if i % 2 else "N2",
                brand="Acme" if i % 2 else "Nova",
                firmware=f"2.{i % 3}.0",
                acquirer_host="acq-north",
                area="minhang",
                now=T0,
                serial=f"SN-{i:05d}",
                install_date=date(2025, 3, 1),
            )
    engine.dispose()


def _ids(html: str) -> list[str]:
    return re.findall(r'<tr data-terminal="([^"]+)"', html)


def _link(html: str, which: str) -> str | None:
    found = re.search(rf'href="([^"]+)" id="page-{which}"', html)
    return found[1].replace("&amp;", "&") if found else None


def test_search_by_id_serial_and_merchant_name(client: TestClient, seeded: Seeded) -> None:
    _more_terminals(seeded, 6)
    login(client, "ops")
    assert _ids(client.get("/ui/inventory?q=T20").text) == ["T2001", "T2002"]
    assert _ids(client.get("/ui/inventory?q=SN-0000").text) == [f"T300{i}" for i in range(6)]
    assert _ids(client.get("/ui/inventory?q=SN-00003").text) == ["T3003"]
    assert _ids(client.get("/ui/inventory?q=东方").text) == [f"T300{i}" for i in range(6)]
    assert _ids(client.get("/ui/inventory?q=M02").text) == ["T2001", "T2002"]
    page = client.get("/ui/inventory?q=nothing-like-this")
    assert _ids(page.text) == []
    assert 'id="inventory-empty"' in page.text


def test_filters_combine_and_a_merchant_sees_only_its_own(
    client: TestClient, seeded: Seeded
) -> None:
    _more_terminals(seeded, 6)
    login(client, "ops")
    assert _ids(client.get("/ui/inventory?host=acq-west").text) == ["T1003", "T2002"]
    assert _ids(client.get("/ui/inventory?model=PX-7&firmware=2.0.0").text) == ["T3003"]
    assert _ids(client.get("/ui/inventory?merchant=M01&model=Z9").text) == ["T1003"]
    client.cookies.clear()
    login(client, "shop2")
    # the merchant scope wins over the URL's merchant, and the search cannot leave it
    assert _ids(client.get("/ui/inventory?merchant=M01").text) == ["T2001", "T2002"]
    assert _ids(client.get("/ui/inventory?q=T10").text) == []
    assert 'id="bulk-all"' not in client.get("/ui/inventory").text  # no commands for merchants


@pytest.mark.parametrize(("sort", "order"), [("id", "asc"), ("model", "desc"), ("firmware", "asc")])
def test_keyset_pages_cover_every_terminal_once_both_ways(
    client: TestClient, seeded: Seeded, sort: str, order: str
) -> None:
    _more_terminals(seeded, 70)  # 75 terminals: three pages of 25
    login(client, "ops")
    url: str | None = f"/ui/inventory?sort={sort}&order={order}&size=25"
    pages: list[list[str]] = []
    urls = []
    while url:
        html = client.get(url).text
        assert "75" in re.search(r'id="inventory-total">([^<]+)<', html)[1]  # type: ignore[index]
        pages.append(_ids(html))
        urls.append(url)
        url = _link(html, "next")
    seen = [t for p in pages for t in p]
    assert [len(p) for p in pages] == [25, 25, 25]
    assert len(set(seen)) == 75
    # the order is the sort's, ties broken by id (the same direction)
    assert seen == _expected_order(seeded, sort, descending=order == "desc")
    # back from the last page: the pages before it, the same rows
    html = client.get(urls[-1]).text
    prev = _link(html, "prev")
    assert prev is not None
    assert _ids(client.get(prev).text) == pages[1]
    assert _link(client.get(urls[0]).text, "prev") is None


def _expected_order(seeded: Seeded, sort: str, *, descending: bool) -> list[str]:
    column = {"id": "id", "model": "model", "firmware": "firmware"}[sort]
    engine = make_engine(seeded.url)
    with make_sessionmaker(engine)() as s:
        rows = s.execute(select(Terminal.id, getattr(Terminal, column))).all()
    engine.dispose()
    return [tid for tid, _ in sorted(rows, key=lambda r: (r[1], r[0]), reverse=descending)]


def test_descending_model_order_is_strict(client: TestClient, seeded: Seeded) -> None:
    _more_terminals(seeded, 4)
    login(client, "ops")
    html = client.get("/ui/inventory?sort=model&order=desc").text
    models = re.findall(r"<td>(?:Acme|Nova|Zeta) ([^<]+)</td>", html)
    assert models == sorted(models, reverse=True)
    assert models[0] == "Z9"
    assert models[-1] == "N2"


def test_status_filter_follows_the_overview_health(client: TestClient, seeded: Seeded) -> None:
    engine = make_engine(seeded.url)
    with make_sessionmaker(engine).begin() as s:
        s.add(
            Incident(
                rule_id="printer-paper-out",
                scope="terminal:T1002",
                open_key="printer-paper-out|terminal:T1002",
                code="PRN.PAPER_OUT",
                severity="major",
                status="open",
                terminal_id="T1002",
                merchant_id="M01",
                explanation={"reason": "test"},
                opened_at=T0,
            )
        )
    engine.dispose()
    login(client, "ops")
    html = client.get("/ui/inventory?status=printer_fault").text
    assert _ids(html) == ["T1002"]
    assert 'data-health="printer_fault"' in html
    ok = _ids(client.get("/ui/inventory?status=ok").text)
    assert ok == ["T1001", "T1003", "T2001", "T2002"]
    row = re.search(r'<tr data-terminal="T1002".*?</tr>', html, re.S)
    assert row is not None
    assert "incidents?status=active&amp;terminal=T1002" in row[0]
    # the overview's tile links to exactly this list
    overview = client.get("/ui/").text
    assert 'href="/ui/inventory?status=printer_fault"' in overview


def test_csv_streams_every_match_in_the_users_language(client: TestClient, seeded: Seeded) -> None:
    _more_terminals(seeded, 30)
    login(client, "ops")
    r = client.get("/ui/inventory.csv?host=acq-north&sort=id")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["终端号", "序列号", "商户"]
    assert [row[0] for row in rows[1:]] == [f"T3{i:03d}" for i in range(30)]
    assert rows[1][1] == "SN-00000"
    assert rows[1][3] == "东方超市"
    client.cookies.clear()
    login(client, "shop1")
    mine = list(csv.reader(io.StringIO(client.get("/ui/inventory.csv").text.lstrip("\ufeff"))))
    assert [row[0] for row in mine[1:]] == ["T1001", "T1002", "T1003"]


def test_the_api_lists_what_the_page_lists(client: TestClient, seeded: Seeded) -> None:
    _more_terminals(seeded, 40)
    r = client.post("/api/v1/auth/token", data={"username": "ops", "password": PASSWORD})
    ops = {"Authorization": f"Bearer {r.json()['access_token']}"}
    first = client.get("/api/v1/inventory?host=acq-north&size=25", headers=ops).json()
    assert first["total"] == 40
    assert len(first["items"]) == 25
    assert first["prev"] is None
    second = client.get(
        f"/api/v1/inventory?host=acq-north&size=25&after={first['next']}", headers=ops
    ).json()
    ids = [i["id"] for i in first["items"] + second["items"]]
    assert ids == [f"T3{i:03d}" for i in range(40)]
    assert second["next"] is None
    item = first["items"][0]
    assert item["serial"] == "SN-00000"
    assert item["merchant_name"] == "东方超市"
    assert item["status"] == "ok"
    assert client.get("/api/v1/inventory?sort=password", headers=ops).status_code == 422
    r = client.post("/api/v1/auth/token", data={"username": "shop2", "password": PASSWORD})
    shop = {"Authorization": f"Bearer {r.json()['access_token']}"}
    mine = client.get("/api/v1/inventory?merchant=M01", headers=shop).json()
    assert [i["id"] for i in mine["items"]] == ["T2001", "T2002"]


def test_firmware_versions_per_model(client: TestClient, seeded: Seeded) -> None:
    _more_terminals(seeded, 6)  # N2 on 2.0.0 / 2.2.0 / 2.1.0, PX-7 on 2.1.0 / 2.0.0 / 2.2.0
    login(client, "ops")
    html = client.get("/ui/inventory").text
    row = re.search(r'<tr data-model="N2">.*?</tr>', html, re.S)
    assert row is not None
    assert re.findall(r'data-firmware="([^"]+)">(\d+)<', row[0]) == [
        ("2.0.0", "1"),
        ("2.1.0", "1"),
        ("2.2.0", "1"),
    ]
    px5 = re.search(r'<tr data-model="PX-5">.*?</tr>', html, re.S)
    assert px5 is not None
    assert 'href="/ui/inventory?model=PX-5&amp;firmware=2.1.0" data-firmware="2.1.0">3<' in px5[0]


def test_status_filter_past_the_databases_parameter_limit(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An outage can leave tens of thousands of terminals degraded: the status filter must not
    bind one parameter per terminal (SQLite stops at 32,766)."""
    from posguard.fleet.web import inventory
    from posguard.fleet.web.health import Health

    def stock_limit(dbapi_connection: Any, *_: Any) -> None:
        # this machine's SQLite allows 250,000; a stock build stops at 32,766
        dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32_766)

    unhealthy = {f"X{i:06d}": Health.DEGRADED for i in range(40_000)}
    unhealthy["T1003"] = Health.DEGRADED
    monkeypatch.setattr(inventory, "terminal_health", lambda *a, **k: (5, unhealthy))
    login(client, "ops")
    event.listen(Pool, "checkout", stock_limit)
    try:
        assert _ids(client.get("/ui/inventory?status=degraded").text) == ["T1003"]
        ok = client.get("/ui/inventory?status=ok").text
    finally:
        event.remove(Pool, "checkout", stock_limit)
    assert _ids(ok) == ["T1001", "T1002", "T2001", "T2002"]
