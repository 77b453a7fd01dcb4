"""The outbox end to end, on SQLite and PostgreSQL: transitions enqueue in their own
transaction, escalation by an injected clock, idempotency across a restart and with two
workers at once, storm grouping, per-channel rate limits, retry with backoff."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from posguard.fleet.clock import FakeClock
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.models import Incident
from posguard.fleet.notify import outbox
from posguard.fleet.notify.config import parse_config

from ..conftest import FleetDB, register
from .conftest import Received, Receiver, Wired, outbox_rows, webhook_config, wire


def _signed(secret: str) -> Any:
    def verify(req: Received) -> tuple[int, dict[str, Any]]:
        ts = req.headers.get("x-posguard-timestamp", "")
        mac = hmac.new(secret.encode(), ts.encode() + b"." + req.body, hashlib.sha256)
        if req.headers.get("x-posguard-signature") != "sha256=" + mac.hexdigest():
            return 401, {"error": "bad signature"}
        return 200, {"ok": True}

    return verify


def _incident_ids(receiver: Receiver, path: str = "/hook") -> list[int]:
    return [i["id"] for r in receiver.accepted if r.path == path for i in r.json()["incidents"]]


@pytest.fixture
def wired(
    fleet_db: FleetDB, clock: FakeClock, receiver: Receiver, hook_secret: str, catalog: Any
) -> Iterator[Wired]:
    receiver.verify = _signed(hook_secret)
    for t in ("T1", "T2", "T3"):
        register(fleet_db, t)
    yield from wire(fleet_db, clock, webhook_config(receiver.url), catalog)


async def test_transitions_enqueue_with_the_incident(
    wired: Wired, fleet_db: FleetDB, clock: FakeClock, receiver: Receiver
) -> None:
    inc = wired.incidents.open("T1")
    rows = outbox_rows(fleet_db)
    assert [(r.incident_id, r.transition, r.status) for r in rows] == [(inc, "open", "pending")]
    # a transition that rolls back leaves no notification behind
    with fleet_db.sessions() as s:
        from posguard.fleet.repo.incidents import resolve

        row = s.get(Incident, inc)
        assert row is not None
        assert resolve(s, incident=row, by="x", now=clock.now())
        s.rollback()
    assert len(outbox_rows(fleet_db)) == 1
    wired.incidents.ack(inc)  # the route does not say "ack": nothing
    assert len(outbox_rows(fleet_db)) == 1
    await wired.notifier.step()
    wired.incidents.resolve(inc)
    await wired.notifier.step()
    bodies = [r.json() for r in receiver.accepted]
    assert [b["transition"] for b in bodies] == ["open", "resolve"]
    assert bodies[0]["thread"] == bodies[1]["thread"] == f"incident-{inc}"
    assert bodies[1]["incidents"][0]["by"] == "ops"
    assert [r.status for r in outbox_rows(fleet_db)] == ["sent", "sent"]


async def test_escalation_follows_the_clock(
    fleet_db: FleetDB, clock: FakeClock, receiver: Receiver, hook_secret: str, catalog: Any
) -> None:
    """Unacknowledged after 15 min: level 1; after 60: level 2; acknowledging stops it; the
    closing message goes to whoever was told."""
    receiver.verify = _signed(hook_secret)
    register(fleet_db, "T1")
    register(fleet_db, "T2")
    cfg = parse_config(
        {
            "channels": [
                {
                    "id": c,
                    "type": "webhook",
                    "url": f"{receiver.url}/{c}",
                    "secret": {"env": "PG_TEST_HOOK_SECRET"},
                }
                for c in ("hook", "lead", "head")
            ],
            "routes": [
                {
                    "id": "all",
                    "hold_s": 0,
                    "notify": [{"channel": "hook"}],
                    "escalate": [
                        {"after_min": 15, "notify": [{"channel": "lead"}]},
                        {"after_min": 60, "notify": [{"channel": "head"}]},
                    ],
                }
            ],
        },
        source="t.yaml",
    )
    for w in wire(fleet_db, clock, cfg, catalog):
        quiet = w.incidents.open("T1")
        acked = w.incidents.open("T2", rule="host-connect-timeouts", code="NET.CONNECT_TIMEOUT")
        await w.notifier.step()
        clock.advance(14 * 60 + 59)
        await w.notifier.step()
        assert _incident_ids(receiver, "/lead") == []
        w.incidents.ack(acked)
        clock.advance(1)  # 15:00 after opening
        await w.notifier.step()
        await w.notifier.step()  # again: nothing twice
        assert _incident_ids(receiver, "/lead") == [quiet]
        assert receiver.accepted[-1].json()["transition"] == "escalate:1"
        clock.advance(45 * 60 - 1)
        await w.notifier.step()
        assert _incident_ids(receiver, "/head") == []
        clock.advance(1)
        await w.notifier.step()
        assert _incident_ids(receiver, "/head") == [quiet]
        w.incidents.resolve(quiet)
        w.incidents.resolve(acked)
        await w.notifier.step()
        closing = [
            (r.path, i["id"])
            for r in receiver.accepted
            if r.json()["transition"] == "resolve"
            for i in r.json()["incidents"]
        ]
        # the acknowledged one never escalated: lead and head hear only of the quiet one
        assert sorted(closing) == sorted(
            [("/hook", quiet), ("/hook", acked), ("/lead", quiet), ("/head", quiet)]
        )


async def test_nothing_sent_twice_across_a_restart(
    wired: Wired, fleet_db: FleetDB, clock: FakeClock, receiver: Receiver
) -> None:
    """A worker claims the row and dies before sending; after a restart another worker sends
    it once its lease ends; replaying the transition and running more workers add nothing."""
    inc = wired.incidents.open("T1")
    with fleet_db.sessions.begin() as s:  # worker "dead" claims and is killed
        taken = outbox.claim(
            s, channel="hook", worker="dead", now=clock.now(), lease_s=60, limit=10
        )
    assert len(taken) == 1
    engine = make_engine(fleet_db.url)  # the restarted process: its own engine and sessions
    try:
        restarted = wired.new_worker("after-restart")
        restarted.sessions = make_sessionmaker(engine)
        await restarted.step()
        assert receiver.requests == []  # leased to the dead worker
        clock.advance(61)
        await restarted.step()
        assert _incident_ids(receiver) == [inc]
        # the dead worker wakes up: its outcome no longer applies
        with fleet_db.sessions.begin() as s:
            assert (
                outbox.mark_sent(s, [taken[0].id], worker="dead", now=clock.now(), message_key="x")
                == 0
            )
        # the same transition enqueued again (a replayed diagnosis step, a retried request)
        from posguard.fleet.notify.hook import rows_for
        from posguard.fleet.notify.routing import Recipient

        again = rows_for(inc, "open", [Recipient("all", 0, "hook", "", "zh", "ops", 0)], clock)
        with fleet_db.sessions.begin() as s:
            assert outbox.enqueue(s, again) == 0
        clock.advance(3600)
        for _ in range(3):
            await restarted.step()
            await wired.notifier.step()
    finally:
        engine.dispose()
    assert _incident_ids(receiver) == [inc]
    assert len(receiver.requests) == 1


def test_two_workers_at_once_send_each_row_once(
    fleet_db: FleetDB, clock: FakeClock, receiver: Receiver, hook_secret: str, catalog: Any
) -> None:
    """Two workers, each with its own engine, deliver the same outbox concurrently (PostgreSQL:
    FOR UPDATE SKIP LOCKED; SQLite: one writer, conditional UPDATE)."""
    receiver.verify = _signed(hook_secret)
    terminals = [f"T{i:02d}" for i in range(24)]
    for t in terminals:
        register(fleet_db, t)
    cfg = webhook_config(receiver.url)
    cfg = cfg.model_copy(update={"delivery": cfg.delivery.model_copy(update={"batch": 1})})
    ids: list[int] = []
    for w in wire(fleet_db, clock, cfg, catalog):
        # batch 1: a claim takes one row (so one message each) and the workers interleave
        for t in terminals:
            ids.append(w.incidents.open(t))
        errors: list[BaseException] = []

        def run(name: str, w: Wired = w, errors: list[BaseException] = errors) -> None:
            engine = make_engine(fleet_db.url)
            try:
                worker = w.new_worker(name)
                worker.sessions = make_sessionmaker(engine)
                for _ in range(20):
                    asyncio.run(worker.deliver_once())
            except BaseException as exc:
                errors.append(exc)
            finally:
                engine.dispose()

        threads = [threading.Thread(target=run, args=(f"w{n}",)) for n in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=60)
        assert not errors, errors
    sent = _incident_ids(receiver)
    assert sorted(sent) == sorted(ids), Counter(sent).most_common(3)
    rows = outbox_rows(fleet_db)
    assert {r.status for r in rows} == {"sent"}
    workers = Counter(r.claimed_by for r in rows)
    assert sum(workers.values()) == len(ids)
    # each worker claims at most 20 rows (20 rounds of 1), so both took part
    assert set(workers) == {"w0", "w1"}


async def test_storm_is_one_message(
    fleet_db: FleetDB, clock: FakeClock, receiver: Receiver, hook_secret: str, catalog: Any
) -> None:
    """Forty paper-outs within the hold time: one digest message. A host-wide incident that
    swallows terminals' incidents before their messages go out: only the host's is sent."""
    receiver.verify = _signed(hook_secret)
    cfg = webhook_config(receiver.url, hold_s=30)
    terminals = [f"S{i:02d}" for i in range(40)]
    for t in terminals:
        register(fleet_db, t, host="acq-east" if t < "S10" else "acq-west")
    for w in wire(fleet_db, clock, cfg, catalog):
        papers = [w.incidents.open(t) for t in terminals[10:]]
        await w.notifier.step()
        assert receiver.requests == []  # held for grouping
        clock.advance(30)
        await w.notifier.step()
        assert len(receiver.accepted) == 1
        digest = receiver.accepted[0].json()
        assert len(digest["incidents"]) == 20
        assert digest["more"] == 10
        assert digest["title"].endswith("30 个故障")
        assert {r.incident_id for r in outbox_rows(fleet_db) if r.status == "sent"} == set(papers)

        suppressed_before = _metric("suppressed")
        east = [
            w.incidents.open(t, rule="host-connect-timeouts", code="NET.CONNECT_TIMEOUT")
            for t in terminals[:10]
        ]
        clock.advance(10)
        host = w.incidents.open(
            None,
            rule="network-outage",
            code="NET.CONNECT_TIMEOUT",
            scope="host:acq-east",
            members=tuple(terminals[:10]),
        )
        clock.advance(30)
        await w.notifier.step()
        assert len(receiver.accepted) == 2
        outage = receiver.accepted[1].json()
        assert [i["id"] for i in outage["incidents"]] == [host]
        assert outage["severity"] == "critical"
        suppressed = {
            r.incident_id: r.last_error for r in outbox_rows(fleet_db) if r.status == "suppressed"
        }
        assert set(suppressed) == set(east)
        assert all(e == f"merged into incident #{host}" for e in suppressed.values())
        assert _metric("suppressed") - suppressed_before == 10


def _metric(outcome: str) -> float:
    from prometheus_client import REGISTRY

    labels = {"channel": "hook", "outcome": outcome}
    return REGISTRY.get_sample_value("posguard_fleet_notifications_total", labels) or 0.0


async def test_rate_limit_per_channel(
    wired: Wired, fleet_db: FleetDB, clock: FakeClock, receiver: Receiver
) -> None:
    limited = wired.config.channels["hook"].model_copy(update={"rate_per_min": 2})
    wired.notifier.config = wired.config.model_copy(update={"channels": {"hook": limited}})
    for t in ("T1", "T2", "T3"):
        wired.incidents.open(t)
        await wired.notifier.step()
        clock.advance(1)
    assert len(receiver.accepted) == 2  # the third waits for the minute to pass
    assert [r.status for r in outbox_rows(fleet_db)] == ["sent", "sent", "pending"]
    assert outbox_rows(fleet_db)[2].attempts == 0  # held back, not a failed attempt
    clock.advance(58)
    await wired.notifier.step()
    assert len(receiver.accepted) == 3


async def test_retry_with_backoff_then_give_up(
    wired: Wired, fleet_db: FleetDB, clock: FakeClock, receiver: Receiver, hook_secret: str
) -> None:
    answers = iter([503, 503, 200])
    good = _signed(hook_secret)

    def flaky(req: Received) -> tuple[int, dict[str, Any]]:
        code = next(answers)
        return (code, {"error": "busy"}) if code != 200 else good(req)

    receiver.verify = flaky
    wired.incidents.open("T1")
    await wired.notifier.step()  # attempt 1: 503
    row = outbox_rows(fleet_db)[0]
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 503")
    assert row.next_attempt_at == clock.now() + timedelta(seconds=30)
    clock.advance(29)
    await wired.notifier.step()
    assert len(receiver.requests) == 1  # not before the backoff
    clock.advance(1)
    await wired.notifier.step()  # attempt 2: 503, next in 60 s
    assert outbox_rows(fleet_db)[0].attempts == 2
    clock.advance(60)
    await wired.notifier.step()  # attempt 3: sent
    assert [r.status for r in outbox_rows(fleet_db)] == ["sent"]
    assert len(receiver.accepted) == 1

    receiver.verify = lambda _r: (401, {"error": "bad signature"})  # permanent
    wired.incidents.open("T2")
    await wired.notifier.step()
    last = outbox_rows(fleet_db)[-1]
    assert (last.status, last.last_error) == ("failed", "HTTP 401")


async def test_secrets_never_reach_logs_or_the_database(
    fleet_db: FleetDB,
    clock: FakeClock,
    receiver: Receiver,
    catalog: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A robot whose secret is wrong fails and retries; its token and secret appear nowhere:
    not in the delivery log, not in any outbox column, not in what was logged."""
    import logging

    from sqlalchemy import text

    caplog.set_level(logging.DEBUG)
    token, secret = "tok-4c1d9e2f7a", "SECd00dfeedbeef42"
    monkeypatch.setenv("PG_DT_TOKEN", token)
    monkeypatch.setenv("PG_DT_SECRET", "SECwrong-secret-99")
    receiver.verify = lambda _r: (200, {"errcode": 310000, "errmsg": "sign not match"})
    register(fleet_db, "T1")
    cfg = parse_config(
        {
            "channels": [
                {
                    "id": "dt",
                    "type": "dingtalk",
                    "url": receiver.url + "/robot/send",
                    "token": {"env": "PG_DT_TOKEN"},
                    "secret": {"env": "PG_DT_SECRET"},
                }
            ],
            "routes": [{"id": "all", "hold_s": 0, "notify": [{"channel": "dt"}]}],
        },
        source="t.yaml",
    )
    for w in wire(fleet_db, clock, cfg, catalog):
        w.incidents.open("T1")
        await w.notifier.step()
        monkeypatch.setenv("PG_DT_SECRET", secret)
        monkeypatch.delenv("PG_DT_TOKEN")  # now the token is missing: said by name only
        clock.advance(30)
        await w.notifier.step()
    assert len(receiver.requests) == 1
    assert token in receiver.requests[0].query.values()
    (row,) = outbox_rows(fleet_db)
    assert (row.status, row.attempts) == ("pending", 2)
    assert row.last_error == "environment variable PG_DT_TOKEN is not set"
    with fleet_db.engine.connect() as conn:
        dump = repr(conn.execute(text("SELECT * FROM notification_outbox")).all())
    out = capsys.readouterr()
    logged = out.out + out.err + caplog.text
    assert "notify.retry" in logged
    assert "310000" in logged
    for value in (token, secret, "SECwrong-secret-99"):
        assert value not in dump
        assert value not in logged


