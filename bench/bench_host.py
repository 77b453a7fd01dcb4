"""Host simulator throughput: sale transactions per second through the host on loopback, with 1
and with 50 concurrent terminals, against a raw asyncio echo server of the same framing measured
in the same run; and memory per open connection.

Both servers run in their own subprocess (so the client load does not share their interpreter);
the clients pre-pack every request (MAC included) before timing, so the timed loop is the same
"write a frame, read a frame" for host and echo, over the same number of connections. The host
runs with its real on-disk ledger (SQLite WAL, synchronous=FULL: every approved sale is fsynced
before it is answered) and journal. Echo, FULL and NORMAL are measured in interleaved rounds and
each figure is the median of its rounds, so a burst of load from elsewhere on the machine hits
all three alike; every host answer timed must be an approval (``39`` = ``00``).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench._result import Result
from posguard.common.testing import line_containing
from posguard.host.seed import SeedData, default_seed, dump_seed, with_terminals
from posguard.host.testing import HostClient
from posguard.iso8583.codec import decode
from posguard.iso8583.framing import frame, read_frame
from posguard.iso8583.spec import load_spec

ECHO_SERVER = """
import asyncio, sys
from posguard.iso8583.framing import frame, read_frame, PeerClosedError

async def on(reader, writer):
    try:
        while True:
            writer.write(frame(await read_frame(reader)))
            await writer.drain()
    except Exception:
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(on, "127.0.0.1", 0, backlog=1024)
    print("listening on 127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def _spawn(args: list[str]) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    assert proc.stdout is not None
    line = await line_containing(proc.stdout, "listening on", 60)
    port = int(line.split("listening on ")[1].split()[0].rsplit(":", 1)[1])

    async def drain() -> None:  # keep the pipe from filling up
        assert proc.stdout is not None
        while await proc.stdout.read(65536):
            pass

    asyncio.get_running_loop().create_task(drain())
    return proc, port


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


_NEXT_STAN: dict[int, int] = {}


async def _prepare(
    port: int, terminals: int, per_terminal: int, pan: str
) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter, list[bytes]]]:
    """Sign on each terminal and pre-pack its sales (MACed; STANs unique across every round
    of the run, or the host would rightly answer the repeats 94, duplicate)."""
    seed = with_terminals(default_seed(), terminals)
    out = []
    first_stan = _NEXT_STAN.get(port, 1)
    _NEXT_STAN[port] = first_stan + per_terminal + 1
    for i in range(terminals):
        c = HostClient(port, tid=f"5{i:07d}", seed=seed)
        c._stan = itertools.count(first_stan)
        await c.connect()
        assert (await c.sign_on())["39"] == "00"
        frames = [frame(c.pack(c.sale_msg(pan, 1))) for _ in range(per_terminal)]
        assert c._reader is not None
        assert c._writer is not None
        out.append((c._reader, c._writer, frames))
    return out


async def _drive(
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, list[bytes]]],
    *,
    approved: bool = False,
) -> float:
    """Rate of the timed loop; with ``approved``, check afterwards (untimed) that every answer
    was an approval (a decline is cheaper and would flatter the host)."""
    answers: list[list[bytes]] = [[] for _ in conns]

    async def one(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        frames: list[bytes],
        out: list[bytes],
    ) -> None:
        for f in frames:
            writer.write(f)
            await writer.drain()
            out.append(await read_frame(reader, timeout=30))

    t0 = time.perf_counter()
    await asyncio.gather(*(one(*c, out) for c, out in zip(conns, answers, strict=True)))
    elapsed = time.perf_counter() - t0
    if approved:
        spec = load_spec("iso87ascii")
        codes = {str(decode(spec, a).get("39")) for out in answers for a in out}
        assert codes == {"00"}, f"host answered {sorted(codes)}, not only approvals"
    return sum(len(c[2]) for c in conns) / elapsed


async def _rate(port: int, terminals: int, per_terminal: int, pan: str, *, echo: bool) -> float:
    if echo:  # the echo server needs no sign-on; same frames, same sizes
        ref = await _prepare(HOST_PORT[0], terminals, per_terminal, pan)
        conns = []
        for _r, w, frames in ref:
            w.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            conns.append((reader, writer, frames))
    else:
        conns = await _prepare(port, terminals, per_terminal, pan)
    try:
        return await _drive(conns, approved=not echo)
    finally:
        for _r, w, _f in conns:
            w.close()


HOST_PORT = [0]


async def _memory_per_connection(pid: int, port: int, n: int) -> float:
    before = _rss_kib(pid)
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(n)]
    await asyncio.sleep(0.5)
    after = _rss_kib(pid)
    for _r, w in conns:
        w.close()
    return (after - before) / n


def _bench_seed() -> SeedData:
    """The default seed plus 50 terminals, the bench card's account funded for every round."""
    seed = with_terminals(default_seed(), 50)
    acct = seed.cards[0].account
    accounts = [
        a.model_copy(update={"balance": 10**9, "daily_limit": 10**9}) if a.id == acct else a
        for a in seed.accounts
    ]
    return seed.model_copy(update={"accounts": accounts})


