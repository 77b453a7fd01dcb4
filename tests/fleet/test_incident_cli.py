"""`posguard fleet incident …`: the workflow from a shell through the same service, as a named
staff user, recorded with origin ``cli``; refusals are one line (exit 1: state or cause still
showing, 2: a wrong request), never a traceback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from posguard.cli import app
from posguard.fleet import audit
from posguard.fleet.db.models import EventRow, Incident
from posguard.fleet.repo.incidents import open_key
from posguard.fleet.repo.users import Role, create_user

from .conftest import T0, FleetDB, register


@pytest.fixture
def incident(sqlite_db: FleetDB, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.delenv("POSGUARD_NOTIFY_CONFIG", raising=False)
    register(sqlite_db, "T1")
    now = datetime.now(UTC) - timedelta(minutes=1)  # the CLI runs on the system clock
    with sqlite_db.sessions.begin() as s:
        create_user(s, username="ops", password="ops-password", role=Role.OPS, now=T0)
        create_user(
            s, username="m01", password="m-password", role=Role.MERCHANT, merchant_id="M01", now=T0
        )
        inc = Incident(
            rule_id="printer-paper-out",
            scope="terminal:T1",
            open_key=open_key("printer-paper-out", "terminal:T1"),
            code="PRN.PAPER_OUT",
            severity="minor",
            status="open",
            terminal_id="T1",
            merchant_id="M01",
            explanation={},
            opened_at=now - timedelta(minutes=5),
        )
        s.add(inc)
        s.add(
            EventRow(terminal_id="T1", merchant_id="M01", seq=1, ts=now, received_at=now,
                     kind="printer", code=None, data={"state": "paper_out"})
        )  # fmt: skip
        s.flush()
        return inc.id


def _cli(db: FleetDB, *args: str) -> tuple[int, str, str]:
    # a fixed JWT secret: without one the fleet warns on stderr, which is not the refusal line
    env = {"POSGUARD_FLEET_JWT_SECRET": "x" * 40}
    r = CliRunner().invoke(
        app, ["fleet", "incident", *args, "--db", db.url, "--lang", "en"], env=env
    )
    return r.exit_code, r.stdout, r.stderr


def test_the_workflow_from_the_shell(sqlite_db: FleetDB, incident: int) -> None:
    i = str(incident)
    code, out, _ = _cli(sqlite_db, "assign", i, "team:network", "--as", "ops")
    assert code == 0
    assert "assignee: team:network" in out
    assert _cli(sqlite_db, "note", i, "called the shop", "--as", "ops")[0] == 0
    code, _, err = _cli(sqlite_db, "resolve", i, "--reason", "fixed_on_site", "--as", "ops")
    assert code == 1
    assert "the cause still shows (printer: paper_out)" in err
    assert "(--force)" in err
    code, out, _ = _cli(
        sqlite_db, "resolve", i, "--reason", "fixed_on_site", "--force", "--as", "ops"
    )
    assert code == 0
    assert "resolved" in out
    assert "resolution: fixed_on_site" in out
    code, out, _ = _cli(sqlite_db, "reopen", i, "--reason", "again", "--as", "ops")
    assert code == 0
    assert "open" in out
    code, out, _ = _cli(sqlite_db, "show", i)
    assert code == 0
    assert "sla ack: running" in out  # opened minutes ago, reopened: to acknowledge again
    with sqlite_db.sessions() as s:
        entries = audit.entries(s, incident_id=incident)
        assert [(e.action, e.actor, e.origin) for e in entries] == [
            ("assigned", "user:ops", "cli"),
            ("note", "user:ops", "cli"),
            ("resolved", "user:ops", "cli"),
            ("reopened", "user:ops", "cli"),
        ]


def test_refusals_are_one_line(sqlite_db: FleetDB, incident: int) -> None:
    i = str(incident)
    code, _, err = _cli(sqlite_db, "ack", i, "--as", "m01")
    assert (code, err.strip()) == (
        1,
        f"error: incident {i}: a merchant user may not act on incidents",
    )
    code, _, err = _cli(sqlite_db, "ack", i, "--as", "nobody")
    assert (code, err.strip()) == (4, "error: --as nobody: no enabled user of that name")
    code, _, err = _cli(sqlite_db, "assign", i, "team:nobody", "--as", "ops")
    assert code == 2
    assert "unknown team" in err
    code, _, err = _cli(sqlite_db, "reopen", i, "--reason", "x", "--as", "ops")
    assert code == 1
    assert "only a resolved one reopens" in err
    code, _, err = _cli(sqlite_db, "ack", "99999", "--as", "ops")
    assert (code, err.strip()) == (4, "error: incident 99999 not found")
    assert "Traceback" not in err
    with sqlite_db.sessions() as s:
        assert list(audit.entries(s, incident_id=incident)) == []
