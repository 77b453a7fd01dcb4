"""A load generator's MQTT publisher: QoS 1 PUBLISH packets (MQTT 3.1.1) encoded in advance
and written many to a ``sendall``, PUBACKs only counted.

Why not paho, as the terminals' own agent uses (``terminal/agent/publish.py``): at 100,000
light terminals paho spent 80 µs of CPU an event publishing the story, a seventh of this
2-core machine, taken from the pipeline under test. Real terminals publish from their own
CPUs; the bench's load should cost the shared machine as little as it can. The broker sees
the same QoS 1 traffic either way (paho sent it over MQTT 5 without properties).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Sequence

CHUNK = 64  # packets a sendall


def _remaining(n: int) -> bytes:
    """MQTT's variable-length "remaining length" (MQTT 3.1.1 §2.2.3)."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: bytes) -> bytes:
    return struct.pack("!H", len(s)) + s


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """A QoS 1 PUBLISH (§3.3): fixed header 0x32, topic, packet identifier, payload."""
    body = _string(topic.encode()) + struct.pack("!H", packet_id) + payload
    return b"\x32" + _remaining(len(body)) + body


class BlastPublisher:
    """One connection (clean session, no keep-alive); ``publish`` writes packets, a reader
    thread counts PUBACKs; ``close`` waits for every PUBACK, then disconnects."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client_id = f"bench-blast-{uuid.uuid4().hex[:8]}".encode()
        variable = _string(b"MQTT") + bytes([4, 0x02]) + struct.pack("!H", 0)
        body = variable + _string(client_id)
        self.sock.sendall(b"\x10" + _remaining(len(body)) + body)
        connack = self._read_exactly(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"broker refused the connection: CONNACK {connack.hex()}")
        self.sent = 0
        self.acked = 0
        self._next_id = 0
        self._reader = threading.Thread(target=self._count_pubacks, daemon=True)
        self._reader.start()

    def _read_exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            data += chunk
        return data

    def _count_pubacks(self) -> None:
        """Only PUBACKs come back (no subscription): 4 bytes each (§3.4)."""
        pending = 0
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            pending += len(chunk)
            self.acked += pending // 4
            pending %= 4

    def publish(
        self, messages: Sequence[tuple[str, bytes]], room: Callable[[], int] | None = None
    ) -> None:
        """Write ``messages`` in order, at most ``room()`` more at a time (flow control: the
        caller's count of what it may still have outstanding), sleeping 1 ms when it is 0."""
        i = 0
        while i < len(messages):
            n = CHUNK if room is None else min(CHUNK, room())
            if n <= 0:
                time.sleep(0.001)
                continue
            packets = []
            for topic, payload in messages[i : i + n]:
                self._next_id = self._next_id % 65535 + 1
                packets.append(publish_packet(topic, payload, self._next_id))
            self.sock.sendall(b"".join(packets))
            self.sent += len(packets)
            i += len(packets)

    def close(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.acked < self.sent and time.monotonic() < deadline:
            time.sleep(0.005)
        try:
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        finally:
            self.sock.close()
        if self.acked < self.sent:
            raise TimeoutError(f"{self.sent - self.acked} of {self.sent} PUBACKs missing")
