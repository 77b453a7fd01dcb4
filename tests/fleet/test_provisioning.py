"""Provisioning: merchant commands, the idempotent bulk import (CSV and YAML) with its report
and credentials file, one-line errors instead of tracebacks, `migrate --revision` backwards."""

from __future__ import annotations

import csv
import stat
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from posguard.cli import app
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import current_revision
from posguard.fleet.db.models import Merchant, Terminal
from posguard.fleet.security import verify_terminal_secret

from .conftest import FleetDB

CSV = """id,merchant_id,merchant_name,model,brand,firmware,acquirer_host,area,install_date
T1,M1,First shop,PX-5,Acme,2.1.0,acq-east,pudong,2026-01-05
T2,M1,,PX-5,Acme,2.1.0,acq-east,pudong,
T3,M2,Second shop,QX-9,Bolt,1.0.0,acq-west,xuhui,
"""


def _run(*args: str) -> tuple[int, str, str]:
    r = CliRunner(env={"POSGUARD_LANG": "en"}).invoke(app, ["fleet", *args])
    return r.exit_code, r.stdout, r.stderr


def test_import_is_idempotent_reports_and_delivers_credentials(
    fleet_db: FleetDB, tmp_path: Path
) -> None:
    src = tmp_path / "terminals.csv"
    src.write_text(CSV)
    creds = tmp_path / "creds.csv"
    code, out, err = _run("import", str(src), "--credentials", str(creds), "--db", fleet_db.url)
    assert code == 0, out + err
    assert "created 2 merchants, 3 terminals" in out
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    rows = list(csv.DictReader(creds.open()))
    assert [r["terminal_id"] for r in rows] == ["T1", "T2", "T3"]
    with fleet_db.sessions() as s:
        stored = {t.id: t for t in s.scalars(select(Terminal))}
        assert s.get(Merchant, "M1").name == "First shop"  # type: ignore[union-attr]
    for r in rows:  # the delivered credential is the one the fleet accepts
        assert verify_terminal_secret(r["credential"], stored[r["terminal_id"]].credential_hash)
    assert str(stored["T1"].install_date) == "2026-01-05"

    # the same file again: nothing changes, no credential is issued, none is needed
    code, out, _ = _run("import", str(src), "--db", fleet_db.url)
    assert code == 0
    assert "created 0 merchants, 0 terminals" in out
    assert "unchanged 0 merchants, 3 terminals" in out
    with fleet_db.sessions() as s:
        again = {t.id: t.credential_hash for t in s.scalars(select(Terminal))}
    assert again == {k: v.credential_hash for k, v in stored.items()}

    # a changed attribute is an update; another merchant's terminal, a bad date, a repeated
    # id are refused with their line; the rest is applied (exit 2)
    src.write_text(
        CSV.splitlines()[0]
        + "\nT2,M1,,PX-5,Acme,2.2.0,acq-east,pudong,\n"
        + "T3,M1,,PX-5,Acme,1,acq-east,pudong,\n"
        + "T4,M1,,PX-5,Acme,1,acq-east,pudong,2026-13-40\n"
        + "T2,M1,,PX-5,Acme,1,acq-east,pudong,\n"
    )
    code, out, err = _run("import", str(src), "--db", fleet_db.url)
    assert code == 2, out + err
    assert "updated 0 merchants, 1 terminals" in out
    assert "refused 3" in out
    assert "terminals.csv:3 (T3): terminal belongs to merchant M2, not M1" in err
    assert "terminals.csv:4 (T4): install_date" in err
    assert "terminals.csv:5 (T2): terminal id repeated in this file" in err
    with fleet_db.sessions() as s:
        assert s.get(Terminal, "T2").firmware == "2.2.0"  # type: ignore[union-attr]
        assert s.get(Terminal, "T3").merchant_id == "M2"  # type: ignore[union-attr]
        assert s.get(Terminal, "T4") is None


