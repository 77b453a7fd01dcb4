"""Framing: both length headers, limits, and every broken frame over a real socket ending
in FrameError (or its timeout / clean-close subclasses), never a hang or another error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posguard.common.errors import FrameError
from posguard.iso8583.framing import (
    FrameDecoder,
    FrameTimeoutError,
    LengthHeader,
    PeerClosedError,
    frame,
    read_frame,
)

Serve = Callable[[bytes, bool], Awaitable[asyncio.StreamReader]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Connect to a 127.0.0.1 server that writes ``payload`` then closes (or keeps open)."""
    servers: list[asyncio.Server] = []
    writers: list[asyncio.StreamWriter] = []
    held: list[asyncio.StreamWriter] = []

    async def start(payload: bytes, close: bool = True) -> asyncio.StreamReader:
        async def handle(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write(payload)
            await w.drain()
            if close:
                w.close()
            else:
                held.append(w)

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writers.append(writer)
        return reader

    yield start
    for w in writers + held:
        w.close()
    for s in servers:
        s.close()
        await s.wait_closed()


def test_frame_headers() -> None:
    assert frame(b"x" * 300) == b"\x01\x2c" + b"x" * 300
    assert frame(b"x" * 300, LengthHeader.ASCII4) == b"0300" + b"x" * 300
    with pytest.raises(FrameError, match="empty"):
        frame(b"")
    with pytest.raises(FrameError, match="does not fit"):
        frame(b"x" * 10_000, LengthHeader.ASCII4)


@pytest.mark.parametrize("header", list(LengthHeader))
async def test_read_frames_in_sequence(serve: Serve, header: LengthHeader) -> None:
    reader = await serve(frame(b"0800abc", header) + frame(b"0810", header), True)
    assert await read_frame(reader, header, timeout=5) == b"0800abc"
    assert await read_frame(reader, header, timeout=5) == b"0810"
    with pytest.raises(PeerClosedError):
        await read_frame(reader, header, timeout=5)


@pytest.mark.parametrize(
    ("payload", "header", "what"),
    [
        (b"\x00", LengthHeader.BINARY2, "after 1 of 2 length-header bytes"),
        (b"\x00\x10abc", LengthHeader.BINARY2, "after 3 of 16 body bytes"),
        (b"00", LengthHeader.ASCII4, "after 2 of 4 length-header bytes"),
        (b"0016abc", LengthHeader.ASCII4, "after 3 of 16 body bytes"),
        (b"\x00\x00", LengthHeader.BINARY2, "zero-length"),
        (b"0000", LengthHeader.ASCII4, "zero-length"),
        (b"\x20\x01" + b"x" * 100, LengthHeader.BINARY2, "8193 bytes, maximum is 8192"),
        (b"9999", LengthHeader.ASCII4, "9999 bytes, maximum is 8192"),
        (b"GET / HTTP/1.1\r\n", LengthHeader.ASCII4, "garbage length header b'GET '"),
        (b"-001abcd", LengthHeader.ASCII4, "not 4 ASCII digits"),
        (b" 12\x00abcd", LengthHeader.ASCII4, "not 4 ASCII digits"),
    ],
)
async def test_broken_frames(serve: Serve, payload: bytes, header: LengthHeader, what: str) -> None:
    reader = await serve(payload, True)
    with pytest.raises(FrameError, match=what) as info:
        await read_frame(reader, header, timeout=5)
    assert not isinstance(info.value, PeerClosedError | FrameTimeoutError)


async def test_oversized_is_refused_before_reading_the_body(serve: Serve) -> None:
    reader = await serve(b"\xff\xff", False)  # announces 65535 bytes, sends none
    with pytest.raises(FrameError, match="oversized"):
        await read_frame(reader, timeout=5)


async def test_custom_max_size(serve: Serve) -> None:
    reader = await serve(frame(b"x" * 100), True)
    with pytest.raises(FrameError, match="maximum is 64"):
        await read_frame(reader, max_size=64, timeout=5)


async def test_silent_peer_times_out(serve: Serve) -> None:
    reader = await serve(b"\x00\x10abc", False)  # half a frame, then silence
    with pytest.raises(FrameTimeoutError) as info:
        await read_frame(reader, timeout=0.2)
    assert isinstance(info.value, TimeoutError)
    assert info.value.code == "NET.READ_TIMEOUT"


def test_decoder_splits_any_chunking() -> None:
    stream = frame(b"first") + frame(b"second!") + frame(b"3")
    for size in range(1, len(stream) + 1):
        dec = FrameDecoder()
        got: list[bytes] = []
        for i in range(0, len(stream), size):
            got += dec.feed(stream[i : i + size])
        assert got == [b"first", b"second!", b"3"]
        dec.close()


def test_decoder_truncation_at_close_and_broken_state() -> None:
    dec = FrameDecoder(LengthHeader.ASCII4)
    assert dec.feed(b"0005ab") == []
    assert dec.pending == 2
    with pytest.raises(FrameError, match="2 bytes of the body of 5 bytes"):
        dec.close()
    bad = FrameDecoder(LengthHeader.ASCII4)
    assert bad.feed(b"0001a") == [b"a"]
    with pytest.raises(FrameError, match="offset=5"):
        bad.feed(b"00z1b")
    with pytest.raises(FrameError, match="broken by an earlier error"):
        bad.feed(b"0001c")


@settings(max_examples=200, deadline=None)
@given(
    header=st.sampled_from(list(LengthHeader)),
    data=st.binary(max_size=400),
    cuts=st.lists(st.integers(1, 50), max_size=20),
)
def test_decoder_fuzz_only_frame_errors(header: LengthHeader, data: bytes, cuts: list[int]) -> None:
    dec = FrameDecoder(header, max_size=256)
    at = 0
    try:
        for n in [*cuts, len(data)]:
            for body in dec.feed(data[at : at + n]):
                assert 1 <= len(body) <= 256
            at += n
        dec.close()
    except FrameError:
        pass


@settings(max_examples=100, deadline=None)
@given(bodies=st.lists(st.binary(min_size=1, max_size=300), max_size=8))
def test_decoder_inverts_frame(bodies: list[bytes]) -> None:
    for header in LengthHeader:
        stream = b"".join(frame(b, header) for b in bodies)
        dec = FrameDecoder(header)
        assert dec.feed(stream) == bodies
        dec.close()


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=64), header=st.sampled_from(list(LengthHeader)))
async def test_read_frame_fuzz_only_frame_errors(data: bytes, header: LengthHeader) -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    try:
        while True:
            body = await read_frame(reader, header, max_size=40, timeout=2)
            assert 1 <= len(body) <= 40
    except FrameError:
        pass


