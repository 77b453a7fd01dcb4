"""Host simulator throughput: sale transactions per second through the host on loopback, with 1
and with 50 concurrent terminals, against a raw asyncio echo server of the same framing measured
in the same run; and memory per open connection.

Every server runs in its own subprocess (so the client load does not share its interpreter);
the clients pre-pack every request (MAC included) before timing, so the timed loop is the same
"write a frame, read a frame" for host and echo, over the same number of connections. The host
runs with its real on-disk ledger (SQLite WAL, synchronous=FULL: every approved sale is fsynced
before it is answered) and journal. Echo, FULL, NORMAL and the two floors below are measured in
interleaved rounds and each figure is the median of its rounds, so a burst of load from elsewhere
on the machine hits them all alike; every host or floor answer timed must be an approval (``39``
= ``00``).

Two "floor" servers run in the same rounds, with the same clients, frames and connections: the
least any host of this profile must do per sale with the project's codec (pyiso8583), in an
asyncio server of the same framing. The codec floor decodes the request, builds the approving
0210 (echoed fields, 37, 38, 39 = ``00``) and encodes it; the codec+MAC floor also verifies the
request MAC and MACs the answer with the session key it issued at sign-on (the host's
:class:`~posguard.host.sessions.Sessions` and ``SessionMac``). No ledger, journal, issuer rules
or worker thread: their rate is the ceiling of a pyiso8583-based host against the echo. Each
row's note gives the server process's CPU per sale (all its threads, over the timed loops).
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
from posguard.host.sessions import Sessions
from posguard.host.testing import HostClient
from posguard.iso8583.codec import Message, decode, encode
from posguard.iso8583.fields import answer_mti, parse_field60
from posguard.iso8583.framing import frame, read_frame
from posguard.iso8583.mac import MAC_LEN
from posguard.iso8583.spec import load_spec

SPEC = "iso87ascii"  # the host's default spec: the bench starts it without --spec

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


async def _spawn(
    args: list[str], env: dict[str, str] | None = None
) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
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
        spec = load_spec(SPEC)
        codes = {str(decode(spec, a).get("39")) for out in answers for a in out}
        assert codes == {"00"}, f"server answered {sorted(codes)}, not only approvals"
    return sum(len(c[2]) for c in conns) / elapsed


def _cpu_ns(pid: int) -> int:
    """CPU time of every live thread of process ``pid`` so far, in ns (``schedstat``)."""
    return sum(
        int(task.joinpath("schedstat").read_text().split()[0])
        for task in Path(f"/proc/{pid}/task").iterdir()
    )


async def _rate(
    pid: int, port: int, terminals: int, per_terminal: int, pan: str, *, echo: bool
) -> tuple[float, int]:
    """The rate of one timed round, and the server's CPU (ns) over its timed loop."""
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
        cpu0 = _cpu_ns(pid)  # the approval check after the timed loop is the client's CPU
        rate = await _drive(conns, approved=not echo)
        return rate, _cpu_ns(pid) - cpu0
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


# -- floor servers: the least any pyiso8583-based host of this profile does per sale ------------

FLOORS = {"codec floor": "codec", "codec+MAC floor": "mac"}  # row label -> ``--floor`` kind
_FLOOR_NOTES = {
    "codec floor": "decode + approving 0210 + encode, no MAC, no ledger",
    "codec+MAC floor": "codec floor + verify request MAC + MAC answer (session keys), no ledger",
}
# The request fields the host's answer echoes (posguard.host.handler).
_ECHOED = ("3", "4", "11", "12", "13", "14", "22", "25", "41", "42", "49", "60", "61")


class _Floor:
    """Approves every request with the codec alone (with ``mac``, the MAC work as well).

    Sign-ons (0800) are answered as the host answers them, with new working keys under the
    terminal's TMK from the bench seed, so the bench's clients prepare exactly as for the host
    and the MAC floor verifies and MACs with the same per-session ``SessionMac`` the host uses.
    """

    def __init__(self, *, mac: bool) -> None:
        self.spec = load_spec(SPEC)
        self.mac = mac
        self.tmks = {t.tid: (bytes.fromhex(t.tmk), t.mac) for t in _bench_seed().terminals}
        self.sessions = Sessions()
        self.rrns = itertools.count(1)

    def answer(self, raw: bytes) -> bytes:
        spec, hlen = self.spec, self.spec.header_len
        msg = decode(spec, raw)
        out: Message = {"t": answer_mti(str(msg["t"]))}
        for key in _ECHOED:
            if key in msg:
                out[key] = msg[key]
        tid = str(msg.get("41", ""))
        if msg["t"] == "0800":  # untimed: the clients sign on before the timed loop
            tmk, alg = self.tmks[tid]
            batch = parse_field60(str(msg["60"])).batch
            _session, out["62"] = self.sessions.sign_on(tid, tmk, alg, batch)
            out["39"] = "00"
            return encode(spec, out)
        n = next(self.rrns)
        out["37"], out["38"], out["39"] = f"{n:012d}", f"{n % 1_000_000:06d}", "00"
        if not self.mac:
            return encode(spec, out)
        session = self.sessions.get(tid)
        if (
            session is None
            or "64" not in msg
            or not session.mac.verify(raw[hlen:-MAC_LEN], raw[-MAC_LEN:])
        ):
            out["39"] = "A0"  # not an approval: the bench's check fails the run
            return encode(spec, out)
        packed = encode(spec, {**out, "64": bytes(MAC_LEN)})  # as the host's _encode_maced
        return packed[:-MAC_LEN] + session.mac.compute(packed[hlen:-MAC_LEN])