def test_yaml_import_and_merchant_commands(sqlite_db: FleetDB, tmp_path: Path) -> None:
    src = tmp_path / "fleet.yaml"
    src.write_text(
        "merchants:\n  - {id: M7, name: Seven}\n"
        "terminals:\n  - {id: T7, merchant_id: M7, model: PX-5, acquirer_host: h, area: a}\n"
        "  - {id: T8, merchant_id: M7, model: PX-5, acquirer_host: h, area: a, colour: red}\n"
    )
    code, out, err = _run(
        "import", str(src), "--credentials", str(tmp_path / "c.csv"), "--db", sqlite_db.url
    )
    assert code == 2
    assert "created 1 merchants, 1 terminals" in out
    assert "terminals[1] (T8): colour: Extra inputs are not permitted" in err
    assert _run("add-merchant", "M7", "--name", "Seven Two", "--db", sqlite_db.url)[1] == (
        "merchant M7 updated\n"
    )
    assert _run("add-merchant", "M8", "--db", sqlite_db.url)[1] == "merchant M8 created\n"
    code, out, _ = _run("merchants", "--search", "two", "--db", sqlite_db.url)
    assert out == "M7\t1\tSeven Two\n"


def test_import_of_new_terminals_needs_a_credentials_file_and_writes_nothing_without(
    sqlite_db: FleetDB, tmp_path: Path
) -> None:
    src = tmp_path / "t.csv"
    src.write_text(CSV)
    code, _, err = _run("import", str(src), "--db", sqlite_db.url)
    assert code == 1
    assert err.startswith("error: 3 new terminal(s): --credentials FILE is needed")
    with sqlite_db.sessions() as s:
        assert s.scalars(select(Terminal)).all() == []
        assert s.scalars(select(Merchant)).all() == []


def test_duplicates_and_missing_merchants_are_one_line_errors_without_secrets(
    fleet_db: FleetDB,
) -> None:
    args = ["--merchant", "M1", "--model", "PX-5", "--acquirer-host", "h", "--area", "a"]
    assert _run("add-terminal", "T1", *args, "--db", fleet_db.url)[0] == 0
    code, _out, err = _run("add-terminal", "T1", *args, "--db", fleet_db.url)
    assert code == 1
    assert err == "error: terminal T1 already exists (merchant M1)\n"
    r = CliRunner().invoke(
        app,
        ["fleet", "create-user", "u1", "--role", "merchant", "--merchant", "NOPE"],
        input="pw-0123456789\npw-0123456789\n",
        env={"POSGUARD_FLEET_DATABASE_URL": fleet_db.url, "POSGUARD_LANG": "en"},
    )
    assert r.exit_code == 4  # an unknown id (issue 17)
    assert "merchant NOPE does not exist" in r.stderr
    for _ in range(2):
        r = CliRunner().invoke(
            app,
            ["fleet", "create-user", "u2", "--role", "ops"],
            input="pw-0123456789\npw-0123456789\n",
            env={"POSGUARD_FLEET_DATABASE_URL": fleet_db.url, "POSGUARD_LANG": "en"},
        )
    assert r.exit_code == 1
    assert "user u2 already exists" in r.stderr
    assert "Traceback" not in r.output + r.stderr
    assert "argon2" not in r.output + r.stderr


def test_migrate_to_an_older_revision_refuses_without_downgrade_then_downgrades(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    code, out, _ = _run("migrate", "--db", url)
    assert code == 0, out
    engine = make_engine(url)
    try:
        head = current_revision(engine)
        assert head is not None
        code, _, err = _run("migrate", "--db", url, "--revision", "0001")
        assert code == 1
        assert f"the database is at {head}; 0001 is older: pass --downgrade" in err
        assert current_revision(engine) == head  # nothing happened, and it says so
        code, out, _ = _run("migrate", "--db", url, "--revision", "0001", "--downgrade")
        assert code == 0
        assert current_revision(engine) == "0001"
        code, _, err = _run("migrate", "--db", url, "--revision", "nope")
        assert code == 1
        assert "unknown revision 'nope'" in err
        assert _run("migrate", "--db", url)[0] == 0
        assert current_revision(engine) == head
        with make_sessionmaker(engine)() as s:
            assert s.scalars(select(Terminal)).all() == []
    finally:
        engine.dispose()


@pytest.mark.parametrize("workers", ["2"])
def test_serve_with_several_workers_refuses_without_a_shared_secret(
    tmp_path: Path, workers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POSGUARD_FLEET_JWT_SECRET", raising=False)
    monkeypatch.delenv("POSGUARD_FLEET_JWT_KEYS", raising=False)
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert _run("migrate", "--db", url)[0] == 0  # a usable database: the secret is what is wrong
    code, _, err = _run("serve", "--db", url, "--port", "0", "--workers", workers)
    assert code == 1
    assert err.startswith(f"error: --workers {workers} needs a shared token secret")
