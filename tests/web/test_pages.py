"""The dashboard over HTTP (no browser): sessions, CSRF, merchant isolation, health counts,
CSV downloads, the signed wizard state, and the i18n table."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib.resources import files

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from posguard.catalog.model import Category
from posguard.fleet.api.app import create_app
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.models import Incident, UserPref
from posguard.fleet.diagnosis.rules import COMMAND_NAMES
from posguard.fleet.web.health import Health
from posguard.fleet.web.i18n import messages
from posguard.fleet.web.queries import SEVERITIES

from .conftest import PASSWORD, Seeded, event, fault


@pytest.fixture
def client(seeded: Seeded) -> Iterator[TestClient]:
    with TestClient(create_app(seeded.settings), base_url="http://127.0.0.1") as c:
        yield c


def login(c: TestClient, username: str) -> str:
    """Log in through the form; returns the session's CSRF token."""
    page = c.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    r = c.post(
        "/ui/login",
        data={"username": username, "password": PASSWORD, "csrf": token[1], "next": "/ui/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    home = c.get("/ui/")
    csrf = re.search(r'name="csrf" value="([^"]+)"', home.text)
    assert csrf is not None
    return csrf[1]


def ingest(c: TestClient, seeded: Seeded, tid: str, events: list[dict[str, object]]) -> None:
    r = c.post(
        "/api/v1/ingest/batch",
        json={"events": events},
        headers={"Authorization": f"Bearer {seeded.credentials[tid]}"},
    )
    assert r.json()["stored"] == len(events), r.text


def wait_incident(seeded: Seeded, code: str) -> int:
    engine = make_engine(seeded.url)
    try:
        for _ in range(300):  # the diagnosis loop polls every 0.1 s; a loaded box is slower
            with make_sessionmaker(engine)() as s:
                found = s.scalar(select(Incident.id).where(Incident.code == code))
            if found is not None:
                return found
            time.sleep(0.05)
    finally:
        engine.dispose()
    raise AssertionError(f"no incident {code} opened by the rules")


def test_pages_need_a_login_and_come_back_after_it(client: TestClient) -> None:
    r = client.get("/ui/incidents?status=open", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/login?next=%2Fui%2Fincidents%3Fstatus%3Dopen"
    page = client.get(r.headers["location"])
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    r = client.post(
        "/ui/login",
        data={
            "username": "ops",
            "password": PASSWORD,
            "csrf": token[1],
            "next": "/ui/incidents?status=open",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/ui/incidents?status=open"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("pg_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/ui" in cookie
    assert client.get("/ui/incidents").status_code == 200


def test_wrong_password_and_forged_or_tampered_sessions_are_refused(client: TestClient) -> None:
    page = client.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    bad = client.post("/ui/login", data={"username": "ops", "password": "nope", "csrf": token[1]})
    assert bad.status_code == 401
    assert "Wrong username or password" in bad.text or "用户名或密码错误" in bad.text
    no_token = client.post("/ui/login", data={"username": "ops", "password": PASSWORD})
    assert no_token.status_code == 403
    assert "pg_session" not in client.cookies
    login(client, "ops")
    value = client.cookies["pg_session"]
    client.cookies.set(
        "pg_session", value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1], path="/ui"
    )
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_login_does_not_redirect_off_site(client: TestClient) -> None:
    page = client.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    r = client.post(
        "/ui/login",
        data={"username": "ops", "password": PASSWORD, "csrf": token[1], "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/ui/"


def test_every_post_checks_the_csrf_token(client: TestClient, seeded: Seeded) -> None:
    csrf = login(client, "ops")
    now = datetime.now(UTC)
    ingest(client, seeded, "T1002", [fault("T1002", 1, "PRN.PAPER_OUT", now)])
    inc = wait_incident(seeded, "PRN.PAPER_OUT")
    for path in (f"/ui/incidents/{inc}/ack", f"/ui/incidents/{inc}/resolve", "/ui/lang"):
        r = client.post(path, data={"lang": "en"})
        assert r.status_code == 403, path
        assert r.headers["content-type"].startswith("text/html")
        r = client.post(path, data={"lang": "en", "csrf": "x" + csrf[1:]})
        assert r.status_code == 403, path
    sent = client.post("/ui/terminals/T1002/commands", data={"name": "reboot", "confirm": "yes"})
    assert sent.status_code == 403
    r = client.get(f"/ui/incidents/{inc}")
    assert 'id="incident-status">' in r.text
    assert client.get("/api/v1/health").status_code in (200, 404)  # API untouched by /ui
    ok = client.post(f"/ui/incidents/{inc}/ack", data={"csrf": csrf}, follow_redirects=False)
    assert ok.status_code == 303
    again = client.post(f"/ui/incidents/{inc}/ack", data={"csrf": csrf})
    assert again.status_code == 409  # already acknowledged: said, not silently ignored


def test_command_needs_confirmation_then_is_queued(client: TestClient) -> None:
    csrf = login(client, "ops")
    form = {"csrf": csrf, "name": "reboot", "back": "/ui/terminals/T1003"}
    confirm = client.post("/ui/terminals/T1003/commands", data=form)
    assert confirm.status_code == 200
    assert 'id="confirm-send"' in confirm.text
    listed = client.get("/ui/terminals/T1003/commands")
    assert 'data-command="reboot"' not in listed.text
    done = client.post(
        "/ui/terminals/T1003/commands", data={**form, "confirm": "yes"}, follow_redirects=False
    )
    assert done.headers["location"] == "/ui/terminals/T1003?sent=reboot"
    listed = client.get("/ui/terminals/T1003/commands")
    assert 'data-command="reboot" data-status="pending"' in listed.text
    assert "every 2s" in listed.text  # polled until the terminal answers
    unknown = client.post("/ui/terminals/T1003/commands", data={**form, "name": "format_disk"})
    assert unknown.status_code == 422


def test_merchant_sees_only_its_own(client: TestClient, seeded: Seeded) -> None:
    now = datetime.now(UTC)
    ingest(client, seeded, "T2001", [fault("T2001", 1, "PRN.PAPER_OUT", now)])
    other = wait_incident(seeded, "PRN.PAPER_OUT")
    csrf = login(client, "shop1")
    assert client.get("/ui/terminals/T1001").status_code == 200
    for path in (
        "/ui/terminals/T2001",
        f"/ui/incidents/{other}",
        "/ui/terminals/T2001/commands",
        "/ui/terminals/NOPE",
    ):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "T2001" not in r.text or path.endswith("NOPE")
    assert "T2001" not in client.get("/ui/incidents?status=all").text
    overview = client.get("/ui/?merchant=M02").text  # the URL cannot widen the scope
    assert re.search(r'class="tile total"><b>3</b>', overview)
    assert "T2" not in client.get("/ui/reports/overdue.csv").text
    r = client.post(
        "/ui/terminals/T1001/commands", data={"csrf": csrf, "name": "reboot", "confirm": "yes"}
    )
    assert r.status_code == 403  # merchants do not send remote commands
    r = client.post(f"/ui/incidents/{other}/ack", data={"csrf": csrf})
    assert r.status_code == 403


def test_overview_health_counts(client: TestClient, seeded: Seeded) -> None:
    now = datetime.now(UTC)
    ingest(
        client,
        seeded,
        "T1001",
        [event("T1001", 1, "printer", now, state="cover_open", previous="ok", pending_jobs=1)],
    )
    engine = make_engine(seeded.url)
    with make_sessionmaker(engine).begin() as s:

        def add(rule: str, scope: str, code: str, tid: str | None, sev: str = "major") -> None:
            s.add(
                Incident(
                    rule_id=rule,
                    scope=scope,
                    open_key=f"{rule}|{scope}",
                    code=code,
                    severity=sev,
                    status="open",
                    terminal_id=tid,
                    merchant_id=tid and ("M01" if tid.startswith("T1") else "M02"),
                    explanation={"reason": "test"},
                    opened_at=now - timedelta(minutes=5),
                )
            )

        add("heartbeat-lost", "terminal:T1002", "DEV.FREEZE", "T1002")
        add("host-read-timeouts", "terminal:T1003", "NET.READ_TIMEOUT", "T1003")
        add("host-outage", "host:acq-east", "NET.CONNECT_TIMEOUT", None, "critical")
        # an issuer outage on the other host: its terminals still reach the host, not "down"
        add("issuer-outage", "host:acq-west", "TXN.ISSUER_UNAVAILABLE", None, "major")
        add("bad-firmware-rollout", "model:PX-5", "SW.UPDATE_FAILED", None, "major")
    engine.dispose()
    login(client, "ops")
    page = client.get("/ui/overview/live").text

    def count(h: Health) -> int:
        m = re.search(rf'data-health="{h.value}"><b>(\d+)</b>', page)
        assert m is not None
        return int(m[1])

    # acq-east is out: T1001 still has a heartbeat, so its printer is what is wrong (not
    # "down"); T1002 is frozen; T2001 has sent nothing since: degraded, not down
    assert count(Health.FROZEN) == 1
    assert count(Health.DOWN) == 0
    assert count(Health.PRINTER_FAULT) == 1
    assert count(Health.DEGRADED) == 2  # T2001 under the outage, T1003's read timeouts
    assert count(Health.OK) == 1

    # T2001 approves through the backup host: degraded (failover); T1003 approves through its
    # own host after its read-timeout incident opened: the cause cleared, it is OK at once;
    # T2002 has 300 receipts waiting to print: not OK
    ago = now - timedelta(minutes=1)
    ingest(
        client,
        seeded,
        "T2001",
        [event("T2001", 1, "transaction", ago, outcome="approved", host="cup-backup")],
    )
    ingest(
        client,
        seeded,
        "T1003",
        [event("T1003", 1, "transaction", ago, outcome="approved", host="acq-west")],
    )
    ingest(
        client,
        seeded,
        "T2002",
        [event("T2002", 1, "heartbeat", ago, interval_s=60, receipts_queued=300)],
    )
    page = client.get("/ui/overview/live").text
    assert count(Health.FAILOVER) == 1
    assert count(Health.PRINTER_FAULT) == 2
    assert count(Health.DEGRADED) == 0
    assert count(Health.OK) == 1  # T1003 (T2002 left OK for its queue)
    east = client.get("/ui/overview/live?host=acq-west").text
    assert re.search(r'class="tile total"><b>2</b>', east)
    assert 'hx-trigger="every 5s"' in client.get("/ui/").text


def test_csv_downloads_open_in_excel(client: TestClient, seeded: Seeded) -> None:
    csrf = login(client, "admin")
    client.post("/ui/lang", data={"csrf": csrf, "lang": "zh-CN"})
    for name in ("brands", "models", "trends", "overdue"):
        r = client.get(f"/ui/reports/{name}.csv")
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/csv; charset=utf-8"
        assert r.headers["content-disposition"].startswith(f'attachment; filename="posguard-{name}')
        assert r.content.startswith(b"\xef\xbb\xbf")
    brands = client.get("/ui/reports/brands.csv").content.decode("utf-8-sig").splitlines()
    assert brands[0].startswith("排名,品牌,型号")
    assert {line.split(",")[1] for line in brands[1:]} == {"Acme", "Zeta"}
    overdue = client.get("/ui/reports/overdue.csv").content.decode("utf-8-sig").splitlines()
    # PX-5 inspected every 180 days, installed 2025-01-10, never inspected: all overdue
    assert sorted(line.split(",")[0] for line in overdue[1:]) == ["T1001", "T1002", "T2001"]
    assert client.get("/ui/reports/secrets.csv").status_code == 404


def test_language_is_remembered_for_the_user(client: TestClient, seeded: Seeded) -> None:
    csrf = login(client, "ops")
    r = client.post(
        "/ui/lang", data={"csrf": csrf, "lang": "en", "next": "/ui/reports"}, follow_redirects=False
    )
    assert r.headers["location"] == "/ui/reports"
    engine = make_engine(seeded.url)
    with engine.connect() as conn:
        assert conn.execute(select(UserPref.lang)).scalars().all() == ["en"]
    engine.dispose()
    client.cookies.clear()
    login(client, "ops")
    assert ">Overview<" in client.get("/ui/").text
    client.post("/ui/lang", data={"csrf": login(client, "ops"), "lang": "zh-CN"})
    assert ">总览<" in client.get("/ui/").text


def test_wizard_state_is_signed(client: TestClient) -> None:
    csrf = login(client, "ops")
    page = client.post("/ui/troubleshoot/walk", data={"csrf": csrf, "code": "PRN.PAPER_OUT"})
    assert page.status_code == 200
    state = re.search(r'name="state" value="([^"]+)"', page.text)
    assert state is not None
    nxt = client.post(
        "/ui/troubleshoot/walk/answer",
        data={"csrf": csrf, "state": state[1], "answer": "not_solved"},
    )
    assert nxt.status_code == 200
    assert "2 " in re.sub(r"<[^>]+>", " ", nxt.text)  # moved to step 2
    forged = client.post(
        "/ui/troubleshoot/walk/answer",
        data={"csrf": csrf, "state": "e30." + state[1].split(".", 1)[1], "answer": "solved"},
    )
    assert forged.status_code == 409
    search = client.get("/ui/troubleshoot", params={"q": "打印机没纸了"})
    assert 'data-walk="PRN.PAPER_OUT"' in search.text


def test_every_message_key_used_exists_in_both_languages() -> None:
    table = messages()
    used: set[str] = set()
    for tpl in (files("posguard.fleet.web") / "templates").iterdir():
        used |= set(re.findall(r'\bt\("([a-z_.]+)"', tpl.read_text(encoding="utf-8")))
    dynamic = (
        [f"health.{h.value}" for h in Health]
        + [f"severity.{s}" for s in SEVERITIES]
        + [f"category.{c.value}" for c in Category]
        + [f"command.{n}" for n in COMMAND_NAMES]
        + [f"status.{s}" for s in ("open", "acknowledged", "resolved", "merged", "active")]
        + [f"cmdstatus.{s}" for s in ("pending", "sent", "succeeded", "failed")]
        + [f"kb.answer.{a}" for a in ("solved", "not_solved", "cant", "escalate")]
    )
    missing = sorted(
        k for k in used | set(dynamic) if k.rstrip(".") not in table and not k.endswith(".")
    )
    assert missing == []
    assert "nav.overview" in used


def this_hour() -> datetime:
    """Now, at least 12 s into the hour (waits when the hour has only just begun), so events
    stamped in the last 10 s fall in the same hourly bucket as now."""
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0)
    if now - start < timedelta(seconds=12):
        time.sleep(12 - (now - start).total_seconds())
        now = datetime.now(UTC)
    return now


def test_fault_chart_counts_faults_per_category(client: TestClient, seeded: Seeded) -> None:
    now = this_hour()
    ingest(
        client,
        seeded,
        "T1003",
        [
            fault("T1003", i + 1, "NET.READ_TIMEOUT", now - timedelta(seconds=5 - i))
            for i in range(3)
        ]
        + [fault("T1003", 9, "PRN.PAPER_OUT", now - timedelta(days=3))],
    )
    login(client, "ops")
    page = client.get("/ui/overview/live").text
    hour, day3 = now.strftime("%Y-%m-%d %H"), (now - timedelta(days=3)).strftime("%Y-%m-%d")
    assert (
        f"<title>{hour} · Network: 3</title>" in page or f"<title>{hour} · 网络: 3</title>" in page
    )
    assert re.search(rf"<title>{day3} · (Hardware|硬件): 1</title>", page)
    # the 24-hour chart does not show the 3-day-old fault
    assert not re.search(rf"<title>{day3} \d\d · ", page)
    other = client.get("/ui/overview/live?host=acq-east").text
    assert "Network: 3" not in other
    assert "网络: 3" not in other


@pytest.mark.postgres
def test_every_page_renders_on_postgresql(pg_seeded: Seeded) -> None:
    """The aggregates use dialect-specific SQL (hour buckets): run them on PostgreSQL too."""
    with TestClient(create_app(pg_seeded.settings), base_url="http://127.0.0.1") as c:
        now = this_hour()
        ingest(
            c,
            pg_seeded,
            "T1001",
            [
                fault("T1001", i + 1, "NET.READ_TIMEOUT", now - timedelta(seconds=9 - i))
                for i in range(3)
            ],
        )
        inc = wait_incident(pg_seeded, "NET.READ_TIMEOUT")
        csrf = login(c, "ops")
        c.post("/ui/lang", data={"csrf": csrf, "lang": "en"})
        live = c.get("/ui/overview/live?host=acq-east").text
        assert f"<title>{now:%Y-%m-%d %H} · Network: 3</title>" in live
        assert re.search(r'data-health="degraded"><b>1</b>', live)
        for path in (
            "/ui/",
            "/ui/incidents?severity=major&category=network",
            f"/ui/incidents/{inc}",
            "/ui/terminals/T1001",
            "/ui/reports",
            "/ui/reports/trends.csv",
        ):
            assert c.get(path).status_code == 200, path
        assert "NET.READ_TIMEOUT" in c.get("/ui/incidents?category=network").text
        assert "NET.READ_TIMEOUT" not in c.get("/ui/incidents?category=hardware").text


def test_incident_list_filters(client: TestClient, seeded: Seeded) -> None:
    now = datetime.now(UTC)
    engine = make_engine(seeded.url)
    rows = [
        ("T1001", "NET.READ_TIMEOUT", "major", "open"),
        ("T1002", "PRN.PAPER_OUT", "minor", "acknowledged"),
        ("T1003", "DEV.CARD_READER_FAULT", "major", "resolved"),
        ("T2001", "PRN.PAPER_OUT", "minor", "open"),
    ]
    with make_sessionmaker(engine).begin() as s:
        for i, (tid, code, sev, status) in enumerate(rows):
            s.add(
                Incident(
                    rule_id=f"r{i}",
                    scope=f"terminal:{tid}",
                    open_key=None if status == "resolved" else f"r{i}|terminal:{tid}",
                    code=code,
                    severity=sev,
                    status=status,
                    terminal_id=tid,
                    merchant_id="M01" if tid.startswith("T1") else "M02",
                    explanation={"reason": "test"},
                    opened_at=now - timedelta(minutes=i),
                )
            )
    engine.dispose()
    login(client, "ops")

    def listed(query: str) -> list[str]:
        page = client.get(f"/ui/incidents?{query}").text
        return sorted(re.findall(r'<td><a href="/ui/terminals/(T\d+)">', page))

    assert listed("") == ["T1001", "T1002", "T2001"]  # default: still active
    assert listed("status=all") == ["T1001", "T1002", "T1003", "T2001"]
    assert listed("status=resolved") == ["T1003"]
    assert listed("status=all&severity=minor") == ["T1002", "T2001"]
    assert listed("status=all&category=network") == ["T1001"]
    assert listed("status=all&merchant=M02") == ["T2001"]
    assert listed("status=all&area=pudong&model=PX-5") == ["T1001", "T1002"]
    assert listed("status=all&terminal=T1003") == ["T1003"]


def test_logout_ends_the_session_even_for_a_copied_cookie(client: TestClient) -> None:
    csrf = login(client, "ops")
    stolen = client.cookies["pg_session"]
    r = client.post("/ui/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.headers["location"] == "/ui/login"
    client.cookies.set("pg_session", stolen, path="/ui")
    assert client.get("/ui/", follow_redirects=False).status_code == 303
    client.cookies.clear()
    login(client, "ops")  # a new login works again
    assert client.get("/ui/").status_code == 200


def test_dashboard_login_is_throttled_after_wrong_passwords(client: TestClient) -> None:
    def attempt(password: str) -> httpx.Response:
        page = client.get("/ui/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        return client.post(
            "/ui/login",
            data={"username": "shop1", "password": password, "csrf": token[1], "next": "/ui/"},
            follow_redirects=False,
        )

    for _ in range(5):
        assert attempt("guess").status_code == 401
    locked = attempt(PASSWORD)
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert "密码错误次数太多" in locked.text or "Too many wrong passwords" in locked.text


def test_wizard_hand_over_numbers_steps_from_one(client: TestClient) -> None:
    """The hand-over list uses the record's own numbering (1..N), as the CLI does."""
    csrf = login(client, "ops")
    page = client.post("/ui/troubleshoot/walk", data={"csrf": csrf, "code": "PRN.PAPER_OUT"})
    for _ in range(10):
        state = re.search(r'name="state" value="([^"]+)"', page.text)
        if state is None:
            break
        page = client.post(
            "/ui/troubleshoot/walk/answer",
            data={"csrf": csrf, "state": state[1], "answer": "not_solved"},
        )
    steps = re.findall(r"<dt>#(\d+)</dt>", page.text)
    assert 'id="escalation"' in page.text
    assert steps[:1] == ["1"]
    assert "0" not in steps


def test_merchant_sees_the_fleet_incident_its_terminals_are_in(
    client: TestClient, seeded: Seeded
) -> None:
    """Issue #15: acq-east's three terminals (T1001, T1002 of M01; T2001 of M02) all fail to
    reach it: one host incident, which each merchant sees with its own terminals only."""
    now = datetime.now(UTC)
    for tid in ("T1001", "T1002", "T2001"):
        ingest(
            client,
            seeded,
            tid,
            [fault(tid, k + 1, "NET.CONNECT_TIMEOUT", now) for k in range(2)],
        )
    host = wait_incident(seeded, "NET.HOST_UNREACHABLE")
    login(client, "shop1")
    assert f'href="/ui/incidents/{host}"' in client.get("/ui/incidents?status=all").text
    page = client.get(f"/ui/incidents/{host}")
    assert page.status_code == 200
    affected = re.search(r'<ul class="terms" id="affected">(.*?)</ul>', page.text, re.S)
    assert affected is not None
    assert "T1001" in affected[1]
    assert "T1002" in affected[1]
    assert "T2001" not in page.text
    assert "M02" not in page.text
    assert 'id="steps"' in page.text  # what to do, for a merchant
    client.cookies.clear()
    login(client, "shop2")
    page = client.get(f"/ui/incidents/{host}")
    assert page.status_code == 200
    assert "T2001" in page.text
    assert "T1001" not in page.text
