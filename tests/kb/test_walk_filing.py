"""`kb walk` files its hand-over on the fleet as a note on the terminal's timeline (issue 17).

A real fleet app behind uvicorn on 127.0.0.1 with a SQLite database; the walk runs with the
terminal's own config (its fleet URL and credential, its outbox), its doctor checks against a
closed host port; the note is then read back from the terminal's timeline as an ops user sees
it. When the fleet is not reachable, or none is configured, the record file is kept and one
line says so."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from posguard.card import contains_pan
from posguard.catalog.loader import default_catalog
from posguard.cli import app
from posguard.common.testing import free_port
from posguard.kb.filing import NOTE_EVENT, walk_note
from posguard.kb.wizard import Answer, Escalation, StepOutcome

pytest.importorskip("posguard.terminal.service")
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import upgrade
from posguard.fleet.testing import cheap_password_hashing
from posguard.host.testing import terminal_seed
from posguard.terminal.agent.outbox import Outbox
from posguard.terminal.config import HostEndpoint, TerminalConfig, Timeouts

TID = "10000001"
CODE = "NET.CONNECT_REFUSED"
PAN = "6212345678901232"  # a Luhn-valid test card number
T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])


class Fleet:
    def __init__(self, url: str, token: str, mid: str, engine: Any) -> None:
        self.url, self.token, self.mid, self.engine = url, token, mid, engine


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    """The fleet app with terminal TID registered and an ops user, served by uvicorn."""
    import uvicorn

    from posguard.fleet.api.app import create_app
    from posguard.fleet.config import FleetSettings
    from posguard.fleet.repo.terminals import add_terminal
    from posguard.fleet.repo.users import Role, create_user

    mid = terminal_seed(TID).mid
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with cheap_password_hashing():
        with make_sessionmaker(engine).begin() as s:
            _, cred = add_terminal(
                s,
                terminal_id=TID,
                merchant_id=mid,
                model="A920",
                brand="PAX",
                firmware="1.0",
                acquirer_host="lab",
                area="pudong",
                now=T0,
            )
            create_user(s, username="ops", password="ops-password", role=Role.OPS, now=T0)
        settings = FleetSettings(
            database_url=url, jwt_secret="test-secret-" + "x" * 32, diagnosis_in_process=False
        )
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            yield Fleet(f"http://127.0.0.1:{port}", cred.token, mid, engine)
        finally:
            server.should_exit = True
            thread.join(10)
            engine.dispose()


def _terminal_config(tmp_path: Path, agent: dict[str, Any] | None) -> Path:
    seed = terminal_seed(TID)
    cfg = TerminalConfig(
        terminal_id=TID,
        merchant_id=seed.mid,
        tmk=seed.tmk,
        hosts=[HostEndpoint(name="primary", host="127.0.0.1", port=_closed_port())],
        timeouts=Timeouts(dns=1.0, connect=1.0, read=1.0),
    )
    data_dir = tmp_path / "terminal"
    data_dir.mkdir()
    Outbox(data_dir / "outbox.db", TID, seed.mid).close()  # as the terminal service made it
    raw: dict[str, Any] = cfg.model_dump(mode="json")
    raw["service"] = {"data_dir": str(data_dir)}
    if agent is not None:
        raw["agent"] = agent
    path = tmp_path / "terminal.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _walk(config: Path | None, record: Path, lang: str = "en") -> Any:
    steps = default_catalog()[CODE].steps
    at = next(i for i, s in enumerate(steps) if s.check == "doctor.tcp_connect")
    args = ["kb", "walk", CODE, "--lang", lang, "--record", str(record)]
    if config is not None:
        args += ["--config", str(config)]
    return CliRunner().invoke(app, args, input="2\n" * at + "4\n")


def _timeline(fleet: Fleet) -> str:
    """The terminal's timeline as the ops user reads it in the dashboard (English)."""
    with httpx.Client(base_url=fleet.url) as web:
        web.get("/ui/login", params={"lang": "en"})
        page = web.get("/ui/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        r = web.post(
            "/ui/login",
            data={"username": "ops", "password": "ops-password", "csrf": csrf[1], "next": "/ui/"},
        )
        assert r.status_code in (200, 303), r.text
        tl = web.get(f"/ui/terminals/{TID}/timeline")
        assert tl.status_code == 200, tl.text
        return tl.text


