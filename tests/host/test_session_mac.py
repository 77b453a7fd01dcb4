"""The session MAC engine gives exactly the bytes of iso8583.mac.compute_mac, message after
message on the same (persistent) cipher contexts, for every algorithm the profile uses."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from posguard.host.session_mac import SessionMac
from posguard.iso8583.mac import MacAlgorithm, compute_mac

_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=8))
def test_x919_engine_equals_compute_mac_across_a_sequence(messages: list[bytes]) -> None:
    engine = SessionMac(MacAlgorithm.X919, _KEY)
    for data in messages:  # the chain restarts correctly for every message
        assert engine.compute(data) == compute_mac(MacAlgorithm.X919, _KEY, data)


def test_every_algorithm_matches_and_verify_rejects_a_flipped_bit() -> None:
    data = os.urandom(123)
    for alg in MacAlgorithm:
        engine = SessionMac(alg, _KEY)
        mac = compute_mac(alg, _KEY, data)
        assert engine.compute(data) == mac
        assert engine.verify(data, mac)
        assert not engine.verify(data, bytes([mac[0] ^ 1]) + mac[1:])
        assert not engine.verify(data[:-1] + bytes([data[-1] ^ 0x80]), mac)
        assert not engine.verify(data, mac[:7])
