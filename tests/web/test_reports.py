"""The Reports page's date range, business figures and charts: approval rate and failover share
from a small hand-made set of transaction events on a seeded SQLite fleet, the merchant scope,
the page and its CSVs over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from posguard.fleet.api.app import create_app
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.web.business_data import business

from .conftest import Seeded, event
from .test_pages import ingest, login


def sale(
    tid: str, seq: int, ts: datetime, outcome: str, bin6: str, **data: object
) -> dict[str, object]:
    rc = "00" if outcome == "approved" else "51"
    pan = f"{bin6}******1232"
    return event(
        tid, seq, "transaction", ts, type="sale", outcome=outcome, rc=rc, masked_pan=pan, **data
    )


def seed_sales(c: TestClient, seeded: Seeded, at: datetime) -> None:
    """acq-east: T1001 (M01, pudong) approved, declined, approved by the backup host;
    T2001 (M02, haidian) declined and a training sale. acq-west: T1003 (M01, xuhui) approved.
    One more approval 40 days back, outside the default range."""
    ingest(
        c,
        seeded,
        "T1001",
        [
            sale("T1001", 1, at, "approved", "621234", host="primary", failover=False),
            sale("T1001", 2, at, "declined", "621234", host="primary", failover=False),
            sale("T1001", 3, at, "approved", "622848", host="backup", failover=True),
            sale("T1001", 4, at - timedelta(days=40), "approved", "621234"),
        ],
    )
    ingest(c, seeded, "T1003", [sale("T1003", 1, at, "approved", "455555")])
    ingest(
        c,
        seeded,
        "T2001",
        [
            sale("T2001", 1, at, "declined", "621234"),
            sale("T2001", 2, at, "approved", "621234", training=True),
        ],
    )


@pytest.fixture
def client(seeded: Seeded) -> Iterator[TestClient]:
    with TestClient(create_app(seeded.settings), base_url="http://127.0.0.1") as c:
        yield c


def figures(
    seeded: Seeded, merchant: str | None, since: datetime, until: datetime
) -> dict[str, dict[str, tuple[int, int, float | None, float | None]]]:
    engine = make_engine(seeded.url)
    try:
        with make_sessionmaker(engine)() as s:
            out = business(s, merchant_id=merchant, since=since, until=until)
    finally:
        engine.dispose()
    return {
        g: {r.key: (r.count, r.approved, r.approval_rate, r.failover_share) for r in rows}
        for g, rows in out.items()
    }


def test_approval_and_failover_by_host_area_and_issuer(client: TestClient, seeded: Seeded) -> None:
    now = datetime.now(UTC)
    seed_sales(client, seeded, now - timedelta(hours=1))
    f = figures(seeded, None, now - timedelta(days=30), now + timedelta(minutes=1))
    # a decline is a transaction not approved; a backup's approval is approved and a failover;
    # the training sale and the one 40 days back do not count
    assert f["host"] == {"acq-east": (4, 2, 0.5, 0.25), "acq-west": (1, 1, 1.0, 0.0)}
    assert f["area"]["pudong"] == (3, 2, 0.6667, 0.3333)
    assert f["area"]["haidian"] == (1, 0, 0.0, 0.0)
    assert f["issuer"] == {
        "621234": (3, 1, 0.3333, 0.0),
        "622848": (1, 1, 1.0, 1.0),
        "455555": (1, 1, 1.0, 0.0),
    }
    mine = figures(seeded, "M01", now - timedelta(days=30), now + timedelta(minutes=1))
    assert mine["host"]["acq-east"] == (3, 2, 0.6667, 0.3333)
    assert "haidian" not in mine["area"]
    assert mine["issuer"]["621234"] == (2, 1, 0.5, 0.0)
    wide = figures(seeded, "M01", now - timedelta(days=60), now + timedelta(minutes=1))
    assert wide["host"]["acq-east"][0] == 4


def test_page_charts_and_business_csvs(client: TestClient, seeded: Seeded) -> None:
    now = datetime.now(UTC)
    seed_sales(client, seeded, now - timedelta(hours=1))
    login(client, "admin")
    page = client.get("/ui/reports")
    assert page.status_code == 200
    text = page.text
    for chart in ("chart-approval", "chart-issuer", "chart-mttr", "chart-trends"):
        assert f'id="{chart}"><svg' in text
    assert 'role="img" aria-label="' in text
    assert "<script" not in text.split("<main")[-1]
    business_table = text.split('id="table-host"')[1].split("</table>")[0]
    assert "<td>acq-east</td><td>4</td><td>2</td><td>50.0%</td><td>25.0%</td>" in business_table
    first = (now.date() - timedelta(days=29)).isoformat()
    assert f'name="from" value="{first}"' in text
    hosts = client.get("/ui/reports/hosts.csv").content.decode("utf-8-sig").splitlines()
    assert hosts[0].startswith("收单主机,交易笔数,批准笔数,批准率")
    assert hosts[1:] == ["acq-east,4,2,0.5,0.25", "acq-west,1,1,1.0,0.0"]
    wide = f"from={(now.date() - timedelta(days=60)).isoformat()}&to={now.date().isoformat()}"
    r = client.get(f"/ui/reports/issuers.csv?{wide}")
    assert "621234,4,2,0.5,0.0" in r.content.decode("utf-8-sig").splitlines()
    assert 'filename="posguard-issuers-' in r.headers["content-disposition"]
    areas = client.get("/ui/reports/areas.csv").content.decode("utf-8-sig")
    assert "haidian,1,0,0.0,0.0" in areas
    # the merchant's page and CSVs: its own terminals only
    client.cookies.clear()
    login(client, "shop1")
    assert "haidian" not in client.get("/ui/reports").text
    own = client.get("/ui/reports/hosts.csv").content.decode("utf-8-sig").splitlines()
    assert own[1:] == ["acq-east,3,2,0.6667,0.3333", "acq-west,1,1,1.0,0.0"]


def test_a_bad_range_is_refused_in_both_languages(client: TestClient, seeded: Seeded) -> None:
    login(client, "admin")
    r = client.get("/ui/reports?from=2026-11-30&to=2026-11-01")
    assert r.status_code == 400
    assert "开始日期晚于结束日期" in r.text
    r = client.get("/ui/reports/hosts.csv?from=2025-01-01&to=2026-11-01")
    assert r.status_code == 400
    assert "366" in r.text
    csrf = login(client, "ops")
    client.post("/ui/lang", data={"csrf": csrf, "lang": "en"})
    r = client.get("/ui/reports/trends.csv?from=yesterday")
    assert r.status_code == 400
    assert r.text == "Bad date: use year-month-day, e.g. 2026-11-01."
    assert "The start date is after" in client.get("/ui/reports?from=2026-11-30&to=2026-11-01").text


def test_the_same_figures_on_postgresql(pg_seeded: Seeded) -> None:
    """The one grouped read (JSON ``data`` joined to ``terminals``) on the other dialect."""
    now = datetime.now(UTC)
    with TestClient(create_app(pg_seeded.settings), base_url="http://127.0.0.1") as c:
        seed_sales(c, pg_seeded, now - timedelta(hours=1))
    f = figures(pg_seeded, "M01", now - timedelta(days=30), now + timedelta(minutes=1))
    assert f["host"] == {"acq-east": (3, 2, 0.6667, 0.3333), "acq-west": (1, 1, 1.0, 0.0)}
    assert f["issuer"]["622848"] == (1, 1, 1.0, 1.0)
