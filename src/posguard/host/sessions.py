"""Sign-on state per terminal: the working keys the host issued in its last 0810.

Sessions live in memory only: after a host restart every terminal must sign on again (it is
answered ``77``), as with a real host that rotates its working keys.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from posguard.host.session_mac import SessionMac
from posguard.iso8583.keys import WorkingKeys, wrap_working_keys
from posguard.iso8583.mac import MacAlgorithm

__all__ = ["Session", "Sessions"]


@dataclass(frozen=True, slots=True)
class Session:
    tid: str
    pin_key: bytes = field(repr=False)
    mac_key: bytes = field(repr=False)
    mac_alg: str
    batch: str
    mac: SessionMac = field(repr=False, compare=False)


class Sessions:
    """tid -> :class:`Session`."""

    def __init__(self) -> None:
        self._by_tid: dict[str, Session] = {}

    def sign_on(self, tid: str, tmk: bytes, mac_alg: str, batch: str) -> tuple[Session, bytes]:
        """New random working keys for ``tid``; returns the session and field 62 for the 0810."""
        keys = WorkingKeys(os.urandom(16), os.urandom(16))
        engine = SessionMac(MacAlgorithm[mac_alg], keys.mac_key)
        session = Session(tid, keys.pin_key, keys.mac_key, mac_alg, batch, engine)
        self._by_tid[tid] = session
        return session, wrap_working_keys(tmk, keys)

    def sign_off(self, tid: str) -> None:
        self._by_tid.pop(tid, None)

    def get(self, tid: str) -> Session | None:
        return self._by_tid.get(tid)

    def __len__(self) -> int:
        return len(self._by_tid)
