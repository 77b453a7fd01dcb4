"""Merchant checks: fee audit, settled-transaction loading and identifier validation, each
against the bare work it wraps, measured in the same run.

Run: ``.venv/bin/python -m bench merchant`` (``--quick`` for a smoke run).

* fee audit (re-price, group into findings, check the 2016 caps) vs the bare re-pricing
  loop (``Rate.fee`` per transaction, summed): the cost of the findings;
* CSV load (validated records, errors with line and field) vs ``csv.DictReader`` alone;
* GB 32100 / GB 11643 checks vs a regular-expression shape check alone.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

from bench._result import Result
from posguard.merchant.fees.audit import audit_fees
from posguard.merchant.fees.loader import load_transactions
from posguard.merchant.fees.model import Contract, Rate, RateClass
from posguard.merchant.fees.money import fen_to_yuan
from posguard.merchant.fees.synthetic import MccSwitch, RateRise, generate_month
from posguard.merchant.onboarding.resident_id import check_resident_id
from posguard.merchant.onboarding.uscc import check_uscc

CONTRACT = Contract.model_validate(
    {
        "merchant_id": "M-BENCH",
        "mcc": "5812",
        "rates": {
            "debit": {"percent": "0.50", "cap": "20.00"},
            "credit": {"percent": "0.55"},
            "qr": {"percent": "0.38"},
            "international": {"percent": "2.50"},
        },
    }
)


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(quick: bool = False) -> list[Result]:
    repeat = 2 if quick else 5
    months = 1 if quick else 6
    txns = []
    for m in range(1, months + 1):
        txns += generate_month(
            CONTRACT, year=2026, month=m, seed=m, per_day=(70, 110),
            rate_rise=RateRise(RateClass.CREDIT, date(2026, m, 16), Rate(percent=Decimal("0.68"))),
            mcc_switch=MccSwitch("7011", date(2026, m, 20), date(2026, m, 24), share=0.3),
        )  # fmt: skip
    n = len(txns)
    rates = CONTRACT.rates

    audit_s = _best(lambda: audit_fees(txns, CONTRACT), repeat)
    bare_s = _best(lambda: sum(rates[t.rate_class].fee(t.amount) for t in txns), repeat)

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["txn_id", "settled_on", "amount", "fee", "mcc", "channel", "card_type",
                "international"])  # fmt: skip
    for t in txns:
        w.writerow([t.txn_id, t.settled_on, fen_to_yuan(t.amount), fen_to_yuan(t.fee), t.mcc,
                    t.channel.value, t.card_type.value, t.international])  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "month.csv"
        path.write_text(out.getvalue(), encoding="utf-8")
        load_s = _best(lambda: load_transactions(path), repeat)
        raw_s = _best(lambda: list(csv.DictReader(path.read_text().splitlines())), repeat)

    ids = ["91350100M000100Y43", "11010519491231002X"] * (5_000 if quick else 50_000)
    shape = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")
    check_s = _best(
        lambda: [check_uscc(c) if c[0] == "9" else check_resident_id(c) for c in ids], repeat
    )
    regex_s = _best(lambda: [shape.match(c) for c in ids], repeat)

    return [
        Result("fee audit", n / audit_s, "txn/s", n / bare_s, "bare re-pricing loop",
               note=f"{n:,} settled transactions, 2 planted faults per month"),
        Result("settled CSV load", n / load_s, "rows/s", n / raw_s, "csv.DictReader only",
               note="typed, validated, errors name line and field"),
        Result("identifier check", len(ids) / check_s, "ids/s", len(ids) / regex_s,
               "regex shape only", note="GB 32100 + GB 11643 check characters"),
    ]  # fmt: skip
