"""Bulk provisioning: merchants and terminals from a CSV or YAML file, idempotently, with a
report of what was created, updated, left unchanged or refused.

CSV: one terminal a row, a header naming the columns (``id`` or ``terminal_id``,
``merchant_id``, ``merchant_name``, ``model``, ``brand``, ``firmware``, ``acquirer_host``,
``area``, ``location``, ``serial``, ``install_date``, ``warranty_end``). YAML (or JSON): a
mapping with ``merchants: [{id, name}]`` and ``terminals: [{id, merchant_id, ...}]``.

Rules. A new merchant is created; a known one whose name differs is renamed (updated). A new
terminal is created with a fresh credential (returned once, for the installer's file); a known
one of the same merchant gets its changed attributes (updated; its credential is kept); a known
terminal of another merchant, a row that fails validation or repeats an id of the same file is
refused with its place (``file:line`` for CSV, ``terminals[i]`` for YAML) and the reason. Rows
that pass are written in one transaction: running the same file again changes nothing.

One terminal registered from the dashboard (:func:`register_terminal`) goes through the same
validation and write path; there a known terminal id is refused, not updated.

Speed: existing rows are read a chunk at a time by primary key and written with executemany
inserts and updates (thousands of terminals a second into PostgreSQL; ``bench fleet``).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from posguard.common.errors import ConfigError
from posguard.common.validation import first_error
from posguard.fleet.admin_errors import AdminRefusedError
from posguard.fleet.api.schemas.terminals import Ident, Label
from posguard.fleet.db.models import Merchant, Terminal
from posguard.fleet.security import new_terminal_credential

CHUNK = 1000
TERMINAL_FIELDS = (
    "merchant_id",
    "model",
    "brand",
    "firmware",
    "acquirer_host",
    "area",
    "location",
    "install_date",
    "warranty_end",
)


class MerchantRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Ident
    name: str = Field("", max_length=200)


class TerminalRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Ident
    merchant_id: Ident
    merchant_name: str = Field("", max_length=200)
    model: Label
    brand: Label = "unknown"
    firmware: Label = "0"
    acquirer_host: str = Field(min_length=1, max_length=128)
    area: str = Field(min_length=1, max_length=128)
    location: str = Field("", max_length=200)
    # the maker's serial number; a row without one keeps the serial a terminal has
    serial: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    install_date: date | None = None
    warranty_end: date | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    where: str  # "terminals.csv:12" or "terminals[11]"
    id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    terminal_id: str
    merchant_id: str
    credential: str


@dataclass
class ImportReport:
    created: dict[str, int] = field(default_factory=lambda: {"merchants": 0, "terminals": 0})
    updated: dict[str, int] = field(default_factory=lambda: {"merchants": 0, "terminals": 0})
    unchanged: dict[str, int] = field(default_factory=lambda: {"merchants": 0, "terminals": 0})
    refused: list[Refusal] = field(default_factory=list)
    credentials: list[IssuedCredential] = field(default_factory=list)

    def summary(self) -> str:
        def part(d: dict[str, int]) -> str:
            return f"{d['merchants']} merchants, {d['terminals']} terminals"

        return (
            f"created {part(self.created)}; updated {part(self.updated)}; "
            f"unchanged {part(self.unchanged)}; refused {len(self.refused)}"
        )

    def public(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "refused": [{"where": r.where, "id": r.id, "reason": r.reason} for r in self.refused],
        }


@dataclass
class Parsed:
    merchants: list[tuple[str, MerchantRow]]
    terminals: list[tuple[str, TerminalRow]]
    refused: list[Refusal]


def _clean(raw: dict[str, Any]) -> dict[str, Any]:
    """CSV cells: blank optional cells are absent, ``terminal_id`` is ``id``."""
    out = {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in raw.items() if k}
    if "terminal_id" in out and "id" not in out:
        out["id"] = out.pop("terminal_id")
    return {k: v for k, v in out.items() if v not in ("", None)}


def _validate(
    rows: Iterable[tuple[str, dict[str, Any]]], model: type[BaseModel], refused: list[Refusal]
) -> Iterator[tuple[str, Any]]:
    for where, raw in rows:
        if not isinstance(raw, dict):
            refused.append(Refusal(where, None, "not a mapping"))
            continue
        try:
            yield where, model.model_validate(_clean(raw))
        except ValidationError as exc:
            loc, msg = first_error(exc)
            ident = raw.get("id", raw.get("terminal_id"))
            refused.append(Refusal(where, str(ident) if ident else None, f"{loc}: {msg}"))


def parse(data: bytes, *, name: str) -> Parsed:
    """Rows of a CSV (by the name's suffix or a header line) or YAML/JSON document. A file
    that cannot be read at all is a :class:`ConfigError`; bad rows are refusals."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: not UTF-8 text (byte {exc.start})") from exc
    refused: list[Refusal] = []
    if name.lower().endswith(".csv"):
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None:
            raise ConfigError(f"{name}: empty CSV, a header line is needed")
        rows = ((f"{name}:{reader.line_num}", dict(r)) for r in reader)
        terminals = list(_validate(rows, TerminalRow, refused))
        return Parsed([], terminals, refused)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{name}{at}: not valid YAML") from exc
    if not isinstance(doc, dict) or not set(doc) <= {"merchants", "terminals"}:
        raise ConfigError(f"{name}: expected a mapping with 'merchants' and/or 'terminals'")
    lists: dict[str, list[Any]] = {}
    for key in ("merchants", "terminals"):
        value = doc.get(key) or []
        if not isinstance(value, list):
            raise ConfigError(f"{name}: '{key}' must be a list")
        lists[key] = value
    merchants = list(
        _validate(
            ((f"merchants[{i}]", r) for i, r in enumerate(lists["merchants"])),
            MerchantRow,
            refused,
        )
    )
    terminals = list(
        _validate(
            ((f"terminals[{i}]", r) for i, r in enumerate(lists["terminals"])),
            TerminalRow,
            refused,
        )
    )
    return Parsed(merchants, terminals, refused)


