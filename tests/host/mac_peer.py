"""A small signed-on terminal written from the profile and the standards, independent of
posguard's codec, key and MAC code: messages are built by :mod:`raw_peer` (ISO 8583:1987
ASCII), field 62 of the 0810 is unwrapped with 3DES-ECB under the TMK (check values: the key
encrypting 8 zero bytes, first 4 bytes), and field 64 is the ANSI X9.19 retail MAC
(ISO/IEC 9797-1 algorithm 3, zero padding) over the message from the MTI up to field 64.

Used to play the terminal's side against the host simulator over a real socket."""

from __future__ import annotations

import itertools
from datetime import datetime

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from .raw_peer import RawPeer, build, parse

Fields = dict[int, str | bytes]


def _ecb(key: bytes, block: bytes, *, decrypt: bool = False) -> bytes:
    k = key if len(key) == 24 else key + key[:8] if len(key) == 16 else key * 3
    c = Cipher(TripleDES(k), modes.ECB())
    op = c.decryptor() if decrypt else c.encryptor()
    return op.update(block) + op.finalize()


def x919(key: bytes, data: bytes) -> bytes:
    """ANSI X9.19: single-DES CBC with the left half, then decrypt with the right half and
    encrypt with the left half on the last block."""
    if len(data) % 8 or not data:
        data += bytes(8 - len(data) % 8)
    k1, k2 = key[:8], key[8:]
    state = bytes(8)
    for i in range(0, len(data), 8):
        block = bytes(a ^ b for a, b in zip(state, data[i : i + 8], strict=True))
        state = _ecb(k1, block)
    return _ecb(k1, _ecb(k2, state, decrypt=True))


def unwrap(tmk: bytes, field62: bytes) -> tuple[bytes, bytes]:
    """(PIN key, MAC key) from the 0810's 40-byte field 62, check values verified."""
    assert len(field62) == 40, f"field 62 is {len(field62)} bytes, not 40"
    out = []
    for at in (0, 20):
        key = _ecb(tmk, field62[at : at + 16], decrypt=True)
        assert _ecb(key, bytes(8))[:4] == field62[at + 16 : at + 20], "check value"
        out.append(key)
    return out[0], out[1]


class MacPeer:
    """A terminal on one TCP connection: ``sign_on()``, then ``send(mti, fields)`` MACs."""

    def __init__(self, port: int, tid: str, mid: str, tmk_hex: str) -> None:
        self.peer = RawPeer(port)
        self.tid, self.mid, self.tmk = tid, mid, bytes.fromhex(tmk_hex)
        self.mac_key: bytes | None = None
        self.batch = "000001"
        self._stan = itertools.count(1)

    async def __aenter__(self) -> MacPeer:
        await self.peer.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.peer.__aexit__(*exc)

    def stan(self) -> str:
        return f"{next(self._stan):06d}"

    def fields(self, type_code: str, net: str = "000", batch: str | None = None) -> Fields:
        now = datetime.now()
        return {
            11: self.stan(),
            12: now.strftime("%H%M%S"),
            13: now.strftime("%m%d"),
            41: self.tid,
            42: self.mid,
            60: type_code + (batch or self.batch) + net,
        }

    async def sign_on(self, batch: str | None = None) -> dict[int | str, str]:
        """0800 asking with ``batch`` (default: the current one); adopts 60.2 of the 0810."""
        raw = await self.peer.exchange(build("0800", self.fields("00", "003", batch)))
        assert raw is not None, "no 0810"
        answer = parse(raw)
        if answer.get(39) == "00":
            _pin_key, self.mac_key = unwrap(self.tmk, answer[62].encode("latin-1"))
            self.batch = answer[60][2:8]
        return answer

    async def send(self, mti: str, fields: Fields) -> dict[int | str, str]:
        """``fields`` MACed with the session's MAC key; the answer parsed."""
        assert self.mac_key is not None, "sign on first"
        unmaced = build(mti, {**fields, 64: bytes(8)})[:-8]
        raw = await self.peer.exchange(unmaced + x919(self.mac_key, unmaced))
        assert raw is not None, f"no answer to {mti}"
        return parse(raw)

    def card(self, f3: str, type_code: str, pan: str, amount: int, **more: str) -> Fields:
        msg = self.fields(type_code)
        msg.update({2: pan, 3: f3, 4: f"{amount:012d}", 22: "022", 25: "00", 49: "156"})
        msg.update({int(k.lstrip("f")): v for k, v in more.items()})
        return msg
