"""What the fault-injecting proxy can do to the wire, as data.

A :class:`Fault` is validated (pydantic) so the same shape comes from Python, the HTTP control
API and a timeline file. Each kind names the catalog code of the network exception it
reproduces on the terminal's side.

>>> Fault(kind="delay", delay_ms=300, jitter_ms=50).code
'NET.READ_TIMEOUT'
>>> Fault(kind="reset_mid_frame").direction
<Direction.RESPONSE: 'response'>
>>> Fault(kind="drop_connect").code
'NET.CONNECT_TIMEOUT'
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Direction", "Fault", "FaultKind"]


class FaultKind(StrEnum):
    REFUSE = "refuse"  # RST every accepted connection; with hard=True close the listener
    BLACKHOLE = "blackhole"  # accept, read, never answer
    DELAY = "delay"  # fixed delay + seeded jitter per frame
    DROP_RESPONSE = "drop_response"  # forward the request, swallow the answer
    RESET_MID_FRAME = "reset_mid_frame"  # send part of a frame, then RST (SO_LINGER 0)
    SLICE = "slice"  # deliver a frame in N slow pieces
    CORRUPT = "corrupt"  # flip bytes at a position (or seeded random ones)
    HALF_OPEN = "half_open"  # shut down the write side towards the peer, keep the socket
    BANDWIDTH = "bandwidth"  # pace bytes at bytes_per_s
    DROP_CONNECT = "drop_connect"  # new connects time out (SYNs dropped); open ones unaffected


class Direction(StrEnum):
    REQUEST = "request"  # terminal -> host
    RESPONSE = "response"  # host -> terminal
    BOTH = "both"


_CODES: dict[FaultKind, str] = {
    FaultKind.REFUSE: "NET.CONNECT_REFUSED",
    FaultKind.BLACKHOLE: "NET.READ_TIMEOUT",
    FaultKind.DELAY: "NET.READ_TIMEOUT",
    FaultKind.DROP_RESPONSE: "NET.READ_TIMEOUT",
    FaultKind.RESET_MID_FRAME: "NET.CONNECTION_RESET",
    FaultKind.SLICE: "NET.READ_TIMEOUT",
    FaultKind.CORRUPT: "TXN.MAC_ERROR",
    FaultKind.HALF_OPEN: "NET.CONNECTION_RESET",
    FaultKind.BANDWIDTH: "NET.READ_TIMEOUT",
    FaultKind.DROP_CONNECT: "NET.CONNECT_TIMEOUT",
}

_DEFAULT_DIRECTION: dict[FaultKind, Direction] = {
    FaultKind.DROP_RESPONSE: Direction.RESPONSE,
    FaultKind.RESET_MID_FRAME: Direction.RESPONSE,
    FaultKind.HALF_OPEN: Direction.RESPONSE,
    FaultKind.CORRUPT: Direction.RESPONSE,
    FaultKind.SLICE: Direction.RESPONSE,
}


class Fault(BaseModel):
    """One fault. ``connections``: only the next N accepted connections; ``frames``: only the next
    N frames (then the fault expires). ``seed`` makes jitter and random corruption repeatable."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    direction: Direction = Direction.BOTH
    delay_ms: float = Field(default=0, ge=0)
    jitter_ms: float = Field(default=0, ge=0)
    pieces: int = Field(default=4, ge=2, le=4096)
    piece_delay_ms: float = Field(default=50, ge=0)
    position: int | None = Field(default=None, ge=0, description="byte offset in the frame")
    corrupt_bytes: int = Field(default=1, ge=1, le=64)
    after_bytes: int | None = Field(default=None, ge=0, description="reset after this many")
    bytes_per_s: float = Field(default=1024, gt=0)
    hard: bool = Field(default=False, description="refuse: close the listening socket")
    connections: int | None = Field(default=None, ge=1)
    frames: int | None = Field(default=None, ge=1)
    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _direction_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and "direction" not in data and "kind" in data:
            try:
                kind = FaultKind(data["kind"])
            except ValueError:
                return data
            if kind in _DEFAULT_DIRECTION:
                return {**data, "direction": _DEFAULT_DIRECTION[kind]}
        return data

    @model_validator(mode="after")
    def _port_scope(self) -> Fault:
        if self.kind is FaultKind.DROP_CONNECT and (
            self.connections is not None or self.frames is not None
        ):
            raise ValueError(
                "drop_connect acts on the listening port until cleared: "
                "'connections' and 'frames' do not apply"
            )
        return self

    @property
    def code(self) -> str:
        """The catalog code of the exception this fault makes a terminal see."""
        return _CODES[self.kind]

    def applies_to(self, direction: Direction) -> bool:
        return self.direction is Direction.BOTH or self.direction is direction