def _chunks(items: Sequence[Any], n: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _insert_many(
    session: Session, model: type[Merchant] | type[Terminal], rows: list[dict[str, Any]]
) -> None:
    """Insert ``rows`` (same keys each). On PostgreSQL with ``COPY``, inside the session's
    transaction (an executemany sends one statement a row: 10,000 terminals took ~5 s);
    elsewhere with the ORM's bulk insert."""
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(model), rows)
        return
    columns = list(rows[0])
    quoted = ", ".join(f'"{c}"' for c in columns)
    raw: Any = session.connection().connection.driver_connection  # psycopg.Connection
    with raw.cursor() as cur, cur.copy(f'COPY "{model.__tablename__}" ({quoted}) FROM STDIN') as cp:
        for row in rows:
            cp.write_row([row[c] for c in columns])


def apply(session: Session, parsed: Parsed, *, now: datetime) -> ImportReport:
    """Write the parsed rows in ``session`` (the caller commits); returns the report, whose
    ``credentials`` are the new terminals' (to be delivered once)."""
    report = ImportReport(refused=list(parsed.refused))
    # merchants: explicit ones, then those a terminal row names (with its merchant_name)
    wanted: dict[str, str | None] = {}
    for _, m in parsed.merchants:
        wanted[m.id] = m.name or None
    for _, t in parsed.terminals:
        if t.merchant_id not in wanted or (wanted[t.merchant_id] is None and t.merchant_name):
            wanted[t.merchant_id] = t.merchant_name or wanted.get(t.merchant_id)
    explicit = {m.id for _, m in parsed.merchants}
    ids = list(wanted)
    existing: dict[str, str] = {}
    for chunk in _chunks(ids):
        found = session.execute(select(Merchant.id, Merchant.name).where(Merchant.id.in_(chunk)))
        existing.update((mid, name) for mid, name in found)
    new_m = [{"id": i, "name": wanted[i] or i, "created_at": now} for i in ids if i not in existing]
    renames = [
        {"id": i, "name": name}
        for i, name in wanted.items()
        if i in existing and name is not None and name != existing[i]
    ]
    if new_m:
        _insert_many(session, Merchant, new_m)
    if renames:
        session.execute(update(Merchant), renames)
    report.created["merchants"] = len(new_m)
    report.updated["merchants"] = len(renames)
    report.unchanged["merchants"] = len([i for i in explicit if i in existing]) - len(
        [r for r in renames if r["id"] in explicit]
    )

    seen: set[str] = set()
    rows: list[tuple[str, TerminalRow]] = []
    for where, t in parsed.terminals:
        if t.id in seen:
            report.refused.append(Refusal(where, t.id, "terminal id repeated in this file"))
            continue
        seen.add(t.id)
        rows.append((where, t))
    for chunk in _chunks(rows):
        columns = [getattr(Terminal, f) for f in ("id", "serial", *TERMINAL_FIELDS)]
        known = {
            r.id: r
            for r in session.execute(
                select(*columns).where(Terminal.id.in_([t.id for _, t in chunk]))
            )
        }
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for where, t in chunk:
            values = {f: getattr(t, f) for f in TERMINAL_FIELDS}
            if t.serial is not None:
                values["serial"] = t.serial
            row = known.get(t.id)
            if row is None:
                cred = new_terminal_credential(t.id)
                inserts.append(
                    {
                        "id": t.id,
                        "serial": None,
                        **values,
                        "credential_hash": cred.hash,
                        "revoked": False,
                        "created_at": now,
                    }
                )
                report.credentials.append(IssuedCredential(t.id, t.merchant_id, cred.token))
            elif row.merchant_id != t.merchant_id:
                report.refused.append(
                    Refusal(
                        where,
                        t.id,
                        f"terminal belongs to merchant {row.merchant_id}, not {t.merchant_id} "
                        "(moving a terminal is not done by import)",
                    )
                )
            else:
                changed = {f: v for f, v in values.items() if getattr(row, f) != v}
                if changed:
                    updates.append({"id": t.id, **changed})
                else:
                    report.unchanged["terminals"] += 1
        if inserts:
            _insert_many(session, Terminal, inserts)
        for u in updates:  # few, each with its own columns
            session.execute(update(Terminal).where(Terminal.id == u["id"]).values(**u))
        report.created["terminals"] += len(inserts)
        report.updated["terminals"] += len(updates)
    return report


