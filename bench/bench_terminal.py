"""Terminal runtime: what the journal and the reversal bookkeeping add to a sale, and how long a
black-holed primary host costs before sales flow through the backup.

1. Sale latency through :class:`posguard.terminal.runtime.Terminal` (local checks, the
   write-ahead journal record with its reversal reason, MAC, send, answer checks, "approved"
   and "completed" writes, all SQLite WAL with synchronous=FULL on disk) against a bare
   request/response of the same sale message over the same host link (same connection per
   exchange, same MAC and answer checks, no journal), alternating in the same run.
2. Failover: the primary's SYNs are dropped (a listener with a full accept queue: the
   connect times out, as behind a firewall that drops packets); the first sale pays one
   connect timeout then goes to the backup, later sales skip the primary (breaker open).
   Baseline: the same sale with the backup as the only host.

The host simulator runs in this process with an in-memory ledger, so its own fsyncs are not
in either figure. A third figure repeats (1) with the journal on a RAM disk (/dev/shm), which
separates the cost of the three fsynced commits per sale from the rest of the bookkeeping.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import tempfile
import time
from pathlib import Path

from bench._result import Result
from posguard.host.seed import SeedData
from posguard.host.testing import running_host
from posguard.terminal.config import BreakerConfig, Timeouts
from posguard.terminal.engine import messages
from posguard.terminal.journal.records import Kind, Record, TxnState
from posguard.terminal.runtime import Terminal
from posguard.terminal.testing import LAB_EXPIRY, LAB_TID2, lab_cards, lab_seed, local_config

PAN = lab_cards()[0]
CONNECT_TIMEOUT = 1.0


def _bare_record(stan: int) -> Record:
    return Record(
        id=0,
        stan=f"{stan:06d}",
        batch="000001",
        kind=Kind.SALE,
        state=TxnState.SENDING,
        amount=100,
        currency="156",
        masked_pan="",
        brand="unionpay",
        entry_mode="051",
        local_date=time.strftime("%m%d"),
        local_time=time.strftime("%H%M%S"),
        created_at="",
    )


async def _latency(n: int, workdir: Path) -> tuple[float, float]:
    async with running_host(SeedData.model_validate(lab_seed())) as (_host, port, _ledger):
        cfg = local_config(
            port, workdir / "journal.db", timeouts=Timeouts(dns=1, connect=2, read=5)
        )
        async with Terminal(cfg) as t:
            assert (await t.sale(PAN, LAB_EXPIRY, 100)).outcome.value == "approved"  # sign on, warm
            session = t.services.session
            ours: list[float] = []
            bare: list[float] = []
            for i in range(n):
                t0 = time.perf_counter()
                r = await t.sale(PAN, LAB_EXPIRY, 100)
                ours.append(time.perf_counter() - t0)
                assert r.outcome.value == "approved", r
                msg = messages.financial(cfg, _bare_record(900_000 + i), PAN, LAB_EXPIRY)
                t0 = time.perf_counter()
                reply = await session.exchange(msg)
                bare.append(time.perf_counter() - t0)
                assert reply.rc == "00", reply
    return statistics.median(ours), statistics.median(bare)


async def _failover(n: int, workdir: Path) -> tuple[float, float, float]:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead.listen(0)
    filler = socket.create_connection(dead.getsockname(), timeout=1)  # accept queue full
    timeouts = Timeouts(dns=1, connect=CONNECT_TIMEOUT, read=5)
    try:
        async with running_host(SeedData.model_validate(lab_seed())) as (_host, port, _ledger):
            direct_cfg = local_config(port, workdir / "direct.db", timeouts=timeouts, tid=LAB_TID2)
            cfg = local_config(
                [dead.getsockname()[1], port],
                workdir / "failover.db",
                timeouts=timeouts,
                breaker=BreakerConfig(open_seconds=300),
            )
            async with Terminal(direct_cfg) as direct_t, Terminal(cfg) as t:
                await direct_t.sale(PAN, LAB_EXPIRY, 100)
                await t.sign_on()  # the sign-on itself already fails over; reset the breaker
                t.link.breakers["primary"].record_success()
                t0 = time.perf_counter()
                first = await t.sale(PAN, LAB_EXPIRY, 100)
                first_s = time.perf_counter() - t0
                assert first.host == "backup1", first
                later: list[float] = []
                direct: list[float] = []
                for _ in range(n):  # alternate, so machine noise hits both alike
                    for term, out in ((t, later), (direct_t, direct)):
                        t0 = time.perf_counter()
                        r = await term.sale(PAN, LAB_EXPIRY, 100)
                        out.append(time.perf_counter() - t0)
                        assert r.outcome.value == "approved", r
    finally:
        filler.close()
        dead.close()
    return first_s, statistics.median(later), statistics.median(direct)


def run(quick: bool) -> list[Result]:
    n = 40 if quick else 300
    with tempfile.TemporaryDirectory(prefix="bench-terminal-") as d:
        ours, bare = asyncio.run(_latency(n, Path(d)))
        first, later, direct = asyncio.run(_failover(10 if quick else 50, Path(d)))
    ram: list[Result] = []
    if Path("/dev/shm").is_dir():
        with tempfile.TemporaryDirectory(prefix="bench-terminal-", dir="/dev/shm") as d:
            ram_ours, ram_bare = asyncio.run(_latency(n, Path(d)))
        ram.append(
            Result(
                "sale latency, journal on a RAM disk (no fsync cost)",
                ram_ours * 1000,
                "ms",
                baseline=ram_bare * 1000,
                baseline_name="bare request/response, same link",
                higher_is_better=False,
                note=f"added {(ram_ours - ram_bare) * 1000:.2f} ms: the bookkeeping without fsync",
            )
        )
    ms = 1000.0
    return [
        *ram,
        Result(
            "sale latency, journal + reversal bookkeeping (median)",
            ours * ms,
            "ms",
            baseline=bare * ms,
            baseline_name="bare request/response, same link",
            higher_is_better=False,
            note=f"added {(ours - bare) * ms:.2f} ms per sale; n={n}, journal on disk",
        ),
        Result(
            "failover, first sale after primary black-holed",
            first * ms,
            "ms",
            baseline=direct * ms,
            baseline_name="same sale, backup only",
            higher_is_better=False,
            note=f"includes one connect timeout of {CONNECT_TIMEOUT:g} s",
        ),
        Result(
            "failover, later sales (breaker open, median)",
            later * ms,
            "ms",
            baseline=direct * ms,
            baseline_name="same sale, backup only",
            higher_is_better=False,
        ),
    ]