async def test_the_merchant_is_told_in_its_language(
    fleet_db: FleetDB, clock: FakeClock, receiver: Receiver, hook_secret: str, catalog: Any
) -> None:
    """Paper out (the catalog's audience: merchant) reaches the merchant's own contact in
    English with the steps; a host-side fault of the same merchant's terminal (audience
    without merchant) does not."""
    receiver.verify = _signed(hook_secret)
    register(fleet_db, "T1", merchant_id="M01")
    cfg = parse_config(
        {
            "channels": [
                {"id": c, "type": "webhook", "url": f"{receiver.url}/{c}",
                 "secret": {"env": "PG_TEST_HOOK_SECRET"}} for c in ("ops", "shop")
            ],
            "routes": [
                {"id": "ops", "hold_s": 0, "notify": [{"channel": "ops"}]},
                {"id": "shops", "hold_s": 0, "match": {"audience": ["merchant"]},
                 "notify_merchant": True},
            ],
            "merchants": {"M01": {"channel": "shop", "lang": "en"}},
        },
        source="t.yaml",
    )  # fmt: skip
    ops_only = next(
        e.code for e in catalog.values()
        if "merchant" not in [a.value for a in e.audience] and e.code.startswith("NET.")
    )  # fmt: skip
    for w in wire(fleet_db, clock, cfg, catalog):
        paper = w.incidents.open("T1")
        w.incidents.open("T1", rule="host-read-timeouts", code=ops_only)
        await w.notifier.step()
    shop = [r.json() for r in receiver.accepted if r.path == "/shop"]
    assert len(shop) == 1
    (msg,) = shop
    assert (msg["audience"], msg["lang"]) == ("merchant", "en")
    assert [i["id"] for i in msg["incidents"]] == [paper]
    assert msg["incidents"][0]["steps"] == [s.en for s in catalog["PRN.PAPER_OUT"].steps]
    ops = [i["id"] for r in receiver.accepted if r.path == "/ops" for i in r.json()["incidents"]]
    assert len(ops) == 2