def test_split_keeps_the_frames_before_a_bad_header_and_says_where_it_broke() -> None:
    """The proxy relies on this: a good frame followed by garbage in one read is forwarded as
    a frame, then the garbage raw; nothing is dropped."""
    dec = FrameDecoder(LengthHeader.BINARY2, max_size=16)
    frames, error = dec.split(frame(b"0800ok") + b"\xff\xffgarbage")
    assert frames == [b"0800ok"]
    assert error is not None
    assert "oversized" in error.message
    assert dec.unconsumed() == b"\xff\xffgarbage"


def test_unconsumed_gives_back_a_frame_under_way_with_its_header() -> None:
    dec = FrameDecoder(LengthHeader.ASCII4)
    assert dec.feed(b"0006080") == []
    assert dec.unconsumed() == b"0006080"
    assert dec.feed(b"0ok") == [b"0800ok"]
    assert dec.unconsumed() == b""


def test_the_proxy_splitter_forwards_good_frames_then_garbage_raw() -> None:
    from posguard.host.proxy import FrameSplitter

    s = FrameSplitter(max_size=16)
    good = frame(b"0800ok")
    assert s.feed(good + frame(b"0810") + b"\x00\x00junk") == [
        good,
        frame(b"0810"),
        b"\x00\x00junk",
    ]
    assert s.raw
    assert s.feed(b"more") == [b"more"]
    assert s.rest() == b""
