"""The host's frame codec, unit packer and pipes; the transport's error messages."""

import random
import re
import zlib

import pytest
from hypothesis import given, settings, strategies as st

from tickforge.hdl.config import CoreConfig
from tickforge.hdl.layouts import FrameKind, LINK_MAX_PAYLOAD
from tickforge.host.link import (EventDecoder, FrameError, FrameReader, UnitPacker, encode_frame,
                                 frame_size)
from tickforge.host.protocol import encode
from tickforge.host.transport.base import TransportError
from tickforge.host.transport.link import LinkTransport, PipeClosed, SerialPipe

CONFIG = CoreConfig(width=1, exported_levels=4)

frames_strategy = st.lists(st.tuples(st.sampled_from(list(FrameKind)),
                                     st.integers(0, 0xFFFF), st.binary(max_size=300)),
                           max_size=12)


def test_a_frame_is_sync_header_payload_and_zlib_crc():
    frame = encode_frame(FrameKind.DATA, 0x1234, b"hello")
    assert frame[:7] == bytes([0xA5, 0x5A, ord("D"), 0x12, 0x34, 0x00, 0x05])
    assert frame[7:12] == b"hello"
    assert frame[12:] == zlib.crc32(frame[2:12]).to_bytes(4, "big")
    assert len(frame) == frame_size(5)
    with pytest.raises(FrameError, match="at most 1024"):
        encode_frame(FrameKind.DATA, 0, bytes(LINK_MAX_PAYLOAD + 1))


@settings(max_examples=60, deadline=None)
@given(frames=frames_strategy, garbage=st.lists(st.binary(max_size=40), min_size=13,
                                                max_size=13), cuts=st.lists(st.integers(0, 5000)))
def test_reader_finds_every_frame_through_garbage_in_any_pieces(frames, garbage, cuts):
    wire = b"".join(g + encode_frame(*frame) for g, frame in zip(garbage, frames))
    wire += garbage[-1] + bytes(frame_size(LINK_MAX_PAYLOAD))   # completes any false frame
    reader = FrameReader()
    found = []
    start = 0
    for cut in sorted(min(cut, len(wire)) for cut in cuts) + [len(wire)]:
        found += reader.feed(wire[start:cut])
        start = max(start, cut)
    assert [(f.kind, f.seq, f.payload) for f in found] == frames
    assert reader.good == len(frames)


def test_reader_resumes_right_after_a_bad_sync():
    real = encode_frame(FrameKind.ACK, 7, b"counters")
    false = bytes([0xA5, 0x5A, ord("D"), 0, 0, 0, 40])   # swallows the real frame
    damaged = bytearray(encode_frame(FrameKind.DATA, 1, b"x" * 10))
    damaged[9] ^= 4
    reader = FrameReader()
    frames = reader.feed(false + real + bytes(damaged) + bytes([0xA5, 0x5A, 0x99]) + real +
                         bytes(60))
    assert frames == [(FrameKind.ACK, 7, b"counters")] * 2
    assert reader.crc_errors == 2 and reader.header_errors == 1


def test_packer_never_splits_a_unit_and_keeps_a_cut_one(seed):
    rng = random.Random(seed)
    units = [encode("y", tag=n) if rng.random() < 0.5 else
             len(m := rng.randbytes(rng.randrange(1, 300))).to_bytes(2, "big") + m
             for n in range(200)]
    stream = b"".join(units)
    packer = UnitPacker(max_payload=400)
    payloads, position = [], 0
    while position < len(stream):
        step = rng.randrange(1, 700)
        payloads += packer.pack(stream[position:position + step])
        position += step
    assert packer.rest() == b""
    assert b"".join(payloads) == stream
    assert all(0 < len(p) <= 400 for p in payloads)
    boundaries = {0}
    for unit in units:
        boundaries.add(max(boundaries) + len(unit))
    offset = 0
    for payload in payloads:
        assert offset in boundaries
        offset += len(payload)
    assert packer.pack(b"\x00\x05abc") == [] and packer.rest() == b"\x00\x05abc"
    with pytest.raises(FrameError, match="1027-byte unit does not fit"):
        UnitPacker().pack(b"\x04\x01" + bytes(1025))


def test_event_decoder_rejects_a_cut_event():
    with pytest.raises(FrameError, match="ends 5 bytes into a 62-byte event"):
        EventDecoder(4).decode(bytes([0]) + bytes(4))


def test_serial_pipe_round_trips_on_a_loop_and_names_a_missing_port():
    pipe = SerialPipe("loop://", 3_000_000)
    pipe.write(b"tickforge")
    got = b""
    while len(got) < 9:
        got += pipe.read(0.5)
    assert got == b"tickforge" and pipe.read(0.01) == b""
    pipe.close()
    with pytest.raises(TransportError, match="cannot open serial port /dev/tickforge-none"):
        SerialPipe("/dev/tickforge-none", 3_000_000)


class SilentPipe:
    """A board that never answers, or answers noise."""

    name = "test pipe"

    def __init__(self, answer=b"", close_after=None):
        self.answer, self.close_after, self.reads = answer, close_after, 0

    def write(self, data):
        pass

    def read(self, timeout):
        self.reads += 1
        if self.close_after is not None and self.reads > self.close_after:
            raise PipeClosed("test pipe: the other end closed the connection")
        return self.answer

    def close(self):
        pass


def test_timeouts_in_a_row_back_off():
    """Each timeout without an ACK doubles the wait for the next (up to 8 times): a board, or a
    simulation on a busy machine, slower than the timer gets a few copies of what it has not
    read yet, not one every ``timeout``. At a fixed 20 ms this second would hold some 50."""
    link = LinkTransport(CONFIG, SilentPipe(), timeout=0.02, give_up=1.0)
    with pytest.raises(TransportError, match=r"no acknowledgement .* sent (\d+) extra times") as error:
        link.finish()
        list(link.events())
    link.close()
    # resent after 20, 40, 80, then every 160 ms: 8 times in the second before giving up
    resent = int(re.search(r"sent (\d+) extra times", str(error.value)).group(1))
    assert 3 <= resent <= 10


@pytest.mark.parametrize("pipe, message", [
    (SilentPipe(), r"no acknowledgement from the board for 0 s .* last counters: none"),
    (SilentPipe(answer=bytes(range(256)) * 4 + b"\xa5\x5a\x41\x00\x00\x00\x33" + bytes(50)),
     r"bytes received but not one good frame .* wrong baud rate"),
    (SilentPipe(close_after=3), r"the other end closed the connection before the last events"),
])
def test_a_dead_noisy_or_vanished_board_is_a_clear_error(pipe, message):
    link = LinkTransport(CONFIG, pipe, timeout=0.05, give_up=0.3)
    with pytest.raises(TransportError, match=message):
        link.send(encode("y", tag=1))   # raises here if the failure came first
        link.finish()
        list(link.events())
    with pytest.raises(TransportError, match=message):
        link.send(encode("y", tag=2))
    link.close()
