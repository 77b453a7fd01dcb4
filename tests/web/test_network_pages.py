"""The network report on the dashboard and the API (issue 20), over two weeks of the light
fleet's simulated network history stored through the real ingest: the page lists the weak
places first with their recommendation, the CSV opens in Excel, the printable page prints, a
merchant sees its own terminals only; and the page in a real browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from posguard.fleet.api.app import create_app
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.repo.users import Role, create_user
from posguard.fleet.testing import cheap_password_hashing
from posguard.sim.network_history import play_network_history
from posguard.sim.population import build_estate

from .conftest import PASSWORD, LiveServer, Seeded, seed_fleet
from .test_browser import browser  # noqa: F401 - the module's Chromium fixture
from .test_pages import login

ESTATE = build_estate(terminals=24, seed=5)
SHOP = ESTATE.terminals[0].merchant_id  # a merchant of the simulated estate


@pytest.fixture(scope="module")
def netfleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Seeded, set[str]]]:
    """The web test fleet plus the simulated estate's history; returns the weak places."""
    with cheap_password_hashing():
        seeded = seed_fleet(tmp_path_factory.mktemp("netweb"))
        engine = make_engine(seeded.url)
        sessions = make_sessionmaker(engine)
        result = play_network_history(
            sessions, ESTATE, until=datetime.now(UTC), weeks=2, seed=5, txn_per_hour=3
        )
        with sessions.begin() as s:
            create_user(
                s,
                username="estate-shop",
                password=PASSWORD,
                role=Role.MERCHANT,
                merchant_id=SHOP,
                now=datetime.now(UTC),
            )
        engine.dispose()
        net = result.network
        links = net.link_names()
        weak = {
            f"{t.area}|{net_carrier}|{links[i]}"
            for i, t in enumerate(ESTATE.terminals)
            for net_carrier in [
                ("China Mobile", "China Unicom", "China Telecom")[int(net.carrier[i])]
            ]
            if (t.area, net_carrier) in net.weak_spots and links[i] in ("4g", "5g")
        }
        yield seeded, weak


@pytest.fixture
def client(netfleet: tuple[Seeded, set[str]]) -> Iterator[TestClient]:
    with (
        cheap_password_hashing(),
        TestClient(create_app(netfleet[0].settings), base_url="http://127.0.0.1") as c,
    ):
        yield c


def _places(html: str) -> list[tuple[str, str]]:
    """(area|carrier|link, recommendation code) of each row, in page order."""
    rows = re.findall(
        r'<tr class="rec-([a-z_]+)" data-area="([^"]+)" data-carrier="([^"]+)" '
        r'data-link="([^"]+)">',
        html,
    )
    return [(f"{a}|{c}|{li}", code) for code, a, c, li in rows]


def test_page_lists_weak_places_first(
    client: TestClient, netfleet: tuple[Seeded, set[str]]
) -> None:
    _, weak = netfleet
    login(client, "ops")
    r = client.get("/ui/network?weeks=2")
    assert r.status_code == 200
    places = _places(r.text)
    assert {p for p, _ in places[: len(weak)]} == weak
    assert all(code not in ("ok", "too_little_data") for _, code in places[: len(weak)])
    assert all(code == "ok" for p, code in places if p.endswith("|wired"))
    assert 'href="/ui/network.csv?weeks=2"' in r.text
    assert client.get("/ui/network?weeks=0").status_code == 422


def test_csv_and_printable_page(client: TestClient, netfleet: tuple[Seeded, set[str]]) -> None:
    _, weak = netfleet
    csrf = login(client, "ops")
    client.post("/ui/lang", data={"csrf": csrf, "lang": "zh-CN"})
    r = client.get("/ui/network.csv?weeks=2")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"].startswith('attachment; filename="posguard-network-')
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("地区,运营商,网络类型,终端数")
    first = {"|".join(line.split(",")[:3]) for line in lines[1 : 1 + len(weak)]}
    assert first == weak
    printable = client.get("/ui/network/print?weeks=2")
    assert printable.status_code == 200
    assert "@page" in printable.text
    assert "<nav>" not in printable.text  # no dashboard chrome on paper
    assert [p for p, _ in _places(printable.text)] == [
        "|".join(line.split(",")[:3]) for line in lines[1:]
    ]


def test_merchant_sees_its_own_figures(
    client: TestClient, netfleet: tuple[Seeded, set[str]]
) -> None:
    own = {f"{t.area}" for t in ESTATE.terminals if t.merchant_id == SHOP}
    login(client, "estate-shop")
    places = _places(client.get("/ui/network?weeks=2").text)
    assert places
    assert {p.split("|")[0] for p, _ in places} <= own
    csv = client.get("/ui/network.csv?weeks=2")
    assert f"posguard-network-{SHOP}-" in csv.headers["content-disposition"]


def test_api_report(client: TestClient, netfleet: tuple[Seeded, set[str]]) -> None:
    _, weak = netfleet
    token = client.post(
        "/api/v1/auth/token", data={"username": "ops", "password": PASSWORD}
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    body = client.get("/api/v1/network/report?weeks=2", headers=auth).json()
    assert body["weeks"] == 2
    assert body["merchant_id"] is None
    top = body["rows"][: len(weak)]
    assert {f"{r['area']}|{r['carrier']}|{r['link']}" for r in top} == weak
    assert all(r["recommendation"]["zh"] and r["recommendation"]["en"] for r in top)
    assert client.get("/api/v1/network/report").status_code == 401
    assert client.get("/api/v1/network/report?weeks=99", headers=auth).status_code == 422
    other = client.post(
        "/api/v1/auth/token", data={"username": "shop1", "password": PASSWORD}
    ).json()["access_token"]
    mine = client.get(
        "/api/v1/network/report?weeks=2", headers={"Authorization": f"Bearer {other}"}
    ).json()
    assert mine["merchant_id"] == "M01"
    assert mine["rows"] == []  # M01's terminals report no network fields


@pytest.mark.browser
def test_network_page_in_browser(
    browser: Any,  # noqa: F811 - the imported fixture
    netfleet: tuple[Seeded, set[str]],
    tmp_path: Path,
) -> None:
    seeded, weak = netfleet
    with LiveServer(seeded.settings) as srv:
        page = browser.new_page(accept_downloads=True)
        page.goto(f"{srv.url}/ui/")
        page.fill("input[name=username]", "ops")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/ui/$"))
        page.click("nav >> text=/网络质量|Network/")
        page.wait_for_url(re.compile(r".*/ui/network$"))
        rows = page.locator("table.network tbody tr")
        assert rows.count() > len(weak)
        first = rows.nth(0)
        place = "|".join(
            first.get_attribute(a) or "" for a in ("data-area", "data-carrier", "data-link")
        )
        assert place in weak
        assert first.locator("td.rec").inner_text().strip()
        with page.expect_download() as dl:
            page.click("a.csv >> nth=0")
        saved = tmp_path / "network.csv"
        dl.value.save_as(saved)
        assert saved.read_bytes().startswith(b"\xef\xbb\xbf")
        page.click("#network-print")
        page.wait_for_url(re.compile(r".*/ui/network/print\?weeks=4$"))
        page.emulate_media(media="print")
        pdf = page.pdf(format="A4", landscape=True)
        assert pdf.startswith(b"%PDF")
        page.close()
