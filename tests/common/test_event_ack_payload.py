"""The acknowledgement message (``common/event_ack.py``) is written out directly for speed; it
must stay byte for byte the JSON of :meth:`Ack.json_ready` and parse back to the same ranges."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from posguard.common.event_ack import Ack, ack_payload, parse_ack, seq_ranges

TERMINAL_IDS = st.text(min_size=1, max_size=20) | st.sampled_from(["T0001", 'q"u\\o', "上海"])


@given(TERMINAL_IDS, st.lists(st.integers(min_value=0, max_value=2**62), max_size=50))
def test_the_payload_is_the_json_of_the_ack(terminal_id: str, seqs: list[int]) -> None:
    ranges = seq_ranges(seqs)
    payload = ack_payload(terminal_id, ranges)
    assert payload == json.dumps(Ack(terminal_id, tuple(ranges)).json_ready()).encode()
    ack = parse_ack(payload)
    assert (ack.terminal_id, list(ack.ranges)) == (terminal_id, ranges)