def write_credentials(path: Path, issued: Sequence[IssuedCredential]) -> None:
    """The new terminals' credentials as CSV (``terminal_id,merchant_id,credential``), created
    with mode 0600 and synced; an existing file is replaced whole (written aside, renamed)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["terminal_id", "merchant_id", "credential"])
            w.writerows((c.terminal_id, c.merchant_id, c.credential) for c in issued)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"--credentials {path}: {exc.strerror or exc}") from exc


_FIELD_ZH = {
    "id": "终端号",
    "merchant_id": "商户号",
    "model": "型号",
    "brand": "品牌",
    "acquirer_host": "收单主机",
    "area": "区域",
    "location": "位置",
    "serial": "序列号",
}


def register_terminal(
    session: Session, fields: dict[str, Any], *, now: datetime
) -> IssuedCredential:
    """Register one terminal (the dashboard's form: id, merchant, model, brand, serial, host,
    area, location) with the import's rules and write path; returns its credential, to be
    shown once. A bad field or a terminal id already registered is an
    :class:`AdminRefusedError` (zh/en, one line) and writes nothing."""
    refused: list[Refusal] = []
    rows = list(_validate([("form", fields)], TerminalRow, refused))
    if refused:
        field_name, _, why = refused[0].reason.partition(": ")
        label = _FIELD_ZH.get(field_name, field_name)
        if field_name in ("id", "merchant_id", "serial") and "pattern" in why:
            raise AdminRefusedError(
                f"{field_name}: use 1-64 letters, digits, '.', '_', ':' or '-', starting with a "
                "letter or digit",
                f"{label}：只能用 1-64 位字母、数字或 . _ : -，以字母或数字开头",
            )
        if "required" in why or "at least 1" in why:
            raise AdminRefusedError(f"{field_name}: required", f"{label}：必填")
        raise AdminRefusedError(f"{field_name}: {why}", f"{label}：{why}")
    row = rows[0][1]
    if session.get(Merchant, row.merchant_id) is None:
        raise AdminRefusedError(
            f"merchant {row.merchant_id} is not registered: add it under Merchants first",
            f"商户 {row.merchant_id} 未登记：请先在“商户”中添加",
        )
    if session.get(Terminal, row.id) is not None:
        raise AdminRefusedError(
            f"terminal {row.id} is already registered: open it to rotate its credential or move it",
            f"终端 {row.id} 已登记：如需新凭证或转移商户，请打开该终端处理",
            status=409,
        )
    if row.serial is not None:
        holder = session.scalar(select(Terminal.id).where(Terminal.serial == row.serial))
        if holder is not None:
            raise AdminRefusedError(
                f"serial {row.serial} is already registered to terminal {holder}",
                f"序列号 {row.serial} 已登记在终端 {holder}",
                status=409,
            )
    report = apply(session, Parsed([], [("form", row)], []), now=now)
    if report.refused or not report.credentials:  # a concurrent registration won the race
        raise AdminRefusedError(
            f"terminal {row.id} could not be registered", f"终端 {row.id} 未能登记", status=409
        )
    return report.credentials[0]
