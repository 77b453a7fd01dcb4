"""The host's handler alone, in process, no sockets: CPU (or instructions) per sale.

``python -m bench.host_inprocess [sales] [--floor]`` signs 50 terminals on through
``HostHandler.handle``, pre-packs their sales (MACed, as ``bench host`` does), then decides
them in groups of 50, each group one ledger transaction as the server's group committer runs
them (on-disk ledger and journal, the WAL's fsync left out as under ``synchronous=FULL`` with
the committer's deferred sync), and prints the process CPU time per sale. ``--floor`` runs the
same frames through the codec+MAC floor of ``bench host`` instead (decode, verify, encode, MAC).

The timed loop runs inside ``itertools.starmap``, so on a shared machine, where CPU time is
noisy, instruction counts of that loop alone are one command away::

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=starmap_next \\
        python -m bench.host_inprocess 1000      # "Collected" / 1000 = instructions a sale
"""

from __future__ import annotations

import itertools
import sys
import tempfile
import time
from pathlib import Path

import posguard.host.ledger as ledger_module
from bench.bench_host import _bench_seed, _Floor
from posguard.host.handler import HandleResult, HostHandler
from posguard.host.issuer import Issuer
from posguard.host.journal import HostJournal
from posguard.host.ledger import Ledger
from posguard.host.terminal_books import LedgerTerminalBooks
from posguard.host.testing import HostClient
from posguard.iso8583.codec import decode
from posguard.iso8583.fields import MessageTypeCode, NetworkCode
from posguard.iso8583.keys import unwrap_working_keys
from posguard.iso8583.spec import load_spec

TERMINALS = 50


def main(sales: int, floor: bool) -> float:
    ledger_module.PIN_HASH_ITERATIONS = 1  # seeding only: the bench's sales carry no PIN
    seed = _bench_seed()
    pan = seed.cards[0].pan
    spec = load_spec("iso87ascii")
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "host.db")
        led = Ledger.open(db, synchronous="FULL")
        led.load_seed(seed)
        led.defer_wal_sync()
        journal = HostJournal.open(db)
        handler = HostHandler(spec, Issuer(led), journal, LedgerTerminalBooks(led))
        clients = []
        for i in range(TERMINALS):
            c = HostClient(0, tid=f"5{i:07d}", seed=seed)
            sign_on = c.base("0800", MessageTypeCode.ADMIN, NetworkCode.SIGN_ON)
            with led.atomic():
                answer = handler.handle(c.pack(sign_on, mac=False), "127.0.0.1:5000").answer
            assert answer is not None
            msg = decode(spec, answer)
            keys = unwrap_working_keys(c.tmk, msg["62"])  # type: ignore[arg-type]
            c.pin_key, c.mac_key, c.batch = keys.pin_key, keys.mac_key, str(msg["60"])[2:8]
            clients.append(c)
        per = sales // TERMINALS
        frames = [[c.pack(c.sale_msg(pan, 1)) for _ in range(per)] for c in clients]
        groups = [[frames[t][k] for t in range(TERMINALS)] for k in range(per)]
        journal.flush()
        mac_floor = _Floor(mac=True)
        mac_floor.sessions = handler.sessions

        def decide(group: list[bytes]) -> list[HandleResult]:
            with led.atomic():
                results = [handler.handle(raw, "127.0.0.1:5000") for raw in group]
            if journal.pending >= journal.FLUSH_EVERY:
                journal.flush()
            return results

        def answer_floor(group: list[bytes]) -> list[bytes]:
            return [mac_floor.answer(raw) for raw in group]

        cpu0 = time.process_time()
        if floor:
            list(itertools.starmap(answer_floor, ((g,) for g in groups)))
        else:
            done = list(itertools.starmap(decide, ((g,) for g in groups)))
        journal.flush()
        cpu = time.process_time() - cpu0
        if not floor:
            codes = {r.entry.rc for group in done for r in group}
            assert codes == {"00"}, codes
        led.close()
        journal.close()
    return cpu / (per * TERMINALS) * 1e6


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 5000
    what = "codec+MAC floor" if "--floor" in sys.argv else "host handler"
    print(f"{what}: {main(n, '--floor' in sys.argv):.1f} us CPU a sale ({n} sales, in process)")
