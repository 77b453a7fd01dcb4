"""Cheaper MQTT v5 property decoding for the ingest worker's paho client.

paho (2.x) decodes the properties of every packet it receives into a new
:class:`~paho.mqtt.properties.Properties`: each incoming PUBLISH, and each PUBACK the broker
sends back for the worker's confirmations (two of them per PUBACK). Its constructor rebuilds
the same two lookup tables every time (≈12 µs) and unpacking an empty property block walks all
27 property names (≈7 µs): at one event a message, ~15 % of a worker's CPU for packets that
carry no property at all.

:class:`SharedTableProperties` is that class with the tables built once and shared (paho only
reads them) and an empty block read as empty straight away; :func:`install` makes it the class
paho's packet decoder instantiates. Decoded properties are the same objects as before (a
subclass: ``isinstance(p, Properties)``, same attributes, ``pack``, ``json``); a packet that
does carry properties is unpacked by paho's own code.
"""

from __future__ import annotations

from typing import Any, Final

from paho.mqtt import _packet
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

_TEMPLATE: Final = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
_TABLES: Final = ("types", "names", "properties")
_LAYOUT: Final = frozenset(("packetType", *_TABLES))
"""The instance attributes paho's constructor sets: anything else means a paho this was not
written for, and :func:`install` leaves it alone."""


class SharedTableProperties(Properties):
    """:class:`Properties` whose constant lookup tables are shared by every instance."""

    def __init__(self, packet_type: int) -> None:
        attrs = self.__dict__
        attrs["packetType"] = packet_type
        for name in _TABLES:
            attrs[name] = _TEMPLATE.__dict__[name]

    def unpack(self, buffer: Any) -> tuple[Properties, int]:
        """As paho's, with a property block of length 0 (one byte) read as nothing to set."""
        if buffer[:1] == b"\x00" and self.__dict__.keys() == _LAYOUT:
            return self, 1
        result: tuple[Properties, int] = super().unpack(buffer)  # type: ignore[no-untyped-call]
        return result


def install() -> bool:
    """Make paho's decoder build :class:`SharedTableProperties` (idempotent). False, changing
    nothing, when paho's :class:`Properties` is not laid out as this module expects."""
    current = getattr(_packet, "Properties", None)
    if current is SharedTableProperties:
        return True
    if current is not Properties or _TEMPLATE.__dict__.keys() != _LAYOUT:
        return False
    _packet.Properties = SharedTableProperties  # type: ignore[attr-defined]
    return True
