"""The transmit side: events serialized, packed into frames and sent, read back by the host's
decoder; control frames between them carrying the counters."""

import random

import pytest
from amaranth.hdl import Module, Value
from amaranth.lib import wiring
from amaranth.sim import Simulator

from tickforge.hdl.layouts import EventKind, EVENT_BODY, FrameKind, LinkCounters, event_layout
from tickforge.hdl.link.events import EventSerializer, event_sizes
from tickforge.hdl.link.framing import Framer, FrameSender
from tickforge.host.codec import to_bytes
from tickforge.host.link import COUNTERS, EventDecoder, FrameReader
from tickforge.host.protocol import event_codec

LEVELS = 4
MAX_PAYLOAD = 256
FLUSH_IDLE = 32


class Transmitter(wiring.Component):
    """Serializer → framer → sender, as the link wires them."""

    def __init__(self, collision_free=False):
        self.serializer = EventSerializer(LEVELS)
        self.framer = Framer(LEVELS, ring_bytes=512, max_payload=MAX_PAYLOAD,
                             flush_idle=FLUSH_IDLE, collision_free=collision_free)
        self.sender = FrameSender()
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.serializer = self.serializer
        m.submodules.framer = self.framer
        m.submodules.sender = self.sender
        wiring.connect(m, self.serializer.o, self.framer.events)
        wiring.connect(m, self.framer.o, self.sender.i)
        return m


def random_events(rng, count, kinds):
    """Raw event values: random bits everywhere, a chosen kind."""
    size = event_layout(LEVELS).size
    return [(rng.getrandbits(size) & ~0xF) | rng.choice(kinds).value for _ in range(count)]


def acknowledge_all(frame, cycle):
    """The host's default answer to an event frame: ACK it."""
    return "ack", frame.seq


def run(events, *, rng, idle=0.0, backpressure=0.0, controls=(), tail=None,
        answer=acknowledge_all, poll=lambda cycle: None, collision_free=False):
    """Offer ``events`` (raw values) with random idle cycles; raise a control request at each
    event index in ``controls``; answer each event frame as a host does, with
    ``answer(frame, cycle)`` → ("ack" | "nack", seq) or None, and ``poll(cycle)`` the same
    every cycle; return the bytes sent with their cycles and the counters each control
    request saw. ``collision_free`` builds the ring that asserts it is never read where it is
    written (the simulator raises if it is)."""
    dut = Transmitter(collision_free)
    serializer, framer, sender = dut.serializer, dut.framer, dut.sender
    out, requests = [], []
    tail = tail or 4 * FLUSH_IDLE + 4 * MAX_PAYLOAD
    reader = FrameReader(MAX_PAYLOAD)

    async def bench(ctx):
        pending = list(events)
        index, quiet, cycle = 0, 0, 0
        ack = nack = False
        counters = 0
        answers = []
        while quiet < tail:
            if index in controls and not (ack or nack) and (index, "done") not in requests:
                counters = rng.getrandbits(LinkCounters.as_shape().size)
                ack, nack = rng.choice([(True, False), (False, True), (True, True)])
                requests.append((index, "done"))
                requests.append((counters, "NACK" if nack else "ACK"))
            ctx.set(Value.cast(framer.counters), counters)
            ctx.set(framer.control.ack, ack)
            ctx.set(framer.control.nack, nack)
            host = answers.pop(0) if answers else poll(cycle)
            ctx.set(framer.host.ack, host is not None and host[0] == "ack")
            ctx.set(framer.host.nack, host is not None and host[0] == "nack")
            ctx.set(framer.host.seq, host[1] if host else 0)
            offer = index < len(pending) and not (idle and rng.random() < idle)
            ctx.set(serializer.i.valid, offer)
            ctx.set(Value.cast(serializer.i.payload), pending[index] if offer else 0)
            ctx.set(sender.o.ready, not (backpressure and rng.random() < backpressure))
            _, _, taken, took, valid, ready, byte = await ctx.tick().sample(
                framer.control.taken, serializer.i.ready, sender.o.valid, sender.o.ready,
                sender.o.payload)
            if taken:
                ack = nack = False
            if offer and took:
                index += 1
            if valid and ready:
                out.append((cycle, byte))
                for frame in reader.feed(bytes([byte])):
                    if frame.kind == FrameKind.DATA and (reply := answer(frame, cycle)):
                        answers.append(reply)
                assert_whole(reader, f"by cycle {cycle}")
            busy = index < len(pending) or (valid and ready) or ack or nack or answers
            quiet = 0 if busy else quiet + 1
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return out, [(value, kind) for value, kind in requests if kind != "done"]


def assert_whole(reader, when=""):
    """The sender's bytes so far were whole frames: nothing skipped, no CRC or header error."""
    assert reader.skipped_bytes == reader.crc_errors == reader.header_errors == 0, \
        f"bad frame bytes {when}"


def decode(out):
    reader = FrameReader(MAX_PAYLOAD)
    frames = reader.feed(bytes(byte for _, byte in out))
    assert_whole(reader)
    return frames


SENT = [kind for kind in EventKind if kind in EVENT_BODY and kind.value < EventKind.CONFIG.value]