async def _serve_floor(kind: str) -> None:
    """A floor server on an ephemeral port, framed like ``ECHO_SERVER``."""
    floor = _Floor(mac=kind == "mac")

    async def on(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                writer.write(frame(floor.answer(await read_frame(reader))))
                await writer.drain()
        except Exception:  # peer gone (or a bug: the bench's client then fails the run)
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on, "127.0.0.1", 0, backlog=1024)
    print(f"listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


# -- the bench ----------------------------------------------------------------------------------

SYNCS = ("FULL", "NORMAL")
# BENCH_HOST_BASE=/path/to/other/src: also run that tree's host (FULL) in the same rounds.
BASE_SRC = os.environ.get("BENCH_HOST_BASE", "")
BASE = "FULL (base)"


async def _run(quick: bool, counts: tuple[int, ...] = (1, 50)) -> list[Result]:
    n1, n50, conns_mem, rounds = (300, 20, 200, 1) if quick else (2000, 80, 1000, 3)
    pan = default_seed().cards[0].pan
    with tempfile.TemporaryDirectory() as tmp:
        seed_file = Path(tmp) / "seed.yaml"
        seed_file.write_text(dump_seed(_bench_seed()), encoding="utf-8")
        servers: dict[str, tuple[asyncio.subprocess.Process, int]] = {}
        try:
            servers["echo"] = await _spawn(["-c", ECHO_SERVER])
            for label, kind in FLOORS.items():
                servers[label] = await _spawn(["-m", "bench.bench_host", "--floor", kind])
            for sync in SYNCS:
                servers[sync] = await _spawn(
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
            if BASE_SRC:  # the same host from another source tree: a paired before/after
                env = {**os.environ, "PYTHONPATH": BASE_SRC}
                servers[BASE] = await _spawn(
                    ["-m", "posguard.cli", "host", "serve", "--port", "0", "--sync", "FULL",
                     "--db", str(Path(tmp) / "host-base.db"), "--seed", str(seed_file)],
                    env,
                )  # fmt: skip
            HOST_PORT[0] = servers["FULL"][1]  # where the echo's clients sign on
            results = []
            for terminals, per in ((n, n1 if n == 1 else n50) for n in counts):
                rates: dict[str, list[float]] = {name: [] for name in servers}
                cpu_ns = dict.fromkeys(servers, 0)
                for _round in range(rounds):  # interleaved: load bursts hit all servers alike
                    for name, (proc, port) in servers.items():
                        rate, ns = await _rate(
                            proc.pid, port, terminals, per, pan, echo=name == "echo"
                        )
                        rates[name].append(rate)
                        cpu_ns[name] += ns
                sales = rounds * terminals * per
                cpu_us = {name: ns / sales / 1000 for name, ns in cpu_ns.items()}
                echo_rates = rates["echo"]
                for name in (*SYNCS, *FLOORS):
                    spread = f"rounds {min(rates[name]):,.0f}-{max(rates[name]):,.0f} vs echo" + (
                        f" {min(echo_rates):,.0f}-{max(echo_rates):,.0f}"
                    )
                    if name in FLOORS:
                        label, target, what = name, "", _FLOOR_NOTES[name]
                    else:
                        # the ratio to echo is shown, not targeted: the >= 0.4x echo target was
                        # retired (issue #14: even a pyiso8583 codec floor is 0.2-0.3x echo);
                        # the target is the ratio to the codec+MAC floor, below
                        label, target = f"synchronous={name}", ""
                        what = (
                            "fsync per commit, group commit"
                            if name == "FULL"
                            else "no fsync (survives process crash, not power loss)"
                        )
                    results.append(
                        Result(
                            name=f"sale tx/s, {terminals} terminal{'s' if terminals > 1 else ''},"
                            f" {label}",
                            ours=statistics.median(rates[name]),
                            unit="tx/s",
                            baseline=statistics.median(echo_rates),
                            baseline_name="raw asyncio echo, same framing",
                            target=target,
                            note=f"{what}; server CPU {cpu_us[name]:.0f} µs/sale"
                            f" (echo {cpu_us['echo']:.0f}); median of {rounds}, {spread}",
                        )
                    )
                if BASE in rates:
                    results.append(
                        Result(
                            name=f"sale tx/s, {terminals} terminal{'s' if terminals > 1 else ''},"
                            " synchronous=FULL, this tree vs BENCH_HOST_BASE",
                            ours=statistics.median(rates["FULL"]),
                            unit="tx/s",
                            baseline=statistics.median(rates[BASE]),
                            baseline_name=f"host from {BASE_SRC}, same rounds",
                            note=f"server CPU {cpu_us['FULL']:.0f} vs {cpu_us[BASE]:.0f} µs/sale;"
                            f" base vs codec+MAC floor"
                            f" {statistics.median(rates[BASE]):,.0f} /"
                            f" {statistics.median(rates['codec+MAC floor']):,.0f}",
                        )
                    )
                if terminals > 1:  # the target (issue 14): FULL against the codec+MAC floor
                    floor = "codec+MAC floor"
                    paired = [f / m for f, m in zip(rates["FULL"], rates[floor], strict=True)]
                    results.append(
                        Result(
                            name=f"sale tx/s, {terminals} terminals, synchronous=FULL vs {floor}",
                            ours=statistics.median(rates["FULL"]),
                            unit="tx/s",
                            baseline=statistics.median(rates[floor]),
                            baseline_name=f"{floor}, same rounds",
                            target=">= 0.50x",
                            note=f"host CPU {cpu_us['FULL']:.0f} vs floor {cpu_us[floor]:.0f}"
                            f" µs/sale; per-round ratios " + ", ".join(f"{r:.2f}" for r in paired),
                        )
                    )
            host_proc, host_port = servers["FULL"]
            echo_proc, echo_port = servers["echo"]
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
            for proc, _port in servers.values():
                proc.terminate()
                await proc.wait()


def run(quick: bool, counts: tuple[int, ...] = (1, 50)) -> list[Result]:
    return asyncio.run(_run(quick, counts))


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
    """The host in this process with cProfile on the event loop (which also runs the ledger);
    the terminals in a subprocess (same client as the bench). Prints the rate, the host's CPU
    time per sale (``time.process_time``: profiler included), and the top functions. Without
    ``profile`` only the rate and the CPU time per sale (the robust figure on a shared box)."""
    import cProfile
    import pstats

    from posguard.host.server import HostConfig, HostServer

    with tempfile.TemporaryDirectory() as tmp:
        cfg = HostConfig(db=str(Path(tmp) / "host.db"), synchronous=sync)  # type: ignore[arg-type]
        async with HostServer(cfg, seed=_bench_seed()) as host:
            loop_prof = cProfile.Profile()
            cpu0, times0 = time.process_time(), os.times()
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
            committer = host._ledger_tx
            assert committer is not None
            groups = f"{committer.items / max(committer.groups, 1):.1f} requests per group, "
            groups += f"{committer.items / max(committer.syncs, 1):.1f} per fsync"
            cpu, times1 = time.process_time() - cpu0, os.times()
    sales = terminals * per_terminal
    per_sale = cpu / sales * 1e6
    what = "under the profiler" if profile else "no profiler"
    user = (times1.user - times0.user) / sales * 1e6
    system = (times1.system - times0.system) / sales * 1e6
    print(
        out.decode().strip(),
        f"tx/s {what}; host CPU {per_sale:.0f} us/sale (user {user:.0f}, system {system:.0f});",
        groups,
    )
    if not profile:
        return
    stats = pstats.Stats(loop_prof)
    stats.sort_stats(os.environ.get("PROFILE_SORT", "tottime")).print_stats(top)


if __name__ == "__main__":
    # python -m bench.bench_host --floor codec|mac: one floor server (the bench spawns them)
    if "--floor" in sys.argv:
        kind = sys.argv[sys.argv.index("--floor") + 1]
        assert kind in FLOORS.values(), f"--floor {kind}: not one of {sorted(FLOORS.values())}"
        asyncio.run(_serve_floor(kind))
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
    # python -m bench.bench_host [--quick] [--terminals 50]: the bench (default 1 and 50)
    counts: tuple[int, ...] = (1, 50)
    if "--terminals" in sys.argv:
        counts = (int(sys.argv[sys.argv.index("--terminals") + 1]),)
    for r in run(quick="--quick" in sys.argv, counts=counts):
        print(r, f"ratio={r.ratio}", file=sys.stderr if os.environ.get("QUIET") else sys.stdout)