async def _run(quick: bool) -> list[Result]:
    n1, n50, conns_mem, rounds = (300, 20, 200, 1) if quick else (2000, 80, 1000, 3)
    pan = default_seed().cards[0].pan
    with tempfile.TemporaryDirectory() as tmp:
        seed_file = Path(tmp) / "seed.yaml"
        seed_file.write_text(dump_seed(_bench_seed()), encoding="utf-8")
        procs = {}
        for sync in ("FULL", "NORMAL"):
            procs[sync] = await _spawn(
                [
                    "-m",
                    "posguard.cli",
                    "host",
                    "serve",
                    "--port",
                    "0",
                    "--sync",
                    sync,
                    "--db",
                    str(Path(tmp) / f"host-{sync}.db"),
                    "--seed",
                    str(seed_file),
                ]
            )
        host_proc, host_port = procs["FULL"]
        HOST_PORT[0] = host_port
        echo_proc, echo_port = await _spawn(["-c", ECHO_SERVER])
        try:
            results = []
            for terminals, per in ((1, n1), (50, n50)):
                echo_rates: list[float] = []
                host_rates: dict[str, list[float]] = {sync: [] for sync in procs}
                for _round in range(rounds):  # interleaved: load bursts hit all three alike
                    HOST_PORT[0] = procs["FULL"][1]
                    echo_rates.append(await _rate(echo_port, terminals, per, pan, echo=True))
                    for sync, (_proc, port) in procs.items():
                        HOST_PORT[0] = port
                        host_rates[sync].append(await _rate(port, terminals, per, pan, echo=False))
                echo_rate = statistics.median(echo_rates)
                for sync, rates in host_rates.items():
                    spread = f"rounds {min(rates):,.0f}-{max(rates):,.0f} vs echo" + (
                        f" {min(echo_rates):,.0f}-{max(echo_rates):,.0f}"
                    )
                    results.append(
                        Result(
                            name=f"sale tx/s, {terminals} terminal{'s' if terminals > 1 else ''},"
                            f" synchronous={sync}",
                            ours=statistics.median(rates),
                            unit="tx/s",
                            baseline=echo_rate,
                            baseline_name="raw asyncio echo, same framing",
                            target=">= 0.40x",
                            note=(
                                "fsync per commit, group commit"
                                if sync == "FULL"
                                else "no fsync (survives process crash, not power loss)"
                            )
                            + f"; median of {rounds}, {spread}",
                        )
                    )
            per_conn = await _memory_per_connection(host_proc.pid, host_port, conns_mem)
            echo_conn = await _memory_per_connection(echo_proc.pid, echo_port, conns_mem)
            results.append(
                Result(
                    name=f"memory per idle connection ({conns_mem} open)",
                    ours=per_conn,
                    unit="KiB",
                    baseline=echo_conn,
                    baseline_name="raw asyncio echo",
                    higher_is_better=False,
                    note="RSS delta of the server process",
                )
            )
            return results
        finally:
            for proc in (*(p for p, _ in procs.values()), echo_proc):
                proc.terminate()
                await proc.wait()


def run(quick: bool) -> list[Result]:
    return asyncio.run(_run(quick))


PROFILE_CLIENT = """
import asyncio, sys
from bench.bench_host import _drive, _prepare
from posguard.host.seed import default_seed
async def main():
    port, terminals, per = (int(a) for a in sys.argv[1:4])
    conns = await _prepare(port, terminals, per, default_seed().cards[0].pan)
    print("rate", await _drive(conns, approved=True), flush=True)
asyncio.run(main())
"""


async def _profile(
    terminals: int, per_terminal: int, sync: str, *, top: int, profile: bool = True
) -> None:
    """The host in this process with cProfile on the event loop and the ledger thread; the
    terminals in a subprocess (same client as the bench). Prints the rate, the host's CPU time
    per sale (``time.process_time``: profiler included), and the top functions. Without
    ``profile`` only the rate and the CPU time per sale (the robust figure on a shared box)."""
    import cProfile
    import pstats

    from posguard.host import worker
    from posguard.host.server import HostConfig, HostServer

    profiles: list[cProfile.Profile] = []
    plain_run = worker.LedgerWorker._run

    def profiled_run(self: worker.LedgerWorker) -> None:
        prof = cProfile.Profile()
        profiles.append(prof)
        prof.runcall(plain_run, self)

    if profile:
        worker.LedgerWorker._run = profiled_run  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = HostConfig(db=str(Path(tmp) / "host.db"), synchronous=sync)  # type: ignore[arg-type]
        async with HostServer(cfg, seed=_bench_seed()) as host:
            loop_prof = cProfile.Profile()
            cpu0 = time.process_time()
            if profile:
                loop_prof.enable()
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                PROFILE_CLIENT,
                str(host.port),
                str(terminals),
                str(per_terminal),
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await proc.communicate()
            loop_prof.disable()
            cpu = time.process_time() - cpu0
    sales = terminals * per_terminal
    per_sale = cpu / sales * 1e6
    what = "under the profiler" if profile else "no profiler"
    print(out.decode().strip(), f"tx/s {what}; host CPU {per_sale:.0f} us/sale")
    if not profile:
        return
    stats = pstats.Stats(loop_prof)
    for prof in profiles:
        stats.add(prof)
    stats.sort_stats("tottime").print_stats(top)


if __name__ == "__main__":
    # python -m bench.bench_host --profile|--cpu [terminals] [per-terminal] [FULL|NORMAL]
    if "--profile" in sys.argv or "--cpu" in sys.argv:
        args = [a for a in sys.argv[1:] if not a.startswith("--")]
        asyncio.run(
            _profile(
                int(args[0]) if args else 50,
                int(args[1]) if len(args) > 1 else 200,
                args[2] if len(args) > 2 else "FULL",
                top=40,
                profile="--profile" in sys.argv,
            )
        )
        raise SystemExit(0)
    for r in run(quick="--quick" in sys.argv):
        print(r, f"ratio={r.ratio}", file=sys.stderr if os.environ.get("QUIET") else sys.stdout)