@pytest.mark.parametrize("idle, backpressure", [(0.0, 0.0), (0.6, 0.5)])
def test_every_event_kind_round_trips_through_the_host_decoder(seed, idle, backpressure):
    rng = random.Random(seed)
    raw = random_events(rng, 60, SENT + [EventKind.CONFIG, EventKind.CLEAR,
                                         EventKind.CANDIDATE])
    out, _ = run(raw, rng=rng, idle=idle, backpressure=backpressure)
    frames = decode(out)
    assert all(frame.kind == FrameKind.DATA for frame in frames)
    assert [frame.seq for frame in frames] == list(range(len(frames)))
    assert all(0 < len(frame.payload) <= MAX_PAYLOAD for frame in frames)
    decoder = EventDecoder(LEVELS)
    got = [event for frame in frames for event in decoder.decode(frame.payload)]
    codec = event_codec(LEVELS)
    assert got == [codec.decode(value) for value in raw]
    wire = sum(len(frame.payload) for frame in frames)
    assert wire == sum(event_sizes(LEVELS)[EventKind(value & 0xF)] for value in raw)


def test_frames_fill_up_and_a_quiet_output_is_flushed_within_the_idle_bound(seed):
    rng = random.Random(seed)
    raw = random_events(rng, 20, [EventKind.BOOK])   # 62 bytes: 4 to a 256-byte frame
    out, _ = run(raw, rng=rng)
    frames = decode(out)
    assert [len(frame.payload) for frame in frames] == [248] * 5
    # one lone event: out within the idle bound plus its own bytes
    out, _ = run(raw[:1], rng=rng)
    first_byte, last_byte = out[0][0], out[-1][0]
    assert first_byte <= FLUSH_IDLE + 70 + 5
    assert last_byte - first_byte == len(out) - 1 == 62 + 11 - 1


@pytest.mark.parametrize("collision_free", [False, True])
def test_control_frames_go_between_data_frames_with_a_snapshot_of_the_counters(seed, collision_free):
    rng = random.Random(seed)
    raw = random_events(rng, 40, SENT)
    controls = set(rng.sample(range(40), 8))
    out, requests = run(raw, rng=rng, controls=controls, backpressure=0.3,
                        collision_free=collision_free)
    frames = decode(out)
    control = [frame for frame in frames if frame.kind != FrameKind.DATA]
    data = [frame for frame in frames if frame.kind == FrameKind.DATA]
    assert [frame.seq for frame in data] == list(range(len(data)))
    assert len(control) == len(requests)
    for frame, (value, kind) in zip(control, requests):
        counters = COUNTERS.decode(frame.payload)
        assert frame.payload == to_bytes(LinkCounters, counters._asdict())
        assert frame.kind.name == kind
        assert int.from_bytes(frame.payload, "little") == value
        assert frame.seq == (counters.expected if kind == "NACK" else counters.acked)
    decoder = EventDecoder(LEVELS)
    codec = event_codec(LEVELS)
    assert [e for frame in data for e in decoder.decode(frame.payload)] == \
        [codec.decode(value) for value in raw]


@pytest.mark.parametrize("collision_free", [False, True])
def test_a_nacked_frame_and_every_later_one_are_sent_again(seed, collision_free):
    """The host lost frame 2 (say): its NACK(2) brings back 2 and what followed, in order."""
    rng = random.Random(seed)
    raw = random_events(rng, 30, [EventKind.BOOK])   # 4 to a frame: 8 frames
    asked = []

    def lose_frame_2(frame, cycle):
        if frame.seq == 2 and not asked:
            return None                      # lost on the way: no answer
        if frame.seq == 3 and not asked:
            asked.append(cycle)
            return "nack", 2
        return "ack", frame.seq

    out, _ = run(raw, rng=rng, answer=lose_frame_2, collision_free=collision_free)
    seqs = [frame.seq for frame in decode(out)]
    assert seqs[:4] == [0, 1, 2, 3]
    assert seqs[4:7] == [2, 3, 4], seqs
    assert seqs[6:] == [4, 5, 6, 7]


def test_without_acknowledgements_the_events_wait_and_none_is_lost(seed):
    """A host that stops answering fills the ring and the frame table: the event stream stalls
    (the core would wait); once the host acknowledges again every event arrives, once."""
    rng = random.Random(seed)
    raw = random_events(rng, 40, [EventKind.BOOK])
    resume_at = 3000
    received = []

    def remember(frame, cycle):
        received.append(frame.seq)
        return ("ack", frame.seq) if cycle > resume_at else None

    def resume(cycle):   # the host's first answer after its pause acknowledges all it has
        return ("ack", received[-1]) if cycle == resume_at + 1 else None

    out, _ = run(raw, rng=rng, answer=remember, poll=resume, tail=4000)
    before = [cycle for cycle, _ in out if cycle <= resume_at]
    assert before[-1] < resume_at - 1000, "nothing more sent while the host is silent"
    assert any(cycle > resume_at for cycle, _ in out)
    decoder = EventDecoder(LEVELS)
    codec = event_codec(LEVELS)
    frames = decode(out)
    assert [frame.seq for frame in frames] == list(range(len(frames))), "each frame once"
    assert [e for frame in frames for e in decoder.decode(frame.payload)] == \
        [codec.decode(value) for value in raw]