def _stored_notes(fleet: Fleet) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from posguard.fleet.db.models import EventRow

    with make_sessionmaker(fleet.engine)() as s:
        rows = s.execute(
            select(EventRow.kind, EventRow.data).where(EventRow.terminal_id == TID)
        ).all()
    return [r.data for r in rows if r.kind == "lifecycle" and r.data.get("event") == NOTE_EVENT]


def test_hand_over_is_filed_on_the_terminals_timeline(fleet: Fleet, tmp_path: Path) -> None:
    config = _terminal_config(
        tmp_path, {"transport": "http", "url": fleet.url, "token": fleet.token}
    )
    record = tmp_path / "handover.json"
    with cheap_password_hashing():
        r = _walk(config, record)
        html = _timeline(fleet)
    assert r.exit_code == 3, r.output
    assert f"filed on the fleet as a note on terminal {TID}'s timeline" in r.stdout
    assert record.is_file()  # the file is kept as well
    notes = _stored_notes(fleet)
    assert len(notes) == 1
    note = notes[0]
    assert note["runbook"] == CODE
    assert note["record"] == "handover.json"
    assert "machine check doctor.tcp_connect: fail (NET.CONNECT_REFUSED" in note["steps"]
    assert "troubleshooting handed over (kb walk record)" in html
    assert CODE in html
    assert "doctor.tcp_connect" in html
    assert not contains_pan(json.dumps(note, ensure_ascii=False))
    assert not contains_pan(html)
    # confirmed by the fleet, so the terminal's agent will not send it again
    box = Outbox(tmp_path / "terminal" / "outbox.db", TID, fleet.mid)
    try:
        assert box.peek() == []
    finally:
        box.close()


def test_fleet_unreachable_keeps_the_file_and_the_note_waits_in_the_outbox(
    tmp_path: Path,
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    config = _terminal_config(tmp_path, {"transport": "http", "url": url, "token": "T.x"})
    record = tmp_path / "handover.json"
    r = _walk(config, record, lang="zh")
    assert r.exit_code == 3, r.output
    line = next(x for x in r.stdout.splitlines() if "终端管理服务" in x)
    assert line.startswith("终端管理服务连不上")
    assert str(record) in line
    assert record.is_file()
    box = Outbox(tmp_path / "terminal" / "outbox.db", TID, terminal_seed(TID).mid)
    try:
        waiting = box.peek()
    finally:
        box.close()
    assert [e.data["event"] for e in waiting] == [NOTE_EVENT]


@pytest.mark.parametrize(
    ("with_config", "lang", "expected"),
    [
        (False, "en", "not filed on the fleet: no fleet configured"),
        (True, "en", "not filed on the fleet: "),
        (False, "zh", "未提交到终端管理服务：没有配置终端管理服务"),
    ],
)
def test_no_fleet_configured_says_so_in_one_line(
    tmp_path: Path, with_config: bool, lang: str, expected: str
) -> None:
    config = _terminal_config(tmp_path, None) if with_config else None
    record = tmp_path / "handover.json"
    r = _walk(config, record, lang=lang)
    assert r.exit_code == 3, r.output
    lines = [x for x in r.stdout.splitlines() if x.startswith(expected)]
    assert len(lines) == 1, r.stdout
    assert str(record) in lines[0]
    assert record.is_file()


def test_the_note_carries_no_card_number() -> None:
    """A card number typed in a note or found by a check is masked before it is filed."""
    now = datetime.now(UTC)
    record = Escalation(
        session_id="abcdef1234567890",
        code=CODE,
        title="Host refuses the connection",
        terminal_id=TID,
        reason=f"customer card {PAN} declined twice",
        steps=(
            StepOutcome(
                step=1,
                text="check",
                answered_by="check",
                check="doctor.tcp_connect",
                check_result="fail",
                check_detail=f"echo with {PAN[:4]} {PAN[4:8]} {PAN[8:12]} {PAN[12:]}",
            ),
            StepOutcome(
                step=2, text="ask", answered_by="person", answer=Answer.CANT, note=f"pan {PAN}"
            ),
        ),
        answers=(),
        checks=(),
        started_at=now,
        ended_at=now,
    )
    note = walk_note(record, 5, "en", Path("var/kb/handover.json"))
    text = json.dumps(note, ensure_ascii=False)
    assert not contains_pan(text)
    assert PAN not in text
    assert "1/5 machine check doctor.tcp_connect: fail" in note["steps"]
    assert "2/5 could not do it" in note["steps"]
    assert note["event"] == NOTE_EVENT
