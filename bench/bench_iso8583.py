"""ISO 8583 codec: our encode+decode of a 0200 sale against raw pyiso8583 on the same
message and spec, in the same run; MAC figures on their own.

Run: ``.venv/bin/python -m bench iso8583`` (``--quick`` for a smoke run). Figures are
messages per second, best of N timeit repeats; target: ours at most 1.3x the raw cost
(ratio >= 0.77 in the table, where 1.0 means as fast as raw pyiso8583).
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable

import iso8583

from bench._result import Result
from posguard.iso8583.codec import Message, decode, encode
from posguard.iso8583.fields import unionpay_header
from posguard.iso8583.mac import MacAlgorithm, compute_mac, mac_input
from posguard.iso8583.spec import load_spec

SALE: Message = {
    "t": "0200",
    "2": "6222021234567890123",
    "3": "000000",
    "4": "000000010000",
    "11": "000123",
    "14": "2812",
    "22": "021",
    "25": "00",
    "41": "T0000001",
    "42": "898310048140001",
    "49": "156",
    "52": bytes.fromhex("0123456789ABCDEF"),
    "60": "22000001000",
    "64": bytes.fromhex("1111111111111111"),
}
KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


def _best_rate(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Calls per second of ``fn``, from the fastest of ``repeat`` runs of ``number`` calls."""
    best = min(timeit.repeat(fn, number=number, repeat=repeat))
    return number / best


def _raw_form(msg: Message) -> dict[str, str]:
    """The same message as pyiso8583 takes it (binary fields as hex strings)."""
    return {k: v.hex() if isinstance(v, bytes) else v for k, v in msg.items()}


def run(quick: bool) -> list[Result]:
    number, repeat = (500, 3) if quick else (2000, 5)
    rounds = 6 if quick else 40
    out: list[Result] = []
    for name in ("iso87ascii", "unionpay"):
        spec = load_spec(name)
        msg = {"h": unionpay_header(), **SALE} if spec.header_len else dict(SALE)
        raw_spec = spec.pyiso8583
        raw_doc = _raw_form(msg)
        raw_bytes, _ = iso8583.encode(dict(raw_doc), raw_spec)
        assert encode(spec, msg) == bytes(raw_bytes), "both sides must produce the same bytes"

        def ours(spec=spec, msg=msg) -> object:  # type: ignore[no-untyped-def]
            return decode(spec, encode(spec, msg))

        def raw(raw_doc=raw_doc, raw_spec=raw_spec) -> object:  # type: ignore[no-untyped-def]
            data, _ = iso8583.encode(raw_doc, raw_spec)
            return iso8583.decode(data, raw_spec)

        # Interleave short runs of the two so that load from other processes hits both
        # alike: rates from each side's fastest run, and the median of the per-round
        # paired cost ratios (robust to load that drifts during the run).
        t_ours, t_raw = [], []
        for _ in range(rounds):
            t_raw.append(timeit.timeit(raw, number=number))
            t_ours.append(timeit.timeit(ours, number=number))
        paired = statistics.median(o / r for o, r in zip(t_ours, t_raw, strict=True))
        out.append(
            Result(
                name=f"0200 sale encode+decode, {name} ({len(raw_bytes)} B)",
                ours=number / min(t_ours),
                unit="msg/s",
                baseline=number / min(t_raw),
                baseline_name="raw pyiso8583 encode+decode",
                higher_is_better=True,
                target="≤1.3× raw cost (ratio ≥ 0.77)",
                note=f"paired median cost {paired:.2f}× raw ({rounds} rounds)",
            )
        )
    spec = load_spec("unionpay")
    data = mac_input(spec, {"h": unionpay_header(), **SALE})
    for alg in MacAlgorithm:

        def mac(alg: MacAlgorithm = alg) -> bytes:
            return compute_mac(alg, KEY, data)

        out.append(
            Result(
                name=f"MAC {alg.value} over a 0200 ({len(data)} B)",
                ours=_best_rate(mac, number, repeat),
                unit="MAC/s",
            )
        )
    return out
