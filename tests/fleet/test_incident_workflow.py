"""The incident workflow service (``fleet.incident_actions``) on SQLite and PostgreSQL: every
transition, every refusal (and that a refusal writes nothing), the cause check before a manual
resolve, reopen, and the append-only audit log each action writes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from posguard.catalog import default_catalog
from posguard.fleet import audit
from posguard.fleet import incident_actions as actions
from posguard.fleet.db.models import EventRow, Incident, IncidentAudit
from posguard.fleet.incident_actions import Actor, CauseStillActiveError, TransitionRefusedError
from posguard.fleet.incident_policy import default_policy
from posguard.fleet.repo import commands as command_repo
from posguard.fleet.repo.incidents import open_key
from posguard.fleet.repo.terminals import get_terminal
from posguard.fleet.repo.users import Role, create_user

from .conftest import T0, FleetDB, register

OPS = Actor("ops", Role.OPS, "10.0.0.7")
MERCHANT = Actor("m01", Role.MERCHANT, "10.0.0.9")
CATALOG = default_catalog()
POLICY = default_policy()
NOW = T0 + timedelta(minutes=10)


@pytest.fixture
def db(fleet_db: FleetDB) -> FleetDB:
    register(fleet_db, "T1", host="acq-east")
    register(fleet_db, "T2", host="acq-east")
    with fleet_db.sessions.begin() as s:
        create_user(s, username="ops", password="ops-password", role=Role.OPS, now=T0)
        create_user(s, username="li", password="li-password", role=Role.OPS, now=T0)
        create_user(
            s, username="m01", password="m-password", role=Role.MERCHANT, merchant_id="M01", now=T0
        )
        off = create_user(s, username="gone", password="gone-password", role=Role.OPS, now=T0)
        off.disabled = True
    return fleet_db


def _incident(
    db: FleetDB,
    *,
    code: str = "PRN.PAPER_OUT",
    terminal: str = "T1",
    rule: str = "printer-paper-out",
    status: str = "open",
) -> int:
    with db.sessions.begin() as s:
        inc = Incident(
            rule_id=rule,
            scope=f"terminal:{terminal}",
            open_key=open_key(rule, f"terminal:{terminal}") if status != "resolved" else None,
            code=code,
            severity="minor",
            status=status,
            terminal_id=terminal,
            merchant_id="M01",
            explanation={},
            opened_at=T0,
            resolved_at=T0 + timedelta(minutes=1) if status == "resolved" else None,
            resolved_by="rule" if status == "resolved" else None,
        )
        s.add(inc)
        s.flush()
        return inc.id


_seq = iter(range(1, 10_000))


def _event(db: FleetDB, tid: str, kind: str, ts: datetime, **data: Any) -> None:
    with db.sessions.begin() as s:
        s.add(
            EventRow(
                terminal_id=tid,
                merchant_id="M01",
                seq=next(_seq),
                ts=ts,
                received_at=ts,
                kind=kind,
                code=None,
                data=data,
            )
        )


def _entries(db: FleetDB, incident_id: int) -> list[IncidentAudit]:
    with db.sessions() as s:
        return list(audit.entries(s, incident_id=incident_id))


def _do(db: FleetDB, incident_id: int, fn: Any, **kw: Any) -> Incident:
    with db.sessions.begin() as s:
        inc = s.get(Incident, incident_id)
        assert inc is not None
        fn(s, incident=inc, **kw)
        s.flush()
        s.expunge(inc)
        return inc


def _refused(db: FleetDB, incident_id: int, fn: Any, **kw: Any) -> TransitionRefusedError:
    before = len(_entries(db, incident_id))
    with pytest.raises(TransitionRefusedError) as caught:
        _do(db, incident_id, fn, **kw)
    assert len(_entries(db, incident_id)) == before  # nothing written
    return caught.value


def _counted(action: str) -> float:
    value = REGISTRY.get_sample_value("posguard_fleet_incidents_total", {"transition": action})
    return value or 0.0


def test_acknowledge_records_who_when_and_from_where_once(db: FleetDB) -> None:
    inc = _incident(db)
    before = _counted("acknowledged")
    done = _do(db, inc, actions.acknowledge, actor=OPS, now=NOW)
    assert (done.status, done.acknowledged_by, done.time_to_ack_s) == ("acknowledged", "ops", 600)
    (entry,) = _entries(db, inc)
    assert (entry.action, entry.actor, entry.origin, entry.at) == (
        "acknowledged",
        "user:ops",
        "10.0.0.7",
        NOW,
    )
    assert _counted("acknowledged") == before + 1
    again = _refused(db, inc, actions.acknowledge, actor=OPS, now=NOW)
    assert not again.forbidden
    assert not again.invalid
    assert "acknowledged, not open" in again.message


@pytest.mark.parametrize(
    ("fn", "kw"),
    [
        (actions.acknowledge, {}),
        (actions.assign, {"assignee": "team:network", "policy": POLICY}),
        (actions.add_note, {"text": "looked at it"}),
        (actions.resolve, {"reason": "false_alarm", "catalog": CATALOG, "force": True}),
    ],
    ids=["ack", "assign", "note", "resolve"],
)
def test_a_merchant_user_may_not_act(db: FleetDB, fn: Any, kw: dict[str, Any]) -> None:
    inc = _incident(db)
    err = _refused(db, inc, fn, actor=MERCHANT, now=NOW, **kw)
    assert err.forbidden
    with db.sessions() as s:
        row = s.get(Incident, inc)
        assert row is not None
        assert (row.status, row.assignee) == ("open", None)


def test_a_merchant_user_may_not_reopen(db: FleetDB) -> None:
    inc = _incident(db, status="resolved")
    assert _refused(db, inc, actions.reopen, actor=MERCHANT, now=NOW, reason="x").forbidden


def test_assign_to_a_team_then_a_user(db: FleetDB) -> None:
    inc = _incident(db)
    done = _do(db, inc, actions.assign, actor=OPS, now=NOW, assignee="team:network", policy=POLICY)
    assert done.assignee == "team:network"
    done = _do(db, inc, actions.assign, actor=OPS, now=NOW, assignee="user:li", policy=POLICY)
    assert done.assignee == "user:li"
    assert [(e.action, e.details) for e in _entries(db, inc)] == [
        ("assigned", {"assignee": "team:network", "previous": None}),
        ("assigned", {"assignee": "user:li", "previous": "team:network"}),
    ]


@pytest.mark.parametrize(
    ("assignee", "says"),
    [
        ("team:nobody", "unknown team"),
        ("user:nobody", "no enabled ops or admin user"),
        ("user:m01", "no enabled ops or admin user"),  # a merchant user works on nothing
        ("user:gone", "no enabled ops or admin user"),  # disabled
        ("network", "give user:<name> or team:<id>"),
        ("group:x", "give user:<name> or team:<id>"),
    ],
)
def test_assign_refuses_an_unknown_assignee(db: FleetDB, assignee: str, says: str) -> None:
    inc = _incident(db)
    err = _refused(db, inc, actions.assign, actor=OPS, now=NOW, assignee=assignee, policy=POLICY)
    assert err.invalid
    assert says in err.message


def test_assign_refuses_the_same_assignee_and_a_closed_incident(db: FleetDB) -> None:
    inc = _incident(db)
    _do(db, inc, actions.assign, actor=OPS, now=NOW, assignee="team:network", policy=POLICY)
    err = _refused(
        db, inc, actions.assign, actor=OPS, now=NOW, assignee="team:network", policy=POLICY
    )
    assert "already assigned" in err.message
    assert not err.invalid
    closed = _incident(db, status="resolved", terminal="T2")
    err = _refused(
        db, closed, actions.assign, actor=OPS, now=NOW, assignee="team:network", policy=POLICY
    )
    assert "resolved" in err.message
    assert not err.invalid


def test_notes_need_text_and_may_follow_a_resolve(db: FleetDB) -> None:
    inc = _incident(db, status="resolved")
    assert _refused(db, inc, actions.add_note, actor=OPS, now=NOW, text="   ").invalid
    assert _refused(db, inc, actions.add_note, actor=OPS, now=NOW, text="x" * 2001).invalid
    _do(db, inc, actions.add_note, actor=OPS, now=NOW, text="  the cable was loose  ")
    (entry,) = _entries(db, inc)
    assert (entry.action, entry.details, entry.merchant_safe) == (
        "note",
        {"text": "the cable was loose"},
        False,
    )


@pytest.mark.parametrize(
    ("reason", "text_", "says"),
    [
        ("", "", "resolution reason ''"),
        ("fixed", "", "resolution reason 'fixed'"),
        ("other", "", "the resolution's text is required"),
        ("other", "  ", "the resolution's text is required"),
    ],
)
def test_resolve_needs_a_known_reason(db: FleetDB, reason: str, text_: str, says: str) -> None:
    inc = _incident(db)
    err = _refused(
        db, inc, actions.resolve, actor=OPS, now=NOW, reason=reason, text=text_, catalog=CATALOG,
        force=True,
    )  # fmt: skip
    assert err.invalid
    assert says in err.message


def test_resolve_warns_while_the_printer_is_still_out_of_paper(db: FleetDB) -> None:
    """The bug the issue names: an incident resolved while the printer is still out of paper.
    The service refuses until the person confirms (``force``), and records that they did."""
    inc = _incident(db)
    _event(db, "T1", "printer", T0 + timedelta(minutes=1), state="paper_out")
    with pytest.raises(CauseStillActiveError) as caught:
        _do(db, inc, actions.resolve, actor=OPS, now=NOW, reason="fixed_on_site", catalog=CATALOG)
    assert (caught.value.cause.reason, caught.value.cause.detail) == ("printer", "paper_out")
    assert _entries(db, inc) == []
    done = _do(
        db, inc, actions.resolve, actor=OPS, now=NOW, reason="fixed_on_site", text="new roll",
        catalog=CATALOG, force=True,
    )  # fmt: skip
    assert (done.status, done.resolved_by, done.resolution_reason, done.resolution_note) == (
        "resolved",
        "user:ops",
        "fixed_on_site",
        "new roll",
    )
    (entry,) = _entries(db, inc)
    assert entry.details == {
        "reason": "fixed_on_site",
        "text": "new roll",
        "forced": True,
        "active_cause": {"reason": "printer", "detail": "paper_out"},
    }


def test_resolve_goes_through_once_the_printer_is_ok(db: FleetDB) -> None:
    inc = _incident(db)
    _event(db, "T1", "printer", T0 + timedelta(minutes=1), state="paper_out")
    _event(db, "T1", "printer", T0 + timedelta(minutes=5), state="ok")
    done = _do(
        db, inc, actions.resolve, actor=OPS, now=NOW, reason="fixed_on_site", catalog=CATALOG
    )
    assert done.status == "resolved"
    assert "forced" not in _entries(db, inc)[0].details
    again = _refused(
        db, inc, actions.resolve, actor=OPS, now=NOW, reason="fixed_on_site", catalog=CATALOG
    )
    assert "already resolved" in again.message


def test_a_network_incident_needs_a_sale_through_its_own_host(db: FleetDB) -> None:
    inc = _incident(db, code="NET.READ_TIMEOUT", rule="host-read-timeouts")
    kw = {"actor": OPS, "now": NOW, "reason": "network_provider_fix", "catalog": CATALOG}
    with pytest.raises(CauseStillActiveError) as caught:
        _do(db, inc, actions.resolve, **kw)
    assert caught.value.cause.reason == "no_sale_since"
    sale = {"type": "sale", "outcome": "approved"}
    _event(db, "T1", "transaction", NOW - timedelta(minutes=1), host="acq-backup", **sale)
    with pytest.raises(CauseStillActiveError) as caught:
        _do(db, inc, actions.resolve, **kw)
    assert (caught.value.cause.reason, caught.value.cause.detail) == ("on_backup", "acq-backup")
    _event(db, "T1", "transaction", NOW - timedelta(seconds=30), host="acq-east", **sale)
    assert _do(db, inc, actions.resolve, **kw).status == "resolved"


def test_reopen_needs_a_reason_and_a_resolved_incident(db: FleetDB) -> None:
    inc = _incident(db)
    err = _refused(db, inc, actions.reopen, actor=OPS, now=NOW, reason="again")
    assert "only a resolved one reopens" in err.message
    resolved = _incident(db, status="resolved", terminal="T2")
    assert _refused(db, resolved, actions.reopen, actor=OPS, now=NOW, reason=" ").invalid


def test_reopen_makes_it_open_again_and_keeps_the_old_resolution_in_the_log(db: FleetDB) -> None:
    inc = _incident(db)
    _do(db, inc, actions.acknowledge, actor=OPS, now=NOW)
    _do(db, inc, actions.resolve, actor=OPS, now=NOW, reason="false_alarm", catalog=CATALOG)
    later = NOW + timedelta(minutes=5)
    before = _counted("reopened")
    done = _do(db, inc, actions.reopen, actor=OPS, now=later, reason="printer jams again")
    assert _counted("reopened") == before + 1
    assert (done.status, done.open_key, done.reopen_count) == (
        "open",
        open_key("printer-paper-out", "terminal:T1"),
        1,
    )
    assert (done.resolved_at, done.resolution_reason, done.acknowledged_at) == (None, None, None)
    entry = _entries(db, inc)[-1]
    assert (
        entry.action,
        entry.details["text"],
        entry.details["previous"]["resolution_reason"],
    ) == (
        "reopened",
        "printer jams again",
        "false_alarm",
    )
    # open again: it is acknowledged and resolved again like any open incident
    _do(db, inc, actions.acknowledge, actor=OPS, now=later)
    assert [e.action for e in _entries(db, inc)] == [
        "acknowledged",
        "resolved",
        "reopened",
        "acknowledged",
    ]


def test_reopen_is_refused_while_the_rule_has_opened_a_new_incident(db: FleetDB) -> None:
    old = _incident(db, status="resolved")
    new = _incident(db)  # the diagnosis opened a new one for the same rule and scope
    err = _refused(db, old, actions.reopen, actor=OPS, now=NOW, reason="same fault")
    assert f"incident #{new} is open for the same rule and scope" in err.message


def test_the_audit_log_is_append_only_in_the_database(db: FleetDB) -> None:
    inc = _incident(db)
    _do(db, inc, actions.add_note, actor=OPS, now=NOW, text="first")
    for stmt in (
        "UPDATE incident_audit SET actor = 'user:someone-else'",
        "DELETE FROM incident_audit",
    ):
        with db.engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text(stmt))
    (entry,) = _entries(db, inc)
    assert entry.actor == "user:ops"


def test_a_merchant_sees_only_merchant_safe_entries_without_who(db: FleetDB) -> None:
    inc = _incident(db)
    _do(db, inc, actions.acknowledge, actor=OPS, now=NOW)
    _do(db, inc, actions.assign, actor=OPS, now=NOW, assignee="user:li", policy=POLICY)
    _do(db, inc, actions.add_note, actor=OPS, now=NOW, text="internal: call the vendor")
    _do(db, inc, actions.resolve, actor=OPS, now=NOW, reason="replaced_hardware", text="sn 123",
        catalog=CATALOG)  # fmt: skip
    with db.sessions() as s:
        rows = audit.entries(s, incident_id=inc, merchant_view=True)
        shown = [audit.public_entry(e, merchant_view=True) for e in rows]
    assert [(e["action"], e["actor"], e["origin"], e["details"]) for e in shown] == [
        ("acknowledged", None, None, {}),
        ("resolved", None, None, {"reason": "replaced_hardware"}),
    ]


def test_a_command_for_an_incident_and_its_answer_are_in_its_log(db: FleetDB) -> None:
    inc = _incident(db)
    with db.sessions.begin() as s:
        terminal = get_terminal(s, terminal_id="T1")
        assert terminal is not None
        cmd = command_repo.issue_command(
            s, terminal=terminal, name="reboot", args={}, issued_by="user:ops", now=NOW,
            incident_id=inc, origin="10.0.0.7",
        )  # fmt: skip
        cid = cmd.id
    with db.sessions.begin() as s:
        data = {"command_id": cid, "status": "ok", "detail": "rebooted"}
        assert command_repo.complete_command(s, terminal_id="T1", data=data, now=NOW)
    sent, answer = _entries(db, inc)
    assert (sent.action, sent.actor, sent.origin, sent.details["command"]) == (
        "command_sent",
        "user:ops",
        "10.0.0.7",
        "reboot",
    )
    assert (answer.action, answer.actor, answer.details["status"]) == (
        "command_answer",
        "terminal:T1",
        "succeeded",
    )
    assert sent.merchant_safe
    assert answer.merchant_safe


def test_an_incident_the_rule_clears_is_logged_as_resolved_by_the_rule(db: FleetDB) -> None:
    from posguard.fleet.diagnosis.observed import Clear
    from posguard.fleet.diagnosis.rules import load_rules
    from posguard.fleet.incidents import IncidentApplier

    inc = _incident(db)
    rules = {r.id: r for r in load_rules(catalog=CATALOG)}
    with db.sessions.begin() as s:
        IncidentApplier(rules=rules, catalog=CATALOG).apply(
            s,
            [Clear(rule_id="printer-paper-out", scope="terminal:T1", at=NOW, reason="paper back")],
        )
    (entry,) = _entries(db, inc)
    assert (entry.action, entry.actor, entry.origin, entry.details) == (
        "resolved",
        "rule:printer-paper-out",
        "system",
        {"reason": "cleared", "text": "paper back"},
    )


def test_a_fleet_wide_incident_is_active_until_one_of_its_terminals_sells(db: FleetDB) -> None:
    from posguard.fleet.incident_cause import still_active

    with db.sessions.begin() as s:
        inc = Incident(
            rule_id="host-unreachable",
            scope="host:acq-east",
            open_key=open_key("host-unreachable", "host:acq-east"),
            code="NET.HOST_UNREACHABLE",
            severity="critical",
            status="open",
            explanation={"members": ["T1", "T2"]},
            opened_at=T0,
        )
        s.add(inc)
        s.flush()
        cause = still_active(s, incident=inc, catalog=CATALOG, now=NOW)
        assert cause is not None
        assert (cause.reason, cause.detail) == ("members", "2/2")
    sale = {"type": "sale", "outcome": "approved"}
    _event(db, "T1", "transaction", NOW - timedelta(minutes=1), host="acq-east", **sale)
    with db.sessions() as s:
        row = s.get(Incident, inc.id)
        assert row is not None
        assert still_active(s, incident=row, catalog=CATALOG, now=NOW) is None


def test_reopening_a_cleared_incident_drops_the_clear_from_its_explanation(db: FleetDB) -> None:
    inc = _incident(db, status="resolved")
    with db.sessions.begin() as s:
        row = s.get(Incident, inc)
        assert row is not None
        row.explanation = {"reason": "paper out", "cleared": "paper back"}
    done = _do(db, inc, actions.reopen, actor=OPS, now=NOW, reason="no, it is not")
    assert done.explanation == {"reason": "paper out"}


def test_a_bad_policy_file_is_refused_naming_the_field(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from posguard.fleet.api.app import create_app
    from posguard.fleet.config import FleetSettings
    from posguard.fleet.incident_policy import PolicyError

    bad = tmp_path / "policy.yaml"
    bad.write_text("sla:\n  major: {ack_min: -5}\n", encoding="utf-8")
    monkeypatch.setenv("POSGUARD_FLEET_INCIDENT_POLICY", str(bad))
    settings = FleetSettings(database_url=f"sqlite:///{tmp_path / 'f.db'}")
    with pytest.raises(PolicyError, match=r"policy.yaml: sla.major: field 'ack_min'"):
        create_app(settings)


def test_the_documented_policy_example_is_valid() -> None:
    """docs/notifications.md's incident policy example loads as it is printed."""
    import re
    from pathlib import Path

    import yaml

    from posguard.fleet.incident_policy import parse_policy

    doc = (Path(__file__).parents[2] / "docs" / "notifications.md").read_text(encoding="utf-8")
    (example,) = [b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if "resolve_min" in b]
    p = parse_policy(yaml.safe_load(example), source="notifications.md")
    assert (p.sla["critical"].ack_min, p.sla["minor"].resolve_min, p.sla["minor"].ack_min) == (
        10,
        720,
        120,
    )
    assert [t.id for t in p.teams] == ["field-east"]
