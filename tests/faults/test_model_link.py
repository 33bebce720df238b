"""The link protocol's model of the FPGA side (:mod:`tickforge.host.transport.model_link`):
the gateware deframer's and framer's rules frame by frame, and the same protocol as the
native simulation for :class:`LinkTransport` on a real-data slice."""

import io
from itertools import islice

import pytest

from tickforge.hdl.config import CoreConfig
from tickforge.hdl.layouts import FrameKind
from tickforge.host import faults
from tickforge.host.bench import lobster_stream
from tickforge.host.feeds.itch import iter_units
from tickforge.host.link import COUNTERS, EventDecoder, FrameReader, UnitPacker, encode_frame
from tickforge.host.paths import BUNDLED_DATA
from tickforge.host.transport.link import open_native
from tickforge.host.transport.model_link import LinkModel, open_model_link

CONFIG = CoreConfig(width=1, symbols=2, order_sets=64, order_ways=2, tracked_levels=8,
                    exported_levels=4)
LOBSTER = BUNDLED_DATA / "lobster" / "LOBSTER_SampleFile_AMZN_2012-06-21_5_lines1-5000.zip"


@pytest.fixture(scope="module")
def data():
    """The first 300 units of the AMZN slice."""
    stream, _ = lobster_stream(LOBSTER)
    return b"".join(islice(iter_units(io.BytesIO(stream)), 300))


class Board:
    """A :class:`LinkModel` and a reader of what it answers."""

    def __init__(self, **options):
        self.model = LinkModel(CONFIG, **options)
        self.reader = FrameReader()

    def send(self, kind, seq, payload=b""):
        return self.reader.feed(self.model.receive(encode_frame(kind, seq, payload)))


def control(frames):
    """The one control frame among ``frames``: (kind, seq, counters)."""
    answer, = [frame for frame in frames if frame.kind != FrameKind.DATA]
    return answer.kind, answer.seq, COUNTERS.decode(answer.payload)


def payloads(data, size):
    """``data`` in frame payloads of whole units, up to ``size`` bytes each."""
    return UnitPacker(size).pack(data)


def test_deframer_rules_play_in_order_and_nack_the_rest(data):
    board = Board()
    payload = payloads(data, 900)[0]
    kind, seq, counters = control(board.send(FrameKind.DATA, 0, payload))
    assert (kind, seq, counters.expected, counters.frames) == (FrameKind.ACK, 0, 1, 1)
    kind, seq, counters = control(board.send(FrameKind.DATA, 0, payload))   # a duplicate
    assert (kind, seq, counters.out_of_order, counters.frames) == (FrameKind.NACK, 1, 1, 1)
    damaged = bytearray(encode_frame(FrameKind.DATA, 1, payload))
    damaged[20] ^= 4
    kind, seq, counters = control(board.reader.feed(board.model.receive(bytes(damaged))))
    assert (kind, seq, counters.crc_errors, counters.frames) == (FrameKind.NACK, 1, 1, 1)


def test_barrier_is_acked_after_every_event_frame_and_nack_resends(data):
    board = Board()
    frames = board.send(FrameKind.DATA, 0, payloads(data, 900)[0])
    frames += board.send(FrameKind.DATA, 1)   # the barrier
    events = [frame for frame in frames if frame.kind == FrameKind.DATA]
    assert events and frames[-1].kind == FrameKind.ACK and frames[-1].seq == 1
    counters = COUNTERS.decode(frames[-1].payload)
    assert counters.tx_closed == counters.tx_next == len(events)
    assert counters.events == sum(len(EventDecoder(CONFIG.exported_levels).decode(f.payload))
                                  for f in events)
    again = board.send(FrameKind.NACK, 0)
    assert [frame.seq for frame in again] == [frame.seq for frame in events]
    assert board.send(FrameKind.ACK, len(events) - 1) == []   # frees them, unanswered
    assert board.model.counters().tx_acked == len(events) - 1
    assert board.send(FrameKind.NACK, 0) == []                # no longer kept: ignored


def test_a_host_that_does_not_acknowledge_stalls_the_core_without_losing_events(data):
    board = Board(tx_frames=2, max_payload=64)
    for seq, payload in enumerate(payloads(data, 64)[:40]):
        board.model.receive(encode_frame(FrameKind.DATA, seq, payload, 64))
    counters = board.model.counters()
    assert counters.tx_closed == 2 and counters.event_stalls > 0
    assert counters.acked < counters.expected - 1 and counters.dropped > 0   # the queue filled
    board.send(FrameKind.ACK, 1)
    assert board.model.counters().tx_closed > 2


def strip(events):
    return [event._replace(t_in=0, t_out=0) for event in events]


def test_same_protocol_as_the_simulated_gateware(data):
    """A clean run: the same events, and the same receive-side counters, through the link
    model as through the native simulation of LinkedCore."""
    runs = {}
    for name, opened in (("model", open_model_link(CONFIG)), ("sim", open_native(CONFIG))):
        events, error = faults._exchange(opened, data)
        assert error is None, (name, error)
        runs[name] = strip(events), opened.stats
    (model, model_stats), (sim, sim_stats) = runs["model"], runs["sim"]
    assert model == sim == strip(faults.model_events(CONFIG, data))
    same = ("expected", "acked", "frames", "crc_errors", "header_errors", "out_of_order",
            "events", "ring_bytes", "queue_frames")
    assert {name: model_stats["counters"][name] for name in same} == \
        {name: sim_stats["counters"][name] for name in same}
    assert model_stats["frames_sent"] == sim_stats["frames_sent"]
