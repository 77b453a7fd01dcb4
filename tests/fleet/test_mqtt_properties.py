"""The ingest worker's cheaper paho property decoding (``fleet/ingest/mqtt_properties.py``,
issue #15) decodes exactly what paho's own :class:`Properties` decodes: MQTT 5.0 §2.2.2
(property length as a Variable Byte Integer, then identifier/value pairs; User Property and
Subscription Identifier may repeat, any other property may not). Pure: no broker."""

from __future__ import annotations

import struct

import pytest
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.exception import MQTTException
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from posguard.fleet.ingest import mqtt_properties
from posguard.fleet.ingest.mqtt_properties import SharedTableProperties


def _block(**props: object) -> bytes:
    """A property block as paho packs it for a PUBLISH."""
    p = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    for name, value in props.items():
        setattr(p, name, value)
    return bytes(p.pack())  # type: ignore[no-untyped-call]


BLOCKS = [
    _block(),
    _block(MessageExpiryInterval=60, ContentType="application/json"),
    _block(UserProperty=[("a", "1"), ("b", "2")], CorrelationData=b"\x00\x01"),
    _block(PayloadFormatIndicator=1, ResponseTopic="r/t", TopicAlias=3),
]


@pytest.mark.parametrize("block", BLOCKS, ids=["empty", "expiry", "user", "misc"])
def test_a_block_decodes_as_paho_decodes_it(block: bytes) -> None:
    theirs, their_len = Properties(PacketTypes.PUBLISH).unpack(block + b"rest")  # type: ignore[no-untyped-call]
    ours, our_len = SharedTableProperties(PacketTypes.PUBLISH).unpack(block + b"rest")
    assert isinstance(ours, Properties)
    assert our_len == their_len == len(block)
    assert ours.json() == theirs.json()  # type: ignore[no-untyped-call]
    assert ours.pack() == theirs.pack() == block  # type: ignore[no-untyped-call]
    assert str(ours) == str(theirs)
    assert ours.isEmpty() == (block == b"\x00")  # type: ignore[no-untyped-call]


def test_instances_share_the_tables_but_not_the_values() -> None:
    a = SharedTableProperties(PacketTypes.PUBLISH)
    a.UserProperty = ("k", "v")
    b = SharedTableProperties(PacketTypes.PUBACK)
    assert b.json() == {}  # type: ignore[no-untyped-call]
    assert a.names is b.names
    assert a.json() == {"UserProperty": [("k", "v")]}  # type: ignore[no-untyped-call]
    with pytest.raises(MQTTException):  # still checked against the packet type
        b.TopicAlias = 3


def test_a_repeated_single_property_is_still_refused() -> None:
    expiry = _block(MessageExpiryInterval=60)[1:]  # identifier + value, without the length
    twice = bytes([2 * len(expiry)]) + expiry + expiry
    with pytest.raises(MQTTException):
        SharedTableProperties(PacketTypes.PUBLISH).unpack(twice)


def test_installed_the_decoder_reads_a_publish_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_packet, "Properties", Properties)
    assert mqtt_properties.install()
    assert mqtt_properties.install()  # idempotent
    assert getattr(_packet, "Properties") is SharedTableProperties  # noqa: B009
    topic, payload = b"posguard/v1/M01/T1/events", b'{"v": 1}'
    for block in BLOCKS:
        body = struct.pack("!H", len(topic)) + topic + struct.pack("!H", 7) + block + payload
        packet = _packet.decode_publish(0x32, body, MQTTProtocolVersion.MQTTv5)
        assert type(packet.properties) is SharedTableProperties
        assert (packet.topic, packet.mid, packet.payload) == (topic, 7, payload)
        expected, _ = Properties(PacketTypes.PUBLISH).unpack(block)  # type: ignore[no-untyped-call]
        assert packet.properties.json() == expected.json()  # type: ignore[no-untyped-call]


def test_an_unexpected_paho_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    class Other(Properties):
        pass

    monkeypatch.setattr(_packet, "Properties", Other)
    assert not mqtt_properties.install()
    assert getattr(_packet, "Properties") is Other  # noqa: B009
