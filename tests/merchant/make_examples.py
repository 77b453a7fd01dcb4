"""Writes the sample inputs under src/posguard/merchant/data/examples/ (seeded, reproducible).

Run: ``.venv/bin/python tests/merchant/make_examples.py``; test_examples.py checks the
shipped files are exactly what this writes.
"""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from posguard.merchant.fees.loader import load_contract
from posguard.merchant.fees.model import Rate, RateClass
from posguard.merchant.fees.money import fen_to_yuan
from posguard.merchant.fees.synthetic import MccSwitch, RateRise, generate_month

EXAMPLES = Path(__file__).resolve().parents[2] / "src/posguard/merchant/data/examples"
COLUMNS = ["txn_id", "settled_on", "amount", "fee", "mcc", "channel", "card_type",
           "international", "issuer_fee", "network_fee"]  # fmt: skip


def transactions_csv() -> str:
    contract = load_contract(EXAMPLES / "contract.yaml")
    txns = generate_month(
        contract, year=2026, month=11, seed=2026_11, per_day=(25, 40),
        rate_rise=RateRise(RateClass.CREDIT, date(2026, 11, 16), Rate(percent=Decimal("0.68"))),
        mcc_switch=MccSwitch("7011", date(2026, 11, 20), date(2026, 11, 24), share=0.3),
    )  # fmt: skip
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for t in txns:
        writer.writerow([
            t.txn_id, t.settled_on.isoformat(), fen_to_yuan(t.amount), fen_to_yuan(t.fee), t.mcc,
            t.channel.value, t.card_type.value, "true" if t.international else "false",
            "" if t.issuer_fee is None else fen_to_yuan(t.issuer_fee),
            "" if t.network_fee is None else fen_to_yuan(t.network_fee),
        ])  # fmt: skip
    return out.getvalue()


# brand, model, terminals, failures per terminal-year, share fixed remotely
_FLEET = [
    ("Lotus", "L300", 12, 1.1, 0.75), ("Lotus", "L500", 10, 0.7, 0.8),
    ("Harbor", "H7", 11, 1.8, 0.45), ("Harbor", "H2", 3, 2.5, 0.3),
    ("Acme", "A8", 14, 0.9, 0.6), ("Kestrel", "K1", 2, 0.2, 1.0),
]  # fmt: skip
AS_OF = date(2026, 11, 25)


def fleet_json() -> str:
    rng = random.Random(8)
    terminals: list[dict[str, Any]] = []
    incidents: list[dict[str, Any]] = []
    n = 0
    for brand, model, count, rate, remote_share in _FLEET:
        for _ in range(count):
            n += 1
            tid = f"T{n:04d}"
            installed = date(2022, 3, 1) + timedelta(days=rng.randint(0, 1100))
            terminals.append({
                "terminal_id": tid, "merchant_id": f"M{rng.randint(1, 9):03d}", "brand": brand,
                "model": model, "installed_on": installed.isoformat(),
                "warranty_end": (installed + timedelta(days=730)).isoformat(),
            })  # fmt: skip
            at = datetime.combine(installed, datetime.min.time())
            while True:
                at += timedelta(days=rng.expovariate(rate / 365))
                if at.date() >= AS_OF:
                    break
                opened = at.replace(microsecond=0)
                remote = rng.random() < remote_share
                hours = rng.expovariate(1 / (1.5 if remote else 28.0))
                resolved = opened + timedelta(hours=hours)
                inc: dict[str, Any] = {
                    "incident_id": f"I{len(incidents) + 1:05d}", "terminal_id": tid,
                    "code": rng.choice(["DEV.FREEZE", "DEV.CARD_READER_FAULT", "PRN.CUTTER_JAM",
                                        "NET.CONNECT_TIMEOUT", "SW.CRASH"]),
                    "opened_at": opened.isoformat(),
                    "acknowledged_at": (opened + timedelta(minutes=rng.randint(2, 90))).isoformat(),
                }  # fmt: skip
                if resolved.date() < AS_OF:
                    inc["resolved_at"] = resolved.replace(microsecond=0).isoformat()
                    inc["resolution"] = "remote" if remote else "on_site"
                    if inc["resolved_at"] < inc["acknowledged_at"]:
                        inc["acknowledged_at"] = inc["opened_at"]
                incidents.append(inc)
    return json.dumps({"terminals": terminals, "incidents": incidents}, indent=1) + "\n"


def main() -> None:
    (EXAMPLES / "transactions_2026-11.csv").write_text(transactions_csv(), encoding="utf-8")
    (EXAMPLES / "fleet.json").write_text(fleet_json(), encoding="utf-8")


if __name__ == "__main__":
    main()
