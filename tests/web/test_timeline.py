"""The terminal timeline over HTTP: sentences with catalog titles and yuan, empty fields
hidden, heartbeats folded, filter by kind, keyset paging, and what a merchant does not see."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from posguard.fleet.api.app import create_app
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.models import EventRow

from .conftest import T0, Seeded, event, fault
from .test_pages import ingest, login


@pytest.fixture
def client(seeded: Seeded) -> Iterator[TestClient]:
    settings = seeded.settings.model_copy(update={"diagnosis_in_process": False})
    with TestClient(
        create_app(settings), base_url="http://127.0.0.1", headers={"Accept-Language": "en"}
    ) as c:
        yield c


def _day(c: TestClient, seeded: Seeded) -> None:
    at = [T0 + timedelta(seconds=10 * i) for i in range(80)]
    events = [
        event("T1001", 1 + i, "transaction", at[i], type="sale", amount=100, outcome="declined")
        for i in range(60)
    ]
    events += [
        event(
            "T1001",
            61,
            "transaction",
            at[61],
            type="sale",
            amount=123450,
            outcome="approved",
            rc="00",
            stan="000777",
            masked_pan="622588******1234",
            rrn="",
            batch="000001",
        ),
        fault("T1001", 62, "PRN.PAPER_OUT", at[62], state="paper_out", pending_jobs=None),
        event("T1001", 63, "printer", at[63], state="paper_out", previous="ok"),
        event("T1001", 64, "lifecycle", at[64], event="signed_on", host="acq-east"),
    ]
    ingest(c, seeded, "T1001", events)


def _lines(html: str) -> list[tuple[str, str]]:
    return [
        (k, re.sub(r"\s+", " ", w).strip())
        for k, w in re.findall(
            r'<li class="k-[^"]+" data-kind="([^"]+)".*?<span class="what">([^<]*)</span>',
            html,
            re.S,
        )
    ]


def test_sentences_titles_yuan_and_hidden_empty_fields(client: TestClient, seeded: Seeded) -> None:
    _day(client, seeded)
    login(client, "ops")
    html = client.get("/ui/terminals/T1001").text
    lines = _lines(html)
    assert lines[:5] == [
        ("lifecycle", "Terminal: signed on"),
        ("printer", "Printer: Out of paper"),
        ("fault", "Fault: " + _title("PRN.PAPER_OUT")),
        ("transaction", "Sale ¥1,234.50 approved"),
        ("transaction", "Sale ¥1.00 declined"),
    ]
    assert len(lines) == 50  # a page
    sale = re.search(r'data-kind="transaction".*?</li>', html, re.S)
    assert sale is not None
    assert "<i>stan</i> 000777" in sale[0]  # staff see the STAN
    assert "<i>rrn</i>" not in sale[0]  # empty: hidden
    fault_line = re.search(r'data-kind="fault".*?</li>', html, re.S)
    assert fault_line is not None
    assert "pending_jobs" not in fault_line[0]  # null: hidden


def test_stored_heartbeats_fold_into_one_line(client: TestClient, seeded: Seeded) -> None:
    """Heartbeats kept as events (a database from before they became liveness upserts) read
    as one line per run."""
    engine = make_engine(seeded.url)
    with make_sessionmaker(engine).begin() as s:
        for i in range(12):
            at = T0 + timedelta(minutes=i)
            s.add(
                EventRow(
                    terminal_id="T1002",
                    merchant_id="M01",
                    seq=100 + i,
                    ts=at,
                    received_at=at,
                    kind="heartbeat",
                    code=None,
                    data={"interval_s": 60},
                )
            )
    engine.dispose()
    login(client, "ops")
    frag = client.get("/ui/terminals/T1002/timeline").text
    assert _lines(frag) == [("heartbeat", "12 heartbeats")]


def test_filter_by_kind_and_page_back(client: TestClient, seeded: Seeded) -> None:
    _day(client, seeded)
    login(client, "ops")
    frag = client.get("/ui/terminals/T1001/timeline?kind=transaction").text
    lines = _lines(frag)
    assert {k for k, _ in lines} == {"transaction"}
    assert len(lines) == 50
    older = re.search(
        r'hx-get="(/ui/terminals/T1001/timeline\?[^"]+)"[^>]*id="timeline-older"', frag
    )
    assert older is not None
    rest = client.get(older[1].replace("&amp;", "&")).text
    assert len(_lines(rest)) == 11  # 61 transactions in all
    assert 'id="timeline-older"' not in rest
    assert 'id="timeline-newest"' in rest
    faults = client.get("/ui/terminals/T1001/timeline?kind=fault").text
    assert _lines(faults) == [("fault", "Fault: " + _title("PRN.PAPER_OUT"))]


def test_a_merchant_reads_what_its_statement_shows(client: TestClient, seeded: Seeded) -> None:
    _day(client, seeded)
    login(client, "shop1")
    html = client.get("/ui/terminals/T1001/timeline?kind=transaction").text
    sale = re.search(r'data-kind="transaction".*?</li>', html, re.S)  # the newest: ¥1,234.50
    assert sale is not None
    assert "¥1,234.50" in sale[0]
    assert "•••• 1234" in sale[0]
    for hidden in ("000777", "622588", "stan", "batch"):
        assert hidden not in sale[0]
    client.cookies.clear()
    login(client, "shop2")
    assert client.get("/ui/terminals/T1001/timeline").status_code == 404


def test_zh_sentences(client: TestClient, seeded: Seeded) -> None:
    _day(client, seeded)
    client.headers["Accept-Language"] = "zh-CN"
    login(client, "admin")
    html = client.get("/ui/terminals/T1001/timeline?kind=transaction").text
    assert _lines(html)[:2] == [
        ("transaction", "消费 ¥1,234.50 已批准"),
        ("transaction", "消费 ¥1.00 被拒绝"),
    ]


def _title(code: str) -> str:
    from posguard.catalog import default_catalog

    return default_catalog()[code].title.en
