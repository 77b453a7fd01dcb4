"""Load settled transactions (CSV or JSON), contracts and provider rate cards.

Errors name the file, the line (CSV: the physical line, header = 1; JSON: the entry
index) and the field:

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
>>> _ = p.write_text("txn_id,settled_on,amount,fee,mcc\\nT1,2026-11-01,12.345,0.07,5812\\n")
>>> try:
...     load_transactions(p)
... except MerchantDataError as exc:
...     print(exc.message)
t.csv: line 2: field 'amount': Value error, '12.345' has more than 2 decimals (fen)
"""

from __future__ import annotations

import csv
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from posguard.common.validation import first_error
from posguard.merchant.errors import MerchantDataError
from posguard.merchant.fees.model import Contract, Provider, SettledTransaction
from posguard.merchant.yamlio import load_model

DEFAULT_PROVIDERS = Path(str(files("posguard.merchant") / "data" / "providers.yaml"))
REQUIRED_COLUMNS = ("txn_id", "settled_on", "amount", "fee", "mcc")
_OPTIONAL_COLUMNS = ("channel", "card_type", "international", "issuer_fee", "network_fee")


def _fail(source: str, where: str, exc: ValidationError) -> MerchantDataError:
    field, msg = first_error(exc, "(row)")
    return MerchantDataError(
        f"{source}: {where}: field '{field}': {msg}",
        file=source,
        line=where.removeprefix("line ") if where.startswith("line") else None,
        entry=where.removeprefix("entry ") if where.startswith("entry") else None,
        field=field,
    )


def _row(raw: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in raw.items() if v not in ("", None)}
    intl = out.get("international")
    if isinstance(intl, str):
        out["international"] = intl.strip().lower() in ("1", "true", "yes", "y")
    return out


def _check_unique(txns: list[SettledTransaction], source: str, where: list[str]) -> None:
    seen: dict[str, str] = {}
    for txn, loc in zip(txns, where, strict=True):
        if txn.txn_id in seen:
            raise MerchantDataError(
                f"{source}: {loc}: field 'txn_id': {txn.txn_id!r} already on {seen[txn.txn_id]}",
                file=source,
                field="txn_id",
            )
        seen[txn.txn_id] = loc


def parse_csv(text: str, *, source: str = "<csv>") -> list[SettledTransaction]:
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise MerchantDataError(
            f"{source}: line 1: missing column(s) {', '.join(missing)}", file=source, line="1"
        )
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + _OPTIONAL_COLUMNS]
    if unknown:
        raise MerchantDataError(
            f"{source}: line 1: unknown column(s) {', '.join(unknown)}", file=source, line="1"
        )
    txns: list[SettledTransaction] = []
    where: list[str] = []
    for raw in reader:
        loc = f"line {reader.line_num}"
        if None in raw:
            raise MerchantDataError(f"{source}: {loc}: more values than columns", file=source)
        try:
            txns.append(SettledTransaction.model_validate(_row(raw)))
        except ValidationError as exc:
            raise _fail(source, loc, exc) from exc
        where.append(loc)
    _check_unique(txns, source, where)
    return txns


def parse_json(raw: Any, *, source: str = "<json>") -> list[SettledTransaction]:
    items = raw.get("transactions") if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise MerchantDataError(
            f"{source}: expected a list of transactions (or {{'transactions': [...]}})", file=source
        )
    txns: list[SettledTransaction] = []
    where: list[str] = []
    for i, item in enumerate(items, start=1):
        loc = f"entry {i}"
        try:
            txns.append(SettledTransaction.model_validate(item))
        except ValidationError as exc:
            raise _fail(source, loc, exc) from exc
        where.append(loc)
    _check_unique(txns, source, where)
    return txns


def load_transactions(path: Path) -> list[SettledTransaction]:
    """Settled transactions from ``.csv`` or ``.json``; all-or-nothing."""
    if path.suffix.lower() == ".csv":
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise MerchantDataError(f"cannot read {path}: {exc}", file=str(path)) from exc
        return parse_csv(text, source=path.name)
    if path.suffix.lower() == ".json":
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MerchantDataError(
                f"{path.name}: cannot read JSON: {exc}", file=str(path)
            ) from exc
        return parse_json(raw, source=path.name)
    raise MerchantDataError(f"{path.name}: transactions must be .csv or .json", file=str(path))


def load_contract(path: Path) -> Contract:
    return load_model(Contract, path)


class _Providers(BaseModel):
    providers: list[Provider]


def load_providers(path: Path) -> list[Provider]:
    return load_model(_Providers, path).providers
