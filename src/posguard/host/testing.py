"""Reusable pieces for tests, labs and benchmarks: a host and a proxy on ephemeral ports, and
:class:`HostClient`, a minimal ISO 8583 client of this profile (sign-on, MAC, PIN block, every
operation) that speaks real bytes over a real socket.

These are a stable API for other areas' end-to-end tests::

    async with running_host(spec="unionpay") as (host, port, ledger):
        async with running_proxy(("127.0.0.1", port)) as proxy:
            proxy.set_fault(Fault(kind="drop_response", frames=1))
            ...

``HostClient`` is not the terminal runtime (that is ``posguard.terminal``): it does no retries,
no journal and no reversal on its own, so a test decides every byte that goes out.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Literal

from posguard.host.ledger import Ledger
from posguard.host.proxy import FaultProxy
from posguard.host.seed import SeedData, TerminalSeed, default_seed
from posguard.host.server import HostConfig, HostServer
from posguard.iso8583.codec import Message, decode, encode
from posguard.iso8583.fields import (
    MessageTypeCode,
    NetworkCode,
    SettlementTotals,
    field60,
    field61,
    settlement_totals,
    unionpay_header,
)
from posguard.iso8583.framing import LengthHeader, frame, read_frame
from posguard.iso8583.keys import encrypt_pin_block, unwrap_working_keys
from posguard.iso8583.mac import MacAlgorithm, apply_mac
from posguard.iso8583.operations import OPERATIONS, TxnKind
from posguard.iso8583.spec import load_spec

__all__ = ["HostClient", "running_host", "running_proxy", "terminal_seed"]


@asynccontextmanager
async def running_host(
    seed: SeedData | None = None,
    spec: str = "iso87ascii",
    *,
    db: str = ":memory:",
    clock: Callable[[], datetime] = datetime.now,
    **config: object,
) -> AsyncIterator[tuple[HostServer, int, Ledger]]:
    """A host on 127.0.0.1 and an ephemeral port, seeded (default: :func:`default_seed`).
    Yields ``(host, port, ledger)``; read the ledger through ``await host.call(...)`` while
    requests are in flight."""
    cfg = HostConfig(spec=spec, db=db, **config)  # type: ignore[arg-type]
    host = HostServer(cfg, seed=seed if seed is not None else default_seed(), clock=clock)
    await host.start()
    try:
        yield host, host.port, host.ledger
    finally:
        await host.stop()


@asynccontextmanager
async def running_proxy(
    upstream: tuple[str, int] | int, header: Literal["binary2", "ascii4"] = "binary2"
) -> AsyncIterator[FaultProxy]:
    """A :class:`FaultProxy` on an ephemeral port in front of ``upstream`` (port or address)."""
    addr = ("127.0.0.1", upstream) if isinstance(upstream, int) else upstream
    proxy = FaultProxy(addr, header=header)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


def terminal_seed(tid: str, seed: SeedData | None = None) -> TerminalSeed:
    """The seed record of terminal ``tid`` (its MID, TMK and MAC algorithm)."""
    for t in (seed or default_seed()).terminals:
        if t.tid == tid:
            return t
    raise KeyError(tid)


class HostClient:
    """A bare ISO 8583 client of the profile, for tests and benchmarks."""

    def __init__(
        self,
        port: int,
        *,
        tid: str = "10000001",
        seed: SeedData | None = None,
        spec: str = "iso87ascii",
        host: str = "127.0.0.1",
        timeout: float = 5.0,
        batch: str = "000001",
        header: LengthHeader = LengthHeader.BINARY2,
        ssl: object = None,
    ) -> None:
        term = terminal_seed(tid, seed)
        self.port, self.host, self.tid, self.mid = port, host, tid, term.mid
        self.tmk = bytes.fromhex(term.tmk)
        self.mac_alg = MacAlgorithm[term.mac]
        self.spec = load_spec(spec)
        self.timeout, self.batch, self.header, self._ssl = timeout, batch, header, ssl
        self.pin_key: bytes | None = None
        self.mac_key: bytes | None = None
        self._stan = itertools.count(1)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self) -> HostClient:
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, ssl=self._ssl), self.timeout
        )
        return self

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
            self._writer = None

    async def __aenter__(self) -> HostClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- bytes --------------------------------------------------------------------------------

    def next_stan(self) -> str:
        return f"{next(self._stan) % 1_000_000:06d}"

    def pack(self, msg: Message, *, mac: bool = True) -> bytes:
        """Encode ``msg`` (adding the UnionPay header and, once signed on, the MAC)."""
        if self.spec.header_len and "h" not in msg:
            msg = {"h": unionpay_header(), **msg}
        if mac and self.mac_key is not None:
            msg = apply_mac(self.spec, msg, self.mac_alg, self.mac_key)
        return encode(self.spec, msg)

    async def send_raw(self, payload: bytes) -> None:
        assert self._writer is not None, "connect() first"
        self._writer.write(frame(payload, self.header))
        await self._writer.drain()

    async def receive(self, timeout: float | None = None) -> Message:
        assert self._reader is not None, "connect() first"
        raw = await read_frame(self._reader, self.header, timeout=timeout or self.timeout)
        return decode(self.spec, raw)

    async def request(self, msg: Message, *, mac: bool = True) -> Message:
        await self.send_raw(self.pack(msg, mac=mac))
        return await self.receive()

    # -- messages -----------------------------------------------------------------------------

    def base(
        self, mti: str, type_code: str, net: str = NetworkCode.NONE, stan: str | None = None
    ) -> Message:
        now = datetime.now()
        return {
            "t": mti,
            "11": stan or self.next_stan(),
            "12": now.strftime("%H%M%S"),
            "13": now.strftime("%m%d"),
            "41": self.tid,
            "42": self.mid,
            "60": field60(type_code, self.batch, net),
        }

    def card_txn(
        self,
        mti: str,
        f3: str,
        type_code: str,
        pan: str,
        amount: int,
        *,
        pin: str | None = None,
        expiry: str | None = None,
        original: Message | None = None,
        stan: str | None = None,
    ) -> Message:
        msg = self.base(mti, type_code, stan=stan)
        msg.update(
            {
                "2": pan,
                "3": f3,
                "4": f"{amount:012d}",
                "22": "051",
                "25": "06" if type_code in ("10", "11", "20", "21") else "00",
                "49": "156",
            }
        )
        if expiry:
            msg["14"] = expiry
        if pin is not None:
            assert self.pin_key is not None, "sign on first"
            msg["52"] = encrypt_pin_block(self.pin_key, pin, pan)
            msg["22"] = "051"
        if original is not None:
            msg["37"] = str(original.get("37", "000000000000"))
            msg["61"] = field61(self.batch, str(original["11"]), str(original["13"]))
        return msg

    async def sign_on(self) -> Message:
        answer = await self.request(
            self.base("0800", MessageTypeCode.ADMIN, NetworkCode.SIGN_ON), mac=False
        )
        if answer.get("39") == "00":
            f62 = answer["62"]
            assert isinstance(f62, bytes)
            keys = unwrap_working_keys(self.tmk, f62)
            self.pin_key, self.mac_key = keys.pin_key, keys.mac_key
            f60 = answer.get("60")
            if isinstance(f60, str) and len(f60) >= 8:
                self.batch = f60[2:8]  # the host assigns the batch (60.2), as a terminal adopts it
        return answer

    async def echo(self) -> Message:
        return await self.request(self.base("0820", MessageTypeCode.ADMIN, NetworkCode.ECHO))

    async def sign_off(self) -> Message:
        return await self.request(self.base("0820", MessageTypeCode.ADMIN, NetworkCode.SIGN_OFF))

    def kind_msg(
        self,
        kind: TxnKind,
        pan: str,
        amount: int,
        *,
        pin: str | None = None,
        expiry: str | None = None,
        original: Message | None = None,
        stan: str | None = None,
    ) -> Message:
        """A request of ``kind`` with the MTI, processing code and 60.1 the profile's operation
        table gives it (:data:`posguard.iso8583.operations.OPERATIONS`)."""
        op = OPERATIONS[kind]
        return self.card_txn(
            op.mti,
            op.processing_code,
            op.type_code,
            pan,
            amount,
            pin=pin,
            expiry=expiry,
            original=original,
            stan=stan,
        )

    def sale_msg(
        self,
        pan: str,
        amount: int,
        *,
        pin: str | None = None,
        expiry: str | None = None,
        stan: str | None = None,
    ) -> Message:
        return self.kind_msg(TxnKind.SALE, pan, amount, pin=pin, expiry=expiry, stan=stan)

    async def sale(
        self,
        pan: str,
        amount: int,
        *,
        pin: str | None = None,
        expiry: str | None = None,
        stan: str | None = None,
    ) -> Message:
        return await self.request(self.sale_msg(pan, amount, pin=pin, expiry=expiry, stan=stan))

    async def balance(self, pan: str, *, pin: str | None = None) -> Message:
        msg = self.kind_msg(TxnKind.BALANCE, pan, 0, pin=pin)
        del msg["4"]
        return await self.request(msg)

    async def void(self, original: Message, pan: str, amount: int) -> Message:
        return await self.request(self.kind_msg(TxnKind.VOID, pan, amount, original=original))

    async def refund(self, original: Message, pan: str, amount: int) -> Message:
        return await self.request(self.kind_msg(TxnKind.REFUND, pan, amount, original=original))

    async def preauth(self, pan: str, amount: int, *, pin: str | None = None) -> Message:
        return await self.request(self.kind_msg(TxnKind.PREAUTH, pan, amount, pin=pin))

    async def preauth_void(self, original: Message, pan: str, amount: int) -> Message:
        msg = self.kind_msg(TxnKind.PREAUTH_VOID, pan, amount, original=original)
        return await self.request(msg)

    async def completion(self, original: Message, pan: str, amount: int) -> Message:
        msg = self.kind_msg(TxnKind.COMPLETION, pan, amount, original=original)
        return await self.request(msg)

    async def completion_void(self, original: Message, pan: str, amount: int) -> Message:
        """Void of a pre-auth completion (0200, 60.1 = 21): ``original`` is the completion."""
        msg = self.kind_msg(TxnKind.COMPLETION_VOID, pan, amount, original=original)
        return await self.request(msg)

    def reversal_of(
        self, original: Message, *, repeat: bool = False, reason: str = "98"
    ) -> Message:
        """The 0400/0401 for ``original`` (a request this client built): same 2, 3, 4, 11, 14,
        22, 25, 41, 42, 49, 60, 61; reason in 39."""
        msg: Message = {"t": "0401" if repeat else "0400", "39": reason}
        for key in ("2", "3", "4", "11", "14", "22", "25", "41", "42", "49", "60", "61"):
            if key in original:
                msg[key] = original[key]
        return msg

    async def settle(
        self, debit_count: int, debit_amount: int, credit_count: int = 0, credit_amount: int = 0
    ) -> Message:
        msg = self.base("0500", MessageTypeCode.ADMIN, NetworkCode.SETTLEMENT)
        msg["48"] = settlement_totals(
            SettlementTotals(debit_count, debit_amount, credit_count, credit_amount)
        )
        msg["49"] = "156"
        return await self.request(msg)

    async def upload(self, original: Message) -> Message:
        """0320 (60.3 201) for one transaction of the batch, as this terminal has it."""
        type_code = str(original["60"])[:2]
        msg = self.base("0320", type_code, NetworkCode.SETTLEMENT)
        for key in ("2", "3", "4", "14", "22", "25", "49"):
            if key in original:
                msg[key] = original[key]
        msg["61"] = field61(self.batch, str(original["11"]), str(original["13"]))
        return await self.request(msg)

    async def end_upload(self) -> Message:
        return await self.request(
            self.base("0320", MessageTypeCode.ADMIN, NetworkCode.BATCH_UPLOAD_END)
        )
